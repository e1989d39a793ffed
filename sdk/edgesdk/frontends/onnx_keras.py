"""Float ONNX -> Keras 3 functional model -> int8 through the real TFLite quantizer.

The lowered layers (:mod:`edgesdk.frontends.onnx`) map one to one onto Keras layers with the ONNX weights
(already in NHWC layouts, batch norms folded), so the int8 model is whatever TFLite's converter makes of that
Keras model with the user's calibration data: the same path as every other float model edgesdk takes.

Why our own translation rather than onnx2tf: the lowering above covers what real PyTorch/tf2onnx exports of
small CNNs contain with a few hundred lines and no new heavy dependency, and every translation is checked:
:func:`check_translation` runs onnxruntime on the ONNX model and Keras on the translation for the first
calibration samples and refuses the model if they differ beyond float rounding.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, ModelFormatError, UnsupportedOpError
from edgesdk.frontends.onnx import Layer, Lowered
from edgesdk.ir.graph import Graph

log = logging.getLogger(__name__)

#: Calibration samples the translation check runs through onnxruntime and Keras.
CHECK_SAMPLES = 8
#: The float translation check: |keras - onnxruntime| <= ATOL_REL * max|onnxruntime| + RTOL * |onnxruntime|.
ATOL_REL = 1e-4
RTOL = 1e-3


def _keras_layer(keras: Any, layer: Layer) -> Any:
    p, name = layer.params, layer.name
    if layer.kind == "conv":
        w = p["w"]
        return keras.layers.Conv2D(
            w.shape[0],
            w.shape[1:3],
            strides=p["stride"],
            padding=p["padding"].lower(),
            dilation_rate=p["dilation"],
            name=name,
        )
    if layer.kind == "dwconv":
        w = p["w"]
        return keras.layers.DepthwiseConv2D(
            w.shape[1:3],
            strides=p["stride"],
            padding=p["padding"].lower(),
            depth_multiplier=p["depth_multiplier"],
            dilation_rate=p["dilation"],
            name=name,
        )
    if layer.kind == "dense":
        return keras.layers.Dense(p["w"].shape[0], name=name)
    if layer.kind == "maxpool":
        return keras.layers.MaxPooling2D(p["filter"], p["stride"], p["padding"].lower(), name=name)
    if layer.kind == "avgpool":
        return keras.layers.AveragePooling2D(p["filter"], p["stride"], p["padding"].lower(), name=name)
    if layer.kind == "mean":
        return keras.layers.GlobalAveragePooling2D(keepdims=p["keep_dims"], name=name)
    if layer.kind == "add":
        return keras.layers.Add(name=name)
    if layer.kind == "pad":
        pads = p["paddings"]
        if len(pads) != 4:
            raise UnsupportedOpError(f"layer {name}: padding a rank-{len(pads)} tensor is not supported")
        return keras.layers.ZeroPadding2D((pads[1], pads[2]), name=name)
    if layer.kind == "reshape":
        return keras.layers.Reshape(p["shape"][1:], name=name)
    if layer.kind == "softmax":
        return keras.layers.Softmax(axis=-1, name=name)
    if layer.kind == "sigmoid":
        return keras.layers.Activation("sigmoid", name=name)
    if layer.kind == "concat":
        return keras.layers.Concatenate(axis=p["axis"], name=name)
    if layer.kind in ("relu", "relu6"):
        return keras.layers.ReLU(max_value=6.0 if layer.kind == "relu6" else None, name=name)
    raise UnsupportedOpError(f"layer {name}: {layer.kind} has no Keras translation")


def _weights(layer: Layer) -> list[np.ndarray] | None:
    p = layer.params
    if layer.kind not in ("conv", "dwconv", "dense"):
        return None
    w = np.asarray(p["w"], np.float32)
    out_c = w.shape[0] if layer.kind in ("conv", "dense") else w.shape[3]
    b = np.zeros(out_c, np.float32) if p["b"] is None else np.asarray(p["b"], np.float32).reshape(out_c)
    if layer.kind == "conv":
        return [w.transpose(1, 2, 3, 0), b]  # OHWI -> HWIO
    if layer.kind == "dwconv":
        m = p["depth_multiplier"]
        return [w[0].reshape(w.shape[1], w.shape[2], out_c // m, m), b]
    return [w.T, b]  # (out, in) -> (in, out)


def to_keras(low: Lowered) -> Any:
    """The Keras 3 functional model (NHWC, batch 1) of a lowered float ONNX model."""
    from edgesdk.frontends.keras import _import_tf

    _import_tf()
    import keras

    tensors: dict[str, Any] = {}
    inputs = []
    for i, name in enumerate(low.inputs):
        shape = low.values[name].shape
        inp = keras.Input(shape[1:], batch_size=1, name=f"input_{i}" if len(low.inputs) > 1 else "input")
        tensors[name] = inp
        inputs.append(inp)
    for layer in low.layers:
        kl = _keras_layer(keras, layer)
        args = [tensors[n] for n in layer.inputs]
        y = kl(args if layer.kind in ("add", "concat") else args[0])
        ws = _weights(layer)
        if ws is not None:
            kl.set_weights(ws)
        act = layer.activation
        if act in ("RELU", "RELU6"):
            y = keras.layers.ReLU(
                max_value=6.0 if act == "RELU6" else None, name=f"{layer.name}_{act.lower()}"
            )(y)
        elif act != "NONE":
            raise UnsupportedOpError(f"layer {layer.name}: fused activation {act} has no Keras translation")
        tensors[layer.output] = y
    outputs = [tensors[o] for o in low.outputs]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=low.prep.name)


def onnxruntime_outputs(model: Any, x: np.ndarray, *, optimize: bool = True) -> list[np.ndarray]:
    """Run an ONNX ``ModelProto`` (single input) sample by sample on onnxruntime's CPU provider."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    runs = [sess.run(None, {name: x[i : i + 1].astype(np.float32)}) for i in range(len(x))]
    return [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]


