/*
 * ed_elementwise.c (Cortex-M DSP) - int8 ADD and MUL; same interface and results as the portable
 * firmware/kernels/ed_elementwise.c (TFLite Micro semantics: gemmlowp double rounding at every rescale).
 *
 * The same-shape case (every residual ADD) runs a short per-element requantization:
 *
 *   ADD  z_i = RDBPOT(SRDHM((a_i + zp_i) << 20, m_i), e_i)   (each input onto the common scale)
 *        out = RDBPOT(SRDHM(z_1 + z_2, m_o), e_o) + zp_o,  clamped
 *   MUL  out = RDBPOT(SRDHM((a + zp_1) * (b + zp_2), m_o), e_o) + zp_o,  clamped
 *
 * with every SaturatingRoundingDoublingHighMul one SMMULR (ed_srdhm_small) and every RoundingDivideByPOT
 * two adds and a shift. The range conditions that make each shortcut exact are checked once per call (see
 * ed_add_fast_ok / ed_mul_fast_ok and the proofs beside them); anything else - a broadcast, a left shift
 * other than TFLite's 20, a left-shifting output multiplier - takes the exact general path, as the
 * portable kernel does.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/*
 * RoundingDivideByPOT(y, e) for any e >= 0 as (2y + 2^e + [y < 0 ? -1 : 0]) >> (e + 1), with h = 2^e and
 * e1 = e + 1 given. Proof: for e >= 1, RDBPOT(y, e) = floor((y + 2^(e-1) - [y<0]) / 2^e) (gemmlowp's
 * remainder/threshold form); doubling numerator and denominator changes nothing, and 2y + 2^e is even while
 * the multiples of 2^(e+1) are even too, so subtracting 1 instead of 2 when y < 0 lands on the same floor.
 * For e = 0: floor((2y + 1)/2) = y for y >= 0 and floor(2y/2) = y for y < 0. Exact in 32 bits when
 * |2y| + 2^e < 2^31 (the callers' bounds below). One form for e = 0 (TFLite's larger-scale ADD input) and e >= 1.
 */
static inline int32_t ed_rdbpot_dbl(int32_t y, int32_t h, int32_t e1)
{
    return (int32_t)((uint32_t)y * 2u + (uint32_t)h + (uint32_t)(y >> 31)) >> e1;
}

/*
 * When may ADD take the short path? Inputs: |a + zp| <= 255 (int8 value and zero point), so x = (a + zp) << 20
 * has |x| < 2^28 and ed_srdhm_small (needs |x| < 2^30) is exact; |y| = |SRDHM(x, m)| <= |x| + 1 <= 2^28 (m < 2^31),
 * so ed_rdbpot_dbl needs 2^29 + 2^e < 2^31: e <= 30. Sum: |z_1 + z_2| <= 2^29 < 2^30, so SRDHM of the sum is
 * ed_srdhm_small too, and |t| <= 2^29 after it. Output: e_o >= 1 (shift < 0) and the zero point folded into
 * the rounding constant, (t + 2^(e_o-1) + zp_o 2^e_o + [t<0 ? -1 : 0]) >> e_o = RDBPOT(t, e_o) + zp_o exactly
 * (zp_o 2^e_o is a multiple of 2^e_o), in 32 bits when 2^29 + 2^(e_o-1) + 2^7 2^e_o < 2^31: e_o <= 22.
 */
static int ed_add_fast_ok(const ed_binary_params_t *p)
{
    return !p->broadcast && p->left_shift == 20 && p->input1_shift <= 0 && p->input1_shift >= -30 &&
           p->input2_shift <= 0 && p->input2_shift >= -30 && p->input1_multiplier >= 0 &&
           p->input2_multiplier >= 0 && p->output_shift < 0 && p->output_shift >= -22 &&
           p->input1_offset >= -128 && p->input1_offset <= 128 && p->input2_offset >= -128 &&
           p->input2_offset <= 128 && p->output_offset >= -128 && p->output_offset <= 128;
}

/*
 * Input 2 with multiplier 2^30 and shift 0 (TFLite gives these to the input of the larger scale: 0.5 exactly):
 * x = (b + zp) << 20 is even, so SRDHM(x, 2^30) = floor((x 2^30 + 2^30) / 2^31) = floor(x/2 + 1/2) = x/2 and
 * RDBPOT(., 0) is the identity: z_2 = (b + zp) << 19 exactly, and 2 z_2 = (b << 20) + (zp << 20).
 */
