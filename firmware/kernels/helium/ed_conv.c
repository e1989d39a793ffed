/*
 * ed_conv.c (Helium) - int8 CONV_2D with the M-profile Vector Extension (Cortex-M55/M85), same interface and
 * results as the portable firmware/kernels/ed_conv.c (TFLite Micro's ConvPerChannel, bit for bit). Any kernel
 * size, stride, dilation and padding: the 3x3 layers, the 1x1 (pointwise) ones and the few-channel first layers.
 *
 * - Inner product: four output pixels times one filter. Sixteen filter bytes are loaded once and VMLADAVA
 *   multiplies them with sixteen bytes of each of the four pixels' columns into four scalar accumulators: 64
 *   MACs per five loads (post-incremented) and four VMLADAVA in a tail-predicated low-overhead loop (DLSTP/LETP:
 *   the last step's lanes past the column neither load nor count), so a 3-channel first layer wastes no lanes.
 *   The four sums are one vector whose lanes share the filter's requantization.
 * - Input offset: sum((x + off) * w) = sum(x * w) + off * sum(w), the second term the filter's whole weight sum,
 *   folded into the bias once per call and block of filters. A kernel larger than 1x1 (or strided, or dilated)
 *   first gathers each output's window into a column of k_h * k_w * in_c bytes on the stack (im2col, four pixels
 *   at a time, row runs copied sixteen bytes per step), writing the input zero point where the window leaves the
 *   image: x + off = 0 there, so the padded taps add nothing and every output, border or not, is one contiguous
 *   dot product against a contiguous filter. A 1x1 stride-1 layer reads its pixels in place. A column larger
 *   than ED_CONV_MVE_COLUMN bytes takes the DSP kernel's body (ed_conv_dsp.h).
 * - Requantization: the filter's multiplier and shifts as scalar operands (VQRDMULH and VRSHL by a register, the
 *   ties-away-from-zero fixup of ed_mve.h), the four bytes scattered to the pixels (VSTRB.32 with offsets of
 *   out_c). Per-channel parameters come from a stack block of 64 channels (ED_MVE_CHUNK) filled once per call and
 *   block. A last group of fewer than four pixels repeats its last pixel and stores only its own lanes.
 * - Output rows [0, out_h) with pad_top as given: the fused conv + ADD runs bands by shifting both.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_conv_dsp.h"
#include "ed_mve.h"

#define ED_CONV_MVE_COLUMN 1152 /* bytes of each of the four stack columns: a 3x3 window of 128 channels */

/* (x[0..n) . w_j[0..n)) for the four filters j, as the lanes of one vector (n >= 1). */
static inline int32x4_t ed_conv_mve_dot4(const int8_t *x, const int8_t *w0, const int8_t *w1, const int8_t *w2,
                                         const int8_t *w3, int32_t n)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#if ED_MVE_NATIVE && defined(__GNUC__)
    int32x4_t v;
    __asm__("dlstp.8 lr, %[n]\n"
            "1:\n\t"
            "vldrb.8 q0, [%[x]], #16\n\t"
            "vldrb.8 q1, [%[w0]], #16\n\t"
            "vmlava.s8 %[a0], q0, q1\n\t"
            "vldrb.8 q1, [%[w1]], #16\n\t"
            "vmlava.s8 %[a1], q0, q1\n\t"
            "vldrb.8 q1, [%[w2]], #16\n\t"
            "vmlava.s8 %[a2], q0, q1\n\t"
            "vldrb.8 q1, [%[w3]], #16\n\t"
            "vmlava.s8 %[a3], q0, q1\n\t"
            "letp lr, 1b\n\t"
            "vmov %q[v][2], %q[v][0], %[a0], %[a2]\n\t"
            "vmov %q[v][3], %q[v][1], %[a1], %[a3]"
            : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [x] "+r"(x), [w0] "+r"(w0),
              [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [v] "=&w"(v)
            : [n] "r"(n)
            : "lr", "d0", "d1", "d2", "d3", "memory");
    return v;
#else
    int32_t acc[4];
    for (; n > 0; n -= 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, pr);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, pr));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, pr));
        a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, pr));
        a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, pr));
        x += 16;
        w0 += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return vldrwq_s32(acc);
#endif
}

/* n bytes of value v at dst. */
static inline void ed_conv_mve_fill(int8_t *dst, int8_t v, int32_t n)
{
    const int8x16_t vv = vdupq_n_s8(v);
    for (; n > 0; n -= 16) {
        vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
        dst += 16;
    }
}

/* n bytes from src to dst, sixteen per step (the last step tail-predicated). */
static inline void ed_conv_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n -= 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
        dst += 16;
        src += 16;
    }
}

