/*
 * ed_logistic.c - int8 LOGISTIC, TFLite Micro semantics (gemmlowp fixed-point logistic on Q4.27).
 *
 * Inputs beyond +-input_range_radius saturate; the rest are scaled to Q4.27, passed through the
 * fixed-point logistic, and rounded to the 1/256 output scale with zero point -128.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

#define ED_LOGISTIC_INPUT_INTEGER_BITS 4

void ed_logistic_s8(const ed_logistic_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            output[i] = -128;
        } else if (x >= p->input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t x_q4 = ed_mbqm(x, p->input_multiplier, p->input_left_shift);
            const int32_t y_q0 = ed_logistic_fixed(x_q4, ED_LOGISTIC_INPUT_INTEGER_BITS);
            const int32_t y = ed_rdbpot(y_q0, 31 - 8) - 128;
            output[i] = (int8_t)ed_clamp_i32(y, -128, 127);
        }
    }
}
