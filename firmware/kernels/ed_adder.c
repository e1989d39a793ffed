/*
 * ed_adder.c - AdderNet's L1 convolution (EDGESDK_ADDER_CONV_2D): acc = -sum |(x - zp_x) - w| over the
 * window, no multiplications in the accumulation (Chen et al. 2020). Padded taps read the input's real
 * zero, so they add -|w|. Weights are int16 in the input's units (OHWI); the accumulator is requantized per
 * output channel exactly like CONV_2D.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_adder_conv_s8(const ed_adder_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t k_size = p->k_h * p->k_w * in_c;
    int32_t oy, ox, oc, ky, kx, ic;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *out_pixel = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c;
            for (oc = 0; oc < p->out_c; ++oc) {
                const int16_t *w = p->weights + (size_t)oc * (size_t)k_size;
                int32_t acc = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky;
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + kx;
                        if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                            const int8_t *x = input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)in_c;
                            for (ic = 0; ic < in_c; ++ic) {
                                const int32_t d = ((int32_t)x[ic] - p->input_zero_point) - (int32_t)w[ic];
                                acc -= d < 0 ? -d : d;
                            }
                        } else {
                            for (ic = 0; ic < in_c; ++ic) {
                                const int32_t d = (int32_t)w[ic];
                                acc -= d < 0 ? -d : d;
                            }
                        }
                        w += in_c;
                    }
                }
                if (p->bias != NULL) {
                    acc += p->bias[oc];
                }
                acc = ed_mbqm(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                out_pixel[oc] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}
