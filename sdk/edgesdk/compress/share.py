"""``share=Nbit``: weight sharing by per-layer k-means (Han, Mao and Dally 2016, "Deep Compression", section 3).

Every compressed layer's weights are clustered into 2^N centroids by 1-D k-means with *linear* initialization
(centroids spaced evenly between the smallest and largest weight, which the paper found best because it keeps
the rare large weights). A layer pruned before (``prune=…,share=…``: the zeros of the mask) keeps its zeros
exactly and clusters only the surviving weights into 2^N - 1 centroids, so zero plus the centroids still fit N
bits. The centroids are then fine-tuned with the assignments fixed: during fine-tuning each layer's kernel is
``centroids[assign]`` (times the zero mask), so the gradient of each centroid is the sum of the gradients of
the weights in its cluster, as in the paper; only the centroids (and biases) are trained.

The result is a plain Keras model whose layers take at most 2^N distinct values. With per-channel int8
conversion each output channel then holds at most 2^N distinct int8 values, which ``edgesdk.passes.codebook``
(or ``edgesdk.passes.sparse`` with codes, after pruning) stores as packed N-bit codes plus a per-channel
codebook, bit-exact with the int8 weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compress.base import (
    CompressContext,
    bias_and_activation,
    chosen_layers,
    register_check,
    register_method,
    trainable_copy,
)
from edgesdk.errors import CompressError

KMEANS_ITERATIONS = 30
SHAREABLE = ("Dense", "Conv2D")


def parse_bits(arg: str | None) -> int:
    text = (arg or "").strip().lower()
    if text.endswith("bits"):
        text = text[:-4]
    elif text.endswith("bit"):
        text = text[:-3]
    if not text.isdigit() or not 1 <= int(text) <= 4:
        raise CompressError(
            f"method share takes the bits per weight from 1 to 4 (e.g. share=4bit), not {arg!r}: "
            "the codebook kernel stores 1-, 2- or 4-bit codes"
        )
    return int(text)


def kmeans_linear(
    values: np.ndarray, k: int, iterations: int = KMEANS_ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with linear initialization: (centroids, assignment of every value)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    k = max(1, min(k, np.unique(v).size))
    c = np.linspace(v.min(), v.max(), k)
    assign = np.zeros(v.size, np.int64)
    for _ in range(iterations):
        # Nearest centroid via the midpoints of the sorted centroids.
        order = np.argsort(c)
        c = c[order]
        mids = (c[1:] + c[:-1]) / 2
        new = np.searchsorted(mids, v)
        sums = np.bincount(new, weights=v, minlength=k)
        counts = np.bincount(new, minlength=k)
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        if np.array_equal(new, assign) and np.allclose(moved, c):
            break
        assign, c = new, moved
    return c, assign


def _shared_kernel(layer: Any) -> Any:
    """The layer's kernel as ``centroids[assign] * alive``: the gradient reaching each centroid is the sum of the
    gradients of the weights in its cluster (Deep Compression's centroid fine-tuning, by autodiff)."""
    from keras import ops

    flat = ops.take(layer.centroids, ops.reshape(layer.assign, (-1,)))
    return ops.reshape(flat, tuple(layer.kernel.shape)) * layer.alive


def _make_classes() -> dict[str, type]:
    import keras

    def add_share_weights(layer: Any) -> None:
        layer.kernel.trainable = False  # the centroids are trained instead
        shape = tuple(layer.kernel.shape)
        layer.centroids = layer.add_weight(
            name="centroids", shape=(layer._edgesdk_k,), initializer="zeros", trainable=True
        )
        layer.assign = layer.add_weight(
            name="assign", shape=shape, initializer="zeros", dtype="int32", trainable=False
        )
        layer.alive = layer.add_weight(name="alive", shape=shape, initializer="ones", trainable=False)

    class SharedDense(keras.layers.Dense):
        """Dense whose kernel is gathered from trained centroids (weight sharing)."""

        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            add_share_weights(self)

        def call(self, inputs: Any, training: Any = None) -> Any:
            from keras import ops

            x = ops.matmul(inputs, _shared_kernel(self))
            return bias_and_activation(self, x)

    class SharedConv2D(keras.layers.Conv2D):
        """Conv2D whose kernel is gathered from trained centroids (weight sharing)."""

        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            add_share_weights(self)

        def convolution_op(self, inputs: Any, kernel: Any) -> Any:
            return super().convolution_op(inputs, _shared_kernel(self))

    return {"Dense": SharedDense, "Conv2D": SharedConv2D}


def clusters(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centroids, assignment of every weight, alive mask) of a kernel: zeros of an earlier pruning stay zeros,
    and the surviving weights get 2^bits - 1 centroids so that zero and the centroids still fit ``bits``."""
    flat = w.reshape(-1)
    alive = flat != 0
    k = (1 << bits) - (0 if np.all(alive) else 1)
    centroids, assign_alive = kmeans_linear(flat[alive], k)
    assign = np.zeros(flat.size, np.int64)
    assign[alive] = assign_alive
    if centroids.size == 0:
        centroids = np.zeros(1)
    return centroids, assign.reshape(w.shape), alive.reshape(w.shape).astype(np.float32)


def _shared_layers(model: Any, ctx: CompressContext, report: bool) -> list[Any]:
    """The Dense/Conv2D layers not kept int8 (the others keep int8 weights; the report says why)."""
    return chosen_layers(
        model,
        ctx,
        SHAREABLE,
        report,
        f"model {model.name} has no Dense or Conv2D layer left to share weights in",
        lambda layer: f"layer {layer.name} ({type(layer).__name__}) keeps int8 weights under share",
    )


@register_check("share")
def check_share(model: Any, arg: str | None, ctx: CompressContext) -> None:
    parse_bits(arg)
    _shared_layers(model, ctx, report=False)


@register_method(
    "share", order=50, help="weight sharing: per-layer k-means to 2^N centroids (Deep Compression)"
)
def apply_share(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    import keras

    bits = parse_bits(arg)
    chosen = {
        la.name: clusters(np.asarray(la.kernel.numpy()), bits)
        for la in _shared_layers(model, ctx, report=True)
    }
    classes = _make_classes()

    def to_shared(layer: Any) -> Any:
        if layer.name not in chosen:
            return None
        new = classes[type(layer).__name__].from_config(layer.get_config())
        new._edgesdk_k = int(chosen[layer.name][0].size)
        return new

    m = trainable_copy(model, to_shared)
    for layer in m.layers:
        if layer.name in chosen:
            centroids, assign, alive = chosen[layer.name]
            layer.centroids.assign(centroids.astype(np.float32))
            layer.assign.assign(assign.astype(np.int32))
            layer.alive.assign(alive)
    ctx.progress(f"{model.name}: sharing {len(chosen)} layers' weights in {bits}-bit codebooks")
    ctx.fit(m)
    finals = {la.name: np.asarray(_shared_kernel(la)) for la in m.layers if la.name in chosen}

    def to_plain(layer: Any) -> Any:
        if layer.name not in chosen:
            return None
        base = {"SharedDense": keras.layers.Dense, "SharedConv2D": keras.layers.Conv2D}[type(layer).__name__]
        return base.from_config(layer.get_config())

    plain = trainable_copy(m, to_plain)
    for layer in plain.layers:
        if layer.name in finals:
            weights = layer.get_weights()
            weights[0] = finals[layer.name]
            layer.set_weights(weights)
            pruned = bool(np.any(chosen[layer.name][2] == 0))
            ctx.layer(layer.name).update(
                bits=bits,
                clusters=int(chosen[layer.name][0].size),
                target="sparse_codebook" if pruned else "codebook",
            )
    return plain
