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
    ED_CONV_PIXELS(p, output, out_c)
        for (oc = 0; oc < out_c; ++oc) {
            const int8_t *filter = p->weights + (size_t)oc * (size_t)filter_size;
            const int32_t q = p->per_channel ? oc : 0;
            int32_t acc = 0;
            int32_t ky, kx, ic;
            for (ky = wy.begin; ky < wy.end; ++ky) {
                const int32_t iy = wy.origin + p->dil_h * ky;
                const int8_t *in_row = input + (size_t)iy * (size_t)p->in_w * (size_t)in_c;
                const int8_t *f_row = filter + (size_t)ky * (size_t)filter_row;
                for (kx = wx.begin; kx < wx.end; ++kx) {
                    const int32_t ix = wx.origin + p->dil_w * kx;
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
    ED_CONV_PIXELS_END
}