def _to_onnx_layout(order: tuple[int, ...], y: np.ndarray) -> np.ndarray:
    """A stored (NHWC) output back in the ONNX model's layout."""
    if order == tuple(range(len(order))):
        return y
    inv = [0] * len(order)
    for i, j in enumerate(order):
        inv[j] = i
    return np.transpose(y, inv)


def check_translation(low: Lowered, kmodel: Any, samples: np.ndarray) -> float:
    """Run ``samples`` (ONNX layout) through onnxruntime and the Keras translation; return the largest
    difference relative to the output range, or raise if the translation is not faithful."""
    ref = onnxruntime_outputs(low.prep.model, samples)
    order = low.input_orders[low.inputs[0]]
    got = kmodel([np.transpose(samples, order).astype(np.float32)], training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    worst = 0.0
    for name, order, r, g in zip(low.outputs, low.output_orders, ref, got, strict=True):
        g = _to_onnx_layout(order, np.asarray(g))
        if g.shape != r.shape:
            raise UnsupportedOpError(
                f"the Keras translation of {low.prep.what} gives output {name} shape {list(g.shape)}, "
                f"onnxruntime {list(r.shape)}"
            )
        span = float(np.max(np.abs(r))) or 1.0
        err = float(np.max(np.abs(g - r)))
        worst = max(worst, err / span)
        if not np.allclose(g, r, rtol=RTOL, atol=ATOL_REL * span):
            raise UnsupportedOpError(
                f"the Keras translation of {low.prep.what} differs from onnxruntime at output {name} by up to "
                f"{err:.3g} (outputs up to {span:.3g}); this model uses a construct edgesdk translates wrongly"
            )
    log.info(
        "Keras translation of %s equals onnxruntime within %.2e of the output range", low.prep.what, worst
    )
    return worst


def load_float_onnx(low: Lowered, calib: Any, *, num_samples: int | None, name: str) -> Graph:
    """Quantize a lowered float ONNX model with ``calib`` (in the ONNX model's own input layout)."""
    from edgesdk.compiler.data import load_calibration, read_calibrated
    from edgesdk.frontends import keras as kfront

    what = low.prep.what
    if len(low.inputs) != 1:
        raise CalibrationError(f"{what} has {len(low.inputs)} inputs; only single-input models are supported")
    if calib is None:
        raise CalibrationError(
            f"{what} is a float model: pass calibration data (--calib DATA) to quantize it to int8"
        )
    inp = low.inputs[0]
    samples = load_calibration(calib, low.input_shapes[inp])
    if num_samples is not None:
        samples = samples[:num_samples]
    kmodel = to_keras(low)
    check_translation(low, kmodel, samples[:CHECK_SAMPLES])
    order = low.input_orders[inp]
    data = kfront.quantize_keras(kmodel, np.ascontiguousarray(np.transpose(samples, order)), num_samples=None)
    graph = read_calibrated(data, what, name=name)
    if order != tuple(range(len(order))):
        graph.input_order = order
    return graph


def onnx_to_keras(source: str | Path | Any) -> Any:
    """The Keras translation of a float ONNX model (for ``compress`` or inspection); raises for QDQ models."""
    from edgesdk.frontends.onnx import load

    low = load(source)
    if low.prep.is_qdq:
        raise ModelFormatError(
            f"{low.prep.what} is already quantized (QDQ); it has no float Keras translation"
        )
    return to_keras(low)


__all__ = ["check_translation", "load_float_onnx", "onnx_to_keras", "onnxruntime_outputs", "to_keras"]
