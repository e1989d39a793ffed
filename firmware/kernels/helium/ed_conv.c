/*
 * ed_conv.c (Helium) - int8 CONV_2D with the M-profile Vector Extension (Cortex-M55/M85), same interface and
 * results as the portable firmware/kernels/ed_conv.c (TFLite Micro's ConvPerChannel, bit for bit). Any kernel
 * size, stride, dilation and padding: the 3x3 layers, the 1x1 (pointwise) ones and the few-channel first layers.
 *
 * - Inner product: one output pixel times four filters. Sixteen input bytes are loaded once and VMLADAVA
 *   multiplies them with sixteen bytes of each of the four filters into four scalar accumulators: 64 MACs per
 *   five loads and four VMLADAVA. With dilation 1 the k_w * in_c input bytes under one kernel row are contiguous,
 *   as are the filter's bytes of that row, so a row is one long vector (a 3-channel first layer wastes no lanes);
 *   the last step of a row is tail-predicated (VCTP: lanes past the row neither load nor count).
 * - Input offset: sum((x + off) * w) = sum(x * w) + off * sum(w). For an output whose window lies inside the
 *   image the second term is the filter's whole weight sum, folded into the bias once per call; a border output
 *   (window clipped by the padding: skipped taps read the zero point, i.e. add nothing) sums the weights of the
 *   taps it reads with VADDVA as it goes.
 * - Requantization: four channels per vector (VQRDMULH and a rounding shift with the ties-away-from-zero fixup,
 *   ed_mve.h), one four-byte narrowing store. Per-channel parameters come from a stack block of 32 channels
 *   (ED_MVE_CHUNK) filled once per call and block; the last filters of a layer whose out_c is not a multiple of
 *   four repeat the last filter and are not stored.
 * - Output rows [0, out_h) with pad_top as given: the fused conv + ADD runs bands by shifting both.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_mve.h"

#if defined(__GNUC__) || defined(__clang__)
#define ED_CONV_MVE_INLINE static inline __attribute__((always_inline))
#else
#define ED_CONV_MVE_INLINE static inline
#endif

/* acc[j] += x[0..n) . w[j][0..n) for the four filters; with_sums: sums[j] += the sum of w[j][0..n). */
ED_CONV_MVE_INLINE void ed_conv_mve_dot4(const int8_t *x, const int8_t *w0, const int8_t *w1, const int8_t *w2,
                                         const int8_t *w3, int32_t n, int32_t acc[4], int32_t sums[4],
                                         int with_sums)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3];
    for (; n >= 16; n -= 16) {
        const int8x16_t xv = vldrbq_s8(x);
        const int8x16_t v0 = vldrbq_s8(w0), v1 = vldrbq_s8(w1), v2 = vldrbq_s8(w2), v3 = vldrbq_s8(w3);
        a0 = vmladavaq_s8(a0, xv, v0);
        a1 = vmladavaq_s8(a1, xv, v1);
        a2 = vmladavaq_s8(a2, xv, v2);
        a3 = vmladavaq_s8(a3, xv, v3);
        if (with_sums) {
            s0 = vaddvaq_s8(s0, v0);
            s1 = vaddvaq_s8(s1, v1);
            s2 = vaddvaq_s8(s2, v2);
            s3 = vaddvaq_s8(s3, v3);
        }
        x += 16;
        w0 += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (n > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, pr);
        const int8x16_t v0 = vldrbq_z_s8(w0, pr), v1 = vldrbq_z_s8(w1, pr);
        const int8x16_t v2 = vldrbq_z_s8(w2, pr), v3 = vldrbq_z_s8(w3, pr);
        a0 = vmladavaq_s8(a0, xv, v0);
        a1 = vmladavaq_s8(a1, xv, v1);
        a2 = vmladavaq_s8(a2, xv, v2);
        a3 = vmladavaq_s8(a3, xv, v3);
        if (with_sums) {
            s0 = vaddvaq_s8(s0, v0);
            s1 = vaddvaq_s8(s1, v1);
            s2 = vaddvaq_s8(s2, v2);
            s3 = vaddvaq_s8(s3, v3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    if (with_sums) {
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }
}

/* The window of one output coordinate: kernel taps [*begin, *end) land inside [0, size). */
static inline void ed_conv_mve_window(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin,
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

/* Four filters' inner products over the taps [ky0, ky1) x [kx0, kx1) of the output at (iy0, ix0). */
ED_CONV_MVE_INLINE void ed_conv_mve_pixel(const ed_conv_params_t *p, const int8_t *input, int32_t iy0, int32_t ix0,
                                          int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                                          const int8_t *const f[4], int32_t acc[4], int32_t sums[4], int border)
{
    const int32_t in_c = p->in_c;
    const int32_t row = p->k_w * in_c;
    int32_t ky, kx;
    for (ky = ky0; ky < ky1; ++ky) {
        const int8_t *x = input + (size_t)(iy0 + p->dil_h * ky) * (size_t)p->in_w * (size_t)in_c;
        const size_t wo = (size_t)ky * (size_t)row;
        if (p->dil_w == 1) { /* the row's taps are one contiguous run of input and of weights */
            const size_t o = wo + (size_t)kx0 * (size_t)in_c;
            ed_conv_mve_dot4(x + (size_t)(ix0 + kx0) * (size_t)in_c, f[0] + o, f[1] + o, f[2] + o, f[3] + o,
                             (kx1 - kx0) * in_c, acc, sums, border);
        } else {
            for (kx = kx0; kx < kx1; ++kx) {
                const size_t o = wo + (size_t)kx * (size_t)in_c;
                ed_conv_mve_dot4(x + (size_t)(ix0 + p->dil_w * kx) * (size_t)in_c, f[0] + o, f[1] + o, f[2] + o,
                                 f[3] + o, in_c, acc, sums, border);
            }
        }
    }
}

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t out_c = p->out_c;
    const size_t fsize = (size_t)p->k_h * (size_t)p->k_w * (size_t)p->in_c;
    const int32_t off = p->input_offset;
    int32_t c0;
    for (c0 = 0; c0 < out_c; c0 += ED_MVE_CHUNK) {
        const int32_t n = out_c - c0 < ED_MVE_CHUNK ? out_c - c0 : ED_MVE_CHUNK;
        ed_mve_quant_t q;
        int32_t folded[ED_MVE_CHUNK]; /* bias + off * the filter's weight sum: the whole-window outputs' start */
        int32_t i, oy, ox;
        ed_mve_quant_fill(&q, c0, n, p->bias, p->multiplier, p->shift, p->per_channel);
        for (i = 0; i < ED_MVE_CHUNK; ++i) {
            int32_t s = 0;
            if (i < n) {
                const int8_t *w = p->weights + (size_t)(c0 + i) * fsize;
                size_t k = 0;
                for (; k + 16u <= fsize; k += 16u) {
                    s = vaddvaq_s8(s, vldrbq_s8(w + k));
                }
                if (k < fsize) {
                    s = vaddvaq_s8(s, vldrbq_z_s8(w + k, vctp8q((uint32_t)(fsize - k))));
                }
            }
            folded[i] = ed_add_wrap(q.bias[i], (int32_t)((uint32_t)off * (uint32_t)s));
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ed_conv_mve_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)out_c + (size_t)c0;
                int32_t kx0, kx1;
                int border;
                ed_conv_mve_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                border = ky0 != 0 || ky1 != p->k_h || kx0 != 0 || kx1 != p->k_w;
                for (i = 0; i < n; i += 4) {
                    const int8_t *f[4];
                    int32_t acc[4] = {0, 0, 0, 0}, sums[4] = {0, 0, 0, 0};
                    int32x4_t v;
                    int32_t j;
                    for (j = 0; j < 4; ++j) { /* filters past the layer's last repeat it and are not stored */
                        f[j] = p->weights + (size_t)(c0 + (i + j < n ? i + j : n - 1)) * fsize;
                    }
                    if (border) {
                        ed_conv_mve_pixel(p, input, iy0, ix0, ky0, ky1, kx0, kx1, f, acc, sums, 1);
                        v = vaddq_s32(vaddq_s32(vldrwq_s32(acc), vldrwq_s32(q.bias + i)),
                                      vmulq_n_s32(vldrwq_s32(sums), off));
                    } else {
                        ed_conv_mve_pixel(p, input, iy0, ix0, 0, p->k_h, 0, p->k_w, f, acc, sums, 0);
                        v = vaddq_s32(vldrwq_s32(acc), vldrwq_s32(folded + i));
                    }
                    ed_mve_store4(out + i, v, &q, i, p->output_offset, p->act_min, p->act_max, n - i);
                }
            }
        }
    }
}
