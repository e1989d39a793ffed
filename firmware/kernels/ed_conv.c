/*
 * ed_conv.c - int8 CONV_2D (NHWC input, OHWI weights, per-channel requantization), TFLite Micro semantics.
 *
 * Taps that fall into the padding are skipped, which is the same as reading the input zero point.
 * The valid kernel window is computed once per output pixel, so the channel loops carry no bounds tests.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    int32_t oy, ox, oc;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        /* First and one-past-last kernel rows that land inside the image. */
        int32_t ky_begin = 0;
        int32_t ky_end = p->k_h;
        while (ky_begin < ky_end && iy0 + p->dil_h * ky_begin < 0) {
            ++ky_begin;
        }
        while (ky_end > ky_begin && iy0 + p->dil_h * (ky_end - 1) >= p->in_h) {
            --ky_end;
        }
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t kx_begin = 0;
            int32_t kx_end = p->k_w;
            int8_t *out_pixel = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)out_c;
            while (kx_begin < kx_end && ix0 + p->dil_w * kx_begin < 0) {
                ++kx_begin;
            }
            while (kx_end > kx_begin && ix0 + p->dil_w * (kx_end - 1) >= p->in_w) {
                --kx_end;
            }
            for (oc = 0; oc < out_c; ++oc) {
                const int8_t *filter = p->weights + (size_t)oc * (size_t)filter_size;
                const int32_t q = p->per_channel ? oc : 0;
                int32_t acc = 0;
                int32_t ky, kx, ic;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    const int32_t iy = iy0 + p->dil_h * ky;
                    const int8_t *in_row = input + (size_t)iy * (size_t)p->in_w * (size_t)in_c;
                    const int8_t *f_row = filter + (size_t)ky * (size_t)filter_row;
                    for (kx = kx_begin; kx < kx_end; ++kx) {
                        const int32_t ix = ix0 + p->dil_w * kx;
                        const int8_t *in_px = in_row + (size_t)ix * (size_t)in_c;
                        const int8_t *f_px = f_row + (size_t)kx * (size_t)in_c;
                        for (ic = 0; ic < in_c; ++ic) {
                            acc += ((int32_t)in_px[ic] + p->input_offset) * (int32_t)f_px[ic];
                        }
                    }
                }
                if (p->bias != NULL) {
                    acc += p->bias[oc];
                }
                acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
                out_pixel[oc] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}
