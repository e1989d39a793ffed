"""Fixed-point math: known values from TFLite/gemmlowp, and every vectorized routine against a slow, exact
pure-Python (big integer / Fraction) definition over random int32 values."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from edgesdk.ir import quantmath as qm

INT32_MIN, INT32_MAX = qm.INT32_MIN, qm.INT32_MAX
RNG_SEED = 1234


def _rand_int32(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random int32 values, with the edges and small magnitudes over-represented."""
    edges = np.array(
        [0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1, 1 << 30, -(1 << 30)]
    )
    wide = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    small = rng.integers(-(1 << 12), 1 << 12, size=n)
    return np.concatenate([edges, wide, small]).astype(np.int64)


# --- exact definitions (not transcriptions of the C code: stated as mathematics on exact rationals) ---------------


def _round_half_away(v: Fraction) -> int:
    return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v)) if v else 0


def _round_half_up(v: Fraction) -> int:
    return math.floor(v + Fraction(1, 2))


def _srdhm_exact(a: int, b: int) -> int:
    """round(a*b / 2**31), ties toward +infinity, saturated to int32 (only INT32_MIN**2 saturates).

    gemmlowp's nudge (+2**30, or 1 - 2**30 for a negative product) with a truncating division rounds a
    negative tie toward zero and a positive tie away from it: half up, in both cases.
    """
    return min(_round_half_up(Fraction(a * b, 1 << 31)), INT32_MAX)


def _rdbpot_exact(x: int, e: int) -> int:
    return _round_half_away(Fraction(x, 1 << e))


def _wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def _mbqm_double_exact(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbpot_exact(_srdhm_exact(_wrap32(x << left), m), right)


def _mbqm_single_exact(x: int, m: int, shift: int) -> int:
    return _wrap32(_round_half_up(Fraction(x * m, 1 << (31 - shift))))


# --- known values ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (2.0, (1 << 30, 2)),
        (0.75, (1610612736, 0)),
        (0.25, (1 << 30, -1)),
        (1.0 - 2.0**-40, (1 << 30, 1)),  # the significand rounds up to 2**31: halved, shift + 1
        (2.0**-33, (0, 0)),  # exponent below -31: too small to represent
        (2.0**-32, (1 << 30, -31)),
        (1.0 / 3.0, (1431655765, -1)),
        (0.1, (1717986918, -3)),
    ],
)
def test_quantize_multiplier_known_values(real: float, expected: tuple[int, int]) -> None:
    assert qm.quantize_multiplier(real) == expected


def test_quantize_multiplier_property() -> None:
    rng = np.random.default_rng(RNG_SEED)
    for real in 10.0 ** rng.uniform(-8, 4, 2000):
        m, s = qm.quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert abs(Fraction(m) * Fraction(2) ** (s - 31) - Fraction(float(real))) <= Fraction(2) ** (s - 32)


def test_quantize_multiplier_variants_check_range() -> None:
    assert qm.quantize_multiplier_smaller_than_one_exp(0.5) == (1 << 30, 0)
    assert qm.quantize_multiplier_greater_than_one(3.0) == (3 << 29, 2)
    with pytest.raises(ValueError):
        qm.quantize_multiplier_smaller_than_one_exp(1.5)
    with pytest.raises(ValueError):
        qm.quantize_multiplier_greater_than_one(0.5)


def test_tflite_round_is_half_away_from_zero() -> None:
    assert [qm.tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 0.49)] == [1, 2, 3, -1, -3, 0]
    got = qm.tflite_round_array(np.array([0.5, 1.5, 2.5, -0.5, -2.5], dtype=np.float32))
    np.testing.assert_array_equal(got, [1, 2, 3, -1, -3])


