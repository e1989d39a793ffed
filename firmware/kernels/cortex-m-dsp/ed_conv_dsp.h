/*
 * ed_conv_dsp.h - the body of the Cortex-M DSP int8 CONV_2D, one copy of the math for two callers:
 *
 *  - the shared kernel ed_conv_s8 (firmware/kernels/cortex-m-dsp/ed_conv.c) calls it with the layer's run-time
 *    parameter struct;
 *  - a layer specialised at export (backends/c/specialize.py, templates/c/specialized_conv.c.j2) calls it with
 *    the address of its own `static const` parameter struct. The body is always inlined, so GCC reads every
 *    shape, stride, offset, clamp and weight address from that constant struct at compile time: the filter
 *    row becomes a constant-length dot product (unrolled, constant load offsets), the padding and the
 *    per-channel/bias tests disappear, and the interior/border split of the output columns is resolved.
 *
 * Semantics: TFLite Micro's ConvPerChannel, bit for bit (same as the portable firmware/kernels/ed_conv.c).
 *
 * - Inner product: four int8 input channels are loaded as one word; SXTAB16 sign-extends bytes 0,2 and 1,3 into
 *   halfword pairs and adds the input offset in the same instruction (so the offset costs nothing), SXTB16
 *   extends the weights the same way, and SMLAD does two multiply-accumulates: 16 MACs per 4 loads, 8 extends
 *   and 8 SMLAD.
 * - 2x2 register blocking: two neighbouring output pixels times two output channels share every load.
 * - With dilation 1 the kw * in_c input bytes under one kernel row are contiguous, as are the weights of that
 *   row, so each kernel row is one long vector (the first layer's 3 channels do not waste lanes).
 * - Interior/border split: output columns [ox_lo, ox_hi) have their window inside the image in x and go in pairs
 *   through the blocked path; the border columns take a one-pixel path over the clipped window (padding taps
 *   are skipped = read the zero point). Every read stays inside the input tensor.
 * - A 1x1 convolution is the same code with one tap: a matrix product of pixels by filters.
 * - Output rows [oy_begin, oy_end) only, row oy_begin written at output[0]: a caller may compute the layer in
 *   bands of rows (e.g. fused with the residual ADD that consumes it).
 */
#ifndef ED_CONV_DSP_H
#define ED_CONV_DSP_H

#include <stddef.h>
#include <stdint.h>

#include "ed_fixedpoint.h"
#include "ed_simd.h"
#include "edgesdk_kernels.h"

#if defined(__GNUC__) || defined(__clang__)
#define ED_CONV_INLINE static inline __attribute__((always_inline))
/* True when GCC knows n at compile time (a specialised layer): then the constant-trip loop is unrolled. */
#define ED_CONV_CONST(n) __builtin_constant_p(n)
#define ED_CONV_MAYBE_UNUSED_ __attribute__((unused))
#define ED_CONV_NOINLINE __attribute__((noinline))
#else
#define ED_CONV_NOINLINE
#define ED_CONV_MAYBE_UNUSED_
#define ED_CONV_INLINE static inline
#define ED_CONV_CONST(n) 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define ED_CONV_UNROLL_ _Pragma("GCC unroll 4")
#else
#define ED_CONV_UNROLL_
#endif

/* Four bytes of two pixels by two filters: acc (a00 a01 a10 a11) += (x + offset) . w, 16 MACs. */
#define ED_CONV_STEP_2X2_(xa_p, xb_p, w0_p, w1_p)                                            \
    do {                                                                                     \
        const uint32_t xa = ed_read32(xa_p), xb = ed_read32(xb_p);                          \
        const uint32_t xa_e = ed_sxtab16(off2, xa), xa_o = ed_sxtab16_ror8(off2, xa);        \
        const uint32_t xb_e = ed_sxtab16(off2, xb), xb_o = ed_sxtab16_ror8(off2, xb);        \
        uint32_t w = ed_read32(w0_p);                                                        \
        uint32_t we = ed_sxtb16(w), wo = ed_sxtb16_ror8(w);                                  \
        a00 = ed_smlad(xa_e, we, a00);                                                       \
        a10 = ed_smlad(xb_e, we, a10);                                                       \
        a00 = ed_smlad(xa_o, wo, a00);                                                       \
        a10 = ed_smlad(xb_o, wo, a10);                                                       \
        w = ed_read32(w1_p);                                                                 \
        we = ed_sxtb16(w);                                                                   \
        wo = ed_sxtb16_ror8(w);                                                              \
        a01 = ed_smlad(xa_e, we, a01);                                                       \
        a11 = ed_smlad(xb_e, we, a11);                                                       \
        a01 = ed_smlad(xa_o, wo, a01);                                                       \
        a11 = ed_smlad(xb_o, wo, a11);                                                       \
    } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && !defined(__clang__)
