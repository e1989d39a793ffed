"""Fixed-point arithmetic of TFLite / TFLite Micro int8 kernels, vectorized over NumPy int64 arrays.

Every function here reproduces, to the last bit, an integer routine that TFLite Micro's reference kernels use
(``kernels/internal/common.h``, ``quantization_util.cc``) or one of gemmlowp's ``fixedpoint.h`` helpers that
they call. Values are carried in ``int64`` arrays that always hold int32-range numbers, so that products of two
int32 values are exact; where C wraps or saturates an int32, the function says so and does the same.

Two requantization roundings exist in the TFLite family (see ``multiply_by_quantized_multiplier``):

- ``"double"`` (TFLite Micro, and TFLite's reference kernels almost everywhere): gemmlowp's
  SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT - two roundings;
- ``"single"`` (TFLite built with ``TFLITE_SINGLE_ROUNDING``, ruy): one 64-bit multiply, add half, shift.

No TensorFlow here: these are plain functions the reference interpreter and the C backend's parameter
computation share.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN = -128
INT8_MAX = 127

Rounding = Literal["double", "single"]
ArrayLike = np.ndarray | int


# ---------------------------------------------------------------------------------------------------------------
# Scalar parameter computation (done once per layer, in double precision, exactly as TFLite's Prepare does)
# ---------------------------------------------------------------------------------------------------------------


def tflite_round(x: float) -> float:
    """``TfLiteRound`` / ``std::round``: round half away from zero (Python's ``round`` rounds half to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def tflite_round_array(x: np.ndarray) -> np.ndarray:
    """Vectorized ``std::round`` (half away from zero), in the dtype of ``x``."""
    return np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)`` with a Q0.31 multiplier.

    ``frexp`` splits ``real`` into a significand in [0.5, 1) and an exponent; the significand is rounded
    (half away from zero) to 31 fractional bits. If rounding reaches 2**31 the significand is halved and the
    exponent bumped. An exponent below -31 means the multiplier is too small to represent: (0, 0).
    Returns ``(multiplier, shift)`` where a positive shift is a left shift.
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(tflite_round(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    return q_fixed, shift


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: as ``quantize_multiplier`` for 0 < real < 1 (shift <= 0)."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} must be in (0, 1)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:
        raise ValueError(f"multiplier {real} gave a left shift {shift}")
    return mult, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``: as ``quantize_multiplier`` for real > 1 (shift >= 0)."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} must be > 1")
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"multiplier {real} gave a right shift {shift}")
    return mult, shift


def calculate_input_radius(
    input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31
) -> int:
    """``CalculateInputRadius``: the largest input difference whose rescaled value still fits.

    Used by softmax (``diff_min = -radius``) and logistic (inputs beyond +-radius saturate).
    """
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * float(1 << (total_signed_bits - input_integer_bits))
        / float(1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


def preprocess_softmax_scaling(
    beta: float, input_scale: float, input_integer_bits: int, rounding: Rounding = "double"
) -> tuple[int, int]:
    """``PreprocessSoftmaxScaling``: the multiplier taking an int8 input difference to Q(bits).(31-bits).

    The real multiplier ``beta * input_scale * 2**(31 - bits)`` is capped (at 2**31 - 1, or 2**30 - 1 when
    TFLite is built for single rounding) and quantized as a multiplier greater than one.
    Returns ``(input_beta_multiplier, input_beta_left_shift)``.
    """
    cap = float((1 << 30) - 1) if rounding == "single" else float((1 << 31) - 1)
    real = min(float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits)), cap)
    return quantize_multiplier_greater_than_one(real)


# ---------------------------------------------------------------------------------------------------------------
# Integer helpers on arrays
# ---------------------------------------------------------------------------------------------------------------


