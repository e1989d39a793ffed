"""Keras models trained elsewhere with QKeras layers (the Keras 3 port ``qkeras-v3``) -> plain Keras models.

QKeras (Coelho et al. 2021, "Automatic heterogeneous quantization of deep neural networks for low-latency
inference on the edge for particle detectors") trains ``QDense`` / ``QConv2D`` / ``QDepthwiseConv2D`` layers whose
forward pass applies a quantizer to the float ("latent") kernel and bias: ``binary(alpha="auto")`` gives per output
channel α·{−1, 1}, ``ternary(alpha="auto")`` α·{−1, 0, 1} (both with ``alpha=None`` switch to per-channel
power-of-two scales when the layer is built), ``quantized_bits`` a fixed-point grid. What such a model computes at
inference is therefore an ordinary Keras model whose kernels *are* the quantizer's outputs.

:func:`plain_model` builds exactly that model (``Dense`` / ``Conv2D`` / ``DepthwiseConv2D`` holding the quantized
kernel and bias, ``Activation`` for a ``QActivation`` with a plain activation), so the real TFLite converter
quantizes it like any float model: its per-channel int8 scale is max|W|/127, so α·{−1, 0, 1} is written as
{−127, 0, 127} and α·{−1, 1} as {−127, 127}, which :mod:`edgesdk.passes.packed_weights` recognizes and runs with
the packed kernels. Binary *activations* (``QActivation("binary")``, ``binary_tanh``) have no int8 form: such a
model is refused with a pointer to ``edgesdk compress --method xnor``; other quantized activations
(``quantized_relu``, ...) are refused as well, because int8 would silently change what they compute.

qkeras-v3 must be installed with ``pip install --no-deps qkeras-v3`` (its declared dependencies pull in a second
TensorFlow); hgq2 installs a small top-level ``qkeras`` module of its own that is not QKeras, which is detected.
"""

from __future__ import annotations

import inspect
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import ModelFormatError, UnsupportedOpError

log = logging.getLogger(__name__)

#: QKeras layer class -> (plain Keras class, name of the kernel attribute, name of its quantizer attribute).
WEIGHT_LAYERS = {
    "QDense": ("Dense", "kernel", "kernel_quantizer_internal"),
    "QConv2D": ("Conv2D", "kernel", "kernel_quantizer_internal"),
    "QDepthwiseConv2D": ("DepthwiseConv2D", "depthwise_kernel", "depthwise_quantizer_internal"),
}
#: Quantized activations that give ±1 (or {0, 1}) values: XNOR-Net territory, not int8.
BINARY_ACTIVATIONS = ("binary", "stochastic_binary", "binary_tanh", "binary_sigmoid")
INSTALL_HINT = 'pip install --no-deps "qkeras-v3==1.2.1"'


def is_qkeras_layer(layer: Any) -> bool:
    return type(layer).__module__.split(".")[0] == "qkeras"


def uses_qkeras(model: Any) -> bool:
    """Whether a Keras model holds any QKeras layer."""
    return any(is_qkeras_layer(layer) for layer in getattr(model, "layers", []))


def _config_text(path: Path) -> str:
    """The model's architecture JSON as text (``.keras`` zip or ``.h5`` attribute), or "" if it cannot be read."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return z.read("config.json").decode("utf-8", "replace")
        import h5py

        with h5py.File(path, "r") as f:
            cfg = f.attrs.get("model_config", "")
            return cfg.decode("utf-8", "replace") if isinstance(cfg, bytes) else str(cfg)
    except Exception:  # the real loader will say what is wrong with the file
        return ""


def qkeras_classes_in_file(path: Path) -> list[str]:
    """The QKeras class names a saved ``.keras``/``.h5`` model uses (empty if none)."""
    text = _config_text(path)
    if "qkeras" not in text:
        return []
    found: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            module = str(obj.get("module", "")) + str(obj.get("registered_name", ""))
            if "qkeras" in module and "class_name" in obj and str(obj["class_name"]).startswith("Q"):
                found.add(str(obj["class_name"]))
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    try:
        walk(json.loads(text))
    except ValueError:
        return ["QKeras layers"]
    return sorted(found) or ["QKeras objects"]


def import_qkeras(what: str) -> Any:
    """Import the real QKeras (qkeras-v3), or say in one sentence how to get it."""
    try:
        import qkeras
    except ImportError:
        raise ModelFormatError(f"{what} uses QKeras layers; install qkeras-v3 with {INSTALL_HINT}") from None
    if not (hasattr(qkeras, "QDense") and hasattr(qkeras, "ternary")):
        raise ModelFormatError(
            f"{what} uses QKeras layers, but the installed qkeras module ({qkeras.__file__}) is not qkeras-v3 "
            f"(hgq2 installs a qkeras shim of its own); install qkeras-v3 with {INSTALL_HINT} in an environment "
            "without hgq2"
        )
    return qkeras


def prepare_load(path: Path) -> None:
    """Before ``keras.models.load_model(path)``: import QKeras if the saved model uses its layers (so that
    Keras finds the registered classes)."""
    classes = qkeras_classes_in_file(path)
    if classes:
        import_qkeras(f"Keras model {path} ({', '.join(classes)})")


def _activation_name(layer: Any, act: Any, what: str) -> str:
    """The Keras name of a plain activation, or a refusal for a quantized one."""
    import keras

    if act is None:
        return "linear"
    if inspect.isfunction(act):  # keras.activations.relu, qkeras' binary_tanh, ...
        name, module = act.__name__, str(act.__module__)
    else:  # a quantizer object (binary(), quantized_relu(4), ...)
        name, module = type(act).__name__, type(act).__module__
    shown = name if inspect.isfunction(act) else str(act)
    cls = type(layer).__name__
    label = f"{cls} {shown}" if cls == "QActivation" else f"{cls} activation {shown}"
    if module.split(".")[0] == "qkeras":
        if name in BINARY_ACTIVATIONS:
            raise UnsupportedOpError(
                f"layer {layer.name} of {what}: {label} gives binary activations, "
                "which an int8 .tflite cannot hold; train the float model with edgesdk compress --method xnor "
                "(binary weights and activations, the .xnor format) instead"
            )
        raise UnsupportedOpError(
            f"layer {layer.name} of {what}: {label} is a quantized activation; "
            "edgesdk takes QKeras models whose activations are plain Keras ones (relu, softmax, ...) and "
            "quantizes activations to int8 itself"
        )
    try:
        return str(keras.activations.serialize(act))
    except Exception:
        raise UnsupportedOpError(
            f"layer {layer.name} of {what}: activation {name} is not a Keras activation edgesdk can rebuild"
        ) from None


def _plain_config(plain_cls: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The QKeras layer's config reduced to what the plain class takes (no quantizers, initializers,
    regularizers or constraints: the weights are set afterwards and nothing is trained)."""
    keep = {"name", "trainable", "dtype"}
    probe = plain_cls.__init__.__code__.co_varnames
    out = {}
    for key, value in config.items():
        if key in keep or (
            key in probe
            and key != "activation"
            and not key.endswith(("_initializer", "_regularizer", "_constraint", "_quantizer"))
        ):
            out[key] = value
    return out


