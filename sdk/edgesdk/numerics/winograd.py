"""Integer-exact Winograd convolution F(2x2,3x3) and F(4x4,3x3): the one source of truth for every backend.

Winograd's minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
CVPR 2016) computes an m x m output tile of a 3x3 convolution from an (m+2) x (m+2) input tile with
(m+2)**2 multiplies per input channel instead of 9 m**2: 16 instead of 36 for F(2x2,3x3).

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

``B`` and ``A`` are integer matrices; ``G`` holds fractions (1/2 for F(2x2,3x3); 1/4, 1/6, 1/12, 1/24 for
F(4x4,3x3)). Scaling ``G`` by ``s`` (2, resp. 24) makes ``G' = s G`` integer, so the transformed weights
``U' = G' g G'^T = s**2 U`` are integers computed once at export, every later step is integer arithmetic, and

    s**2 * acc = A^T [ sum_c U'_c (.) V_c ] A        with V_c = B^T d_c B,  d = x + input_offset

holds exactly. ``acc`` - the int32 accumulator of direct convolution, bias excluded - is recovered by an exact
division by ``s**2`` (an arithmetic shift right by 2 for F(2x2,3x3)); the bias, the per-channel requantization
(TFLM's double rounding) and the clamp then run unchanged, so the output equals direct convolution bit for bit.

Wrap-around: the true ``s**2 * acc`` fits int32 whenever ``|acc| < 2**31 / s**2``; then the whole computation may
run in wrapping (two's-complement) int32 arithmetic - as ``SMLAD`` and an FPGA's fixed-width adders do - even
where an intermediate sum overflows, and the final value is still exact. ``int_ranges`` gives the worst-case
bounds of every intermediate so a backend can size its types (``U'`` int16 and ``V`` int16 for F(2x2,3x3);
``U'`` needs int32 for F(4x4,3x3), whose ``576 * acc`` fits int32 only for small accumulators).

Layouts (NHWC activations, OHWI weights as TFLite):

- ``transform_weights(w, spec) -> U``: ``w`` int8 (O, 3, 3, I) -> ``U`` int64 (a, a, O, I), ``a = m + 2``;
  a backend stores it as int16 (F(2x2,3x3)) or int32, tap-major so that each of the a*a taps is an (O x I)
  matrix: the elementwise product summed over input channels is a*a independent matrix products.
- ``input_transform(d, spec) -> V``: ``d`` (..., a, a) offset-corrected input tiles -> ``V`` (..., a, a).
- ``output_transform(M, spec) -> Y``: ``M`` (..., a, a) -> ``Y`` (..., m, m) = ``s**2 * acc``.
- ``exact_divide(Y, spec) -> acc``: ``Y // s**2``, checked exact.
- ``winograd_conv2d_acc(x, w, input_offset, pad_h, pad_w, out_h, out_w, spec) -> acc``: a whole 3x3 stride-1
  undilated layer, ``x`` int8 (N, H, W, I), result int64 (N, out_h, out_w, O) = direct convolution's int32
  accumulator without the bias; padding (TFLite's ``pad_h``/``pad_w`` before the data, the rest after) holds
  the input zero point, i.e. 0 after offset correction. With ``depthwise=True``: a 3x3 stride-1 depthwise
  layer's accumulators (depth multiplier 1).
- ``winograd_conv2d(x, w, bias, p, spec) -> int8``: the whole CONV_2D with the bias, requantization and clamp,
  ``p`` being ``edgesdk.reference.params.conv2d_params`` of the layer (TFLM semantics).
- ``int_ranges(spec, in_channels) -> dict``: worst-case magnitudes of U', V, M, Y for int8 weights and inputs
  (``in_channels=1`` for depthwise, which has no sum over channels); ``weight_ranges(spec, w)`` the same bounds
  from a layer's actual weights (tighter: a conv layer whose worst case overflows may still be exact).
- ``transform_depthwise_weights(w, spec) -> U``: depthwise weights (1, 3, 3, C) -> (a, a, C).
- ``applicable(p) -> bool``: whether a conv layer's parameters allow Winograd (3x3, stride 1, dilation 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.ir.quantmath import multiply_by_quantized_multiplier, saturate_cast


@dataclass(frozen=True)
class WinogradSpec:
    """The integer matrices of F(m x m, 3 x 3): ``BT`` (a x a), ``G`` = s * G_float (a x 3), ``AT`` (m x a).

    ``divisor`` = s**2 is what ``A^T [U' (.) V] A`` must be divided by (exactly) to give the accumulator.
    """

    name: str
    m: int
    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray
    divisor: int

    @property
    def a(self) -> int:
        """Input tile size m + 2."""
        return self.m + 2

    @property
    def divisor_shift(self) -> int | None:
        """log2(divisor) when the divisor is a power of two (the exact division is then a shift), else None."""
        d = self.divisor
        return d.bit_length() - 1 if d & (d - 1) == 0 else None


F2x2_3x3 = WinogradSpec(
    name="F(2x2,3x3)",
    m=2,
    BT=np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.int64),
    G=np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]], dtype=np.int64),  # 2 * G
    AT=np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.int64),
    divisor=4,
)

F4x4_3x3 = WinogradSpec(
    name="F(4x4,3x3)",
    m=4,
    BT=np.array(
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        dtype=np.int64,
    ),
    G=np.array(  # 24 * G
        [[6, 0, 0], [-4, -4, -4], [-4, 4, -4], [1, 2, 4], [1, -2, 4], [0, 0, 24]], dtype=np.int64
    ),
    AT=np.array(
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=np.int64
    ),
    divisor=576,
)

#: F(4x4,3x3) with each row of G scaled on its own to the smallest integers (G_float = diag(c) G_min, c = 1/4,
#: -1/6, -1/6, 1/24, 1/24, 1) and the factors moved into the output transform (AT = 24 A^T diag(c), integer):
#: the same divisor 576, but |U'| <= 7 * 7 * 128 = 6272 fits int16 (16-bit SIMD operands) where the uniform
#: scaling's U' needs 18 bits. The output transform's larger coefficients only affect wrapping intermediates.
F4x4_3x3_ROWSCALED = WinogradSpec(
    name="F(4x4,3x3) row-scaled",
    m=4,
    BT=F4x4_3x3.BT,
    G=np.array([[1, 0, 0], [1, 1, 1], [1, -1, 1], [1, 2, 4], [1, -2, 4], [0, 0, 1]], dtype=np.int64),
    AT=np.array(
        [[6, -4, -4, 1, 1, 0], [0, -4, 4, 2, -2, 0], [0, -4, -4, 4, 4, 0], [0, -4, 4, 8, -8, 24]],
        dtype=np.int64,
    ),
    divisor=576,
)

SPECS: dict[str, WinogradSpec] = {
    "F2x2_3x3": F2x2_3x3,
    "F4x4_3x3": F4x4_3x3,
    "F4x4_3x3_rowscaled": F4x4_3x3_ROWSCALED,
}


def transform_weights(w: np.ndarray, spec: WinogradSpec = F2x2_3x3) -> np.ndarray:
    """``U' = G' g G'^T`` for every (output, input) channel pair: int (O, 3, 3, I) -> int64 (a, a, O, I)."""
    g = np.asarray(w).astype(np.int64)
    if g.ndim != 4 or g.shape[1:3] != (3, 3):
        raise ValueError(f"Winograd needs 3x3 weights in OHWI layout, got shape {g.shape}")
    return np.einsum("ak,oklc,bl->aboc", spec.G, g, spec.G)


def input_transform(d: np.ndarray, spec: WinogradSpec = F2x2_3x3) -> np.ndarray:
    """``V = B^T d B`` over the last two axes (a x a tiles of offset-corrected input)."""
    return np.einsum("ik,...kl,jl->...ij", spec.BT, np.asarray(d).astype(np.int64), spec.BT)


def output_transform(m: np.ndarray, spec: WinogradSpec = F2x2_3x3) -> np.ndarray:
    """``Y = A^T M A`` over the last two axes: (..., a, a) -> (..., m, m), equal to ``divisor * acc``."""
    return np.einsum("ik,...kl,jl->...ij", spec.AT, np.asarray(m).astype(np.int64), spec.AT)


def exact_divide(y: np.ndarray, spec: WinogradSpec = F2x2_3x3) -> np.ndarray:
    """``y / divisor``, which must be exact (it is, for any integer input and weights)."""
    y = np.asarray(y).astype(np.int64)
    q, r = np.divmod(y, spec.divisor)
    if np.any(r):
        raise ArithmeticError(f"{spec.name}: output transform not divisible by {spec.divisor}")
    return q


def applicable(p: dict[str, Any]) -> bool:
    """True for a 3x3, stride-1, dilation-1 convolution (the only shape these transforms compute)."""
    return (
        p["filter_h"] == 3
        and p["filter_w"] == 3
        and p["stride_h"] == 1
        and p["stride_w"] == 1
        and p["dilation_h"] == 1
        and p["dilation_w"] == 1
    )


def tile_input(
    x: np.ndarray, input_offset: int, pad_h: int, pad_w: int, out_h: int, out_w: int, spec: WinogradSpec
) -> np.ndarray:
    """Offset-corrected, zero-padded input cut into overlapping tiles: (N, TH, TW, a, a, I).

    Tile (ty, tx) covers output rows ``m*ty .. m*ty+m-1`` (columns alike) and reads input rows
    ``m*ty - pad_h .. m*ty - pad_h + a - 1``; rows outside the input (padding, and the tail of a last partial
    tile) read 0 = the zero point after offset correction.
    """
    n, h, w, c = x.shape
    m, a = spec.m, spec.a
    th, tw = -(-out_h // m), -(-out_w // m)
    need_h, need_w = m * th + 2, m * tw + 2
    d = np.zeros((n, need_h, need_w, c), dtype=np.int64)
    src = x.astype(np.int64) + input_offset
    r0, c0 = max(0, -pad_h), max(0, -pad_w)
    rows = min(h - r0, need_h - (pad_h + r0))
    cols = min(w - c0, need_w - (pad_w + c0))
    d[:, pad_h + r0 : pad_h + r0 + rows, pad_w + c0 : pad_w + c0 + cols, :] = src[
        :, r0 : r0 + rows, c0 : c0 + cols, :
    ]
    tiles = np.empty((n, th, tw, a, a, c), dtype=np.int64)
    for i in range(a):
        for j in range(a):
            tiles[:, :, :, i, j, :] = d[:, i : i + m * th : m, j : j + m * tw : m, :]
    return tiles


def _input_tiles(
    x: np.ndarray, input_offset: int, pad_h: int, pad_w: int, out_h: int, out_w: int, spec: WinogradSpec
) -> np.ndarray:
    """The input transform ``V = B^T d B`` of every a x a tile: (N, TH, TW, a, a, C)."""
    tiles = tile_input(np.asarray(x), input_offset, pad_h, pad_w, out_h, out_w, spec)  # (N,TH,TW,a,a,C)
    return np.moveaxis(input_transform(np.moveaxis(tiles, -1, 3), spec), 3, -1)


def _untile(acc: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(N, TH, TW, C, m, m) output tiles -> (N, out_h, out_w, C)."""
    n, th, tw, c, m, _ = acc.shape
    full = acc.transpose(0, 1, 4, 2, 5, 3).reshape(n, th * m, tw * m, c)
    return full[:, :out_h, :out_w, :]


def winograd_conv2d_acc(
    x: np.ndarray,
    w: np.ndarray,
    input_offset: int,
    pad_h: int,
    pad_w: int,
    out_h: int,
    out_w: int,
    spec: WinogradSpec = F2x2_3x3,
    u: np.ndarray | None = None,
    *,
    depthwise: bool = False,
) -> np.ndarray:
    """The int32 accumulator (bias excluded) of a 3x3 stride-1 convolution, computed the Winograd way.

    ``x`` int8 (N, H, W, I), ``w`` int8 (O, 3, 3, I) (or pass its transform ``u`` from ``transform_weights``).
    Returns int64 (N, out_h, out_w, O), equal to direct convolution's accumulator. With ``depthwise``, ``w`` is
    a depthwise layer's (1, 3, 3, C) (depth multiplier 1) and ``M = U (.) V`` per channel and tile (no sum over
    channels): int64 (N, out_h, out_w, C).
    """
    if u is None:
        u = transform_depthwise_weights(w, spec) if depthwise else transform_weights(w, spec)
    v = _input_tiles(x, input_offset, pad_h, pad_w, out_h, out_w, spec)  # (N,TH,TW,a,a,I)
    if depthwise:
        mm = np.moveaxis(v * u, -1, 3)  # (N,TH,TW,C,a,a)
    else:
        # M[.., i, j, o] = sum_c U[i, j, o, c] * V[.., i, j, c]: a*a matrix products over the input channels.
        mm = np.einsum("nyxijc,ijoc->nyxoij", v, u, optimize=True)
    return _untile(exact_divide(output_transform(mm, spec), spec), out_h, out_w)  # from (N,TH,TW,O,m,m)


def winograd_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    p: dict[str, Any],
    spec: WinogradSpec = F2x2_3x3,
) -> np.ndarray:
    """A whole int8 CONV_2D (TFLM semantics) through Winograd: int8 (N, H, W, I) -> int8 (N, OH, OW, O).

    ``p`` is ``conv2d_params`` of the layer; bias, per-channel double-rounding requantization, output offset
    and activation clamp follow the accumulator exactly as in ``edgesdk.reference.kernels.conv2d``.
    """
    if not applicable(p):
        raise ValueError("Winograd F(m x m, 3x3) computes only 3x3 stride-1 undilated convolutions")
    acc = winograd_conv2d_acc(x, w, p["input_offset"], p["pad_h"], p["pad_w"], p["out_h"], p["out_w"], spec)
    if bias is not None:
        acc = acc + np.asarray(bias).astype(np.int64)
    out = multiply_by_quantized_multiplier(
        acc,
        np.asarray(p["output_multiplier"]).astype(np.int64),
        np.asarray(p["output_shift"]).astype(np.int64),
    )
    out = out + p["output_offset"]
    return saturate_cast(np.clip(out, p["activation_min"], p["activation_max"]), "int8")


def int_ranges(spec: WinogradSpec, in_channels: int, w_max: int = 128, d_max: int = 255) -> dict[str, int]:
    """Worst-case magnitudes of every intermediate, for int8 weights (|g| <= w_max) and offset-corrected int8
    inputs (|d| <= d_max = 255): ``U`` (transformed weight), ``V`` (transformed input), ``M`` (sum over
    ``in_channels`` of U*V), ``Y`` (output transform = divisor * acc), ``acc`` (direct conv, 9 taps); plus
    the bit widths they need and ``exact_in_int32``: whether wrapping int32 arithmetic gives the exact result
    (true when ``divisor * |acc|`` < 2**31)."""
    g_row = np.abs(spec.G).sum(axis=1).max()
    b_row = np.abs(spec.BT).sum(axis=1).max()
    u = int(g_row * g_row * w_max)
    v = int(b_row * b_row * d_max)
    mm = u * v * in_channels
    acc = 9 * w_max * d_max * in_channels
    y = spec.divisor * acc

    def bits(x: int) -> int:
        return int(x).bit_length() + 1

    return {
        "U": u,
        "V": v,
        "M": mm,
        "Y": y,
        "acc": acc,
        "U_bits": bits(u),
        "V_bits": bits(v),
        "Y_bits": bits(y),
        "exact_in_int32": int(y < 2**31),
    }


def multiplies(spec: WinogradSpec, out_h: int, out_w: int, cin: int, cout: int) -> dict[str, int]:
    """Multiply counts of a layer: ``direct`` 9 per output per input channel, ``winograd`` a*a per tile per
    channel pair (the transforms are additions only)."""
    th, tw = -(-out_h // spec.m), -(-out_w // spec.m)
    return {"direct": 9 * out_h * out_w * cin * cout, "winograd": spec.a * spec.a * th * tw * cin * cout}


def weight_ranges(spec: WinogradSpec, w: np.ndarray, d_max: int = 255) -> dict[str, int]:
    """Bounds of a layer's intermediates from its actual int8 weights ``w`` (O, 3, 3, I) - or depthwise
    (1, 3, 3, C), each channel its own sum - for any offset-corrected input with ``|d| <= d_max``:
    ``U`` = max |U'|, ``acc`` = d_max * max over output channels of sum |w|, ``Y`` = divisor * acc, and
    ``exact_in_int32`` (Y < 2**31). ``V`` is the input's bound, as in :func:`int_ranges`."""
    g = np.abs(np.asarray(w).astype(np.int64))
    if g.ndim != 4 or g.shape[1:3] != (3, 3):
        raise ValueError(f"Winograd needs 3x3 weights, got shape {g.shape}")
    per_out = g.sum(axis=(0, 1, 2)) if g.shape[0] == 1 else g.sum(axis=(1, 2, 3))
    acc = int(d_max * per_out.max(initial=0))
    u = int(np.abs(transform_weights(np.asarray(w), spec)).max(initial=0))
    b_row = int(np.abs(spec.BT).sum(axis=1).max())
    y = spec.divisor * acc
    return {"U": u, "V": b_row * b_row * d_max, "acc": acc, "Y": y, "exact_in_int32": int(y < 2**31)}


def transform_depthwise_weights(w: np.ndarray, spec: WinogradSpec = F2x2_3x3) -> np.ndarray:
    """``U' = G' g G'^T`` per channel of depthwise weights: int (1, 3, 3, C) -> int64 (a, a, C)."""
    g = np.asarray(w)
    if g.ndim != 4 or g.shape[0] != 1 or g.shape[1:3] != (3, 3):
        raise ValueError(f"depthwise Winograd needs 3x3 weights (1, 3, 3, C), got shape {g.shape}")
    return transform_weights(g.transpose(3, 1, 2, 0), spec)[:, :, :, 0]


def transform_ops(spec: WinogradSpec) -> dict[str, int]:
    """Integer operations of the transforms of one a x a tile of one channel, counted from the matrices: per
    matrix-vector product each row costs (non-zeros - 1) additions, and one more instruction per coefficient that
    is not 0, +-1 or a power of two (a power of two folds into the shifted operand of an ARM add). ``input``:
    B^T d B (2a products of a-vectors), ``output``: A^T M A (a + m products), ``products``: a*a."""

    def mv(mat: np.ndarray) -> int:
        nz = mat != 0
        odd = nz & ~np.isin(np.abs(mat), [1, 2, 4, 8, 16, 32])
        return int(np.maximum(nz.sum(axis=1) - 1, 0).sum() + odd.sum())

    return {
        "input": 2 * spec.a * mv(spec.BT),
        "output": (spec.a + spec.m) * mv(spec.AT),
        "products": spec.a * spec.a,
    }


# ---------------------------------------------------------------------------------------------------------------
# The transformed weights as the C kernels read them (ed_winograd.c, ed_winograd_dw.c)
# ---------------------------------------------------------------------------------------------------------------

#: Output channels per block of the kernel's product loop (eight accumulators share each load of V).
BLOCK = 8


def channel_order(c: int) -> np.ndarray:
    """Input channels in the order ``ed_winograd_s8`` pairs them: in every full group of four, (0, 2) then
    (1, 3) - the halfword pairs SXTB16 and SXTB16-ROR8 make of one word of four channels, so the input transform
    runs on two channels per instruction - and the ``c % 4`` last channels in order."""
    order = np.arange(c)
    for g in range(0, c & ~3, 4):
        order[g : g + 4] = [g, g + 2, g + 1, g + 3]
    return order


def winograd_weights(w: np.ndarray) -> np.ndarray:
    """OHWI int8 3x3 weights -> the int16 layout ``ed_winograd_s8`` reads, of U' = G' g G'^T (|U'| <= 1152).

    Output channels in blocks of eight (zero channels pad the last block), then the 16 tile positions, then the
    input channels in pairs (in ``channel_order``; in_c rounded up to even with a zero channel), then the block's
    eight output channels, then the pair: shape (ceil(O/8), 16, c_pad/2, 8, 2). One pointer walks it while eight
    output channels share each load of the transformed input.
    """
    u = transform_weights(w, F2x2_3x3)  # (4, 4, O, C)
    o, c = u.shape[2], u.shape[3]
    cp, op = c + (c & 1), -(-o // BLOCK) * BLOCK
    full = np.zeros((16, op, cp), dtype=np.int64)
    full[:, :o, :c] = u.reshape(16, o, c)[:, :, channel_order(c)]
    out = full.reshape(16, op // BLOCK, BLOCK, cp // 2, 2).transpose(1, 0, 3, 2, 4)
    assert np.abs(out).max(initial=0) < 1 << 15
    return out


def winograd_dw_weights(w: np.ndarray) -> np.ndarray:
    """Depthwise 3x3 int8 weights (1, 3, 3, C) -> the int16 layout ``ed_winograd_dw_s8`` reads (|U'| <= 1152):
    groups of four channels [C // 4][16][c0, c2, c1, c3] (the halfword pairs SXTAB16 splits four input channels
    into), then the tail channels [C % 4][16]."""
    u = transform_depthwise_weights(w, F2x2_3x3).reshape(16, -1)  # (16, C)
    c = u.shape[1]
    c4 = c // 4 * 4
    groups = u[:, :c4].reshape(16, c4 // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)
    tail = u[:, c4:].T.reshape(-1)
    out = np.concatenate([groups, tail])
    assert np.abs(out).max(initial=0) < 1 << 15
    return out