/*
 * The same step as one fixed instruction sequence (Armv7E-M), for the specialised layers: the second pixel and
 * the second filter at constant distances xs, ws (4 <= ws < 4096) from the pointers px, pw, which the step advances
 * by 4 with post-indexed loads. 20 instructions for 16 MACs with the four accumulators, six temporaries, two
 * pointers and the offset in registers: GCC's own schedule of the C step kept more values live than the core
 * has registers and spilled in the 3x3 layers.
 */
#define ED_CONV_ASM_STEP_OK_(xs, ws)                                                                        \
    (__builtin_constant_p(xs) && __builtin_constant_p(ws) && (xs) >= 0 && (xs) < 4096 && (ws) >= 4 &&      \
     (ws) < 4096)
#define ED_CONV_STEP_2X2_ASM_(PX_, XS_, PW_, WS_)                                                           \
    do {                                                                                                    \
        uint32_t t0_, t1_, t2_, t3_, t4_, t5_;                                                              \
        __asm__("ldr %[t1], [%[x], %[xs]]\n\t"                                                              \
                "ldr %[t0], [%[x]], #4\n\t" /* post-increment: the pointer walks for free */                \
                "sxtab16 %[t2], %[off], %[t0]\n\t"                                                          \
                "sxtab16 %[t0], %[off], %[t0], ror #8\n\t"                                                  \
                "sxtab16 %[t3], %[off], %[t1]\n\t"                                                          \
                "sxtab16 %[t1], %[off], %[t1], ror #8\n\t"                                                  \
                "ldr %[t4], [%[w]], #4\n\t"                                                                 \
                "sxtb16 %[t5], %[t4]\n\t"                                                                   \
                "sxtb16 %[t4], %[t4], ror #8\n\t"                                                           \
                "smlad %[a00], %[t2], %[t5], %[a00]\n\t"                                                    \
                "smlad %[a10], %[t3], %[t5], %[a10]\n\t"                                                    \
                "smlad %[a00], %[t0], %[t4], %[a00]\n\t"                                                    \
                "smlad %[a10], %[t1], %[t4], %[a10]\n\t"                                                    \
                "ldr %[t4], [%[w], %[ws4]]\n\t"                                                             \
                "sxtb16 %[t5], %[t4]\n\t"                                                                   \
                "sxtb16 %[t4], %[t4], ror #8\n\t"                                                           \
                "smlad %[a01], %[t2], %[t5], %[a01]\n\t"                                                    \
                "smlad %[a11], %[t3], %[t5], %[a11]\n\t"                                                    \
                "smlad %[a01], %[t0], %[t4], %[a01]\n\t"                                                    \
                "smlad %[a11], %[t1], %[t4], %[a11]"                                                          \
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(PX_),          \
                  [w] "+r"(PW_), [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_),          \
                  [t4] "=&r"(t4_), [t5] "=&r"(t5_)                                                          \
                : [off] "r"(off2), [xs] "n"(XS_), [ws4] "n"((WS_) - 4)                                      \
                : "memory"); /* reads memory (the clobber keeps it after any store before it) */             \
    } while (0)
#else
#define ED_CONV_ASM_STEP_OK_(xs, ws) 0
#define ED_CONV_STEP_2X2_ASM_(PX_, XS_, PW_, WS_)                                                           \
    do {                                                                                                    \
        ED_CONV_STEP_2X2_((PX_), (PX_) + (XS_), (PW_), (PW_) + (WS_));                                      \
        (PX_) += 4;                                                                                         \
        (PW_) += 4;                                                                                         \
    } while (0)
#endif

/* One tail input of the 2x2 dot products: inputs XA, XB of the two pixels (the enclosing `offset` added) against
 * weights WA, WB of the two filters, into the enclosing a00, a01, a10, a11. Each argument is evaluated once. */
#define ED_CONV_MAC_2X2_(XA, XB, WA, WB)                                                                    \
    do {                                                                                                    \
        const int32_t xa_ = (int32_t)(XA) + offset, xb_ = (int32_t)(XB) + offset;                           \
        const int32_t wa_ = (WA), wb_ = (WB);                                                               \
        a00 += xa_ * wa_;                                                                                   \
        a01 += xa_ * wb_;                                                                                   \
        a10 += xb_ * wa_;                                                                                   \
        a11 += xb_ * wb_;                                                                                   \
    } while (0)

