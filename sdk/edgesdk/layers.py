"""Compact Keras layers that edgesdk runs on the device: Ghost, Shift and AdderNet.

Import this module before loading a saved model that uses them (``import edgesdk.layers``): the classes are
registered as Keras serializable objects under the package name ``edgesdk``.

- :class:`GhostConv2D` (Han et al. 2020, "GhostNet: More Features from Cheap Operations"): a thin convolution
  makes ``filters / ratio`` intrinsic feature maps; a cheap depthwise convolution derives ``ratio - 1`` "ghost"
  maps from each; both are concatenated. It converts to ordinary TFLite ops (CONV_2D, DEPTHWISE_CONV_2D,
  CONCATENATION) that edgesdk's int8 kernels run.
- :class:`Shift2D` (Wu et al. 2018, "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial
  Convolutions"): every channel is moved by a fixed spatial offset (channels split evenly over the k×k
  offsets, the centre first), a depthwise convolution with fixed one-hot kernels and no parameters to train.
  Follow it with a 1×1 ``Conv2D`` to mix channels. After int8 conversion edgesdk's ``shift`` pass recognises
  the one-hot kernels and runs the layer as a gather plus a lookup table: no multiply-accumulate.
- :class:`AdderConv2D` (Chen et al. 2020, "AdderNet: Do We Really Need Multiplications in Deep Learning?"):
  ``y = scale · (-Σ|x - w|) + bias`` per output channel, trained with the paper's gradients (full-precision
  ``x - w`` for the weights, scaled by the adaptive learning rate ``η·√k / ‖∇w‖₂``; HardTanh-clipped
  ``w - x`` for the input). No TFLite op exists: ``edgesdk.compress.adder`` writes models with it in
  edgesdk's own IR file format, run by the ``EDGESDK_ADDER_CONV_2D`` kernel.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def shift_kernel(channels: int, kernel_size: int = 3) -> np.ndarray:
    """Depthwise kernel (k × k × C × 1) of a Shift layer: channel c is one-hot at offset ``order[c * k² // C]``,
    offsets ordered centre first, then row by row (so every offset gets C / k² channels)."""
    k = int(kernel_size)
    taps = [(k // 2) * k + k // 2] + [t for t in range(k * k) if t != (k // 2) * k + k // 2]
    kern = np.zeros((k * k, channels), np.float32)
    for c in range(channels):
        kern[taps[(c * len(taps)) // channels], c] = 1.0
    return kern.reshape(k, k, channels, 1)


def _attrs(layer: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The constructor arguments a layer keeps as attributes of the same names (its Keras config)."""
    return {name: getattr(layer, name) for name in names}


@keras.saving.register_keras_serializable(package="edgesdk")
class Shift2D(keras.layers.Layer):
    """Per-channel spatial shift (zero parameters): a fixed one-hot depthwise convolution, SAME padding."""

    def __init__(self, kernel_size: int = 3, dilation_rate: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"Shift2D kernel_size must be odd and positive, not {kernel_size}")
        self.kernel_size = int(kernel_size)
        self.dilation_rate = int(dilation_rate)

    def build(self, input_shape: Any) -> None:
        c = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="shift_kernel",
            shape=(self.kernel_size, self.kernel_size, c, 1),
            initializer=keras.initializers.Constant(shift_kernel(c, self.kernel_size)),
            trainable=False,
        )

    def call(self, x: Any) -> Any:
        return ops.depthwise_conv(x, self.kernel, strides=1, padding="same", dilation_rate=self.dilation_rate)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kernel_size": self.kernel_size, "dilation_rate": self.dilation_rate}


