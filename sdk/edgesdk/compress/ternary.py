"""``ternary`` and ``binary``: quantization-aware training of ternary / binary weights, then plain Keras layers.

- ternary, TWN (Li, Zhang and Liu 2016, "Ternary Weight Networks"): per output channel, threshold
  Δ = 0.7·mean|W| and scale α = mean of |W| over the weights above Δ; W_t = α·sign(W)·[|W| > Δ].
  ``ternary=ttq`` trains the positive and negative scales of each channel (Zhu, Han, Mao and Dally 2017,
  "Trained Ternary Quantization"), Δ = 0.05·max|W|: W_t = W_p·[W > Δ] − W_n·[W < −Δ].
- binary weights, BWN (Rastegari et al. 2016, "XNOR-Net"): per output channel α = mean|W|; W_b = α·sign(W).

The quantizers are applied in the forward pass with a straight-through estimator (Bengio, Léonard and Courville
2013): the latent float weights receive the gradient of the quantized ones unchanged. After training, every
quantized layer is replaced by its plain Keras class holding the quantized weights, so the result is an ordinary
model whose kernels take per output channel the values α·{−1, 0, 1} (α·{−1, 1}); the TFLite converter's
per-channel int8 quantization (scale = max|W|/127) then writes exactly {−127, 0, 127} ({−127, 127}), which
``edgesdk.passes.packed_weights`` recognizes. TTQ channels become {−a, 0, 127} or {−127, 0, b}: three values, which
the same pass also packs (with the two magnitudes per channel).

First and last weight layers stay int8 by default (``keep_int8``); a DepthwiseConv2D layer keeps its int8 weights
(its few weights per channel gain nothing from packing), which is reported per layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compress.base import (
    CompressContext,
    bias_and_activation,
    register_check,
    register_method,
    trainable_copy,
    weight_layers,
)
from edgesdk.errors import CompressError

TWN_DELTA = 0.7
TTQ_DELTA = 0.05

#: Layer classes that take ternary/binary weights (their kernel's last axis is the output channel).
PACKABLE = ("Dense", "Conv2D")


# --- quantizer functions (NumPy and Keras ops alike: ``xp`` is numpy or keras.ops) ---------------------------
def _reduce_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - 1))


def twn_ternarize(w: Any, xp: Any = np) -> Any:
    """TWN ternary weights per output channel (last axis): α·sign(w)·[|w| > Δ], Δ = 0.7·mean|w|."""
    axes = _reduce_axes(len(w.shape))
    a = xp.abs(w)
    delta = TWN_DELTA * xp.mean(a, axis=axes, keepdims=True)
    mask = xp.cast(a > delta, w.dtype) if xp is not np else (a > delta).astype(w.dtype)
    count = xp.maximum(xp.sum(mask, axis=axes, keepdims=True), 1.0)
    alpha = xp.sum(a * mask, axis=axes, keepdims=True) / count
    return alpha * xp.sign(w) * mask


def bwn_binarize(w: Any, xp: Any = np) -> Any:
    """BWN binary weights per output channel (last axis): α·sign(w) with α = mean|w| (sign(0) taken as +1)."""
    axes = _reduce_axes(len(w.shape))
    alpha = xp.mean(xp.abs(w), axis=axes, keepdims=True)
    s = xp.where(w >= 0, 1.0, -1.0)
    if xp is not np:
        s = xp.cast(s, w.dtype)
    return alpha * s


def ttq_ternarize(w: Any, wp: Any, wn: Any, xp: Any = np) -> Any:
    """TTQ ternary weights: wp·[w > Δ] − wn·[w < −Δ], Δ = 0.05·max|w| per output channel."""
    axes = _reduce_axes(len(w.shape))
    delta = TTQ_DELTA * xp.max(xp.abs(w), axis=axes, keepdims=True)
    if xp is np:
        pos, neg = (w > delta).astype(w.dtype), (w < -delta).astype(w.dtype)
    else:
        pos, neg = xp.cast(w > delta, w.dtype), xp.cast(w < -delta, w.dtype)
    return wp * pos - wn * neg


def _ste(w: Any, q: Any) -> Any:
    """Straight-through: the value of ``q``, the gradient of ``w``."""
    from keras import ops

    return w + ops.stop_gradient(q - w)


# --- training layers ---------------------------------------------------------------------------------------
def _quantized_kernel(layer: Any, kernel: Any) -> Any:
    from keras import ops

    mode = layer._edgesdk_quant
    if mode == "ternary":
        return _ste(kernel, twn_ternarize(kernel, ops))
    if mode == "binary":
        return _ste(kernel, bwn_binarize(kernel, ops))
    # TTQ: latent weights get the scaled straight-through gradient, the scales their own.
    axes = _reduce_axes(len(kernel.shape))
    delta = TTQ_DELTA * ops.max(ops.abs(kernel), axis=axes, keepdims=True)
    pos = ops.cast(kernel > delta, kernel.dtype)
    neg = ops.cast(kernel < -delta, kernel.dtype)
    mid = 1.0 - pos - neg
    shaped = (1,) * (len(kernel.shape) - 1) + (-1,)
    wp = ops.reshape(layer.ttq_wp, shaped)
    wn = ops.reshape(layer.ttq_wn, shaped)
    q_const = ops.stop_gradient(wp * pos - wn * neg)
    scale = ops.stop_gradient(wp * pos + wn * neg + mid)
    latent = kernel * scale - ops.stop_gradient(kernel * scale)
    return q_const + latent + (wp - ops.stop_gradient(wp)) * pos - (wn - ops.stop_gradient(wn)) * neg


def _make_classes() -> dict[str, type]:
    import keras

    class QuantDense(keras.layers.Dense):
        """Dense whose kernel is quantized in the forward pass (straight-through gradient)."""

        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            _add_ttq(self, self.units)

        def call(self, inputs: Any, training: Any = None) -> Any:
            from keras import ops

            x = ops.matmul(inputs, _quantized_kernel(self, self.kernel))
            return bias_and_activation(self, x)

    class QuantConv2D(keras.layers.Conv2D):
        """Conv2D whose kernel is quantized in the forward pass (straight-through gradient)."""

        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            _add_ttq(self, self.filters)

        def convolution_op(self, inputs: Any, kernel: Any) -> Any:
            return super().convolution_op(inputs, _quantized_kernel(self, kernel))

    return {"Dense": QuantDense, "Conv2D": QuantConv2D}


def _add_ttq(layer: Any, channels: int) -> None:
    if getattr(layer, "_edgesdk_quant", "") != "ttq":
        return
    import keras

    # Initial scales: TWN's α of the channel, set after the float weights are copied in (see _init_ttq).
    layer.ttq_wp = layer.add_weight(name="ttq_wp", shape=(channels,), initializer=keras.initializers.Ones())
    layer.ttq_wn = layer.add_weight(name="ttq_wn", shape=(channels,), initializer=keras.initializers.Ones())


def _init_ttq(layer: Any) -> None:
    w = np.asarray(layer.kernel.numpy())
    axes = _reduce_axes(w.ndim)
    delta = TTQ_DELTA * np.max(np.abs(w), axis=axes, keepdims=True)
    pos = np.where(w > delta, w, 0.0)
    neg = np.where(w < -delta, -w, 0.0)
    wp = pos.sum(axis=axes) / np.maximum((w > delta).sum(axis=axes), 1)
    wn = neg.sum(axis=axes) / np.maximum((w < -delta).sum(axis=axes), 1)
    layer.ttq_wp.assign(wp.astype(np.float32))
    layer.ttq_wn.assign(wn.astype(np.float32))


def quantized_weights(layer: Any) -> np.ndarray:
    """The final quantized kernel of a training layer (NumPy)."""
    w = np.asarray(layer.kernel.numpy(), dtype=np.float32)
    mode = layer._edgesdk_quant
    if mode == "ternary":
        return twn_ternarize(w).astype(np.float32)
    if mode == "binary":
        return bwn_binarize(w).astype(np.float32)
    shaped = (1,) * (w.ndim - 1) + (-1,)
    wp = np.abs(np.asarray(layer.ttq_wp.numpy())).reshape(shaped)
    wn = np.abs(np.asarray(layer.ttq_wn.numpy())).reshape(shaped)
    return ttq_ternarize(w, wp, wn).astype(np.float32)


# --- the methods -------------------------------------------------------------------------------------------
def _plan(model: Any, ctx: CompressContext, method: str) -> set[str]:
    """Names of the layers that take ``method``; every other weight layer gets a report note saying why not."""
    chosen = set()
    for layer in weight_layers(model):
        entry = ctx.layer(layer.name)
        cls = type(layer).__name__
        if layer.name in ctx.keep_int8:
            entry.update(target="int8", note=ctx.kept_note(layer.name))
        elif cls not in PACKABLE:
            entry.update(
                target="int8",
                note=f"layer {layer.name} ({cls}) cannot take {method} weights; its weights stay int8",
            )
        elif cls == "Conv2D" and (layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1)):
            entry.update(
                target="int8",
                note=f"layer {layer.name} (grouped or dilated Conv2D) cannot take {method} weights; "
                "its weights stay int8",
            )
        else:
            chosen.add(layer.name)
            entry.update(target=method)
    return chosen


def _chosen(model: Any, ctx: CompressContext, method: str) -> set[str]:
    chosen = _plan(model, ctx, method)
    if not chosen:
        raise CompressError(
            f"model {model.name} has no layer that can take {method} weights (all are kept int8 or of "
            "another kind); nothing to compress"
        )
    return chosen


def quantize_weights(model: Any, mode: str, ctx: CompressContext) -> Any:
    """Quantization-aware training with ``mode`` in {"ternary", "binary", "ttq"}; returns a plain Keras model."""
    method = "binary" if mode == "binary" else "ternary"
    chosen = _chosen(model, ctx, method)
    classes = _make_classes()

    def to_quant(layer: Any) -> Any:
        if layer.name not in chosen:
            return None
        cls = classes[type(layer).__name__]
        new = cls.from_config(layer.get_config())
        new._edgesdk_quant = mode
        return new

    qat = trainable_copy(model, to_quant)
    for layer in qat.layers:
        if getattr(layer, "_edgesdk_quant", "") == "ttq":
            _init_ttq(layer)
    ctx.fit(qat)
    finals = {
        layer.name: quantized_weights(layer) for layer in qat.layers if hasattr(layer, "_edgesdk_quant")
    }
    plain = trainable_copy(qat, lambda la: _plain_of(la))
    for layer in plain.layers:
        if layer.name in finals:
            q = finals[layer.name]
            weights = layer.get_weights()
            weights[0] = q
            layer.set_weights(weights)
            entry = ctx.layer(layer.name)
            entry["sparsity"] = float(np.mean(q == 0))
            entry["bits"] = 2 if method == "ternary" else 1
            entry["distinct_per_channel"] = int(
                max(len(np.unique(np.moveaxis(q, -1, 0)[c])) for c in range(q.shape[-1]))
            )
    return plain


def _plain_of(layer: Any) -> Any:
    if not hasattr(layer, "_edgesdk_quant"):
        return None
    import keras

    base = {"QuantDense": keras.layers.Dense, "QuantConv2D": keras.layers.Conv2D}[type(layer).__name__]
    return base.from_config(layer.get_config())


def _ternary_mode(arg: str | None) -> str:
    mode = (arg or "twn").lower()
    if mode not in ("twn", "ttq"):
        raise CompressError(f"method ternary takes twn (default) or ttq, not {arg!r}")
    return "ternary" if mode == "twn" else "ttq"


@register_method("ternary", order=60, help="ternary weights {-a,0,a} per channel (TWN; ternary=ttq for TTQ)")
def apply_ternary(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    return quantize_weights(model, _ternary_mode(arg), ctx)


@register_method("binary", order=60, help="binary weights {-a,a} per channel (BWN), int8 activations")
def apply_binary(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    if arg:
        raise CompressError(f"method binary takes no argument (got binary={arg})")
    return quantize_weights(model, "binary", ctx)


@register_check("ternary")
def check_ternary(model: Any, arg: str | None, ctx: CompressContext) -> None:
    _ternary_mode(arg)
    _chosen(model, ctx.probe(), "ternary")


@register_check("binary")
def check_binary(model: Any, arg: str | None, ctx: CompressContext) -> None:
    if arg:
        raise CompressError(f"method binary takes no argument (got binary={arg})")
    _chosen(model, ctx.probe(), "binary")
