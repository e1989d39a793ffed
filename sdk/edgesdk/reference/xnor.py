"""Reference semantics of the binary-activation ops (:mod:`edgesdk.ir.binary`), integer-exact.

Bits travel as the little-endian bytes of ``uint32`` words (int8 tensors whose last dimension is ``4 * words``).
Every kernel works on a batch of N samples in the leading dimension, like the int8 kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.ir import graph as ir
from edgesdk.ir.binary import Binarize, UnpackBits, XnorConv2D, XnorFullyConnected
from edgesdk.reference import kernels as K
from edgesdk.reference import params as P
from edgesdk.reference.binary import pack_bits, popcount32, threshold_bits, unpack_bits, words_for


def bytes_to_words(b: np.ndarray) -> np.ndarray:
    """int8 bytes (..., 4n) -> uint32 words (..., n), little-endian."""
    a = np.ascontiguousarray(np.asarray(b, dtype=np.int8))
    return a.view("<u4").astype(np.uint32)


def words_to_bytes(w: np.ndarray) -> np.ndarray:
    """uint32 words (..., n) -> int8 bytes (..., 4n), little-endian."""
    return np.ascontiguousarray(np.asarray(w, dtype="<u4")).view(np.int8)


def pack_activations(pm1: np.ndarray) -> np.ndarray:
    """±1 (or >= 0 as +1) activations (..., C) -> packed bytes (..., 4*words(C))."""
    return words_to_bytes(pack_bits(np.asarray(pm1) >= 0))


def _thr(node: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(node.threshold, dtype=np.int64), np.asarray(node.flip, dtype=bool)


def _params(graph: ir.Graph, node: Any) -> dict[str, Any]:
    return {"op": node.op}


def binarize(graph: ir.Graph, node: Binarize, p: dict, args: list, rounding: str) -> np.ndarray:
    x = np.asarray(args[0]).astype(np.int64)
    thr, flip = _thr(node)
    return words_to_bytes(pack_bits(threshold_bits(x, thr, flip)))


def xnor_fully_connected(
    graph: ir.Graph, node: XnorFullyConnected, p: dict, args: list, rounding: str
) -> np.ndarray:
    a = bytes_to_words(args[0]).reshape(len(args[0]), -1)  # (N, words)
    w = np.asarray(args[1]).astype(np.uint32)  # (O, words)
    kbits = int(node.in_features)
    pc = popcount32(a[:, None, :] ^ w[None, :, :]).astype(np.int64).sum(axis=-1)  # (N, O)
    dot = kbits - 2 * pc
    thr, flip = _thr(node)
    return words_to_bytes(pack_bits(threshold_bits(dot, thr, flip)))


def conv_pads(in_size: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """(output size, pad before, pad after) as TFLite/TF compute them for SAME and VALID."""
    if padding == "VALID":
        return (in_size - k) // s + 1, 0, 0
    out = (in_size + s - 1) // s
    total = max((out - 1) * s + k - in_size, 0)
    return out, total // 2, total - total // 2


def xnor_dot_conv(a_bits: np.ndarray, w_pm1: np.ndarray, node: XnorConv2D) -> np.ndarray:
    """Integer ±1 dot products of a binary conv: a_bits (N,H,W,C) bool, w_pm1 (O,KH,KW,C) in {-1,1}."""
    n, h, wd, c = a_bits.shape
    kh, kw = node.kernel
    sh, sw = node.stride
    oh, pt, pb = conv_pads(h, kh, sh, node.padding)
    ow, pl, pr = conv_pads(wd, kw, sw, node.padding)
    pm = np.where(a_bits, 1, -1).astype(np.int64)
    padded = np.full((n, h + pt + pb, wd + pl + pr, c), int(node.pad_value), dtype=np.int64)
    padded[:, pt : pt + h, pl : pl + wd, :] = pm
    wf = w_pm1.astype(np.int64)
    out = np.zeros((n, oh, ow, wf.shape[0]), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = padded[:, ky : ky + (oh - 1) * sh + 1 : sh, kx : kx + (ow - 1) * sw + 1 : sw, :]
            out += patch @ wf[:, ky, kx, :].T
    return out


def xnor_conv2d(graph: ir.Graph, node: XnorConv2D, p: dict, args: list, rounding: str) -> np.ndarray:
    c = int(node.in_channels)
    a = unpack_bits(bytes_to_words(args[0]), c)  # (N,H,W,C) bool
    w = np.asarray(args[1]).astype(np.uint32)  # (O,KH,KW,words)
    wb = unpack_bits(w, c)
    dot = xnor_dot_conv(a, np.where(wb, 1, -1), node)
    thr, flip = _thr(node)
    return words_to_bytes(pack_bits(threshold_bits(dot, thr, flip)))


def unpack(graph: ir.Graph, node: UnpackBits, p: dict, args: list, rounding: str) -> np.ndarray:
    bits = unpack_bits(bytes_to_words(args[0]), int(node.channels))
    out_t = graph.tensor(node.outputs[0])
    y = np.where(bits, int(node.high), int(node.low)).astype(np.int8)
    return y.reshape((len(y),) + tuple(out_t.shape[1:]))


for _node, _fn in (
    (Binarize, binarize),
    (XnorFullyConnected, xnor_fully_connected),
    (XnorConv2D, xnor_conv2d),
    (UnpackBits, unpack),
):
    K.KERNELS[_node.op] = _fn  # type: ignore[assignment]
    P._PARAMS[_node.op] = _params  # type: ignore[assignment]

__all__ = ["bytes_to_words", "conv_pads", "pack_activations", "words_for", "words_to_bytes", "xnor_dot_conv"]
