"""``share=Nbit``: weight sharing by per-layer k-means (Han, Mao and Dally 2016, "Deep Compression", section 3).

Every compressed layer's weights are clustered into 2^N centroids by 1-D k-means with *linear* initialization
(centroids spaced evenly between the smallest and largest weight, which the paper found best because it keeps
the rare large weights). A layer pruned before (``prune=…,share=…``: the zeros of the mask) keeps its zeros
exactly and clusters only the surviving weights into 2^N - 1 centroids, so zero plus the centroids still fit N
bits. The centroids are then fine-tuned with the assignments fixed: after every optimizer step each centroid
moves by the mean of the steps its weights took (the summed gradient of the cluster, divided by the cluster
size so Adam's per-weight step size carries over), and all weights are reset to their centroid.

The result is a plain Keras model whose layers take at most 2^N distinct values. With per-channel int8
conversion each output channel then holds at most 2^N distinct int8 values, which ``edgesdk.passes.codebook``
(or ``edgesdk.passes.sparse`` with codes, after pruning) stores as packed N-bit codes plus a per-channel
codebook, bit-exact with the int8 weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compress.base import CompressContext, register_method, trainable_copy, weight_layers
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


class _Shared:
    """One layer's clusters: centroids, the assignment of each nonzero weight, and the zero mask."""

    def __init__(self, layer: Any, bits: int) -> None:
        self.layer = layer
        w = np.asarray(layer.kernel.numpy())
        self.shape = w.shape
        self.alive = w.reshape(-1) != 0
        pruned = not np.all(self.alive)
        k = (1 << bits) - (1 if pruned else 0)
        self.centroids, self.assign = kmeans_linear(w.reshape(-1)[self.alive], k)
        self.pruned = pruned

    def weights(self) -> np.ndarray:
        flat = np.zeros(int(np.prod(self.shape)), np.float32)
        flat[self.alive] = self.centroids[self.assign]
        return flat.reshape(self.shape)

    def step(self) -> None:
        """Move each centroid by the mean step of its weights, then reset the weights to the centroids."""
        w = np.asarray(self.layer.kernel.numpy()).reshape(-1)[self.alive].astype(np.float64)
        k = self.centroids.size
        diff = w - self.centroids[self.assign]
        counts = np.bincount(self.assign, minlength=k)
        self.centroids = self.centroids + np.bincount(self.assign, weights=diff, minlength=k) / np.maximum(
            counts, 1
        )
        self.layer.kernel.assign(self.weights())


@register_method(
    "share", order=50, help="weight sharing: per-layer k-means to 2^N centroids (Deep Compression)"
)
def apply_share(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    import keras

    bits = parse_bits(arg)
    m = trainable_copy(model)
    layers = []
    for layer in weight_layers(m):
        entry = ctx.layer(layer.name)
        if layer.name in ctx.keep_int8:
            entry.setdefault("note", "kept int8 (--keep-int8)")
        elif type(layer).__name__ in SHAREABLE:
            layers.append(layer)
        else:
            entry.setdefault(
                "note", f"layer {layer.name} ({type(layer).__name__}) keeps int8 weights under share"
            )
    if not layers:
        raise CompressError(f"model {model.name} has no Dense or Conv2D layer left to share weights in")
    shared = [_Shared(la, bits) for la in layers]
    for sh in shared:
        sh.layer.kernel.assign(sh.weights())

    class _CB(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            for sh in shared:
                sh.step()

    ctx.progress(f"{model.name}: sharing {len(layers)} layers' weights in {bits}-bit codebooks")
    ctx.fit(m, callbacks=[_CB()])
    for sh in shared:
        sh.layer.kernel.assign(sh.weights())
        ctx.layer(sh.layer.name).update(
            bits=bits,
            clusters=int(sh.centroids.size),
            target="codebook" if not sh.pruned else "sparse_codebook",
        )
    return m
