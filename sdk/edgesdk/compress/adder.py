"""``adder``: AdderNet convolutions (Chen et al. 2020) and the writer of models that contain them.

The method replaces every k×k ``Conv2D`` (except the ``keep_int8`` layers — by default the first and the last
weight layer, which AdderNet also keeps as ordinary layers) with an :class:`edgesdk.layers.AdderConv2D` of
the same shape and activation. Its kernel starts from the convolution's, and its per-channel output scale
and bias are set so that each channel's output has the mean and spread the convolution's had on the training
data (moment matching, which stands in for the BatchNorm that follows adder layers in the paper); then the
model is fine-tuned with the paper's gradients.

No TFLite op computes ``-Σ|x - w|``, so the result is written in an edgesdk graph archive (``.edgesdk``, see
:mod:`edgesdk.ir.serialize`) by :func:`write_adder_model`: the model is cut at every adder layer; the pieces between
are ordinary layers, each quantized to int8 by the real TFLite converter (calibrated on the float activations
that reach it); each adder layer becomes an ``EDGESDK_ADDER_CONV_2D`` node whose input and output
quantization are those of its neighbours, with weights in the input's units (see :mod:`edgesdk.ir.adder`).
A BatchNormalization and a ReLU/ReLU6 right after an adder layer are folded into it.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.compress.base import CompressContext, register_method
from edgesdk.errors import CompressError, UnsupportedOpError
from edgesdk.ir import graph as ir

log = logging.getLogger(__name__)


# --- the method ---------------------------------------------------------------------------------------------
@register_method("adder", 60, "AdderNet: k×k Conv2D layers become L1 'adder' convolutions (own file format)")
def apply_adder(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    import keras

    from edgesdk.compress.lowrank import rebuild
    from edgesdk.layers import AdderConv2D

    if arg:
        raise CompressError(f"method adder takes no argument (got adder={arg})")
    targets = [
        la
        for la in model.layers
        if type(la).__name__ == "Conv2D"
        and la.name not in ctx.keep_int8
        and la.kernel.shape[0] > 1
        and tuple(la.get_config()["dilation_rate"]) == (1, 1)
        and la.get_config()["strides"][0] == la.get_config()["strides"][1]
    ]
    if not targets:
        raise CompressError(
            f"method adder: model {model.name} has no k×k Conv2D layer outside --keep-int8 "
            f"({', '.join(sorted(ctx.keep_int8)) or 'none'}) to turn into an adder layer"
        )
    names = {la.name for la in targets}
    x = ctx.x_train[: min(len(ctx.x_train), 256)].reshape((-1, *model.inputs[0].shape[1:]))
    new_layers: dict[str, Any] = {}

    def replace(op: Any) -> Any:
        if getattr(op, "name", "") not in names:
            return None
        cfg = op.get_config()
        layer = AdderConv2D(
            cfg["filters"],
            cfg["kernel_size"][0],
            strides=cfg["strides"][0],
            padding=cfg["padding"],
            activation=cfg["activation"],
            name=op.name,
        )
        new_layers[op.name] = layer
        return layer

    new = rebuild(model, replace)
    for la in targets:
        adder = new_layers[la.name]
        kernel = la.kernel.numpy()
        # Moment matching on the training data: the conv's pre-activation output per channel vs the raw adder's.
        feed = keras.Model(model.inputs, la.input).predict(x, verbose=0)
        cfg = dict(la.get_config(), activation="linear", name=la.name + "_linear")
        lin = keras.layers.Conv2D.from_config(cfg)
        lin.build(feed.shape)
        lin.set_weights(la.get_weights())
        conv_out = np.asarray(lin(feed))
        adder.kernel.assign(kernel)
        raw = adder.raw(feed)
        raw = np.asarray(raw).reshape(-1, kernel.shape[-1])
        co = conv_out.reshape(-1, kernel.shape[-1])
        a = co.std(axis=0) / np.maximum(raw.std(axis=0), 1e-6)
        a = np.maximum(a, 1e-3)
        b = co.mean(axis=0) - a * raw.mean(axis=0)
        adder.scale.assign(a.astype(np.float32))
        adder.bias.assign(b.astype(np.float32))
        ctx.layer(la.name).update(format="adder", adder=True)
    ctx.progress(f"adder: {len(targets)} Conv2D layers became adder layers ({', '.join(sorted(names))})")
    new = ctx.fit(new)

    def writer(out: Path, wctx: CompressContext) -> dict[str, Any]:
        out = Path(out)
        graph = write_adder_model(new, wctx.x_train[:200], out, name=out.stem)
        return {"accuracy": reference_accuracy(graph, wctx.x_val, wctx.y_val), "graph": graph}

    new._edgesdk_writer = writer
    return new


# --- the writer -----------------------------------------------------------------------------------------------
def _act_name(layer: Any) -> str | None:
    """IR activation of a Keras activation layer or function ("RELU", "RELU6", "NONE"), None if other."""
    name = type(layer).__name__
    if name == "ReLU":
        cfg = layer.get_config()
        if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            return None
        mv = cfg.get("max_value")
        return "RELU" if mv is None else ("RELU6" if float(mv) == 6.0 else None)
    fn = getattr(layer, "activation", layer)
    fname = getattr(fn, "__name__", str(fn))
    return {"relu": "RELU", "relu6": "RELU6", "linear": "NONE"}.get(fname)


def _asym_quant(values: np.ndarray) -> ir.QuantParams:
    """int8 asymmetric quantization covering the values and zero (as TFLite's calibration does)."""
    lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return ir.QuantParams(np.float64(np.float32(scale)), zp)


def write_adder_model(model: Any, calib: np.ndarray, out: str | Path, name: str | None = None) -> ir.Graph:
    """Quantize a Keras model with AdderConv2D layers to int8 and write it as an ``.edgesdk`` file."""
    import keras

    from edgesdk.frontends.keras import quantize_keras
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.ir.adder import AdderConv2D as AdderNode
    from edgesdk.ir.serialize import load_graph, save_graph
    from edgesdk.layers import AdderConv2D

    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    x = np.asarray(calib, np.float32).reshape((-1, *model.inputs[0].shape[1:]))
    # The chain of layers: cut at every adder layer, folding a following BatchNorm and ReLU into it.
    cuts: list[tuple[Any, Any, Any, list[Any]]] = []  # (adder layer, its input tensor, output tensor, folded)
    for layer in model.layers:
        if not isinstance(layer, AdderConv2D):
            continue
        folded: list[Any] = []
        t = layer.output
        while True:
            consumers = [n.operation for n in t._keras_history.operation._outbound_nodes]
            if len(consumers) != 1:
                break
            nxt = consumers[0]
            kind = type(nxt).__name__
            if kind == "BatchNormalization" and not folded and _act_name(layer.activation) == "NONE":
                folded.append(nxt)
            elif (
                kind in ("ReLU", "Activation")
                and _act_name(nxt) in ("RELU", "RELU6")
                and not any(type(f).__name__ != "BatchNormalization" for f in folded)
                and _act_name(layer.activation) == "NONE"
            ):
                folded.append(nxt)
                t = nxt.output
                break
            else:
                break
            t = nxt.output
        cuts.append((layer, layer.input, t, folded))
    if not cuts:
        raise CompressError(f"model {model.name} has no AdderConv2D layer; write it as a .tflite instead")
    bounds = [model.inputs[0]] + [t for c in cuts for t in (c[1], c[2])] + [model.outputs[0]]
    g = ir.Graph(name=name or model.name)
    quants: dict[int, ir.QuantParams] = {}
    names: dict[int, str] = {}
    pieces = []
    for k in range(0, len(bounds), 2):
        t_in, t_out = bounds[k], bounds[k + 1]
        if t_in is t_out:
            pieces.append(None)
            continue
        seg = keras.Model(t_in, t_out)
        feed = x if k == 0 else keras.Model(model.inputs, t_in).predict(x, verbose=0)
        sub = read_tflite(quantize_keras(seg, feed, num_samples=None), name=f"s{k // 2}")
        pieces.append(sub)
        for tname in (sub.inputs[0], sub.outputs[0]):
            if sub.tensor(tname).dtype != "int8":
                raise UnsupportedOpError(
                    f"model {model.name}: a piece between adder layers is not int8 at its edges"
                )
        quants[id(t_in)] = sub.tensor(sub.inputs[0]).quant  # type: ignore[assignment]
        quants[id(t_out)] = sub.tensor(sub.outputs[0]).quant  # type: ignore[assignment]
    for t in bounds:
        if id(t) not in quants:
            vals = x if t is model.inputs[0] else keras.Model(model.inputs, t).predict(x, verbose=0)
            quants[id(t)] = _asym_quant(vals)
    # Tensor names of the boundaries, then every piece's tensors and nodes under a prefix.
    for j, t in enumerate(bounds):
        if id(t) not in names:
            names[id(t)] = "input" if j == 0 else ("output" if j == len(bounds) - 1 else f"b{j}")
    for t in bounds:
        if names[id(t)] not in g.tensors:
            g.add_tensor(ir.Tensor(names[id(t)], (1, *t.shape[1:]), "int8", copy.deepcopy(quants[id(t)])))
    for k, sub in enumerate(pieces):
        if k > 0:
            layer, t_in, t_out, folded = cuts[k - 1]
            g.nodes.append(_adder_node(g, layer, folded, names[id(t_in)], names[id(t_out)], AdderNode))
        if sub is None:
            continue
        rename = {sub.inputs[0]: names[id(bounds[2 * k])], sub.outputs[0]: names[id(bounds[2 * k + 1])]}
        for tname, t in sub.tensors.items():
            if tname in rename:
                continue
            rename[tname] = f"s{k}/{tname}"
            t2 = copy.deepcopy(t)
            t2.name = rename[tname]
            g.add_tensor(t2)
        for node in sub.nodes:
            n2 = copy.deepcopy(node)
            n2.inputs = [rename.get(i, i) if i else i for i in node.inputs]
            n2.outputs = [rename[o] for o in node.outputs]
            n2.name = f"s{k}/{node.name}" if any(n.name == node.name for n in g.nodes) else node.name
            g.nodes.append(n2)
    g.inputs, g.outputs = [names[id(bounds[0])]], [names[id(bounds[-1])]]
    g.validate()
    save_graph(g, out)
    return load_graph(out)


def _adder_node(g: ir.Graph, layer: Any, folded: list[Any], x: str, y: str, cls: Any) -> ir.Node:
    """The EDGESDK_ADDER_CONV_2D node of a trained AdderConv2D (with a folded BatchNorm/ReLU)."""
    kernel = layer.kernel.numpy().astype(np.float64)  # kh, kw, cin, cout
    a = layer.scale.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64)
    act = _act_name(layer.activation)
    for f in folded:
        if type(f).__name__ == "BatchNormalization":
            cfg = f.get_config()
            gamma = f.gamma.numpy() if cfg.get("scale", True) else np.ones_like(a)
            beta = f.beta.numpy() if cfg.get("center", True) else np.zeros_like(a)
            k = gamma / np.sqrt(f.moving_variance.numpy() + cfg["epsilon"])
            if np.any(k <= 0):
                raise UnsupportedOpError(
                    f"layer {f.name}: a BatchNorm with a negative scale after adder layer {layer.name} "
                    "cannot be folded into it"
                )
            a, b = a * k, (b - f.moving_mean.numpy()) * k + beta
        else:
            act = _act_name(f)
    if act is None:
        raise UnsupportedOpError(
            f"layer {layer.name}: adder layers take relu, relu6 or no activation in the edgesdk file format"
        )
    xq = g.tensor(x).quant
    assert xq is not None
    sx = xq.s
    w = np.clip(np.round(kernel / sx), -32768, 32767).astype(np.int16).transpose(3, 0, 1, 2)
    acc_scale = a * sx
    bias = np.clip(np.round(b / acc_scale), -(2**31), 2**31 - 1).astype(np.int32)
    wname, bname = f"{layer.name}/weights", f"{layer.name}/bias"
    g.add_tensor(ir.Tensor(wname, w.shape, "int16", ir.QuantParams(np.float64(sx), 0), data=w))
    o = w.shape[0]
    g.add_tensor(
        ir.Tensor(bname, (o,), "int32", ir.QuantParams(acc_scale, np.zeros(o, np.int64), 0), data=bias)
    )
    s = layer.strides
    return cls(
        name=layer.name,
        inputs=[x, wname, bname],
        outputs=[y],
        stride=(s, s),
        padding=layer.padding.upper(),
        activation=act,
        acc_scale=tuple(float(v) for v in acc_scale),
    )


def reference_accuracy(graph: ir.Graph, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an int8 graph run by edgesdk's reference interpreter (inputs quantized as the
    device harness does)."""
    from edgesdk.reference import Reference

    t = graph.tensor(graph.inputs[0])
    assert t.quant is not None
    q = np.clip(np.round(x.reshape((len(x), *t.shape[1:])) / t.quant.s) + t.quant.zp, -128, 127).astype(
        np.int8
    )
    out = Reference(graph).run_batch(q)
    return float(np.mean(np.argmax(out.reshape(len(x), -1), axis=1) == y))


__all__ = ["apply_adder", "reference_accuracy", "write_adder_model"]
