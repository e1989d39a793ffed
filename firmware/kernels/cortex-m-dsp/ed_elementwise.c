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
 * ADD: every SaturatingRoundingDoublingHighMul plus rounding constant is one SMMLAR, every RoundingDivideByPOT
 * then one add and a shift, the input of the larger scale (TFLite's multiplier 0.5) two adds, and the clamp
 * works on four outputs per word (USAT, then byte-lane UQSUB8/USUB8/UADD8): about 18 instructions per element
 * on a Cortex-M4 instead of 49. MUL: one SMMULR per element (ed_srdhm_small). The range conditions that make
 * each shortcut exact are checked once per call (ed_add_fast_ok / ed_mul_fast_ok, with the proofs beside them);
 * anything else - a broadcast, a left shift other than TFLite's 20, a left-shifting output multiplier, no input
 * of multiplier 0.5 - and ADD's n % 4 last elements take the exact general path, as the portable kernel does.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* USAT #8 and the byte-lane operations of the output stage (SMMLAR is ed_simd.h's); plain C with the same results
 * on the host. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline uint32_t ed_usat8(int32_t x) { return (uint32_t)__usat(x, 8); }
static inline uint32_t ed_uqsub8(uint32_t a, uint32_t b) { return __uqsub8(a, b); }
static inline uint32_t ed_usub8(uint32_t a, uint32_t b) { return __usub8(a, b); }
static inline uint32_t ed_uadd8(uint32_t a, uint32_t b) { return __uadd8(a, b); }
#else
static inline uint32_t ed_usat8(int32_t x) { return x < 0 ? 0u : (x > 255 ? 255u : (uint32_t)x); }
static inline uint32_t ed_bytewise_(uint32_t a, uint32_t b, int op)
{
    uint32_t r = 0;
    int k;
    for (k = 0; k < 32; k += 8) {
        const int32_t x = (int32_t)((a >> k) & 0xFFu), y = (int32_t)((b >> k) & 0xFFu);
        const int32_t v = op == 0 ? (x > y ? x - y : 0) : (op == 1 ? x - y : x + y);
        r |= ((uint32_t)v & 0xFFu) << k;
    }
    return r;
}
static inline uint32_t ed_uqsub8(uint32_t a, uint32_t b) { return ed_bytewise_(a, b, 0); }
static inline uint32_t ed_usub8(uint32_t a, uint32_t b) { return ed_bytewise_(a, b, 1); }
static inline uint32_t ed_uadd8(uint32_t a, uint32_t b) { return ed_bytewise_(a, b, 2); }
#endif

/*
 * When may ADD take the short path? Inputs: |a + zp| <= 255 (int8 value and zero point), so x = (a + zp) << 20
 * has |x| < 2^28 and SRDHM(x, m) = SMMULR(2x, m) exactly (ed_srdhm_small needs |x| < 2^30); |y| = |SRDHM(x, m)|
 * <= |x| + 1 <= 2^28 (0 <= m < 2^31).
 *
 * RoundingDivideByPOT(y, e), e >= 1, is (y + 2^(e-1) + [y < 0 ? -1 : 0]) >> e (ed_rdbpot_pos). The sign of y may
 * be taken from x (m >= 0: y > 0 only if x > 0, y < 0 only if x < 0; when y = 0 and x < 0 the result is
 * (2^(e-1) - 1) >> e = 0 either way), and y + 2^(e-1) is one SMMLAR(2x, m, 2^(e-1)): one multiply-accumulate,
 * one add of 2x >> 31, one shift. In 32 bits since 2^28 + 2^(e-1) < 2^31 for e <= 30. e = 0 (TFLite's input of
 * the larger scale, multiplier 2^30) is handled separately (ed_add_loop); other e = 0 inputs take the general path.
 *
 * Sum: |z_1 + z_2| <= 2^29 < 2^30, so SRDHM of the sum is SMMULR(2s, m_o), |t| <= 2^29. Output: e_o >= 1 and
 * with the zero point and the clamp's lower bound folded into the rounding constant,
 *   (t + 2^(e_o-1) + (zp_o - act_min) 2^(e_o) + [s < 0 ? -1 : 0]) >> e_o = RDBPOT(t, e_o) + zp_o - act_min
 * exactly ((zp_o - act_min) 2^e_o is a multiple of 2^e_o; the sign of t taken from s as above), in 32 bits when
 * 2^29 + 2^(e_o-1) + 2^8 2^(e_o) < 2^31: e_o <= 21. USAT #8 then clamps below at act_min, a byte-lane minimum
 * with act_max - act_min clamps above, and a byte-lane add of act_min restores the value (mod 256 = int8).
 */
