/*
 * ed_softmax.c - int8 SOFTMAX over the last axis, TFLite Micro semantics (gemmlowp fixed-point exp).
 *
 * Differences to the row maximum are scaled to Q5.26 by beta * input_scale, exponentiated in fixed point,
 * summed in Q12.19, and each exponential is multiplied by the fixed-point reciprocal of the sum.
 * Differences below diff_min contribute nothing and give the minimum output.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

#define ED_SOFTMAX_DIFF_INTEGER_BITS 5
#define ED_SOFTMAX_ACCUM_INTEGER_BITS 12

void ed_softmax_s8(const ed_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t r, c;
    for (r = 0; r < p->outer; ++r) {
        const int8_t *x = input + (size_t)r * (size_t)p->depth;
        int8_t *y = output + (size_t)r * (size_t)p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int32_t headroom_plus_one;
        int32_t num_bits_over_unit;
        int32_t shifted_sum_minus_one;
        int32_t shifted_scale;
        int32_t exponent;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ed_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);
                const int32_t e = ed_exp_on_negative_values(scaled, ED_SOFTMAX_DIFF_INTEGER_BITS);
                sum_of_exps = ed_add_wrap(sum_of_exps, ed_sat_rmul_pot(e, -ED_SOFTMAX_ACCUM_INTEGER_BITS));
            }
        }
        /* Reciprocal of the sum: normalise it into [1, 2), then 1 / (1 + x) for x in [0, 1). */
        headroom_plus_one = ed_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = ED_SOFTMAX_ACCUM_INTEGER_BITS - headroom_plus_one;
        shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        shifted_scale = ed_one_over_one_plus_x_0_1(shifted_sum_minus_one);
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ed_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);
                const int32_t e = ed_exp_on_negative_values(scaled, ED_SOFTMAX_DIFF_INTEGER_BITS);
                const int32_t unsat = ed_rdbpot(ed_srdhm(shifted_scale, e), exponent);
                y[c] = (int8_t)ed_clamp_i32(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
