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

from dataclasses import dataclass

import numpy as np

WORD = 32


def words_for(bits: int) -> int:
    """Words of 32 bits needed for a row of ``bits`` bits."""
    return (int(bits) + WORD - 1) // WORD


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array (..., K) into uint32 words (..., ceil(K/32)), LSB first, zero tail."""
    b = np.asarray(bits, dtype=bool)
    k = b.shape[-1]
    n = words_for(k)
    padded = np.zeros((*b.shape[:-1], n * WORD), dtype=np.uint64)
    padded[..., :k] = b
    weights = (np.uint64(1) << np.arange(WORD, dtype=np.uint64)).astype(np.uint64)
    words = (padded.reshape(*b.shape[:-1], n, WORD) * weights).sum(axis=-1)
    return words.astype(np.uint32)


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint32 words (..., n) -> booleans (..., k)."""
    w = np.asarray(words, dtype=np.uint32)
    shifts = np.arange(WORD, dtype=np.uint32)
    bits = ((w[..., None] >> shifts) & np.uint32(1)).astype(bool)
    return bits.reshape(*w.shape[:-1], -1)[..., :k]


@dataclass
class WeightPlanes:
    """Ternary or binary structure of an int8 weight matrix (rows = output channels)."""

    kind: str  # "ternary" or "binary"
    rows: int
    row_bits: int  # weights per row (K)
    pos: np.ndarray  # uint32 (rows, words): bit set where w == +b
    neg: np.ndarray | None  # uint32 (rows, words): bit set where w == -a (ternary only)
    wpos: np.ndarray  # int64 (rows,): b per row
    wneg: np.ndarray  # int64 (rows,): a per row
    zeros: int  # zero weights (ternary)

    @property
    def words(self) -> int:
        return words_for(self.row_bits)

    @property
    def symmetric(self) -> int | None:
        """The common magnitude when every row has a == b == v (then no per-row values are stored)."""
        v = int(self.wpos[0])
        if np.all(self.wpos == v) and np.all(self.wneg == v):
            return v
        return None

    @property
    def plane_bytes(self) -> int:
        planes = 1 if self.neg is None else 2
        return planes * self.rows * self.words * 4

    @property
    def stored_bytes(self) -> int:
        """Planes plus the per-row magnitudes (int16 each) when they are not one common value."""
        return self.plane_bytes + (0 if self.symmetric is not None else 2 * 2 * self.rows)


def weight_planes(w: np.ndarray, allow_binary: bool = True) -> WeightPlanes | None:
    """Recognize ternary {-a, 0, b} or binary {-a, b} rows (a, b > 0, per row) in an int8 matrix (rows, K).

    Binary is chosen when no row holds a zero (and ``allow_binary``); an all-zero row is ternary with a = b = 127.
    Returns None when some row has other values.
    """
    w = np.asarray(w).astype(np.int64)
    rows = w.reshape(w.shape[0], -1)
    n, k = rows.shape
    wpos = np.full(n, 127, dtype=np.int64)
    wneg = np.full(n, 127, dtype=np.int64)
    for r in range(n):
        vals = np.unique(rows[r])
        posv = vals[vals > 0]
        negv = vals[vals < 0]
        if len(posv) > 1 or len(negv) > 1:
            return None
        if len(posv):
            wpos[r] = int(posv[0])
        if len(negv):
            wneg[r] = int(-negv[0])
    zeros = int(np.sum(rows == 0))
    binary = allow_binary and zeros == 0
    pos = pack_bits(rows > 0)
    neg = None if binary else pack_bits(rows < 0)
    return WeightPlanes(
        kind="binary" if binary else "ternary",
        rows=n,
        row_bits=k,
        pos=pos,
        neg=neg,
        wpos=wpos,
        wneg=wneg,
        zeros=zeros,
    )


def code_rows(planes: WeightPlanes) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows as codes for ``ed_fc_codes.c`` (uint8, rows x bytes) and each row's one magnitude (int64), or None
    when a row holds both signs with different magnitudes. Ternary: four weights a byte in base 3,
    ``sum((t_i + 1) * 3**i)`` (0..80); binary: 1 bit a weight (1 = +1), eight a byte, least significant first;
    rows padded to whole bytes (with zero weights)."""
    k = planes.row_bits
    pos = unpack_bits(planes.pos, k).astype(np.uint8)
    neg = (1 - pos) if planes.neg is None else unpack_bits(planes.neg, k).astype(np.uint8)
    has_pos, has_neg = pos.any(axis=1), neg.any(axis=1)
    if np.any(has_pos & has_neg & (planes.wpos != planes.wneg)):
        return None
    mags = np.where(has_pos, planes.wpos, planes.wneg).astype(np.int64)
    if planes.neg is None:
        return np.packbits(pos, axis=1, bitorder="little"), mags
    digits = np.pad(1 + pos.astype(np.int64) - neg, ((0, 0), (0, -k % 4)), constant_values=1)
    packed = digits.reshape(planes.rows, -1, 4) @ np.array([1, 3, 9, 27])
    return packed.astype(np.uint8), mags


def interleave_rows4(codes: np.ndarray, binary: bool) -> np.ndarray:
    """Code rows (rows x bytes) as ``ed_fc_codes.c`` reads them, flat and of the same length: blocks of four rows,
    per group of four inputs the ternary rows' bytes ([r0][r1][r2][r3]) or the binary rows' nibbles in two bytes
    (r0 | r1 << 4, r2 | r3 << 4); the rows % 4 last rows row-major."""
    rows = codes.shape[0] - codes.shape[0] % 4
    block = codes[:rows].reshape(rows // 4, 4, codes.shape[1])
    if binary:  # nibbles: (blocks, 4 rows, groups)
        block = np.stack([block & 15, block >> 4], axis=-1).reshape(rows // 4, 4, 2 * codes.shape[1])
        block = block[:, 0::2] | block[:, 1::2] << 4  # (blocks, 2 row pairs, groups)
    return np.concatenate([block.transpose(0, 2, 1).reshape(-1), codes[rows:].reshape(-1)]).astype(np.uint8)


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
