/*
 * ed_dwconv.c (Helium) - int8 DEPTHWISE_CONV_2D with the M-profile Vector Extension (Cortex-M55/M85), same
 * interface and results as the portable firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel,
 * bit for bit).
 *
 * Depth multiplier 1 (MobileNet's and DS-CNN's layers), any kernel size, stride, dilation and padding: channels
 * are the vector lanes. Per tap, sixteen channels are four widening loads of inputs (VLDRB.S32), four of weights,
 * four VMUL and four VADD into four int32x4 accumulators (one MAC per instruction), the loads at constant
 * offsets from two pointers. The input offset: every output starts from the bias plus the input offset times
 * the channel's weight sum over the whole window, folded once per block of sixteen channels; a border output's
 * taps in the padding read sixteen bytes of the input zero point instead (x + off = 0: they add nothing). A block
 * of fewer than sixteen channels (the layer's last) goes four lanes at a time with tail-predicated loads and
 * stores, its border taps skipped and the offset added to each input it reads.
 * Requantization four channels per vector (ed_mve.h). Other depth multipliers take a plain per-channel loop.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_mve.h"

#define ED_DW_MVE_BLOCK 16

static inline void ed_dw_mve_window(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin,
                                    int32_t *end)
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

/* Depth multiplier > 1: output channel oc reads input channel oc / multiplier; one channel at a time. */
static void ed_dw_mve_multiplier(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t m = p->depth_multiplier;
    int32_t oy, ox, oc, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky0, ky1;
        ed_dw_mve_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t kx0, kx1;
            ed_dw_mve_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
            for (oc = 0; oc < p->out_c; ++oc) {
                const int32_t q = p->per_channel ? oc : 0;
                int32_t acc = p->bias != NULL ? p->bias[oc] : 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const size_t pix = (size_t)(iy0 + p->dil_h * ky) * (size_t)p->in_w + (size_t)(ix0 + p->dil_w * kx);
                        const int32_t x = input[pix * (size_t)p->in_c + (size_t)(oc / m)];
                        const int32_t w = p->weights[((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)p->out_c + (size_t)oc];
                        acc += (x + p->input_offset) * w;
                    }
                }
                acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
                output[((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c + (size_t)oc] =
                    (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* One tap of sixteen channels: a_j += x[4j..4j+4) * w[4j..4j+4), widened to int32 (the interior's inner step). */
#if ED_MVE_NATIVE && defined(__GNUC__)
#define ED_DW_MVE_TAP16(x, w, a0, a1, a2, a3)                                                                  \
    do {                                                                                                     \
        int32x4_t t0_, t1_;                                                                                  \
        __asm__("vldrb.s32 %q[t0], [%[px]]\n\t"                                                             \
                "vldrb.s32 %q[t1], [%[pw]]\n\t"                                                             \
                "vmul.i32 %q[t0], %q[t0], %q[t1]\n\t"                                                       \
                "vadd.i32 %q[b0], %q[b0], %q[t0]\n\t"                                                       \
                "vldrb.s32 %q[t0], [%[px], #4]\n\t"                                                         \
                "vldrb.s32 %q[t1], [%[pw], #4]\n\t"                                                         \
                "vmul.i32 %q[t0], %q[t0], %q[t1]\n\t"                                                       \
                "vadd.i32 %q[b1], %q[b1], %q[t0]\n\t"                                                       \
                "vldrb.s32 %q[t0], [%[px], #8]\n\t"                                                         \
                "vldrb.s32 %q[t1], [%[pw], #8]\n\t"                                                         \
                "vmul.i32 %q[t0], %q[t0], %q[t1]\n\t"                                                       \
                "vadd.i32 %q[b2], %q[b2], %q[t0]\n\t"                                                       \
                "vldrb.s32 %q[t0], [%[px], #12]\n\t"                                                        \
                "vldrb.s32 %q[t1], [%[pw], #12]\n\t"                                                        \
                "vmul.i32 %q[t0], %q[t0], %q[t1]\n\t"                                                       \
                "vadd.i32 %q[b3], %q[b3], %q[t0]"                                                             \
                : [b0] "+w"(a0), [b1] "+w"(a1), [b2] "+w"(a2), [b3] "+w"(a3), [t0] "=&w"(t0_), [t1] "=&w"(t1_) \
                : [px] "r"(x), [pw] "r"(w)                                                                   \
                : "memory");                                                                                 \
    } while (0)
#else
#define ED_DW_MVE_TAP16(x, w, a0, a1, a2, a3)                                                                  \
    do {                                                                                                     \
        a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(x), vldrbq_s32(w)));                                         \
        a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32((x) + 4), vldrbq_s32((w) + 4)));                             \
        a2 = vaddq_s32(a2, vmulq_s32(vldrbq_s32((x) + 8), vldrbq_s32((w) + 8)));                             \
        a3 = vaddq_s32(a3, vmulq_s32(vldrbq_s32((x) + 12), vldrbq_s32((w) + 12)));                           \
    } while (0)
#endif

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c = p->out_c;
    const int32_t off = p->input_offset;
    const size_t col = (size_t)c;                      /* bytes from one input pixel to the next */
    const size_t row = (size_t)p->in_w * (size_t)c;    /* ... and from one input row to the next */
    const size_t wrow = (size_t)p->k_w * (size_t)c;    /* weights of one kernel row */
    int32_t c0;
    if (p->depth_multiplier != 1) {
        ed_dw_mve_multiplier(p, input, output);
        return;
    }
    for (c0 = 0; c0 < c; c0 += ED_DW_MVE_BLOCK) {
        const int32_t n = c - c0 < ED_DW_MVE_BLOCK ? c - c0 : ED_DW_MVE_BLOCK;
        const int full = n == ED_DW_MVE_BLOCK;
        ed_mve_quant_t q;
        int32_t folded[ED_DW_MVE_BLOCK];
        int8_t zeros[ED_DW_MVE_BLOCK]; /* the input zero point in every lane: a tap in the padding */
        int32_t i, oy, ox, ky, kx;
        ed_mve_quant_fill(&q, c0, n, p->bias, p->multiplier, p->shift, p->per_channel);
        for (i = 0; i < ED_DW_MVE_BLOCK; ++i) {
            zeros[i] = (int8_t)(-off);
            int32_t s = 0;
            if (i < n) {
                for (ky = 0; ky < p->k_h * p->k_w; ++ky) {
                    s += p->weights[(size_t)ky * col + (size_t)(c0 + i)];
                }
            }
            folded[i] = ed_add_wrap(q.bias[i], (int32_t)((uint32_t)off * (uint32_t)s));
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ed_dw_mve_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * col + (size_t)c0;
                const int8_t *xb = input + (size_t)c0;
                const int8_t *wb = p->weights + (size_t)c0;
                int32_t kx0, kx1;
                int border;
                ed_dw_mve_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                border = ky0 != 0 || ky1 != p->k_h || kx0 != 0 || kx1 != p->k_w;
                if (full) {
                    int32x4_t a0 = vldrwq_s32(folded), a1 = vldrwq_s32(folded + 4);
                    int32x4_t a2 = vldrwq_s32(folded + 8), a3 = vldrwq_s32(folded + 12);
                    const size_t xstep = (size_t)p->dil_w * col;
                    const int8_t *w = wb;
                    if (!border) { /* the whole window: no clipping */
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int8_t *x = xb + (size_t)(iy0 + p->dil_h * ky) * row + (size_t)ix0 * col;
                            for (kx = 0; kx < p->k_w; ++kx) {
                                ED_DW_MVE_TAP16(x, w, a0, a1, a2, a3);
                                x += xstep;
                                w += col;
                            }
                        }
                    } else { /* taps in the padding read sixteen zero points: (zp + off) * w = 0 */
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                const int8_t *x = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                                      ? xb + (size_t)iy * row + (size_t)ix * col
                                                      : zeros;
                                ED_DW_MVE_TAP16(x, w, a0, a1, a2, a3);
                                w += col;
                            }
                        }
                    }
                    ed_mve_store4(out, a0, &q, 0, p->output_offset, p->act_min, p->act_max, 4);
                    ed_mve_store4(out + 4, a1, &q, 4, p->output_offset, p->act_min, p->act_max, 4);
                    ed_mve_store4(out + 8, a2, &q, 8, p->output_offset, p->act_min, p->act_max, 4);
                    ed_mve_store4(out + 12, a3, &q, 12, p->output_offset, p->act_min, p->act_max, 4);
                } else {
                    for (i = 0; i < n; i += 4) {
                        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
                        int32x4_t a = vldrwq_s32((border ? q.bias : folded) + i);
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int8_t *x =
                                xb + (size_t)i + (size_t)(iy0 + p->dil_h * ky) * row + (size_t)(ix0 + p->dil_w * kx0) * col;
                            const int8_t *w = wb + (size_t)i + (size_t)ky * wrow + (size_t)kx0 * col;
                            for (kx = kx0; kx < kx1; ++kx) {
                                int32x4_t xv = vldrbq_z_s32(x, pr);
                                if (border) {
                                    xv = vaddq_n_s32(xv, off);
                                }
                                a = vaddq_s32(a, vmulq_s32(xv, vldrbq_z_s32(w, pr)));
                                x += (size_t)p->dil_w * col;
                                w += col;
                            }
                        }
                        ed_mve_store4(out + i, a, &q, i, p->output_offset, p->act_min, p->act_max, n - i);
                    }
                }
            }
        }
    }
}