def plain_model(model: Any, what: str | None = None) -> Any:
    """A plain Keras copy of a model with QKeras layers, every kernel and bias replaced by its quantizer's output.

    Models without QKeras layers are returned unchanged. Refuses (one sentence) QKeras layers other than
    QDense/QConv2D/QDepthwiseConv2D/QActivation and quantized activations.
    """
    if not uses_qkeras(model):
        return model
    import keras

    what = what or f"model {getattr(model, 'name', '')}"
    plan: dict[str, tuple[Any, dict[str, Any], list[np.ndarray]]] = {}
    for layer in model.layers:
        if not is_qkeras_layer(layer):
            continue
        cls = type(layer).__name__
        if cls == "QActivation":
            act = _activation_name(layer, layer.activation, what)
            plan[layer.name] = (keras.layers.Activation, {"name": layer.name, "activation": act}, [])
            continue
        if cls not in WEIGHT_LAYERS:
            raise UnsupportedOpError(
                f"layer {layer.name} of {what}: QKeras layer {cls} is not supported (edgesdk takes "
                f"{', '.join(WEIGHT_LAYERS)} and QActivation with a plain activation)"
            )
        plain_name, kernel_attr, quant_attr = WEIGHT_LAYERS[cls]
        plain_cls = getattr(keras.layers, plain_name)
        config = _plain_config(plain_cls, layer.get_config())
        config["activation"] = _activation_name(layer, layer.activation, what)
        kernel = getattr(layer, kernel_attr)
        kq = getattr(layer, quant_attr, None)
        weights = [np.asarray(kq(kernel) if kq is not None else kernel, dtype=np.float32)]
        if getattr(layer, "use_bias", False):
            bq = getattr(layer, "bias_quantizer_internal", None)
            weights.append(np.asarray(bq(layer.bias) if bq is not None else layer.bias, dtype=np.float32))
        if kq is not None:
            per_channel = np.moveaxis(weights[0].reshape(-1, weights[0].shape[-1]), -1, 0)
            distinct = max(len(np.unique(row)) for row in per_channel)
            log.info(
                "%s: %s kernel quantized by %s (%d distinct values per channel)",
                what,
                layer.name,
                kq,
                distinct,
            )
        plan[layer.name] = (plain_cls, config, weights)

    def clone(layer: Any) -> Any:
        if layer.name in plan:
            plain_cls, config, _ = plan[layer.name]
            return plain_cls(**config)
        return layer.__class__.from_config(layer.get_config())

    try:
        plain = keras.models.clone_model(model, clone_function=clone)
    except Exception as exc:
        raise ModelFormatError(
            f"{what} cannot be rebuilt without its QKeras layers ({type(exc).__name__}: {exc})"
        ) from exc
    for layer in plain.layers:
        src = model.get_layer(layer.name)
        if layer.name in plan:
            if plan[layer.name][2]:
                layer.set_weights(plan[layer.name][2])
        elif src.weights:
            layer.set_weights(src.get_weights())
    return plain


__all__ = ["import_qkeras", "plain_model", "prepare_load", "qkeras_classes_in_file", "uses_qkeras"]