@keras.saving.register_keras_serializable(package="edgesdk")
class GhostConv2D(keras.layers.Layer):
    """Ghost module: ``concat(primary(x), cheap(primary(x)))`` with ``filters / ratio`` primary channels.

    ``filters`` must be a multiple of ``ratio`` (no slicing, which would add a STRIDED_SLICE op);
    ``kernel_size``/``strides`` are the primary convolution's, ``dw_size`` the cheap depthwise one's.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        strides: int = 1,
        activation: str | None = "relu",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if ratio < 2 or filters % ratio:
            raise ValueError(f"GhostConv2D: filters ({filters}) must be a multiple of ratio ({ratio}) >= 2")
        self.filters, self.kernel_size, self.ratio = int(filters), int(kernel_size), int(ratio)
        self.dw_size, self.strides, self.activation = int(dw_size), int(strides), activation
        prefix = kwargs.get("name") or "ghost"
        self.primary = keras.layers.Conv2D(
            filters // ratio,
            kernel_size,
            strides=strides,
            padding="same",
            activation=activation,
            name=f"{prefix}_primary",
        )
        self.cheap = keras.layers.DepthwiseConv2D(
            dw_size, padding="same", depth_multiplier=ratio - 1, activation=activation, name=f"{prefix}_cheap"
        )

    def build(self, input_shape: Any) -> None:
        self.primary.build(input_shape)
        shape = self.primary.compute_output_shape(input_shape)
        self.cheap.build(shape)

    def call(self, x: Any) -> Any:
        p = self.primary(x)
        return ops.concatenate([p, self.cheap(p)], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self.primary.compute_output_shape(input_shape)
        return (*shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        names = ("filters", "kernel_size", "ratio", "dw_size", "strides", "activation")
        return {**super().get_config(), **_attrs(self, names)}


@keras.saving.register_keras_serializable(package="edgesdk")
class MinValue(keras.constraints.Constraint):
    """Clip a weight to at least ``min_value`` (keeps AdderConv2D's output scales positive)."""

    def __init__(self, min_value: float = 1e-6) -> None:
        self.min_value = float(min_value)

    def __call__(self, w: Any) -> Any:
        return ops.maximum(w, self.min_value)

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value}


def _adder_op(eta: float) -> Any:
    """``-Σ_k |p[b, k] - w[k, o]|`` with AdderNet's gradients (a function of patches p and weights w)."""

    @ops.custom_gradient
    def adder(p: Any, w: Any) -> Any:
        diff = ops.expand_dims(p, -1) - ops.expand_dims(w, 0)  # (B, K, O)
        y = -ops.sum(ops.abs(diff), axis=1)

        def grad(*args: Any, upstream: Any = None) -> Any:
            if upstream is None:
                (upstream,) = args
            g = ops.expand_dims(upstream, 1)  # (B, 1, O)
            # Full-precision gradient for w: dY/dW = X - W (not the sign), with the adaptive learning rate.
            gw = ops.sum(g * diff, axis=0)
            k = float(np.prod(w.shape))
            gw = gw * (eta * np.sqrt(k) / (ops.sqrt(ops.sum(gw * gw)) + 1e-12))
            # HardTanh gradient for x: dY/dX = HT(W - X), keeping the chain from vanishing or exploding.
            gp = ops.sum(g * ops.clip(-diff, -1.0, 1.0), axis=2)
            return gp, gw

        return y, grad

    return adder


@keras.saving.register_keras_serializable(package="edgesdk")
class AdderConv2D(keras.layers.Layer):
    """AdderNet convolution: ``activation(scale · (-Σ_{window} |x - w|) + bias)``, stride, SAME/VALID."""

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        padding: str = "same",
        activation: str | None = None,
        eta: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"AdderConv2D padding must be same or valid, not {padding!r}")
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.padding, self.eta = padding, float(eta)
        self.activation = keras.activations.get(activation)
        self._adder = _adder_op(self.eta)

    def build(self, input_shape: Any) -> None:
        k, c = self.kernel_size, int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, c, self.filters), initializer="he_normal", trainable=True
        )
        self.scale = self.add_weight(
            name="scale",
            shape=(self.filters,),
            initializer=keras.initializers.Constant(1.0 / (k * k * c)),
            constraint=MinValue(1e-6),
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def raw(self, x: Any) -> Any:
        """``-Σ|x - w|`` before scale, bias and activation."""
        k = self.kernel_size
        patches = ops.image.extract_patches(
            x, (k, k), strides=(self.strides, self.strides), padding=self.padding
        )
        shape = ops.shape(patches)
        flat = ops.reshape(patches, (-1, shape[-1]))
        y = self._adder(flat, ops.reshape(self.kernel, (-1, self.filters)))
        return ops.reshape(y, (shape[0], shape[1], shape[2], self.filters))

    def call(self, x: Any) -> Any:
        return self.activation(self.raw(x) * self.scale + self.bias)

    def compute_output_shape(self, input_shape: Any) -> Any:
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        k, s = self.kernel_size, self.strides

        def size(d: Any) -> Any:
            if d is None:
                return None
            return -(-d // s) if self.padding == "same" else (d - k) // s + 1

        return (n, size(h), size(w), self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            **_attrs(self, ("filters", "kernel_size", "strides", "padding")),
            "activation": keras.activations.serialize(self.activation),
            "eta": self.eta,
        }


__all__ = ["AdderConv2D", "GhostConv2D", "MinValue", "Shift2D", "shift_kernel"]