def _i64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap to int32 (what a C cast of an out-of-range value does on every target we build for)."""
    x = _i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturate_int32(x: ArrayLike) -> np.ndarray:
    """Clamp to the int32 range."""
    return np.clip(_i64(x), INT32_MIN, INT32_MAX)


def saturate_cast(x: ArrayLike, dtype: str | np.dtype = "int8") -> np.ndarray:
    """Clamp to the range of an integer ``dtype`` and cast (the ``min(max(x, lo), hi)`` every kernel ends with)."""
    info = np.iinfo(np.dtype(dtype))
    return np.clip(_i64(x), info.min, info.max).astype(dtype)


def trunc_div(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """C integer division: the quotient truncated toward zero (NumPy's ``//`` floors)."""
    a = _i64(a)
    b = _i64(b)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values: a * b / 2**31, rounded.

    The rounding nudge is +2**30 for a non-negative product and 1 - 2**30 for a negative one, and the division
    truncates toward zero (C semantics): together a tie rounds toward +infinity (-0.5 gives 0, +0.5 gives 1).
    The only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX.
    """
    a = _i64(a)
    b = _i64(b)
    ab = a * b  # |ab| <= 2**62: exact in int64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: x / 2**exponent rounded to nearest, ties away from zero.

    ``exponent`` in [0, 31] may be an array (per-channel shifts broadcast against ``x``).
    """
    x = _i64(x)
    exponent = _i64(exponent)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_left_shift(x: ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<exponent>`` for exponent >= 0: x * 2**exponent, saturated."""
    x = _i64(x)
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    out = x << exponent
    out = np.where(x > threshold, np.int64(INT32_MAX), out)
    return np.where(x < -threshold, np.int64(INT32_MIN), out)


def saturating_rounding_multiply_by_pot(x: ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT``: a saturating left shift, or a rounding right shift."""
    if exponent >= 0:
        return saturating_left_shift(x, exponent)
    return rounding_divide_by_pot(x, -exponent)


def multiply_by_quantized_multiplier(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike, rounding: Rounding = "double"
) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift)``: x * multiplier * 2**(shift-31).

    ``rounding="double"`` (TFLite Micro): the left part of the shift is applied first (``x * (1 << left)``,
    int32 arithmetic, which we wrap as C does on our targets), then SaturatingRoundingDoublingHighMul, then
    RoundingDivideByPOT by the right part - two roundings.

    ``rounding="single"`` (``TFLITE_SINGLE_ROUNDING``): ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)`` in
    64-bit arithmetic - one rounding, ties toward +infinity.

    ``multiplier`` and ``shift`` may be per-channel arrays broadcasting against ``x``.
    """
    x = _i64(x)
    multiplier = _i64(multiplier)
    shift = _i64(shift)
    if rounding == "double":
        left = np.maximum(shift, 0)
        right = np.maximum(-shift, 0)
        shifted = wrap_int32(x << left)
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
    if rounding == "single":
        total_shift = 31 - shift
        rnd = np.int64(1) << (total_shift - 1)
        return wrap_int32((x * multiplier + rnd) >> total_shift)
    raise ValueError(f"unknown rounding {rounding!r} (expected 'double' or 'single')")


def multiply_by_quantized_multiplier_int64(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike
) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier(int64 x, ...)`` of TFLite (int16 kernels, 64-bit accumulators).

    The multiplier is first reduced to 16 bits (rounded, saturated at 0x7FFF), then one rounding:
    ``(x * reduced + 2**(14 - shift)) >> (15 - shift)``. Valid for |x| < 2**47 and shift in [-31, 7].
    """
    x = _i64(x)
    multiplier = _i64(multiplier)
    shift = _i64(shift)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, np.int64(0x7FFF))
    total_shift = 15 - shift
    rnd = np.int64(1) << (total_shift - 1)
    return wrap_int32((x * reduced + rnd) >> total_shift)


def multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: ArrayLike, multiplier: ArrayLike, left_shift: ArrayLike, rounding: Rounding = "double"
) -> np.ndarray:
    """``MultiplyByQuantizedMultiplierSmallerThanOneExp``: SRDHM then RoundingDivideByPOT(-left_shift).

    With ``left_shift <= 0`` this is exactly ``multiply_by_quantized_multiplier``; kept as its own name because
    the ADD kernel calls it by this name.
    """
    return multiply_by_quantized_multiplier(x, multiplier, left_shift, rounding)


def multiply_by_quantized_multiplier_greater_than_one(
    x: ArrayLike, multiplier: ArrayLike, left_shift: ArrayLike, rounding: Rounding = "double"
) -> np.ndarray:
    """``MultiplyByQuantizedMultiplierGreaterThanOne``: SRDHM(x * 2**left_shift, multiplier) (softmax)."""
    if rounding == "double":
        return saturating_rounding_doubling_high_mul(wrap_int32(_i64(x) << _i64(left_shift)), multiplier)
    return multiply_by_quantized_multiplier(x, multiplier, left_shift, rounding)


