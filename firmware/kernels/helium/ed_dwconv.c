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
 * of fewer than sixteen channels (the layer's last, or the only one of an 8-channel layer) goes four lanes at a
 * time the same way; its last one to three channels take tail-predicated loads and stores, their border taps
 * skipped and the offset added to each input they read.
 * Requantization four channels per vector (ed_mve.h). Other depth multipliers take the plain per-channel loop of
 * ed_dw_general.h.
 */
#include "edgesdk_kernels.h"
#include "ed_dw_general.h"
#include "ed_fixedpoint.h"
#include "ed_mve.h"

#define ED_DW_MVE_BLOCK 16

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
                : [px] "l"(x), [pw] "l"(w), "m"(*(const int8_t(*)[16])(x)), "m"(*(const int8_t(*)[16])(w))); \
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

/* One tap of nv (1..4, a constant where inlined) four-lane vectors: the sixteen-lane step, or its first lanes. */
#define ED_DW_MVE_TAP(nv, x, w, a0, a1, a2, a3)                                                                \
    do {                                                                                                     \
        if ((nv) == 4) {                                                                                     \
            ED_DW_MVE_TAP16(x, w, a0, a1, a2, a3);                                                           \
        } else {                                                                                             \
            a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(x), vldrbq_s32(w)));                                     \
            if ((nv) > 1) {                                                                                  \
                a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32((x) + 4), vldrbq_s32((w) + 4)));                     \
            }                                                                                                \
            if ((nv) > 2) {                                                                                  \
                a2 = vaddq_s32(a2, vmulq_s32(vldrbq_s32((x) + 8), vldrbq_s32((w) + 8)));                     \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

/* The requantization of four channels, one base register away from each of its loads. */
typedef struct {
    int32_t mult[4];
    int32_t left[4];
    int32_t neg_right[4];
} ed_dw_mve_q4_t;

/* What one block of channels shares: its requantization, folded starts and zero points. */
typedef struct {
    ed_mve_quant_t q;
    ed_dw_mve_q4_t g[ED_DW_MVE_BLOCK / 4];
    int32_t folded[ED_DW_MVE_BLOCK]; /* bias + off * the channel's weight sum over the whole window */
    int8_t zeros[ED_DW_MVE_BLOCK];   /* the input zero point in every lane: a tap in the padding */
    int any_left;                    /* some channel of the block shifts left (a multiplier above one) */
} ed_dw_mve_block_t;

/* Four channels' sums requantized (ed_mve_requant) and stored; the left shift only where the block has one. */
static inline void ed_dw_mve_store4(int8_t *out, int32x4_t acc, const ed_dw_mve_q4_t *g, int any_left,
                                    int32_t out_off, int32_t lo, int32_t hi)
{
    const int32x4_t nr = vldrwq_s32(g->neg_right);
    if (any_left) {
        acc = vshlq_s32(acc, vldrwq_s32(g->left));
    }
    acc = vqrdmulhq_s32(acc, vldrwq_s32(g->mult));
    acc = vrshlq_s32(vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, nr), 31)), nr);
    vstrbq_s32(out, vminq_s32(vmaxq_s32(vaddq_n_s32(acc, out_off), vdupq_n_s32(lo)), vdupq_n_s32(hi)));
}

/*
 * The output at (iy0, ix0) of nv * 4 channels from xb/wb (the block's first channel): every output starts from
 * the folded sums; a border output's taps in the padding read the zero points ((zp + off) * w = 0).
 */
