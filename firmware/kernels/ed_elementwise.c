/*
 * ed_elementwise.c - int8 ADD and MUL with up to 4-D broadcasting, TFLite Micro semantics.
 *
 * ADD rescales both inputs to a common scale with 20 bits of headroom (left_shift), adds, and
 * requantizes; MUL multiplies the offset inputs and requantizes once. The per-element work is one
 * static function; the same-shape case walks flat arrays, the broadcast case walks 4-D strides.
 */
#include "edgesdk_kernels.h"
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

static int8_t ed_add_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t x1 = ed_shl_wrap(a + p->input1_offset, p->left_shift);
    const int32_t x2 = ed_shl_wrap(b + p->input2_offset, p->left_shift);
    const int32_t s1 = ed_mbqm(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = ed_mbqm(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = ed_mbqm(ed_add_wrap(s1, s2), p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

static int8_t ed_mul_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = ed_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

void ed_add_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast && p->left_shift <= 20 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
        p->output_shift < 0) {
        ed_add_fast(p, input1, input2, output);
    } else if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = ed_add_one(p, input1[i], input2[i]);
        }
    } else {
        int32_t d0, d1, d2, d3;
        size_t o = 0;
        for (d0 = 0; d0 < p->out_dims[0]; ++d0) {
            for (d1 = 0; d1 < p->out_dims[1]; ++d1) {
                for (d2 = 0; d2 < p->out_dims[2]; ++d2) {
                    const size_t a0 = (size_t)(d0 * p->in1_strides[0] + d1 * p->in1_strides[1] + d2 * p->in1_strides[2]);
                    const size_t b0 = (size_t)(d0 * p->in2_strides[0] + d1 * p->in2_strides[1] + d2 * p->in2_strides[2]);
                    for (d3 = 0; d3 < p->out_dims[3]; ++d3) {
                        output[o++] = ed_add_one(p, input1[a0 + (size_t)(d3 * p->in1_strides[3])],
                                                 input2[b0 + (size_t)(d3 * p->in2_strides[3])]);
                    }
                }
            }
        }
    }
}

void ed_mul_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = ed_mul_one(p, input1[i], input2[i]);
        }
    } else {
        int32_t d0, d1, d2, d3;
        size_t o = 0;
        for (d0 = 0; d0 < p->out_dims[0]; ++d0) {
            for (d1 = 0; d1 < p->out_dims[1]; ++d1) {
                for (d2 = 0; d2 < p->out_dims[2]; ++d2) {
                    const size_t a0 = (size_t)(d0 * p->in1_strides[0] + d1 * p->in1_strides[1] + d2 * p->in1_strides[2]);
                    const size_t b0 = (size_t)(d0 * p->in2_strides[0] + d1 * p->in2_strides[1] + d2 * p->in2_strides[2]);
                    for (d3 = 0; d3 < p->out_dims[3]; ++d3) {
                        output[o++] = ed_mul_one(p, input1[a0 + (size_t)(d3 * p->in1_strides[3])],
                                                 input2[b0 + (size_t)(d3 * p->in2_strides[3])]);
                    }
                }
            }
        }
    }
}
