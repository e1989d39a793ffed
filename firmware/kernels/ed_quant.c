/*
 * ed_quant.c - QUANTIZE and DEQUANTIZE kernels, TFLite Micro semantics.
 *
 * int8 -> int8 requantization is integer only. The float32 conversions exist for models whose graph
 * inputs or outputs are float; they are the only kernels that touch floating point at run time.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_requantize_s8(const ed_requant_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        const int32_t y = ed_mbqm(x, p->multiplier, p->shift) + p->output_zero_point;
        output[i] = (int8_t)ed_clamp_i32(y, -128, 127);
    }
}

/* Round half away from zero, as C's round(), without libm; values far beyond int8 saturate later. */
static int32_t ed_round_clamped(double v)
{
    double t;
    double d;
    if (v >= 1.0e6) {
        return 1000000;
    }
    if (v <= -1.0e6) {
        return -1000000;
    }
    t = (double)(int32_t)v; /* truncation toward zero, exact here */
    d = v - t;              /* exact */
    if (d >= 0.5) {
        t += 1.0;
    } else if (d <= -0.5) {
        t -= 1.0;
    }
    return (int32_t)t;
}

void ed_quantize_f32_s8(const ed_quantize_f32_params_t *p, const float *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float v = input[i];
        int32_t q;
        if (v != v) { /* NaN */
            q = p->zero_point;
        } else {
            q = ed_round_clamped((double)v / p->scale) + p->zero_point;
        }
        output[i] = (int8_t)ed_clamp_i32(q, -128, 127);
    }
}

void ed_dequantize_s8_f32(const ed_dequantize_params_t *p, const int8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (float)(p->scale * (double)((int32_t)input[i] - p->zero_point));
    }
}