static inline __attribute__((always_inline)) void ed_dw_mve_pixel(const ed_dwconv_params_t *p, const int8_t *xb,
                                                                    const int8_t *wb, int8_t *out, int32_t iy0,
                                                                    int32_t ix0, int32_t ky0, int32_t ky1,
                                                                    int border, const ed_dw_mve_block_t *b,
                                                                    const int nv)
{
    const size_t col = (size_t)p->out_c, row = (size_t)p->in_w * col;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    /* read before the first byte store, which could alias *p: one load each, not one per vector */
    const int32_t out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
    int32x4_t a0 = vldrwq_s32(b->folded), a1 = vldrwq_s32(b->folded + 4);
    int32x4_t a2 = vldrwq_s32(b->folded + 8), a3 = vldrwq_s32(b->folded + 12);
    const int8_t *w = wb;
    int32_t ky, kx;
    if (!border && k_w == 3) { /* the whole window, three taps a row (MobileNet's, DS-CNN's): no tap loop */
        const size_t xstep = (size_t)dil_w * col;
        for (ky = 0; ky < k_h; ++ky) {
            const int8_t *x0 = xb + (size_t)(iy0 + dil_h * ky) * row + (size_t)ix0 * col;
            const int8_t *x1 = x0 + xstep, *x2 = x1 + xstep;
            const int8_t *w1 = w + col, *w2 = w1 + col;
            ED_DW_MVE_TAP(nv, x0, w, a0, a1, a2, a3);
            ED_DW_MVE_TAP(nv, x1, w1, a0, a1, a2, a3);
            ED_DW_MVE_TAP(nv, x2, w2, a0, a1, a2, a3);
            w = w2 + col;
        }
    } else if (!border) { /* the whole window: no clipping */
        const size_t xstep = (size_t)dil_w * col;
        for (ky = 0; ky < k_h; ++ky) {
            const int8_t *x = xb + (size_t)(iy0 + dil_h * ky) * row + (size_t)ix0 * col;
            for (kx = 0; kx < k_w; ++kx) {
                ED_DW_MVE_TAP(nv, x, w, a0, a1, a2, a3);
                x += xstep;
                w += col;
            }
        }
    } else {
        int32_t kx0, kx1;
        ed_dw_window(ix0, dil_w, k_w, p->in_w, &kx0, &kx1);
        for (ky = 0; ky < k_h; ++ky) {
            if (ky < ky0 || ky >= ky1) {
                for (kx = 0; kx < k_w; ++kx) {
                    ED_DW_MVE_TAP(nv, b->zeros, w, a0, a1, a2, a3);
                    w += col;
                }
            } else { /* zero points left of the image, the row's taps inside it, zero points right of it */
                const size_t xstep = (size_t)dil_w * col;
                const int8_t *x = xb + (size_t)(iy0 + dil_h * ky) * row + (size_t)(ix0 + dil_w * kx0) * col;
                for (kx = 0; kx < kx0; ++kx) {
                    ED_DW_MVE_TAP(nv, b->zeros, w, a0, a1, a2, a3);
                    w += col;
                }
                for (; kx < kx1; ++kx) {
                    ED_DW_MVE_TAP(nv, x, w, a0, a1, a2, a3);
                    x += xstep;
                    w += col;
                }
                for (; kx < k_w; ++kx) {
                    ED_DW_MVE_TAP(nv, b->zeros, w, a0, a1, a2, a3);
                    w += col;
                }
            }
        }
    }
    ed_dw_mve_store4(out, a0, &b->g[0], b->any_left, out_off, lo, hi);
    if (nv > 1) {
        ed_dw_mve_store4(out + 4, a1, &b->g[1], b->any_left, out_off, lo, hi);
    }
    if (nv > 2) {
        ed_dw_mve_store4(out + 8, a2, &b->g[2], b->any_left, out_off, lo, hi);
    }
    if (nv > 3) {
        ed_dw_mve_store4(out + 12, a3, &b->g[3], b->any_left, out_off, lo, hi);
    }
}

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c = p->out_c;
    const int32_t off = p->input_offset;
    const size_t col = (size_t)c;                   /* bytes from one input pixel to the next */
    const size_t row = (size_t)p->in_w * (size_t)c; /* ... and from one input row to the next */
    const size_t wrow = (size_t)p->k_w * (size_t)c; /* weights of one kernel row */
    int32_t c0;
    if (p->depth_multiplier != 1) {
        ed_dw_general(p, input, output);
        return;
    }
    for (c0 = 0; c0 < c; c0 += ED_DW_MVE_BLOCK) {
        const int32_t n = c - c0 < ED_DW_MVE_BLOCK ? c - c0 : ED_DW_MVE_BLOCK;
        const int32_t nv = n / 4; /* whole four-lane vectors; the last n % 4 channels are predicated */
        ed_dw_mve_block_t b;
        int32_t i, oy, ox, ky, kx;
        ed_mve_quant_fill(&b.q, c0, n, p->bias, p->multiplier, p->shift, p->per_channel);
        b.any_left = 0;
        for (i = 0; i < ED_DW_MVE_BLOCK; ++i) {
            int32_t s = 0;
            if (i < n) {
                for (ky = 0; ky < p->k_h * p->k_w; ++ky) {
                    s += p->weights[(size_t)ky * col + (size_t)(c0 + i)];
                }
            }
            b.zeros[i] = (int8_t)(-off);
            { /* lanes past the block's last vector are never stored: zero */
                const int used = i < ((n + 3) & ~3);
                b.g[i >> 2].mult[i & 3] = used ? b.q.mult[i] : 0;
                b.g[i >> 2].left[i & 3] = used ? b.q.left[i] : 0;
                b.g[i >> 2].neg_right[i & 3] = used ? b.q.neg_right[i] : 0;
                b.any_left |= used && b.q.left[i] != 0;
            }
            b.folded[i] = i < n ? ed_add_wrap(b.q.bias[i], (int32_t)((uint32_t)off * (uint32_t)s)) : 0;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            int rows_cut;
            ed_dw_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            rows_cut = ky0 != 0 || ky1 != p->k_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * col + (size_t)c0;
                const int8_t *xb = input + (size_t)c0;
                const int8_t *wb = p->weights + (size_t)c0;
                const int border = rows_cut || ix0 < 0 || ix0 + (p->k_w - 1) * p->dil_w >= p->in_w;
                int32_t kx0, kx1;
                switch (nv) {
                case 4:
                    ed_dw_mve_pixel(p, xb, wb, out, iy0, ix0, ky0, ky1, border, &b, 4);
                    break;
                case 3:
                    ed_dw_mve_pixel(p, xb, wb, out, iy0, ix0, ky0, ky1, border, &b, 3);
                    break;
                case 2:
                    ed_dw_mve_pixel(p, xb, wb, out, iy0, ix0, ky0, ky1, border, &b, 2);
                    break;
                case 1:
                    ed_dw_mve_pixel(p, xb, wb, out, iy0, ix0, ky0, ky1, border, &b, 1);
                    break;
                default:
                    break;
                }
                if (n % 4 == 0) {
                    continue;
                }
                /* the layer's last one to three channels: predicated, the window clipped, the offset per input */
                ed_dw_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                i = nv * 4;
                {
                    const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
                    int32x4_t a = vldrwq_s32(b.q.bias + i);
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x =
                            xb + (size_t)i + (size_t)(iy0 + p->dil_h * ky) * row + (size_t)(ix0 + p->dil_w * kx0) * col;
                        const int8_t *w = wb + (size_t)i + (size_t)ky * wrow + (size_t)kx0 * col;
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int32x4_t xv = vaddq_n_s32(vldrbq_z_s32(x, pr), off);
                            a = vaddq_s32(a, vmulq_s32(xv, vldrbq_z_s32(w, pr)));
                            x += (size_t)p->dil_w * col;
                            w += col;
                        }
                    }
                    ed_mve_store4(out + i, a, &b.q, i, p->output_offset, p->act_min, p->act_max, n - i);
                }
            }
        }
    }
}
