/*
 * ed_dwconv.c - int8 DEPTHWISE_CONV_2D with a depth multiplier (weights 1HW(C*M)), TFLite Micro semantics.
 *
 * Output channel oc = ic * depth_multiplier + m reads input channel ic. The valid kernel window is
 * computed once per output pixel; accumulators for all output channels of a pixel are built tap by tap.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t mult = p->depth_multiplier;
    int32_t oy, ox, ic, m;
    ED_CONV_PIXELS(p, output, out_c)
        for (ic = 0; ic < in_c; ++ic) {
            for (m = 0; m < mult; ++m) {
                const int32_t oc = ic * mult + m;
                const int32_t q = p->per_channel ? oc : 0;
                int32_t acc = 0;
                int32_t ky, kx;
                for (ky = wy.begin; ky < wy.end; ++ky) {
                    const int32_t iy = wy.origin + p->dil_h * ky;
                    for (kx = wx.begin; kx < wx.end; ++kx) {
                        const int32_t ix = wx.origin + p->dil_w * kx;
                        const int32_t x =
                            (int32_t)input[((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)in_c + (size_t)ic];
                        const int32_t w =
                            (int32_t)p->weights[((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)out_c + (size_t)oc];
                        acc += (x + p->input_offset) * w;
                    }
                }
                if (p->bias != NULL) {
                    acc += p->bias[oc];
                }
                acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
                out_pixel[oc] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    ED_CONV_PIXELS_END
}