def test_srdhm_and_rdbpot_known_values() -> None:
    assert int(qm.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX
    assert int(qm.saturating_rounding_doubling_high_mul(1 << 30, 1 << 30)) == 1 << 29
    assert int(qm.saturating_rounding_doubling_high_mul(-(1 << 30), 1 << 30)) == -(1 << 29)
    assert int(qm.saturating_rounding_doubling_high_mul(1, 1 << 30)) == 1  # +0.5 rounds up
    assert int(qm.saturating_rounding_doubling_high_mul(-1, 1 << 30)) == 0  # -0.5 rounds up too
    assert int(qm.saturating_rounding_doubling_high_mul(-3, 1 << 30)) == -1  # -1.5 -> -1
    np.testing.assert_array_equal(
        qm.rounding_divide_by_pot(np.array([5, -5, 4, -4, 3, -3, 7, -7]), 1), [3, -3, 2, -2, 2, -2, 4, -4]
    )
    np.testing.assert_array_equal(qm.rounding_divide_by_pot(np.array([INT32_MAX, INT32_MIN]), 31), [1, -1])


def test_softmax_and_logistic_parameter_known_values() -> None:
    # diff_min for a left shift of 26: (2**5 - 1) * 2**26 / 2**26 = 31
    assert qm.calculate_input_radius(5, 26) == 31
    assert qm.calculate_input_radius(4, 27) == 15
    # beta=1, scale 1/16: 1/16 * 2**26 = 2**22 -> multiplier 2**30, shift 23
    assert qm.preprocess_softmax_scaling(1.0, 1.0 / 16.0, 5) == (1 << 30, 23)
    # capped at 2**31 - 1 for a huge scale
    assert qm.preprocess_softmax_scaling(1.0, 1e6, 5) == qm.quantize_multiplier((1 << 31) - 1.0)


# --- properties against the exact definitions -----------------------------------------------------------------


def test_srdhm_matches_exact_definition() -> None:
    rng = np.random.default_rng(RNG_SEED)
    a = _rand_int32(rng, 3000)
    b = rng.permutation(a)
    got = qm.saturating_rounding_doubling_high_mul(a, b)
    want = [_srdhm_exact(int(x), int(y)) for x, y in zip(a, b, strict=True)]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("exponent", [0, 1, 2, 7, 12, 23, 30, 31])
def test_rdbpot_matches_exact_definition(exponent: int) -> None:
    rng = np.random.default_rng(RNG_SEED + exponent)
    x = _rand_int32(rng, 2000)
    got = qm.rounding_divide_by_pot(x, exponent)
    np.testing.assert_array_equal(got, [_rdbpot_exact(int(v), exponent) for v in x])


def test_rdbpot_per_element_exponents() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = _rand_int32(rng, 1000)
    e = rng.integers(0, 32, size=x.shape)
    got = qm.rounding_divide_by_pot(x, e)
    np.testing.assert_array_equal(got, [_rdbpot_exact(int(v), int(k)) for v, k in zip(x, e, strict=True)])


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_mbqm_matches_exact_definition(rounding: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    n = 3000
    x = rng.integers(-(1 << 24), 1 << 24, size=n)  # accumulator-sized values
    m = rng.integers(1 << 30, (1 << 31) - 1, size=n)
    shift = rng.integers(-31, 8, size=n)
    x = np.where(shift > 0, x >> 8, x)  # keep left-shifted values inside int32, as real layers do
    got = qm.multiply_by_quantized_multiplier(x, m, shift, rounding)  # type: ignore[arg-type]
    exact = _mbqm_double_exact if rounding == "double" else _mbqm_single_exact
    want = [exact(int(a), int(b), int(c)) for a, b, c in zip(x, m, shift, strict=True)]
    np.testing.assert_array_equal(got, want)


def test_double_and_single_rounding_differ_by_at_most_one() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.integers(-(1 << 24), 1 << 24, size=20000)
    m = rng.integers(1 << 30, (1 << 31) - 1, size=x.size)
    shift = rng.integers(-20, 0, size=x.size)
    d = qm.multiply_by_quantized_multiplier(x, m, shift, "double")
    s = qm.multiply_by_quantized_multiplier(x, m, shift, "single")
    diff = np.abs(d - s)
    assert diff.max() == 1  # they do disagree, and only by one
    exact = x.astype(np.float64) * m * 2.0 ** (shift.astype(np.float64) - 31)
    assert np.abs(s - exact).max() <= 0.5 + 1e-9  # single rounding is a correct rounding


def test_mbqm_int64_variant() -> None:
    # the reduced (16-bit) multiplier path: 0.5 * 1000 = 500 exactly; 0.5 * 3 = 1.5 rounds up
    assert int(qm.multiply_by_quantized_multiplier_int64(1000, 1 << 30, 0)) == 500
    assert int(qm.multiply_by_quantized_multiplier_int64(3, 1 << 30, 0)) == 2
    assert (
        int(qm.multiply_by_quantized_multiplier_int64(1 << 40, (1 << 31) - 1, -10)) == 0x7FFF << 15
    )  # saturated


def test_small_helpers() -> None:
    rng = np.random.default_rng(RNG_SEED)
    a = _rand_int32(rng, 500)
    b = rng.integers(1, 1000, size=a.size) * rng.choice([-1, 1], size=a.size)
    np.testing.assert_array_equal(
        qm.trunc_div(a, b), [int(Fraction(int(x), int(y))) for x, y in zip(a, b, strict=True)]
    )
    np.testing.assert_array_equal(
        qm.count_leading_zeros32(a), [32 - (int(v) & 0xFFFFFFFF).bit_length() for v in a]
    )
    np.testing.assert_array_equal(
        qm.wrap_int32(np.array([1 << 31, -(1 << 31) - 1, 5])), [INT32_MIN, INT32_MAX, 5]
    )
    np.testing.assert_array_equal(
        qm.saturate_cast(np.array([-300, -128, 0, 127, 300])), [-128, -128, 0, 127, 127]
    )
    np.testing.assert_array_equal(
        qm.rounding_half_sum(a, a[::-1]),
        [
            int(Fraction(int(x) + int(y) + (1 if int(x) + int(y) >= 0 else -1), 2))
            for x, y in zip(a, a[::-1], strict=True)
        ],
    )
    np.testing.assert_array_equal(
        qm.saturating_left_shift(np.array([1 << 28, -(1 << 28), 3, -(1 << 29) - 1]), 3),
        [INT32_MAX, INT32_MIN, 24, INT32_MIN],
    )


# --- gemmlowp transcendental functions: accuracy against float, exact on the anchors ---------------------------


@pytest.mark.parametrize("integer_bits", [4, 5])
def test_exp_on_negative_values_accuracy(integer_bits: int) -> None:
    frac = 31 - integer_bits
    rng = np.random.default_rng(RNG_SEED)
    raw = -rng.integers(0, 1 << 31, size=5000)
    got = qm.exp_on_negative_values(raw, integer_bits) / 2.0**31
    want = np.exp(raw / 2.0**frac)
    assert np.abs(got - want).max() < 3e-7  # about 2**-22
    assert int(qm.exp_on_negative_values(0, integer_bits)) == INT32_MAX  # exp(0) is the saturated one


def test_one_over_one_plus_x_accuracy() -> None:
    x = np.linspace(0, 2**31 - 1, 5001).astype(np.int64)
    got = qm.one_over_one_plus_x_for_x_in_0_1(x) / 2.0**31
    assert np.abs(got - 1.0 / (1.0 + x / 2.0**31)).max() < 5e-9


def test_logistic_fixed_accuracy_and_symmetry() -> None:
    raw = np.linspace(-(2**31) + 1, 2**31 - 1, 4001).astype(np.int64)
    got = qm.logistic_fixed(raw, 4) / 2.0**31
    assert np.abs(got - 1.0 / (1.0 + np.exp(-raw / 2.0**27))).max() < 1e-7
    assert int(qm.logistic_fixed(0, 4)) == 1 << 30
    pos = qm.logistic_fixed(raw[raw > 0], 4)
    neg = qm.logistic_fixed(-raw[raw > 0], 4)
    np.testing.assert_array_equal(pos + neg, INT32_MAX)  # 1 - f(x) exactly, by construction


def test_get_reciprocal() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.integers(1 << 19, 1 << 30, size=2000)  # sums of exps in Q12.19: >= 1.0
    scale, bits = qm.get_reciprocal(x, 12)
    # 1/x_real = scale_real / 2**bits, x_real = x / 2**19
    approx = scale / 2.0**31 / 2.0**bits
    np.testing.assert_allclose(approx, 2.0**19 / x, rtol=1e-8)
