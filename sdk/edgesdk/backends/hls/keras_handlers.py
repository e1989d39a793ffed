"""Keras-3 layer handlers: hls4ml's own Keras entry point takes edgesdk's binary training layers.

``hls4ml.converters.convert_from_keras_model`` dispatches each Keras layer to a handler registered under
``'<module>.<ClassName>'`` (hls4ml 1.3: subclasses of ``KerasV3LayerHandler`` register themselves through their
``handles``). The xnor training layers of :mod:`edgesdk.compress.xnor` (``BinaryDense``, ``BinaryConv2D`` with
sign(W), followed by ``BatchNormalization`` and ``BinarySign``) have no handler in hls4ml; these turn them into
our XNOR units, the way the ``.xnor`` writer does (same packing, same :func:`fold_threshold`):

- ``BinaryDense`` / ``BinaryConv2D`` followed by BatchNorm and sign -> ``EdgeXnorDense`` / ``EdgeXnorConv``
  with BatchNorm + sign folded into integer thresholds (FINN, Umuroglu et al. 2017; flipped for a negative
  scale), weights packed 32 per word. A binary layer whose input is not packed bits gets an ``EdgeSign`` in front
  (sign with +1 at 0, as ``BinarySign`` trains).
- the ``BatchNormalization`` between a binary layer and its sign emits nothing (it is in the thresholds); every
  other BatchNormalization goes to hls4ml's own Keras-2 handler, as it would without edgesdk.
- ``BinarySign`` after a binary layer emits nothing when only binary layers read it (they take the packed
  words), else ``EdgeUnpack`` to ±1; after any other layer it becomes ``EdgeSign`` (packed bits).

Everything between the first and the last sign is integer, so a C-simulation of that part equals edgesdk's
reference of the ``.xnor`` graph bit for bit. The first and last layers (float in Keras) go through hls4ml's own
fixed-point layers; the int8 versions of them come from the TFLite converter, which the ``.xnor`` graph (``edgesdk
synth``) carries and a Keras model does not.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError

#: the module of edgesdk's binary training layers (classes made by ``edgesdk.compress.xnor._classes``)
XNOR_MODULE = "edgesdk.compress.xnor"
_BINARY = ("BinaryDense", "BinaryConv2D")
_lock = threading.Lock()
_done = False


def _is(layer: Any, *names: str) -> bool:
    return type(layer).__module__ == XNOR_MODULE and type(layer).__name__ in names


def _producer(t: Any) -> Any:
    return t._keras_history.operation


def _parsing_model() -> Any | None:
    """The Keras model hls4ml's Keras-3 parser is converting, or None outside it.

    hls4ml 1.3 passes a handler the layer and its tensors but not the model, and Keras layers and tensors are
    shared between models (a sub-model built from a trained model's tensors): whether a tensor is an output of
    the model being converted, and which layers of that model read it, is known only from the model, which
    hls4ml keeps as the ``model`` local of ``parse_keras_v3_model``.
    """
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "parse_keras_v3_model" and "model" in frame.f_locals:
            return frame.f_locals["model"]
        frame = frame.f_back
    return None


def _consumers(t: Any) -> list[Any]:
    """The layers of the model being converted that read tensor ``t``."""
    model = _parsing_model()
    ops = {id(op) for op in model.operations} if model is not None else None
    return [
        n.operation
        for n in _producer(t)._outbound_nodes
        if any(x is t for x in n.input_tensors) and (ops is None or id(n.operation) in ops)
    ]


def _only_binary_readers(t: Any) -> bool:
    """True where only binary layers read ``t`` and it is not an output of the model (packed words suffice)."""
    model = _parsing_model()
    if model is not None and any(o is t for o in model.outputs):
        return False
    readers = _consumers(t)
    return bool(readers) and all(_is(r, *_BINARY) for r in readers)


def _bn_input(bn_out: Any) -> Any:
    """The input tensor of the BatchNormalization that produced ``bn_out``."""
    bn = _producer(bn_out)
    for node in bn._inbound_nodes:
        if any(x is bn_out for x in node.output_tensors):
            return node.input_tensors[0]
    raise UnsupportedOpError(f"layer {bn.name}: cannot find its input in the Keras graph")


def _folded_bn(t: Any) -> bool:
    """True where ``t`` is the output of a BatchNormalization directly after a binary layer."""
    import keras

    return isinstance(_producer(t), keras.layers.BatchNormalization) and _is(
        _producer(_bn_input(t)), *_BINARY
    )


def _bn_and_sign(layer: Any, out: Any) -> tuple[Any, Any]:
    """The BatchNormalization reading ``out`` and the BinarySign reading it, or a sentence why not."""
    import keras

    readers = _consumers(out)
    if len(readers) == 1 and isinstance(readers[0], keras.layers.BatchNormalization):
        bn = readers[0]
        bn_out = next(n.output_tensors[0] for n in bn._inbound_nodes if n.input_tensors[0] is out)
        after = _consumers(bn_out)
        if len(after) == 1 and _is(after[0], "BinarySign"):
            sign_out = next(
                n.output_tensors[0] for n in after[0]._inbound_nodes if n.input_tensors[0] is bn_out
            )
            return bn, sign_out
    raise UnsupportedOpError(
        f"layer {layer.name} ({type(layer).__name__}): the FPGA backend takes a binary layer only when "
        "BatchNormalization and BinarySign follow it (what edgesdk's xnor training builds)"
    )


def _thresholds(bn: Any) -> dict[str, np.ndarray]:
    from edgesdk.reference.binary import fold_threshold

    g, b, m, v = (np.asarray(w, dtype=np.float64) for w in bn.get_weights())
    thr, flip = fold_threshold(g, b, m, v, float(bn.epsilon))
    return {"threshold_data": thr.astype(np.int64), "flip_data": flip.astype(np.int64)}


def _sign_dict(name: str, src: Any, out_name: str) -> dict[str, Any]:
    from edgesdk.reference.binary import words_for

    shape = [int(d) for d in src.shape[1:]]
    c = shape[-1]
    return {
        "class_name": "EdgeSign",
        "name": name,
        "input_keras_tensor_names": [src.name],
        "output_keras_tensor_names": [out_name],
        "n_pix": int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1,
        "n_chan": c,
        "n_words": words_for(c),
        "out_shape": [*shape[:-1], words_for(c)],
    }


def _define() -> None:
    import keras
    from hls4ml.converters.keras_v2_to_hls import layer_handlers as v2_handlers
    from hls4ml.converters.keras_v3._base import KerasV3LayerHandler
    from hls4ml.converters.keras_v3_to_hls import KerasV3HandlerDispatcher

    from edgesdk.backends.hls.xnor_hls import xnor_conv_fields, xnor_dense_fields
    from edgesdk.compress.xnor import PAD_VALUE
    from edgesdk.reference.binary import pack_bits, words_for

    class EdgeBinaryLayerHandler(KerasV3LayerHandler):
        """BinaryDense / BinaryConv2D (+ the BatchNorm and sign after it) -> one folded XNOR unit."""

        handles = (f"{XNOR_MODULE}.BinaryDense", f"{XNOR_MODULE}.BinaryConv2D")

        def handle(
            self, layer: Any, in_tensors: Sequence[Any], out_tensors: Sequence[Any]
        ) -> tuple[dict[str, Any], ...]:
            src, out = in_tensors[0], out_tensors[0]
            bn, sign_out = _bn_and_sign(layer, out)
            kern = np.asarray(self.load_weight(layer, "kernel"))
            configs: list[dict[str, Any]] = []
            src_name = src.name
            if not (_is(_producer(src), "BinarySign") and _only_binary_readers(src)):
                src_name = f"{src.name}_edgesdk_bits"
                configs.append(_sign_dict(f"{layer.name}_input_sign", src, src_name))
            common = {
                "name": layer.name,
                "input_keras_tensor_names": [src_name],
                # the raw output (read by nothing once folded) and the sign's output both map to this unit
                "output_keras_tensor_names": [out.name, sign_out.name],
                **_thresholds(bn),
            }
            if _is(layer, "BinaryDense"):
                words = pack_bits(kern.T >= 0).astype(np.int64)
                fields = xnor_dense_fields(int(kern.shape[0]), int(kern.shape[1]), words, None)
                return (*configs, {**common, "class_name": "EdgeXnorDense", **fields})
            if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
                raise UnsupportedOpError(
                    f"layer {layer.name}: dilated or grouped binary conv is not supported"
                )
            _, h, w, cin = (int(d) if d is not None else 1 for d in src.shape)
            words = pack_bits(np.transpose(kern >= 0, (3, 0, 1, 2))).astype(np.int64)
            fields = xnor_conv_fields(
                (h, w, cin),
                int(kern.shape[-1]),
                tuple(int(k) for k in layer.kernel_size),
                tuple(int(s) for s in layer.strides),
                layer.padding.upper(),
                PAD_VALUE,
                words,
                None,
            )
            return (*configs, {**common, "class_name": "EdgeXnorConv", **fields})

    class EdgeBinarySignHandler(KerasV3LayerHandler):
        """BinarySign: folded into the binary layer before it, or a sign unit; ±1 for non-binary readers."""

        handles = (f"{XNOR_MODULE}.BinarySign",)

        def handle(
            self, layer: Any, in_tensors: Sequence[Any], out_tensors: Sequence[Any]
        ) -> tuple[dict[str, Any], ...]:
            src, out = in_tensors[0], out_tensors[0]
            configs: list[dict[str, Any]] = []
            if _folded_bn(src):
                packed = _bn_input(src).name  # the binary unit's raw output name, which it provides
            else:
                packed = f"{out.name}_edgesdk_bits"
                configs.append(_sign_dict(layer.name, src, packed))
            if _only_binary_readers(out):
                if configs:
                    configs[0]["output_keras_tensor_names"] = [out.name]
                return tuple(configs)
            shape = [int(d) for d in out.shape[1:]]
            c = shape[-1]
            configs.append(
                {
                    "class_name": "EdgeUnpack",
                    "name": f"{layer.name}_unpack",
                    "input_keras_tensor_names": [packed],
                    "output_keras_tensor_names": [out.name],
                    "n_pix": int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1,
                    "n_chan": c,
                    "n_words": words_for(c),
                    "high": 1,
                    "low": -1,
                    "out_shape": shape,
                }
            )
            return tuple(configs)

    bn_cls = keras.layers.BatchNormalization
    default = KerasV3HandlerDispatcher({}, True, False, v2_handlers)

    class EdgeBatchNormHandler(KerasV3LayerHandler):
        """A BatchNorm between a binary layer and its sign is in the thresholds; others go to hls4ml's own."""

        handles = (f"{bn_cls.__module__}.{bn_cls.__name__}",)

        def __call__(
            self, layer: Any, in_tensors: Sequence[Any], out_tensors: Sequence[Any]
        ) -> tuple[dict[str, Any], ...]:
            if _folded_bn(out_tensors[0]):
                return ()
            return default(layer, in_tensors, out_tensors)


def register_keras_handlers() -> None:
    """Register the handlers with hls4ml's Keras-3 converter (once; later calls do nothing)."""
    global _done
    with _lock:
        if not _done:
            _define()
            _done = True
