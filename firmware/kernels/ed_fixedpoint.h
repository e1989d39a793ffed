/*
 * ed_fixedpoint.h - integer fixed-point helpers shared by the edgesdk int8 kernels.
 *
 * These reproduce, bit for bit, the requantization and fixed-point math that TensorFlow Lite Micro's
 * reference int8 kernels use (gemmlowp-style "double rounding": a saturating rounding doubling high
 * multiply followed by a rounding right shift), plus the single-rounding variant as an option.
 * Everything is integer: no float, no division by variables, no undefined signed overflow
 * (wrapping adds go through uint32_t so that sanitizers stay quiet and results match two's complement).
 *
 * Fixed-point values are Q(m).(31-m) numbers in an int32_t; the integer-bit count is passed explicitly.
 * A target may override this file with one of the same name in its kernel folder.
 */
#ifndef ED_FIXEDPOINT_H
#define ED_FIXEDPOINT_H

#include <stdint.h>

#define ED_INT32_MIN_ ((int32_t)(-2147483647 - 1))
#define ED_INT32_MAX_ ((int32_t)2147483647)

/* Two's complement wrap-around add/sub/neg without signed-overflow UB. */
static inline int32_t ed_add_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t ed_sub_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t ed_neg_wrap(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
static inline int32_t ed_shl_wrap(int32_t a, int32_t s) { return (int32_t)((uint32_t)a << s); }

static inline int32_t ed_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t ed_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t ed_clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/*
 * round(a * b / 2^31), saturating the single overflow case (-1 * -1).
 * gemmlowp adds a nudge of 2^30 (or 1 - 2^30 when a*b < 0) and divides truncating toward zero; for a negative
 * sum trunc(y / 2^31) = floor((y + 2^31 - 1) / 2^31), so both cases equal floor((a*b + 2^30) / 2^31): one
 * multiply-accumulate and an arithmetic shift (SMLAL + two instructions on a Cortex-M), bit-exact.
 */
static inline int32_t ed_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == ED_INT32_MIN_) {
        return ED_INT32_MAX_;
    }
    /* >> of a negative value is arithmetic on every compiler edgesdk supports. */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31. */
static inline int32_t ed_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* >> of a negative value is arithmetic on every compiler edgesdk supports. */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^exponent with saturation (exponent > 0) or rounding (exponent < 0). */
static inline int32_t ed_sat_rmul_pot(int32_t x, int32_t exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
        if (x > threshold) {
            return ED_INT32_MAX_;
        }
        if (x < -threshold) {
            return ED_INT32_MIN_;
        }
        return ed_shl_wrap(x, exponent);
    }
    if (exponent < 0) {
        return ed_rdbpot(x, -exponent);
    }
    return x;
}

/* (a + b) / 2 rounded away from zero, without overflow. */
static inline int32_t ed_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/*
 * Requantize x by multiplier * 2^shift (multiplier a Q0.31 in [2^30, 2^31), shift positive = left),
 * double rounding as TFLite Micro does by default.
 */
static inline int32_t ed_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return ed_rdbpot(ed_srdhm(ed_shl_wrap(x, left), multiplier), right);
}

/* The same with one rounding step (TFLite's TFLITE_SINGLE_ROUNDING variant); -31 <= shift <= 30. */
static inline int32_t ed_mbqm_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    const int64_t result = ((int64_t)x * (int64_t)multiplier + round) >> total_shift;
    /* In range for every valid multiplier; an out-of-range value wraps as a C cast does on our targets. */
    return (int32_t)(uint32_t)(uint64_t)result;
}

/* x * 2^left_shift then the doubling high multiply; for multipliers above one (softmax input scaling). */
static inline int32_t ed_mbqm_gt1(int32_t x, int32_t multiplier, int32_t left_shift)
{
    return ed_srdhm(ed_shl_wrap(x, left_shift), multiplier);
}

/* Number of leading zero bits of a 32-bit word (32 for zero). */
static inline int32_t ed_clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* exp(a) for a in [-1/4, 0), a and result Q0.31. */
static inline int32_t ed_exp_on_interval_neg_quarter_0(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) in Q0.31 */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 in Q0.31 */
    const int32_t x = ed_add_wrap(a, (int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = ed_srdhm(x, x);
    const int32_t x3 = ed_srdhm(x2, x);
    const int32_t x4 = ed_srdhm(x2, x2);
    const int32_t x4_over_4 = ed_sat_rmul_pot(x4, -2);
    const int32_t poly =
        ed_sat_rmul_pot(ed_add_wrap(ed_srdhm(ed_add_wrap(x4_over_4, x3), constant_1_over_3), x2), -1);
    return ed_add_wrap(constant_term, ed_srdhm(constant_term, ed_add_wrap(x, poly)));
}

/* exp(a) for a <= 0; a is Q(integer_bits), 1 <= integer_bits <= 5; result Q0.31. */
static inline int32_t ed_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_quarter = ed_sub_wrap(a & mask, one_quarter);
    int32_t result = ed_exp_on_interval_neg_quarter_0(ed_sat_rmul_pot(a_mod_quarter_minus_quarter, integer_bits));
    const int32_t remainder = ed_sub_wrap(a_mod_quarter_minus_quarter, a);
    int32_t exponent;
    /* Barrel shifter: multiply by exp(-2^e) for each set bit e of the remainder, e = -2 .. +4. */
    for (exponent = -2; exponent <= 4; ++exponent) {
        if (integer_bits > exponent) {
            const int32_t bit = (int32_t)((uint32_t)1 << (fractional_bits + exponent));
            if ((remainder & bit) != 0) {
                result = ed_srdhm(result, multipliers[exponent + 2]);
            }
        }
    }
    if (a == 0) {
        result = ED_INT32_MAX_;
    }
    return result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, three steps). */
static inline int32_t ed_one_over_one_plus_x_0_1(int32_t a)
{
    const int32_t half_denominator = ed_rounding_half_sum(a, ED_INT32_MAX_);
    const int32_t constant_48_over_17 = 1515870810;   /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2.29 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = ed_add_wrap(constant_48_over_17, ed_srdhm(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ed_srdhm(half_denominator, x);
        const int32_t one_minus = ed_sub_wrap(one_q2, half_denominator_times_x);
        x = ed_add_wrap(x, ed_sat_rmul_pot(ed_srdhm(x, one_minus), 2));
    }
    /* x / 2 reinterpreted as Q1.30, then rescaled to Q0.31. */
    return ed_sat_rmul_pot(x, 1);
}

/* logistic(a) = 1 / (1 + exp(-a)); a is Q(integer_bits), result Q0.31. */
static inline int32_t ed_logistic_fixed(int32_t a, int32_t integer_bits)
{
    int32_t abs_a;
    int32_t positive_result;
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    abs_a = a > 0 ? a : ed_neg_wrap(a);
    positive_result = ed_one_over_one_plus_x_0_1(ed_exp_on_negative_values(ed_neg_wrap(abs_a), integer_bits));
    return a > 0 ? positive_result : ed_sub_wrap(ED_INT32_MAX_, positive_result);
}

#endif /* ED_FIXEDPOINT_H */