/* The window of output (oy, ox) as one column: kernel rows of k_w * in_c bytes, the zero point outside the image. */
static void ed_conv_mve_gather(const ed_conv_params_t *p, const int8_t *input, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int32_t in_c = p->in_c;
    const int8_t zp = (int8_t)(-p->input_offset);
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        int8_t *dst = col + (size_t)ky * (size_t)p->k_w * (size_t)in_c;
        if (iy < 0 || iy >= p->in_h) {
            ed_conv_mve_fill(dst, zp, p->k_w * in_c);
            continue;
        }
        if (p->dil_w == 1) { /* zero points left of the image, one run of input, zero points right of it */
            const int32_t lo = ix0 < 0 ? -ix0 : 0;
            const int32_t hi = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
            ed_conv_mve_fill(dst, zp, lo * in_c);
            if (hi > lo) {
                ed_conv_mve_copy(dst + (size_t)lo * (size_t)in_c,
                                 input + ((size_t)iy * (size_t)p->in_w + (size_t)(ix0 + lo)) * (size_t)in_c,
                                 (hi - lo) * in_c);
            }
            ed_conv_mve_fill(dst + (size_t)(hi > lo ? hi : lo) * (size_t)in_c, zp, (p->k_w - (hi > lo ? hi : lo)) * in_c);
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + p->dil_w * kx;
            if (ix < 0 || ix >= p->in_w) {
                ed_conv_mve_fill(dst + (size_t)kx * (size_t)in_c, zp, in_c);
            } else {
                ed_conv_mve_copy(dst + (size_t)kx * (size_t)in_c,
                                 input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)in_c, in_c);
            }
        }
    }
}

/* One filter's sums for four pixels (lanes) requantized with the filter's scalar parameters and stored at the
 * four pixels' bytes for that channel (offsets 0, out_c, 2 out_c, 3 out_c), the first np of them. */
static inline void ed_conv_mve_store_px4(int8_t *out, uint32x4_t offs, int32x4_t acc, const ed_mve_quant_t *q,
                                         int32_t i, int32_t out_off, int32_t lo, int32_t hi, int32_t np)
{
    const int32_t left = q->left[i], neg_right = q->neg_right[i];
    acc = vaddq_n_s32(acc, q->bias[i]);
    if (left != 0) {
        acc = vshlq_r_s32(acc, left);
    }
    acc = vqrdmulhq_n_s32(acc, q->mult[i]);
    if (neg_right != 0) { /* round half away from zero: -1 on negative lanes before VRSHL's round-half-up */
        acc = vrshlq_n_s32(vqaddq_s32(acc, vshrq_n_s32(acc, 31)), neg_right);
    }
    acc = vminq_s32(vmaxq_s32(vaddq_n_s32(acc, out_off), vdupq_n_s32(lo)), vdupq_n_s32(hi));
    if (np >= 4) {
        vstrbq_scatter_offset_s32(out, offs, acc);
    } else {
        vstrbq_scatter_offset_p_s32(out, offs, acc, vctp32q((uint32_t)np));
    }
}

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t out_c = p->out_c;
    const int32_t ksize = p->k_h * p->k_w * p->in_c;
    const size_t fsize = (size_t)ksize;
    const int32_t off = p->input_offset;
    const int32_t npix = p->out_h * p->out_w;
    /* 1x1, stride 1, no padding: a pixel's column is the pixel itself */
    const int in_place = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                         p->pad_left == 0 && p->out_w == p->in_w;
    const uint32_t offs_a[4] = {0u, (uint32_t)out_c, 2u * (uint32_t)out_c, 3u * (uint32_t)out_c};
    const uint32x4_t offs = vldrwq_u32(offs_a);
    int8_t column[4][ED_CONV_MVE_COLUMN];
    int32_t c0;
    if (!in_place && ksize > ED_CONV_MVE_COLUMN) {
        ed_conv_dsp_rows(p, input, output, 0, p->out_h, 0, NULL); /* the DSP kernel's body */
        return;
    }
    for (c0 = 0; c0 < out_c; c0 += ED_MVE_CHUNK) {
        const int32_t n = out_c - c0 < ED_MVE_CHUNK ? out_c - c0 : ED_MVE_CHUNK;
        const int8_t *filters = p->weights + (size_t)c0 * fsize;
        const int32_t out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
        ed_mve_quant_t q;
        int32_t i, pix;
        ed_mve_quant_fill(&q, c0, n, p->bias, p->multiplier, p->shift, p->per_channel);
        for (i = 0; i < n; ++i) { /* bias + off * the filter's weight sum */
            const int8_t *w = filters + (size_t)i * fsize;
            int32_t s = 0, k;
            for (k = 0; k < ksize; k += 16) {
                s = vaddvaq_s8(s, vldrbq_z_s8(w + k, vctp8q((uint32_t)(ksize - k))));
            }
            q.bias[i] = ed_add_wrap(q.bias[i], (int32_t)((uint32_t)off * (uint32_t)s));
        }
        for (pix = 0; pix < npix; pix += 4) {
            const int32_t np = npix - pix < 4 ? npix - pix : 4; /* pixels past the last repeat it, not stored */
            const int8_t *x[4];
            int8_t *out = output + (size_t)pix * (size_t)out_c + (size_t)c0;
            const int8_t *w = filters;
            int32_t j;
            for (j = 0; j < 4; ++j) {
                const int32_t pj = pix + (j < np ? j : np - 1);
                if (in_place) {
                    x[j] = input + (size_t)pj * (size_t)p->in_c;
                } else if (j < np) {
                    const int32_t oy = pj / p->out_w, ox = pj - oy * p->out_w;
                    ed_conv_mve_gather(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left,
                                       column[j]);
                    x[j] = column[j];
                } else {
                    x[j] = x[np - 1];
                }
            }
            for (i = 0; i < n; ++i) { /* one filter against four pixels: the dot product with its roles swapped */
                const int32x4_t acc = ed_conv_mve_dot4(w, x[0], x[1], x[2], x[3], ksize);
                ed_conv_mve_store_px4(out + i, offs, acc, &q, i, out_off, lo, hi, np);
                w += fsize;
            }
        }
    }
}