static inline __attribute__((always_inline)) void ed_add_loop(const ed_binary_params_t *p, const int8_t *a,
                                                              const int8_t *b, int8_t *out, const int half2)
{
    const int32_t off1 = ed_shl_wrap(p->input1_offset, 21), off2 = ed_shl_wrap(p->input2_offset, 21);
    const int32_t c2 = ed_shl_wrap(p->input2_offset, 20);
    const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
    const int32_t h1 = (int32_t)1 << -p->input1_shift, s1 = 1 - p->input1_shift;
    const int32_t h2 = (int32_t)1 << -p->input2_shift, s2 = 1 - p->input2_shift;
    const int32_t eo = -p->output_shift;
    const int32_t ho = ed_add_wrap((int32_t)1 << (eo - 1), ed_shl_wrap(p->output_offset, eo));
    const int32_t lo = p->act_min, hi = p->act_max;
    const int8_t *const end = a + p->size;
    while (a != end) {
        /* 2x_1 = ((a + zp_1) << 21): one add with a shifted operand; SMMULR(2x, m) = SRDHM(x, m). */
        const int32_t y1 = ed_smmulr(ed_add_wrap(off1, ed_shl_wrap(*a++, 21)), m1);
        const int32_t z1 = ed_rdbpot_dbl(y1, h1, s1);
        const int32_t bv = *b++;
        int32_t s, t, q;
        if (half2) {
            s = ed_add_wrap(ed_add_wrap(c2, ed_shl_wrap(bv, 20)), ed_shl_wrap(z1, 1)); /* 2 (z_1 + z_2) */
        } else {
            const int32_t y2 = ed_smmulr(ed_add_wrap(off2, ed_shl_wrap(bv, 21)), m2);
            s = ed_shl_wrap(z1 + ed_rdbpot_dbl(y2, h2, s2), 1);
        }
        t = ed_smmulr(s, mo);
        q = (t + ho + (t >> 31)) >> eo;
        *out++ = (int8_t)ed_clamp_i32(q, lo, hi);
    }
}

static void ed_add_fast(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ed_binary_params_t q;
    if (p->input1_multiplier == (1 << 30) && p->input1_shift == 0 &&
        !(p->input2_multiplier == (1 << 30) && p->input2_shift == 0)) {
        /* ADD commutes (each input is rescaled on its own, then summed): put the 0.5-scale input second. */
        q = *p;
        q.input1_offset = p->input2_offset;
        q.input2_offset = p->input1_offset;
        q.input1_multiplier = p->input2_multiplier;
        q.input2_multiplier = p->input1_multiplier;
        q.input1_shift = p->input2_shift;
        q.input2_shift = p->input1_shift;
        ed_add_loop(&q, input2, input1, output, 1);
    } else if (p->input2_multiplier == (1 << 30) && p->input2_shift == 0) {
        ed_add_loop(p, input1, input2, output, 1);
    } else {
        ed_add_loop(p, input1, input2, output, 0);
    }
}

static int8_t ed_add_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t x1 = ed_shl_wrap(a + p->input1_offset, p->left_shift);
    const int32_t x2 = ed_shl_wrap(b + p->input2_offset, p->left_shift);
    const int32_t s1 = ed_mbqm(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = ed_mbqm(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = ed_mbqm(ed_add_wrap(s1, s2), p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

/*
 * MUL's short path: |(a + zp_1)(b + zp_2)| <= 255^2 < 2^16, far inside ed_srdhm_small's |x| < 2^30; |t| < 2^16
 * after it, and with e_o in [1, 22] the folded output rounding is exact as for ADD.
 */
static int ed_mul_fast_ok(const ed_binary_params_t *p)
{
    return !p->broadcast && p->output_shift < 0 && p->output_shift >= -22 && p->input1_offset >= -128 &&
           p->input1_offset <= 128 && p->input2_offset >= -128 && p->input2_offset <= 128 &&
           p->output_offset >= -128 && p->output_offset <= 128;
}

static void ed_mul_fast(const ed_binary_params_t *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset, mo = p->output_multiplier;
    const int32_t eo = -p->output_shift;
    const int32_t ho = ed_add_wrap((int32_t)1 << (eo - 1), ed_shl_wrap(p->output_offset, eo));
    const int32_t lo = p->act_min, hi = p->act_max;
    const int8_t *const end = a + p->size;
    while (a != end) {
        const int32_t prod = ((int32_t)*a++ + off1) * ((int32_t)*b++ + off2);
        const int32_t t = ed_srdhm_small(prod, mo);
        const int32_t q = (t + ho + (t >> 31)) >> eo;
        *out++ = (int8_t)ed_clamp_i32(q, lo, hi);
    }
}

static int8_t ed_mul_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = ed_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

/* The general path: same shapes element by element, or 4-D broadcasting through the strides. */
static void ed_binary_general(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                              int8_t (*one)(const ed_binary_params_t *, int32_t, int32_t))
{
    int32_t d0, d1, d2, d3;
    size_t o = 0;
    if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = one(p, input1[i], input2[i]);
        }
        return;
    }
    for (d0 = 0; d0 < p->out_dims[0]; ++d0) {
        for (d1 = 0; d1 < p->out_dims[1]; ++d1) {
            for (d2 = 0; d2 < p->out_dims[2]; ++d2) {
                const size_t a0 = (size_t)(d0 * p->in1_strides[0] + d1 * p->in1_strides[1] + d2 * p->in1_strides[2]);
                const size_t b0 = (size_t)(d0 * p->in2_strides[0] + d1 * p->in2_strides[1] + d2 * p->in2_strides[2]);
                for (d3 = 0; d3 < p->out_dims[3]; ++d3) {
                    output[o++] = one(p, input1[a0 + (size_t)(d3 * p->in1_strides[3])],
                                      input2[b0 + (size_t)(d3 * p->in2_strides[3])]);
                }
            }
        }
    }
}

/* In place (output == input1 or input2) is allowed: element i is read before it is written. */
void ed_add_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (ed_add_fast_ok(p)) {
        ed_add_fast(p, input1, input2, output);
    } else {
        ed_binary_general(p, input1, input2, output, ed_add_one);
    }
}

void ed_mul_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (ed_mul_fast_ok(p)) {
        ed_mul_fast(p, input1, input2, output);
    } else {
        ed_binary_general(p, input1, input2, output, ed_mul_one);
    }
}
