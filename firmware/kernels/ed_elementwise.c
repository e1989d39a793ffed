/*
 * ed_elementwise.c - int8 ADD and MUL with up to 4-D broadcasting, TFLite Micro semantics.
 *
 * ADD rescales both inputs to a common scale with 20 bits of headroom (left_shift), adds, and
 * requantizes; MUL multiplies the offset inputs and requantizes once. The per-element work and the walk over
 * flat or broadcast (4-D strided) inputs are in ed_binary.h; the same-shape ADD has a faster loop here.
 */
#include "edgesdk_kernels.h"
#include "ed_binary.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/*
 * Same-shape ADD with every rescaling a right shift (shifts < 0, TFLite's usual case): the inputs, shifted
 * left by 20, stay below 2^28 and their sum below 2^29, so every doubling high multiply is ed_srdhm_small
 * (one SMMULR on a DSP core) and every rounding shift the 32-bit form of ed_rdbpot_pos (a shift of 0 rounds
 * nothing) - bit-exact with ed_add_one.
 */
static void ed_add_fast(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t ls = p->left_shift;
    const int32_t off1 = ed_shl_wrap(p->input1_offset, ls), off2 = ed_shl_wrap(p->input2_offset, ls);
    const int32_t m1 = p->input1_multiplier, e1 = -p->input1_shift;
    const int32_t m2 = p->input2_multiplier, e2 = -p->input2_shift;
    /* An input shift of 0 rounds nothing: half 0 and no sign correction, so one expression serves both. */
    const int32_t h1 = e1 > 0 ? (int32_t)1 << (e1 - 1) : 0, n1 = e1 > 0 ? -1 : 0;
    const int32_t h2 = e2 > 0 ? (int32_t)1 << (e2 - 1) : 0, n2 = e2 > 0 ? -1 : 0;
    const int32_t mo = p->output_multiplier, eo = -p->output_shift;
    const int32_t zo = p->output_offset, lo = p->act_min, hi = p->act_max;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x1 = ed_shl_wrap(input1[i], ls) + off1;
        const int32_t x2 = ed_shl_wrap(input2[i], ls) + off2;
        const int32_t y1 = ed_srdhm_small(x1, m1), y2 = ed_srdhm_small(x2, m2);
        const int32_t s = ((y1 + h1 + ((y1 >> 31) & n1)) >> e1) + ((y2 + h2 + ((y2 >> 31) & n2)) >> e2);
        const int32_t out = ed_rdbpot_pos(ed_srdhm_small(s, mo), eo) + zo;
        output[i] = (int8_t)ed_clamp_i32(out, lo, hi);
    }
}

void ed_add_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast && p->left_shift <= 20 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
        p->output_shift < 0) {
        ed_add_fast(p, input1, input2, output);
    } else {
        ed_binary_walk(p, input1, input2, output, 0);
    }
}

void ed_mul_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ed_binary_walk(p, input1, input2, output, 1);
}
