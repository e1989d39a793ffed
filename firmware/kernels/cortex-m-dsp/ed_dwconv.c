/*
 * ed_dwconv.c (Cortex-M DSP) - int8 DEPTHWISE_CONV_2D, same interface and results as the portable
 * firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * Channel-innermost: for each output pixel the window is clipped once, then four channels at a time keep
 * their accumulators in registers across all taps. Per tap one word of inputs and one of weights are loaded,
 * SXTAB16/SXTB16 split them into halfword pairs (the input offset added for free) and SMLABB/SMLATT do the
 * four per-channel multiply-accumulates: 10 instructions per 4 MACs. Depth multipliers other than 1 run the
 * same loop with channels addressed one by one.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

static inline int8_t ed_dw_requant(const ed_dwconv_params_t *p, int32_t acc, int32_t oc)
{
    const int32_t q = p->per_channel ? oc : 0;
    if (p->bias != NULL) {
        acc += p->bias[oc];
    }
    acc = ed_mbqm_fast(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

static inline void ed_dw_window(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin, int32_t *end)
{
    int32_t b = 0, e = k;
    while (b < e && start + dil * b < 0) {
        ++b;
    }
    while (e > b && start + dil * (e - 1) >= size) {
        --e;
    }
    *begin = b;
    *end = e;
}

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t mult = p->depth_multiplier;
    const int32_t in_row = p->in_w * in_c;
    const int32_t dy_step = p->dil_h * in_row, dx_step = p->dil_w * in_c;
    const int32_t w_row = p->k_w * out_c;
    const uint32_t off2 = ed_dup16(p->input_offset);
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky_begin, ky_end;
        ed_dw_window(iy0, p->dil_h, p->k_h, p->in_h, &ky_begin, &ky_end);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t kx_begin, kx_end;
            int8_t *out_pixel = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)out_c;
            const int8_t *x_tap0;
            const int8_t *w_tap0;
            ed_dw_window(ix0, p->dil_w, p->k_w, p->in_w, &kx_begin, &kx_end);
            /* the first in-window tap of channel 0 */
            x_tap0 = input + (size_t)(iy0 + p->dil_h * ky_begin) * (size_t)in_row +
                     (size_t)(ix0 + p->dil_w * kx_begin) * (size_t)in_c;
            w_tap0 = p->weights + (size_t)ky_begin * (size_t)w_row + (size_t)kx_begin * (size_t)out_c;
            c = 0;
            if (mult == 1) {
                for (; c + 4 <= out_c; c += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    const int8_t *xr = x_tap0 + c;
                    const int8_t *wr = w_tap0 + c;
                    for (ky = ky_begin; ky < ky_end; ++ky) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (kx = kx_begin; kx < kx_end; ++kx) {
                            const uint32_t xv = ed_read32(xp), wv = ed_read32(wp);
                            const uint32_t xe = ed_sxtab16(off2, xv), xo = ed_sxtab16_ror8(off2, xv);
                            const uint32_t we = ed_sxtb16(wv), wo = ed_sxtb16_ror8(wv);
                            a0 = ed_smlabb(xe, we, a0);
                            a2 = ed_smlatt(xe, we, a2);
                            a1 = ed_smlabb(xo, wo, a1);
                            a3 = ed_smlatt(xo, wo, a3);
                            xp += dx_step;
                            wp += out_c;
                        }
                        xr += dy_step;
                        wr += w_row;
                    }
                    out_pixel[c] = ed_dw_requant(p, a0, c);
                    out_pixel[c + 1] = ed_dw_requant(p, a1, c + 1);
                    out_pixel[c + 2] = ed_dw_requant(p, a2, c + 2);
                    out_pixel[c + 3] = ed_dw_requant(p, a3, c + 3);
                }
            }
            for (; c < out_c; ++c) { /* channel tail, and any depth multiplier */
                const int32_t ic = c / mult;
                const int8_t *xr = x_tap0 + ic;
                const int8_t *wr = w_tap0 + c;
                int32_t acc = 0;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    const int8_t *xp = xr;
                    const int8_t *wp = wr;
                    for (kx = kx_begin; kx < kx_end; ++kx) {
                        acc += ((int32_t)*xp + p->input_offset) * (int32_t)*wp;
                        xp += dx_step;
                        wp += out_c;
                    }
                    xr += dy_step;
                    wr += w_row;
                }
                out_pixel[c] = ed_dw_requant(p, acc, c);
            }
        }
    }
}