def count_leading_zeros32(x: ArrayLike) -> np.ndarray:
    """Leading zero bits of ``x`` seen as uint32 (32 for 0)."""
    u = _i64(x) & 0xFFFFFFFF
    bit_length = np.zeros(u.shape, dtype=np.int64)
    for k in range(32):
        bit_length += u >= (np.int64(1) << k)
    return 32 - bit_length


# ---------------------------------------------------------------------------------------------------------------
# gemmlowp fixed point (FixedPoint<int32, IntegerBits>): raw int32 values, products by SRDHM
# ---------------------------------------------------------------------------------------------------------------


def rounding_half_sum(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingHalfSum`` for int32: (a + b + sign) / 2, in 64 bits, truncating division."""
    s = _i64(a) + _i64(b)
    return trunc_div(s + np.where(s >= 0, 1, -1), 2)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: ArrayLike) -> np.ndarray:
    """gemmlowp: exp(a) for a in [-1/4, 0), Q0.31 in and out.

    A fourth-order Taylor expansion around -1/8 in fixed point: x = a + 1/8,
    exp(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24), with every product an SRDHM and every halving a rounding
    shift, in gemmlowp's exact order of operations.
    """
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883  # 1/3 in Q0.31
    x = _i64(a) + (1 << 28)  # + 1/8
    x2 = saturating_rounding_doubling_high_mul(x, x)
    x3 = saturating_rounding_doubling_high_mul(x2, x)
    x4 = saturating_rounding_doubling_high_mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x4_over_4 + x3, constant_1_over_3) + x2, 1
    )  # x^4/24 + x^3/6 + x^2/2
    return constant_term + saturating_rounding_doubling_high_mul(constant_term, x + poly)


# exp(-2**k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4
_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)


def exp_on_negative_values(a: ArrayLike, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: exp(a) for a <= 0 given in Q(integer_bits).(31-integer_bits).

    Returns Q0.31. The input is split into its residue modulo 1/4 (shifted into [-1/4, 0)) and a multiple of
    1/4; the residue goes through the polynomial, and each set bit of the multiple multiplies in a constant
    exp(-2**k). Zero maps to the saturated one (INT32_MAX); below -32 maps to 0 when the format can hold it.
    """
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where(
                (remainder & bit) != 0, saturating_rounding_doubling_high_mul(result, multiplier), result
            )
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0 in the input format
        result = np.where(a < clamp, np.int64(0), result)
    return np.where(a == 0, np.int64(INT32_MAX), result)


def one_over_one_plus_x_for_x_in_0_1(a: ArrayLike) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for a in [0, 1), Q0.31 in and out.

    Newton-Raphson on the half denominator (1 + a) / 2 in Q2.29, starting from 48/17 - 32/17 * d, three
    iterations, as gemmlowp does.
    """
    half_denominator = rounding_half_sum(a, INT32_MAX)
    constant_48_over_17 = 1515870810  # Q2.29
    constant_neg_32_over_17 = -1010580540  # Q2.29
    one_q2 = 1 << 29
    x = constant_48_over_17 + saturating_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x)
        one_minus_half_denominator_times_x = one_q2 - half_denominator_times_x
        x = x + saturating_left_shift(
            saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2
        )
    return saturating_left_shift(x, 1)  # x / 2 (exact) taken from Q1.30 to Q0.31


def logistic_fixed(a: ArrayLike, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic``: 1 / (1 + exp(-a)) for a in Q(integer_bits), result in Q0.31.

    Computed on |a| as 1 / (1 + exp(-|a|)); negative inputs use 1 - that; zero gives exactly 1/2.
    """
    a = _i64(a)
    positive = a > 0
    abs_input = np.where(positive, a, -a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_input, integer_bits))
    result_if_negative = INT32_MAX - result_if_positive
    out = np.where(positive, result_if_positive, result_if_negative)
    return np.where(a == 0, np.int64(1 << 30), out)


def get_reciprocal(x: ArrayLike, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``GetReciprocal``: 1/x for a positive Q(x_integer_digits) value, as (Q0.31 scale, extra bits).

    ``x`` is normalized so its top bit is set, giving 1 + m with m in [0, 1); the reciprocal of 1 + m comes from
    ``one_over_one_plus_x_for_x_in_0_1``, and ``num_bits_over_unit`` records how far it was shifted.
    """
    x = _i64(x)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit
