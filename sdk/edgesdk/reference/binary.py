"""Bit packing and the integer math of ternary, binary and XNOR layers: one source for C, HLS and the reference.

Packing convention (the C kernels in ``firmware/kernels/ed_packed.c`` and ``ed_xnor.c`` read exactly this):
bits are packed LSB first, 32 per ``uint32`` word; every row (an output channel's weights, or one pixel's
channels of a binary activation) starts a new word, and the bits past the row's end in its last word are zero.

Ternary / binary weights of an int8 layer (see :func:`weight_planes`): a channel whose int8 weights take only the
values {-a, 0, b} is stored as two planes (``pos``: w == b, ``neg``: w == -a); {-a, b} as one plane (set = b).
Then ``sum_i w_i * (x_i + off) = b * P - a * N`` with P, N the sums of ``x + off`` over each plane's set bits,
which is exactly the int8 accumulator.

XNOR (both operands ±1, encoded bit 1 = +1, bit 0 = -1): ``dot(a, w) = K - 2 * popcount(a XOR w)`` over K valid
bits (:func:`xnor_dot`). BatchNorm + sign after a binary layer fold into one integer threshold per channel
(:func:`fold_threshold`), with the comparison flipped where the BatchNorm scale is negative.
"""

from __future__ import annotations

import numpy as np

from edgesdk.ir.weightformats import (  # noqa: F401 - the packing and weight planes, re-exported
    WORD,
    WeightPlanes,
    code_rows,
    interleave_rows4,
    pack_bits,
    unpack_bits,
    weight_planes,
    words_for,
)


# --- XNOR ----------------------------------------------------------------------------------------------------
def popcount32(words: np.ndarray) -> np.ndarray:
    """Population count of each uint32 (SWAR, the same steps as the C fallback)."""
    v = np.asarray(words, dtype=np.uint32).astype(np.uint64)
    v = v - ((v >> np.uint64(1)) & np.uint64(0x55555555))
    v = (v & np.uint64(0x33333333)) + ((v >> np.uint64(2)) & np.uint64(0x33333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F)
    return ((v * np.uint64(0x01010101)) & np.uint64(0xFFFFFFFF)) >> np.uint64(24)


def xnor_dot(a_words: np.ndarray, w_words: np.ndarray, k: int) -> np.ndarray:
    """±1 dot products of packed rows: ``k - 2 * popcount(a ^ w)`` (tails are zero in both, so they agree)."""
    x = np.bitwise_xor(np.asarray(a_words, dtype=np.uint32), np.asarray(w_words, dtype=np.uint32))
    return int(k) - 2 * popcount32(x).astype(np.int64).sum(axis=-1)


def fold_threshold(
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    bias: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``sign(BN(scale * dot + bias))`` into an integer test on the integer dot product.

    BN(z) = gamma * (z - mean) / sqrt(var + eps) + beta, z = scale * dot + bias (``scale`` > 0: XNOR-Net's
    per-channel weight scale, default 1). The output bit is 1 (+1) where BN(z) >= 0, which for dot integer is

    - gamma > 0: ``dot >= ceil(t)``, t = (mean - beta * sqrt(var + eps) / gamma - bias) / scale;
    - gamma < 0: ``dot <= floor(t)`` (the comparison flips: hls4ml's own merge misses this);
    - gamma == 0: constant, ``sign(beta)``: encoded as threshold -inf/+inf.

    Returns ``(threshold, flip)``: int64 thresholds and a bool array; the bit is ``dot >= threshold`` where not
    flip, else ``dot <= threshold``. Thresholds are clipped to ±2**30 (a constant output).
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.sqrt(np.asarray(var, dtype=np.float64) + float(eps))
    b = np.zeros_like(gamma) if bias is None else np.asarray(bias, dtype=np.float64)
    s = np.ones_like(gamma) if scale is None else np.asarray(scale, dtype=np.float64)
    big = float(1 << 30)
    thr = np.zeros(gamma.shape, dtype=np.int64)
    flip = gamma < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean - beta * std / gamma - b) / s
    for c in range(gamma.size):
        if gamma[c] == 0:
            thr[c] = -(1 << 30) if beta[c] >= 0 else (1 << 30)
            flip[c] = False
        elif flip[c]:
            thr[c] = int(np.clip(np.floor(t[c]), -big, big))
        else:
            thr[c] = int(np.clip(np.ceil(t[c]), -big, big))
    return thr, flip


def threshold_bits(dot: np.ndarray, thr: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Output bits (True = +1) of integer dot products (..., C) against per-channel thresholds."""
    dot = np.asarray(dot, dtype=np.int64)
    return np.where(flip, dot <= thr, dot >= thr)


__all__ = [
    "WORD",
    "WeightPlanes",
    "fold_threshold",
    "pack_bits",
    "popcount32",
    "threshold_bits",
    "unpack_bits",
    "weight_planes",
    "words_for",
    "xnor_dot",
]