static int ed_add_fast_ok(const ed_binary_params_t *p)
{
    const int half1 = p->input1_multiplier == (1 << 30) && p->input1_shift == 0;
    const int half2 = p->input2_multiplier == (1 << 30) && p->input2_shift == 0;
    return !p->broadcast && p->left_shift == 20 && (half1 || half2) &&
           (half1 || (p->input1_shift <= -1 && p->input1_shift >= -30 && p->input1_multiplier >= 0)) &&
           (half2 || (p->input2_shift <= -1 && p->input2_shift >= -30 && p->input2_multiplier >= 0)) &&
           p->output_multiplier >= 0 && p->output_shift < 0 && p->output_shift >= -21 &&
           p->input1_offset >= -128 && p->input1_offset <= 128 && p->input2_offset >= -128 &&
           p->input2_offset <= 128 && p->output_offset >= -128 && p->output_offset <= 127 &&
           p->act_min >= -128 && p->act_min <= p->act_max && p->act_max <= 127;
}

/*
 * TFLite always gives the input of the larger scale the multiplier 2^30 with shift 0 (exactly 0.5), and for it
 * x = (b + zp) << 20 is even, so SRDHM(x, 2^30) = floor((x 2^30 + 2^30) / 2^31) = floor(x/2 + 1/2) = x/2 and
 * RDBPOT(., 0) is the identity: z = (b + zp) << 19 exactly, 2z = (b << 20) + (zp << 20). The loop takes that
 * input second; the other one goes through SMMLAR with its own multiplier and shift e >= 1. When both inputs are
 * 0.5 (equal scales), the first is given multiplier 2^31 - 1 and shift 1 instead, which yields the same z:
 * SMMULR(2x, 2^31 - 1) = floor(x - x/2^31 + 1/2) = x for |x| < 2^30 (the correction is below 1/2 either side),
 * and (x + 1 - [x < 0]) >> 1 = x/2 for even x. (Same-shape ADDs without a 0.5 input take the general path.)
 * The n % 4 last elements are left to the caller.
 */
static void ed_add_loop(const ed_binary_params_t *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const int32_t off1 = ed_shl_wrap(p->input1_offset, 21), c2 = ed_shl_wrap(p->input2_offset, 20);
    const int32_t m1 = p->input1_multiplier, mo = p->output_multiplier;
    const int32_t e1 = -p->input1_shift, eo = -p->output_shift;
    const int32_t h1 = (int32_t)1 << (e1 - 1);
    const int32_t ho = ed_add_wrap((int32_t)1 << (eo - 1), ed_shl_wrap(p->output_offset - p->act_min, eo));
    const uint32_t span4 = (uint32_t)(p->act_max - p->act_min) * 0x01010101u;
    const uint32_t lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    const int8_t *const end = a + (p->size & ~3);
    while (a != end) {
        uint32_t w, q0, q1, q2, q3;
#define ED_ADD_ELEM_(k)                                                                                   \
    do {                                                                                                  \
        const int32_t x1 = ed_add_wrap(off1, ed_shl_wrap(a[k], 21));                                      \
        const int32_t z1 = (ed_smmlar(x1, m1, h1) + (x1 >> 31)) >> e1;                                    \
        const int32_t s2 = ed_add_wrap(ed_add_wrap(c2, ed_shl_wrap(b[k], 20)), ed_shl_wrap(z1, 1));       \
        q##k = ed_usat8((ed_smmlar(s2, mo, ho) + (s2 >> 31)) >> eo);                                      \
    } while (0)
        ED_ADD_ELEM_(0);
        ED_ADD_ELEM_(1);
        ED_ADD_ELEM_(2);
        ED_ADD_ELEM_(3);
#undef ED_ADD_ELEM_
        w = q0 | (q1 << 8) | (q2 << 16) | (q3 << 24);
        w = ed_uadd8(ed_usub8(w, ed_uqsub8(w, span4)), lo4); /* min(w, act_max - act_min) + act_min per byte */
        ED_MEMCPY_(out, &w, sizeof w);
        a += 4;
        b += 4;
        out += 4;
    }
}

static void ed_add_fast(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ed_binary_params_t q = *p;
    if (p->input2_multiplier != (1 << 30) || p->input2_shift != 0) {
        /* ADD commutes (each input is rescaled on its own, then summed): put the 0.5 input second. */
        const int8_t *t = input1;
        input1 = input2;
        input2 = t;
        q.input1_offset = p->input2_offset;
        q.input2_offset = p->input1_offset;
        q.input1_multiplier = p->input2_multiplier;
        q.input2_multiplier = p->input1_multiplier;
        q.input1_shift = p->input2_shift;
        q.input2_shift = p->input1_shift;
    } else if (p->input1_multiplier == (1 << 30) && p->input1_shift == 0) {
        q.input1_multiplier = 0x7FFFFFFF; /* both 0.5: the first as SMMULR by 2^31 - 1 and a shift of 1 */
        q.input1_shift = -1;
    }
    ed_add_loop(&q, input1, input2, output);
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
        int32_t i;
        ed_add_fast(p, input1, input2, output); /* whole words of four outputs */
        for (i = p->size & ~3; i < p->size; ++i) {
            output[i] = ed_add_one(p, input1[i], input2[i]);
        }
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
