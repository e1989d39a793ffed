/*
 * ed_dw_general.h - what the per-target depthwise kernels (firmware/kernels/helium/, scalar/) share around their
 * fast paths: one output's requantization and the plain loop
 * for a depth multiplier above one (output channel oc reads input channel oc / multiplier), TFLite Micro's
 * DepthwiseConvPerChannel bit for bit.
 */
#ifndef ED_DW_GENERAL_H
#define ED_DW_GENERAL_H

#include <stddef.h>
#include <stdint.h>

#include "ed_fixedpoint.h"
#include "edgesdk_kernels.h"

/* ed_window_clip with the inlining left to the compiler: forced into the Helium depthwise kernel's per-pixel
 * loops, it costs them registers (0.2% more instructions on KWS on the M55). */
static inline void ed_dw_window(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin, int32_t *end)
{
    ed_window_clip(start, dil, k, size, begin, end);
}

/* Output channel oc's accumulator (bias included) requantized, offset and clamped. */
static inline int8_t ed_dw_out(const ed_dwconv_params_t *p, int32_t acc, int32_t oc)
{
    const int32_t q = p->per_channel ? oc : 0;
    acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

/* Any depth multiplier, one output channel at a time over the clipped window. */
static inline void ed_dw_general(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t m = p->depth_multiplier;
    int32_t oy, ox, oc, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky0, ky1;
        ed_dw_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c;
            int32_t kx0, kx1;
            ed_dw_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
            for (oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = p->bias != NULL ? p->bias[oc] : 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = input + (size_t)(iy0 + p->dil_h * ky) * (size_t)p->in_w * (size_t)p->in_c;
                    const int8_t *w = p->weights + (size_t)ky * (size_t)p->k_w * (size_t)p->out_c + (size_t)oc;
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int32_t xv = x[(size_t)(ix0 + p->dil_w * kx) * (size_t)p->in_c + (size_t)(oc / m)];
                        acc += (xv + p->input_offset) * (int32_t)w[(size_t)kx * (size_t)p->out_c];
                    }
                }
                out[oc] = ed_dw_out(p, acc, oc);
            }
        }
    }
}

#endif /* ED_DW_GENERAL_H */