/* acc[p][o] += sum_i (x_p[i] + offset) * w_o[i], i < n, for pixels x0, x1 and filters w0, w1. */
ED_CONV_INLINE void ed_conv_dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1,
                                    int32_t n, int32_t offset, int32_t acc[4])
{
    const uint32_t off2 = ed_dup16(offset);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i;
    if (ED_CONV_CONST(n) && ED_CONV_ASM_STEP_OK_(x1 - x0, w1 - w0)) {
        /* Specialised on a DSP core: the fixed step, walking pointers, constant distances. */
        const int32_t n4 = n & ~3;
        const ptrdiff_t xs = x1 - x0, ws = w1 - w0;
        ED_CONV_UNROLL_
        for (i = 0; i < n4; i += 4) {
            ED_CONV_STEP_2X2_ASM_(x0, xs, w0, ws); /* advances x0 and w0 by 4 */
        }
        for (i = n4; i < n; ++i) {
            ED_CONV_MAC_2X2_(*x0, x0[xs], *w0, w0[ws]);
            ++x0;
            ++w0;
        }
    } else if (ED_CONV_CONST(n)) {
        /* Specialised: constant trip count, indexed loads (constant offsets once unrolled). */
        const int32_t n4 = n & ~3;
        ED_CONV_UNROLL_
        for (i = 0; i < n4; i += 4) {
            ED_CONV_STEP_2X2_(x0 + i, x1 + i, w0 + i, w1 + i);
        }
        for (i = n4; i < n; ++i) {
            ED_CONV_MAC_2X2_(x0[i], x1[i], w0[i], w1[i]);
        }
    } else {
        const int8_t *end4 = x0 + (n & ~3);
        const int8_t *end = x0 + n;
        while (x0 != end4) {
            ED_CONV_STEP_2X2_(x0, x1, w0, w1);
            x0 += 4;
            x1 += 4;
            w0 += 4;
            w1 += 4;
        }
        while (x0 != end) {
            ED_CONV_MAC_2X2_(*x0++, *x1++, *w0++, *w1++);
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/*
 * ed_conv_dot_2x2 with the weights pre-extended to int16 at export and re-ordered in groups of four as
 * (w[i], w[i+2], w[i+1], w[i+3]): one word load gives the halfword pair SMLAD needs against SXTAB16's
 * (x[i], x[i+2]), the next against (x[i+1], x[i+3]), so the weights need no SXTB16. n % 4 tail values last,
 * in order. Only specialised layers use it (constant n, unrolled).
 */
ED_CONV_INLINE void ed_conv_dot_2x2_w16(const int8_t *x, int32_t xstep, const int16_t *w, int32_t wstride,
                                        int32_t n, int32_t offset, int32_t acc[4])
{
    /* Pixels x and x + xstep, filters w and w + wstride: two walking pointers, every other address a constant
     * offset from them (few registers: the four accumulators and the extended inputs stay in registers). */
    const uint32_t off2 = ed_dup16(offset);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t n4 = n & ~3;
    int32_t i;
    ED_CONV_UNROLL_
    for (i = 0; i < n4; i += 4) {
        const uint32_t xa = ed_read32(x), xb = ed_read32(x + xstep);
        const uint32_t xa_e = ed_sxtab16(off2, xa), xa_o = ed_sxtab16_ror8(off2, xa);
        const uint32_t xb_e = ed_sxtab16(off2, xb), xb_o = ed_sxtab16_ror8(off2, xb);
        uint32_t we = ed_read32((const int8_t *)w), wo = ed_read32((const int8_t *)(w + 2));
        a00 = ed_smlad(xa_e, we, a00);
        a10 = ed_smlad(xb_e, we, a10);
        a00 = ed_smlad(xa_o, wo, a00);
        a10 = ed_smlad(xb_o, wo, a10);
        we = ed_read32((const int8_t *)(w + wstride));
        wo = ed_read32((const int8_t *)(w + wstride + 2));
        a01 = ed_smlad(xa_e, we, a01);
        a11 = ed_smlad(xb_e, we, a11);
        a01 = ed_smlad(xa_o, wo, a01);
        a11 = ed_smlad(xb_o, wo, a11);
        x += 4;
        w += 4;
    }
    for (i = n4; i < n; ++i) {
        ED_CONV_MAC_2X2_(*x, x[xstep], *w, w[wstride]);
        ++x;
        ++w;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[o] += sum_i (x[i] + offset) * w_o[i], i < n, for one pixel and filters w0, w1. */
ED_CONV_INLINE void ed_conv_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                                    int32_t offset, int32_t acc[2])
{
    const uint32_t off2 = ed_dup16(offset);
    int32_t a0 = acc[0], a1 = acc[1];
    const int8_t *end4 = x + (n & ~3);
    const int8_t *end = x + n;
    while (x != end4) {
        const uint32_t xv = ed_read32(x);
        const uint32_t xe = ed_sxtab16(off2, xv), xo = ed_sxtab16_ror8(off2, xv);
        const uint32_t wa = ed_read32(w0), wb = ed_read32(w1);
        a0 = ed_smlad(xe, ed_sxtb16(wa), a0);
        a0 = ed_smlad(xo, ed_sxtb16_ror8(wa), a0);
        a1 = ed_smlad(xe, ed_sxtb16(wb), a1);
        a1 = ed_smlad(xo, ed_sxtb16_ror8(wb), a1);
        x += 4;
        w0 += 4;
        w1 += 4;
    }
    while (x != end) {
        const int32_t xv = (int32_t)*x++ + offset;
        a0 += xv * *w0++;
        a1 += xv * *w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* acc requantized to int8. `fast` (a compile-time 1 from a specialised layer whose export proved every shift
 * negative and |acc| < 2^30) leaves only the SMMULR form: no test, no branch. */
ED_CONV_INLINE int8_t ed_conv_requant(const ed_conv_params_t *p, int32_t acc, int32_t oc, int32_t fast)
{
    const int32_t q = p->per_channel ? oc : 0;
    const int32_t m = p->multiplier[q], s = p->shift[q];
    acc = fast ? ed_rdbpot_pos(ed_srdhm_small(acc, m), -s) : ed_mbqm_fast(acc, m, s);
    return (int8_t)ed_clamp_s8(acc + p->output_offset, p->act_min, p->act_max);
}

/* Two neighbouring output pixels (windows inside the image in x) x all output channels; w16: the weights in
 * ed_conv_dot_2x2_w16's layout (segments of filter_row values, or of in_c values per tap when dilated), or NULL. */
ED_CONV_INLINE void ed_conv_pair(const ed_conv_params_t *p, const int8_t *input, int8_t *out0, int32_t iy0,
                                 int32_t ix0, int32_t ky_begin, int32_t ky_end, int32_t fast, const int16_t *w16)
{
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const int32_t row_bytes = p->in_w * in_c;
    const int32_t px_step = p->stride_w * in_c; /* input distance between neighbouring output pixels */
    int8_t *out1 = out0 + out_c;
    int32_t oc, ky, kx;
    for (oc = 0; oc < out_c; oc += 2) {
        /* (with an even constant out_c this folds to oc + 1: the second filter at a constant distance) */
        const int32_t oc1 = ((out_c & 1) == 0 || oc + 1 < out_c) ? oc + 1 : oc;
        const int8_t *f0 = p->weights + (size_t)oc * (size_t)filter_size;
        const int8_t *f1 = p->weights + (size_t)oc1 * (size_t)filter_size;
        int32_t acc[4];
        acc[0] = p->bias != NULL ? p->bias[oc] : 0;
        acc[1] = p->bias != NULL ? p->bias[oc1] : 0;
        acc[2] = acc[0];
        acc[3] = acc[1];
        for (ky = ky_begin; ky < ky_end; ++ky) {
            const int8_t *x0 = input + (size_t)(iy0 + p->dil_h * ky) * (size_t)row_bytes + (size_t)ix0 * (size_t)in_c;
            const int8_t *w0 = f0 + (size_t)ky * (size_t)filter_row;
            const int8_t *w1 = f1 + (size_t)ky * (size_t)filter_row;
            if (w16 != NULL) {
                const int16_t *v0 = w16 + (size_t)oc * (size_t)filter_size + (size_t)ky * (size_t)filter_row;
                const int32_t wstride = (oc1 - oc) * filter_size;
                if (p->dil_w == 1) {
                    ed_conv_dot_2x2_w16(x0, px_step, v0, wstride, filter_row, p->input_offset, acc);
                } else {
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int8_t *xk = x0 + (size_t)(p->dil_w * kx) * (size_t)in_c;
                        ed_conv_dot_2x2_w16(xk, px_step, v0 + kx * in_c, wstride, in_c, p->input_offset, acc);
                    }
                }
            } else if (p->dil_w == 1) {
                ed_conv_dot_2x2(x0, x0 + px_step, w0, w1, filter_row, p->input_offset, acc);
            } else {
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int8_t *xk = x0 + (size_t)(p->dil_w * kx) * (size_t)in_c;
                    ed_conv_dot_2x2(xk, xk + px_step, w0 + kx * in_c, w1 + kx * in_c, in_c, p->input_offset, acc);
                }
            }
        }
        out0[oc] = ed_conv_requant(p, acc[0], oc, fast);
        out1[oc] = ed_conv_requant(p, acc[2], oc, fast);
        if (oc1 != oc) {
            out0[oc1] = ed_conv_requant(p, acc[1], oc1, fast);
            out1[oc1] = ed_conv_requant(p, acc[3], oc1, fast);
        }
    }
}

/* One output pixel (any position) x all output channels over its clipped window. Not inlined: the border
 * path is cold and one out-of-line copy per instantiation keeps the hot loop small. */
ED_CONV_MAYBE_UNUSED_ static void ed_conv_single(const ed_conv_params_t *p, const int8_t *input, int8_t *out0,
                                                  int32_t iy0, int32_t ix0, int32_t ky_begin, int32_t ky_end)
{
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const int32_t row_bytes = p->in_w * in_c;
    int32_t oc, ky, kx, kx_begin, kx_end;
    ed_window_clip(ix0, p->dil_w, p->k_w, p->in_w, &kx_begin, &kx_end);
    for (oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
        const int8_t *f0 = p->weights + (size_t)oc * (size_t)filter_size;
        const int8_t *f1 = p->weights + (size_t)oc1 * (size_t)filter_size;
        int32_t acc[2];
        acc[0] = p->bias != NULL ? p->bias[oc] : 0;
        acc[1] = p->bias != NULL ? p->bias[oc1] : 0;
        for (ky = ky_begin; ky < ky_end; ++ky) {
            const int8_t *x0 = input + (size_t)(iy0 + p->dil_h * ky) * (size_t)row_bytes;
            const int8_t *w0 = f0 + (size_t)ky * (size_t)filter_row;
            const int8_t *w1 = f1 + (size_t)ky * (size_t)filter_row;
            if (p->dil_w == 1) {
                const int32_t ix = ix0 + kx_begin;
                ed_conv_dot_1x2(x0 + (size_t)ix * (size_t)in_c, w0 + kx_begin * in_c, w1 + kx_begin * in_c,
                                (kx_end - kx_begin) * in_c, p->input_offset, acc);
            } else {
                for (kx = kx_begin; kx < kx_end; ++kx) {
                    const int32_t ix = ix0 + p->dil_w * kx;
                    ed_conv_dot_1x2(x0 + (size_t)ix * (size_t)in_c, w0 + kx * in_c, w1 + kx * in_c, in_c,
                                    p->input_offset, acc);
                }
            }
        }
        out0[oc] = ed_conv_requant(p, acc[0], oc, 0);
        if (oc1 != oc) {
            out0[oc1] = ed_conv_requant(p, acc[1], oc1, 0);
        }
    }
}

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>

/*
 * Helium (MVE, Cortex-M55/M85) 1x1 stride-1 unpadded convolution over npix contiguous pixels: a matrix product
 * of pixels by filters. Four filters at a time, their weight sums taken once (VADDV), so the input offset costs
 * one multiply per output: acc = bias + sum(x * w) + input_offset * sum(w). Each step loads sixteen input
 * channels and each filter's sixteen weights (the last step predicated, lanes past in_c read as zero) and
 * VMLADAVA multiplies and adds across the vector: 64 MACs per five loads and four VMLADAVA.
 */
ED_CONV_INLINE void ed_conv_mve_1x1(const ed_conv_params_t *p, const int8_t *input, int8_t *output, int32_t npix,
                                    int32_t fast)
{
    const int32_t in_c = p->in_c, out_c = p->out_c, in_off = p->input_offset;
    int32_t oc = 0, px, i, r;
    while (oc < out_c) {
        const int32_t nf = out_c - oc >= 4 ? 4 : 1;
        const int8_t *w[4];
        int32_t base[4];
        for (r = 0; r < 4; ++r) {
            const int32_t o = oc + (r < nf ? r : 0);
            int32_t ws = 0;
            w[r] = p->weights + (size_t)o * (size_t)in_c;
            for (i = 0; i < in_c; i += 16) {
                ws = vaddvaq_s8(ws, vldrbq_z_s8(w[r] + i, vctp8q((uint32_t)(in_c - i))));
            }
            base[r] = (p->bias != NULL ? p->bias[o] : 0) + in_off * ws;
        }
        for (px = 0; px < npix; ++px) {
            const int8_t *x = input + (size_t)px * (size_t)in_c;
            int8_t *out = output + (size_t)px * (size_t)out_c + oc;
            int32_t a0 = base[0], a1 = base[1], a2 = base[2], a3 = base[3];
            for (i = 0; i < in_c; i += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(in_c - i));
                const int8x16_t xv = vldrbq_z_s8(x + i, pr);
                a0 = vmladavaq_s8(a0, vldrbq_z_s8(w[0] + i, pr), xv);
                if (nf == 4) {
                    a1 = vmladavaq_s8(a1, vldrbq_z_s8(w[1] + i, pr), xv);
                    a2 = vmladavaq_s8(a2, vldrbq_z_s8(w[2] + i, pr), xv);
                    a3 = vmladavaq_s8(a3, vldrbq_z_s8(w[3] + i, pr), xv);
                }
            }
            out[0] = ed_conv_requant(p, a0, oc, fast);
            if (nf == 4) {
                out[1] = ed_conv_requant(p, a1, oc + 1, fast);
                out[2] = ed_conv_requant(p, a2, oc + 2, fast);
                out[3] = ed_conv_requant(p, a3, oc + 3, fast);
            }
        }
        oc += nf;
    }
}
#endif

/*
 * Output rows [oy_begin, oy_end) of the convolution, row oy_begin written at output[0]; input is the whole
 * input tensor. Always inlined: called with a constant params struct, everything in it folds. fast_requant = 1
 * only where every shift is negative and |acc| < 2^30 is proven for the layer (see ed_conv_requant); w16: the
 * weights also pre-extended to int16 for the interior path (ed_conv_dot_2x2_w16), or NULL.
 */
ED_CONV_INLINE void ed_conv_dsp_rows(const ed_conv_params_t *p, const int8_t *input, int8_t *output,
                                     int32_t oy_begin, int32_t oy_end, int32_t fast_requant, const int16_t *w16)
{
    const int32_t out_w = p->out_w, out_c = p->out_c;
    /* Output columns [ox_lo, ox_hi) whose kernel window lies inside the image in x. */
    const int32_t span = p->in_w + p->pad_left - (p->k_w - 1) * p->dil_w; /* ix0 + extent <= in_w */
    const int32_t ox_lo = ed_min_i32((p->pad_left + p->stride_w - 1) / p->stride_w, out_w);
    const int32_t ox_hi = span <= 0 ? 0 : ed_min_i32((span - 1) / p->stride_w + 1, out_w);
    int32_t oy, ox;
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
        p->pad_left == 0 && p->in_w == out_w && p->in_h == p->out_h && w16 == NULL) {
        ed_conv_mve_1x1(p, input + (size_t)oy_begin * (size_t)out_w * (size_t)p->in_c, output,
                        (oy_end - oy_begin) * out_w, fast_requant);
        return;
    }
#endif
    for (oy = oy_begin; oy < oy_end; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky_begin, ky_end;
        int8_t *out_row = output + (size_t)(oy - oy_begin) * (size_t)out_w * (size_t)out_c;
        ed_window_clip(iy0, p->dil_h, p->k_h, p->in_h, &ky_begin, &ky_end);
        for (ox = 0; ox < ox_lo; ++ox) {
            ed_conv_single(p, input, out_row + (size_t)ox * (size_t)out_c, iy0, ox * p->stride_w - p->pad_left,
                           ky_begin, ky_end);
        }
        for (; ox + 1 < ox_hi; ox += 2) {
            ed_conv_pair(p, input, out_row + (size_t)ox * (size_t)out_c, iy0, ox * p->stride_w - p->pad_left,
                         ky_begin, ky_end, fast_requant, w16);
        }
        for (; ox < out_w; ++ox) {
            ed_conv_single(p, input, out_row + (size_t)ox * (size_t)out_c, iy0, ox * p->stride_w - p->pad_left,
                           ky_begin, ky_end);
        }
    }
}

#endif /* ED_CONV_DSP_H */
