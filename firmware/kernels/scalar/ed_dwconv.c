/*
 * scalar/ed_dwconv.c - int8 DEPTHWISE_CONV_2D for cores without SIMD (Cortex-M0/M0+/M3, RV32IMC), same interface
 * and results as the portable firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * Four channels at a time keep their accumulators in registers across all taps of an output; per tap and
 * channel a MAC is an input load, a weight load and a multiply-add (Cortex-M: LDRSB, LDRSB, MLA; RV32: LB, LB,
 * MUL, ADD), the loads at constant offsets from two pointers that move once per tap.
 * The input offset: sum((x + off) * w) = sum(x * w) + off * sum(w); the second term, over the whole window, is
 * folded into each channel's start once per call and block of 16 channels (on the stack), and a tap in the padding
 * reads the input zero point (x + off = 0: it adds nothing), so border outputs take the same loop.
 * Depth multiplier > 1: the plain loop of ed_dw_general.h (output channel oc reads input channel oc / multiplier).
 */
#include "edgesdk_kernels.h"
#include "ed_dw_general.h"
#include "ed_fixedpoint.h"

#define ED_DW_SCALAR_BLOCK 16

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c = p->out_c;
    const int32_t off = p->input_offset;
    const int32_t taps = p->k_h * p->k_w;
    const size_t col = (size_t)c, row = (size_t)p->in_w * col;
    int32_t c0;
    if (p->depth_multiplier != 1) {
        ed_dw_general(p, input, output);
        return;
    }
    for (c0 = 0; c0 < c; c0 += ED_DW_SCALAR_BLOCK) {
        const int32_t n = c - c0 < ED_DW_SCALAR_BLOCK ? c - c0 : ED_DW_SCALAR_BLOCK;
        int32_t folded[ED_DW_SCALAR_BLOCK]; /* bias + off * the channel's weight sum over the whole window */
        int8_t zeros[4];                    /* the input zero point: what a tap in the padding reads */
        int32_t i, t, oy, ox, ky, kx;
        for (i = 0; i < 4; ++i) {
            zeros[i] = (int8_t)(-off);
        }
        for (i = 0; i < n; ++i) {
            int32_t s = 0;
            for (t = 0; t < taps; ++t) {
                s += p->weights[(size_t)t * col + (size_t)(c0 + i)];
            }
            folded[i] = ed_add_wrap(p->bias != NULL ? p->bias[c0 + i] : 0, (int32_t)((uint32_t)off * (uint32_t)s));
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_in = iy0 >= 0 && iy0 + p->dil_h * (p->k_h - 1) < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int inside = rows_in && ix0 >= 0 && ix0 + p->dil_w * (p->k_w - 1) < p->in_w;
                int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * col + (size_t)c0;
                for (i = 0; i + 4 <= n; i += 4) { /* four channels: accumulators in registers */
                    int32_t a0 = folded[i], a1 = folded[i + 1], a2 = folded[i + 2], a3 = folded[i + 3];
                    const int8_t *w = p->weights + (size_t)(c0 + i);
                    if (inside) { /* the whole window: the input pointer walks, no tests */
                        const size_t xstep = (size_t)p->dil_w * col;
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int8_t *x =
                                input + (size_t)(iy0 + p->dil_h * ky) * row + (size_t)ix0 * col + (size_t)(c0 + i);
                            for (kx = 0; kx < p->k_w; ++kx) {
                                a0 += (int32_t)x[0] * (int32_t)w[0];
                                a1 += (int32_t)x[1] * (int32_t)w[1];
                                a2 += (int32_t)x[2] * (int32_t)w[2];
                                a3 += (int32_t)x[3] * (int32_t)w[3];
                                x += xstep;
                                w += col;
                            }
                        }
                    } else {
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                const int8_t *x = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                                      ? input + (size_t)iy * row + (size_t)ix * col + (size_t)(c0 + i)
                                                      : zeros;
                                a0 += (int32_t)x[0] * (int32_t)w[0];
                                a1 += (int32_t)x[1] * (int32_t)w[1];
                                a2 += (int32_t)x[2] * (int32_t)w[2];
                                a3 += (int32_t)x[3] * (int32_t)w[3];
                                w += col;
                            }
                        }
                    }
                    out[i] = ed_dw_out(p, a0, c0 + i);
                    out[i + 1] = ed_dw_out(p, a1, c0 + i + 1);
                    out[i + 2] = ed_dw_out(p, a2, c0 + i + 2);
                    out[i + 3] = ed_dw_out(p, a3, c0 + i + 3);
                }
                for (; i < n; ++i) { /* the block's last one to three channels */
                    int32_t acc = folded[i];
                    const int8_t *w = p->weights + (size_t)(c0 + i);
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + p->dil_w * kx;
                            const int32_t xv = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                                   ? input[(size_t)iy * row + (size_t)ix * col + (size_t)(c0 + i)]
                                                   : -off;
                            acc += xv * (int32_t)*w;
                            w += col;
                        }
                    }
                    out[i] = ed_dw_out(p, acc, c0 + i);
                }
            }
        }
    }
}
