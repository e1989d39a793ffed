/*
 * scalar/ed_conv.c - int8 CONV_2D (NHWC input, OHWI weights, per-channel requantization) for cores without
 * SIMD (Cortex-M0/M0+/M3, RV32IMC): the same function and semantics as the portable ../ed_conv.c.
 *
 * ED_SCALAR_ROWS output channels of one output pixel at once (ed_scalar.h): each input byte of the kernel
 * window is loaded and offset once for all of them. Taps in the padding are skipped (the same as reading the
 * input zero point); the valid kernel window is computed once per output pixel.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

static int8_t ed_conv_finish(const ed_conv_params_t *p, int32_t acc, int32_t oc)
{
    const int32_t q = p->per_channel ? oc : 0;
    if (p->bias != NULL) {
        acc += p->bias[oc];
    }
    acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

ED_SCALAR_FN void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t in_off = p->input_offset;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    int32_t oy, ox, oc, r;
    for (oy = 0; oy < p->out_h; ++oy) {
        const ed_window_t wy = ed_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h);
        for (ox = 0; ox < p->out_w; ++ox) {
            const ed_window_t wx = ed_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w);
            int8_t *out_pixel = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)out_c;
            for (oc = 0; oc < out_c;) {
                const int32_t n = out_c - oc >= ED_SCALAR_ROWS ? ED_SCALAR_ROWS : 1;
                int32_t acc[ED_SCALAR_ROWS];
                int32_t ky, kx, ic;
                ED_UNROLL
                for (r = 0; r < ED_SCALAR_ROWS; ++r) {
                    acc[r] = 0;
                }
                for (ky = wy.begin; ky < wy.end; ++ky) {
                    const int32_t iy = wy.origin + p->dil_h * ky;
                    const int8_t *in_row = input + (size_t)iy * (size_t)p->in_w * (size_t)in_c;
                    for (kx = wx.begin; kx < wx.end; ++kx) {
                        const int8_t *in_px = in_row + (size_t)(wx.origin + p->dil_w * kx) * (size_t)in_c;
                        const int8_t *f = p->weights + (size_t)oc * (size_t)filter_size +
                                          (size_t)ky * (size_t)filter_row + (size_t)kx * (size_t)in_c;
                        if (n == ED_SCALAR_ROWS) {
                            const int8_t *fr[ED_SCALAR_ROWS];
                            ED_UNROLL
                            for (r = 0; r < ED_SCALAR_ROWS; ++r) {
                                fr[r] = f + (size_t)r * (size_t)filter_size;
                            }
                            ed_scalar_dot_rows(in_px, in_c, in_off, fr, acc);
                        } else {
                            for (ic = 0; ic < in_c; ++ic) {
                                acc[0] += ((int32_t)in_px[ic] + in_off) * (int32_t)f[ic];
                            }
                        }
                    }
                }
                for (r = 0; r < n; ++r) {
                    out_pixel[oc + r] = ed_conv_finish(p, acc[r], oc + r);
                }
                oc += n;
            }
        }
    }
}
