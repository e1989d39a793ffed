/*
 * ed_elementwise.c (Helium) - int8 ADD and MUL with the M-profile Vector Extension (Cortex-M55/M85), same
 * interface and results as the portable firmware/kernels/ed_elementwise.c (TFLite Micro, bit for bit).
 *
 * Same-shape ADD (a residual block's, also when fused into the convolution that produces one operand) runs four
 * elements per vector: widening byte loads, the input offsets and the common left shift, each input's
 * requantization (VQRDMULH and the rounding shift with the ties-away-from-zero fixup of ed_mve.h), the sum, the
 * output requantization, offset and clamp, one narrowing store; the last one to three elements tail-predicated.
 * Every step is ed_add_one's on four lanes, so any left shift and any input or output shift stay exact (the
 * left-shifted inputs fit: |x + offset| < 2^9 and left_shift <= 21 in TFLite's quantization). Broadcasting ADD
 * and MUL take the per-element walk of ed_binary.h.
 */
#include "edgesdk_kernels.h"
#include "ed_binary.h"
#include "ed_fixedpoint.h"
#include "ed_mve.h"

static void ed_add_mve(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t ls = p->left_shift;
    const int32x4_t l1 = vdupq_n_s32(p->input1_shift > 0 ? p->input1_shift : 0);
    const int32x4_t r1 = vdupq_n_s32(p->input1_shift > 0 ? 0 : p->input1_shift);
    const int32x4_t l2 = vdupq_n_s32(p->input2_shift > 0 ? p->input2_shift : 0);
    const int32x4_t r2 = vdupq_n_s32(p->input2_shift > 0 ? 0 : p->input2_shift);
    const int32x4_t lo = vdupq_n_s32(p->output_shift > 0 ? p->output_shift : 0);
    const int32x4_t ro = vdupq_n_s32(p->output_shift > 0 ? 0 : p->output_shift);
    const int32x4_t m1 = vdupq_n_s32(p->input1_multiplier), m2 = vdupq_n_s32(p->input2_multiplier);
    const int32x4_t mo = vdupq_n_s32(p->output_multiplier);
    const int32x4_t shift = vdupq_n_s32(ls);
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset;
    const int32_t zo = p->output_offset, amin = p->act_min, amax = p->act_max;
    int32_t n = p->size;
    for (; n > 0; n -= 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)n);
        /* (x + offset) << left_shift wraps as ed_shl_wrap; the zeroed lanes past the end are never stored */
        const int32x4_t x1 = vshlq_s32(vaddq_n_s32(vldrbq_z_s32(input1, pr), off1), shift);
        const int32x4_t x2 = vshlq_s32(vaddq_n_s32(vldrbq_z_s32(input2, pr), off2), shift);
        const int32x4_t s = vaddq_s32(ed_mve_mbqm(x1, m1, l1, r1), ed_mve_mbqm(x2, m2, l2, r2));
        int32x4_t out = vaddq_n_s32(ed_mve_mbqm(s, mo, lo, ro), zo);
        out = vminq_s32(vmaxq_s32(out, vdupq_n_s32(amin)), vdupq_n_s32(amax));
        vstrbq_p_s32(output, out, pr);
        input1 += 4;
        input2 += 4;
        output += 4;
    }
}

/* x / 2^e rounded half away from zero (e >= 0, uniform): the fixup adds -1 to negative lanes before VRSHL's
 * round-half-up; e = 0 leaves x as it is. */
static inline int32x4_t ed_add_mve_rdbpot(int32x4_t x, int32_t e)
{
    return e > 0 ? vrshlq_n_s32(vqaddq_s32(x, vshrq_n_s32(x, 31)), -e) : x;
}

/* The usual case, every rescaling a right shift (input and output shifts <= 0): each multiplier and shift is
 * one scalar operand (VQRDMULH and VRSHL by a register), no constant vectors. */
static void ed_add_mve_right(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                             int8_t *output)
{
    const int32_t ls = p->left_shift;
    const int32_t m1 = p->input1_multiplier, e1 = -p->input1_shift;
    const int32_t m2 = p->input2_multiplier, e2 = -p->input2_shift;
    const int32_t mo = p->output_multiplier, eo = -p->output_shift;
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset, zo = p->output_offset;
    const int32x4_t amin = vdupq_n_s32(p->act_min), amax = vdupq_n_s32(p->act_max);
    int32_t n = p->size;
    for (; n > 0; n -= 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)n);
        const int32x4_t x1 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(input1, pr), off1), ls);
        const int32x4_t x2 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(input2, pr), off2), ls);
        const int32x4_t s = vaddq_s32(ed_add_mve_rdbpot(vqrdmulhq_n_s32(x1, m1), e1),
                                      ed_add_mve_rdbpot(vqrdmulhq_n_s32(x2, m2), e2));
        const int32x4_t out = vaddq_n_s32(ed_add_mve_rdbpot(vqrdmulhq_n_s32(s, mo), eo), zo);
        vstrbq_p_s32(output, vminq_s32(vmaxq_s32(out, amin), amax), pr);
        input1 += 4;
        input2 += 4;
        output += 4;
    }
}

void ed_add_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast && p->input1_shift <= 0 && p->input2_shift <= 0 && p->output_shift <= 0) {
        ed_add_mve_right(p, input1, input2, output);
    } else if (!p->broadcast) {
        ed_add_mve(p, input1, input2, output);
    } else {
        ed_binary_walk(p, input1, input2, output, 0);
    }
}

void ed_mul_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ed_binary_walk(p, input1, input2, output, 1);
}
