/*
 * scalar/ed_dwconv.c - int8 DEPTHWISE_CONV_2D for cores without SIMD (Cortex-M0/M0+/M3, RV32IMC), same interface
 * and results as the portable firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * One channel at a time over every output pixel (depth multiplier 1): the channel's weights, its requantization
 * (shift split once, ed_scalar_rq_t) and its start stay in registers for the whole plane, so an output costs its
 * taps' input loads and multiply-adds plus one requantization. The input offset: sum((x + off) * w) =
 * sum(x * w) + off * sum(w), the second term folded into the channel's start for outputs whose window lies inside
 * the image (no bounds tests there; 3x3 windows unrolled over three row pointers). Outputs on the border add the
 * offset per tap over the clipped window (taps in the padding skipped: the same as reading the input zero point).
 * Depth multiplier > 1 or windows over 64 taps: the plain loop of ed_dw_general.h.
 */
#include "edgesdk_kernels.h"
#include "ed_dw_general.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

#define ED_DW_SCALAR_MAX_TAPS 64

/* Stride-1 3x3 rows in pairs of outputs on cores with a 32x32 -> 64-bit multiply-accumulate in one instruction
 * (Thumb-2: SMLAL; the host tests force it on): input column j of a kernel row feeds output ox with weight
 * w[j - ox] and ox + 1 with w[j - ox - 1], so the row's four columns take four words, w0, w1 + w0 * 2^24,
 * w2 + w1 * 2^24 and w2 * 2^24, and one 64-bit sum holds both outputs: the first in its low 24 bits (nine taps,
 * |x * w| <= 2^14, stay within +-2^23), the second above them. 12 loads and 12 SMLALs for 18 multiply-adds. */
#ifndef ED_DW_PACKED
#if defined(__thumb2__)
#define ED_DW_PACKED 1
#else
#define ED_DW_PACKED 0
#endif
#endif
#define ED_DW_PACKED_BASE ((int64_t)1 << 23)
/* Bytes of the rolling row buffer (on the stack); a wider layer takes the per-pixel loops. */
#define ED_DW_SCALAR_BUF 768

static inline int8_t ed_dw_scalar_out(const ed_dwconv_params_t *p, int32_t acc, const ed_scalar_rq_t *q)
{
    return (int8_t)ed_clamp_i32(ed_scalar_rq(acc, q) + p->output_offset, p->act_min, p->act_max);
}

/* Channel c's output at (oy, ox) over its clipped window, the offset added per tap. */
static int8_t ed_dw_scalar_border(const ed_dwconv_params_t *p, const int8_t *input, const int32_t *wk, int32_t c,
                                  int32_t oy, int32_t ox, int32_t bias, const ed_scalar_rq_t *q)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const size_t col = (size_t)p->in_c, row = (size_t)p->in_w * col;
    int32_t ky0, ky1, kx0, kx1, ky, kx, acc = bias;
    ed_dw_window(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
    ed_dw_window(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
    for (ky = ky0; ky < ky1; ++ky) {
        const int8_t *x = input + (size_t)(iy0 + p->dil_h * ky) * row + (size_t)c;
        for (kx = kx0; kx < kx1; ++kx) {
            acc += ((int32_t)x[(size_t)(ix0 + p->dil_w * kx) * col] + p->input_offset) * wk[ky * p->k_w + kx];
        }
    }
    return ed_dw_scalar_out(p, acc, q);
}

/* Input row iy of channel c into dst: padded_w bytes from input column -pad_left, the input zero point (-off: a
 * tap there adds nothing once off * sum(w) is folded in) outside the image. */
static void ed_dw_scalar_fill(const ed_dwconv_params_t *p, const int8_t *input, int32_t c, int32_t iy, int8_t *dst,
                              int32_t padded_w)
{
    const int8_t zero = (int8_t)(-p->input_offset);
    const size_t col = (size_t)p->in_c;
    int32_t j = 0;
    if (iy >= 0 && iy < p->in_h) {
        const int32_t lo = p->pad_left < padded_w ? p->pad_left : padded_w;
        const int32_t hi = p->pad_left + p->in_w < padded_w ? p->pad_left + p->in_w : padded_w;
        const int8_t *x = input + ((size_t)iy * (size_t)p->in_w) * col + (size_t)c;
        for (; j < lo; ++j) {
            dst[j] = zero;
        }
        x += (size_t)(j - p->pad_left) * col;
        for (; j < hi; ++j) {
            dst[j] = *x;
            x += col;
        }
    }
    for (; j < padded_w; ++j) {
        dst[j] = zero;
    }
}

/* One output row of any window from the buffer (rows from slot slot0 on), outputs into o, p->out_c apart. */
ED_SCALAR_OUTLINE static void ed_dw_scalar_row_any(const ed_dwconv_params_t *p, const int8_t *buf, int32_t padded_w,
                                                   int32_t span_rows, int32_t slot0, const int32_t *wk, int32_t folded,
                                                   const ed_scalar_rq_t *q, int8_t *o)
{
    const size_t out_col = (size_t)p->out_c;
    const int32_t sw = p->stride_w, dw = p->dil_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t out_off = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int8_t *rows[ED_DW_SCALAR_MAX_TAPS];
    int32_t ox, ky, kx;
    for (ky = 0; ky < k_h; ++ky) { /* the window's rows in the buffer (no division per output: the M0 has none) */
        const int32_t slot = slot0 + p->dil_h * ky;
        rows[ky] = buf + (size_t)(slot >= span_rows ? slot - span_rows : slot) * (size_t)padded_w;
    }
    for (ox = 0; ox < p->out_w; ++ox) {
        int32_t acc = folded;
        for (ky = 0; ky < k_h; ++ky) {
            const int8_t *r = rows[ky] + (size_t)(ox * sw);
            for (kx = 0; kx < k_w; ++kx) {
                acc += (int32_t)r[kx * dw] * wk[ky * k_w + kx];
            }
        }
        *o = (int8_t)ed_clamp_i32(ed_scalar_rq(acc, q) + out_off, act_min, act_max);
        o += out_col;
    }
}

/* Channel c over the whole plane from a rolling buffer of padded input rows (row iy in slot iy mod span_rows): each
 * input row is copied once, and every window, border or not, reads span_rows rows at fixed byte offsets. The
 * layer's fields are copied to locals first: an output store could alias them, so the compiler would reload them. */
ED_SCALAR_OUTLINE ED_SCALAR_FN static void ed_dw_scalar_rows(const ed_dwconv_params_t *p, const int8_t *input,
                                                               int32_t c, const int32_t *wk, int32_t folded,
                                                               ed_scalar_rq_t q, int8_t *buf, int32_t padded_w,
                                                               int32_t span_rows, int8_t *output)
{
    const size_t out_col = (size_t)p->out_c;
    const int32_t sw = p->stride_w, dw = p->dil_w, out_w = p->out_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t out_off = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int fast3x3 = k_h == 3 && k_w == 3 && p->dil_h == 1 && dw == 1;
    const int fast = q.right > 0 && act_min == -128 && act_max == 127; /* ed_scalar_rq_right, a saturation */
    int32_t next = -p->pad_top; /* the first input row not yet in the buffer */
    int32_t oy, ox;
#if ED_DW_PACKED
    int32_t pwords[12]; /* per kernel row: w0, w1 + w0 * 2^24, w2 + w1 * 2^24, w2 * 2^24 */
    int pairs = fast3x3 && fast && sw == 1;
    if (pairs) {
        int32_t ky;
        for (ky = 0; ky < 3; ++ky) {
            const int32_t a = wk[3 * ky], b = wk[3 * ky + 1], d = wk[3 * ky + 2];
            /* a word would overflow where a high weight of -128 meets a negative low one: unpaired */
            pairs &= (a != -128 || b >= 0) & (b != -128 || d >= 0);
            pwords[4 * ky] = a;
            pwords[4 * ky + 1] = (int32_t)(((uint32_t)a << 24) + (uint32_t)b);
            pwords[4 * ky + 2] = (int32_t)(((uint32_t)b << 24) + (uint32_t)d);
            pwords[4 * ky + 3] = (int32_t)((uint32_t)d << 24);
        }
    }
#endif
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t slot0 = ((iy0 % span_rows) + span_rows) % span_rows;
        int8_t *o = output + (size_t)oy * (size_t)out_w * out_col + (size_t)c;
        if (next < iy0) {
            next = iy0;
        }
        for (; next < iy0 + span_rows; ++next) {
            const int32_t slot = ((next % span_rows) + span_rows) % span_rows;
            ed_dw_scalar_fill(p, input, c, next, buf + (size_t)slot * (size_t)padded_w, padded_w);
        }
        if (fast3x3) {
            const int32_t w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5];
            const int32_t w6 = wk[6], w7 = wk[7], w8 = wk[8];
            const int8_t *r0 = buf + (size_t)slot0 * (size_t)padded_w;
            const int8_t *r1 = buf + (size_t)(slot0 == 2 ? 0 : slot0 + 1) * (size_t)padded_w;
            const int8_t *r2 = buf + (size_t)(slot0 == 0 ? 2 : slot0 - 1) * (size_t)padded_w;
#define ED_DW_SCALAR_3X3(store)                                                                                   \
    for (; ox < out_w; ++ox) {                                                                                    \
        int32_t acc = folded;                                                                                     \
        acc += r0[0] * w0 + r0[1] * w1 + r0[2] * w2;                                                              \
        acc += r1[0] * w3 + r1[1] * w4 + r1[2] * w5;                                                              \
        acc += r2[0] * w6 + r2[1] * w7 + r2[2] * w8;                                                              \
        *o = (int8_t)(store);                                                                                     \
        o += out_col;                                                                                             \
        r0 += sw;                                                                                                 \
        r1 += sw;                                                                                                 \
        r2 += sw;                                                                                                 \
    }
            ox = 0;
#if ED_DW_PACKED
            if (pairs) { /* outputs ox and ox + 1 from one 64-bit sum */
                const int32_t *pw = pwords;
#if defined(__GNUC__)
                /* the words read in place (GCC copied all twelve to spill slots of their own every row) */
                __asm__("" : "+r"(pw));
#endif
                for (; ox + 2 <= out_w; ox += 2) {
                    int64_t s = ED_DW_PACKED_BASE;
                    int32_t a, b;
#define ED_DW_PAIR_ROW(r, j)                                                                                      \
    s += (int64_t)(r)[0] * pw[j];                                                                                 \
    s += (int64_t)(r)[1] * pw[(j) + 1];                                                                           \
    s += (int64_t)(r)[2] * pw[(j) + 2];                                                                           \
    s += (int64_t)(r)[3] * pw[(j) + 3];
                    ED_DW_PAIR_ROW(r0, 0)
                    ED_DW_PAIR_ROW(r1, 4)
                    ED_DW_PAIR_ROW(r2, 8)
#undef ED_DW_PAIR_ROW
                    a = ed_add_wrap(folded, (int32_t)((uint32_t)s & 0xFFFFFFu) - (int32_t)ED_DW_PACKED_BASE);
                    b = ed_add_wrap(folded, (int32_t)(s >> 24));
                    o[0] = (int8_t)ED_SCALAR_SAT8(ed_scalar_rq_right(a, &q) + out_off);
                    o[out_col] = (int8_t)ED_SCALAR_SAT8(ed_scalar_rq_right(b, &q) + out_off);
                    o += 2 * out_col;
                    r0 += 2;
                    r1 += 2;
                    r2 += 2;
                }
            }
#endif
            if (fast) { /* a right shift, the activation int8's range */
                ED_DW_SCALAR_3X3(ED_SCALAR_SAT8(ed_scalar_rq_right(acc, &q) + out_off))
            } else {
                ED_DW_SCALAR_3X3(ed_clamp_i32(ed_scalar_rq(acc, &q) + out_off, act_min, act_max))
            }
#undef ED_DW_SCALAR_3X3
            continue;
        }
        ed_dw_scalar_row_any(p, buf, padded_w, span_rows, slot0, wk, folded, &q, o);
    }
}

ED_SCALAR_FN void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t taps = p->k_h * p->k_w;
    const size_t col = (size_t)p->in_c, row = (size_t)p->in_w * col;
    const size_t out_col = (size_t)p->out_c;
    const size_t xstep = (size_t)p->stride_w * col;
    const size_t dx = (size_t)p->dil_w * col, dy = (size_t)p->dil_h * row;
    const int is3x3 = p->k_h == 3 && p->k_w == 3;
    /* Output columns [ox_lo, ox_hi) and rows [oy_lo, oy_hi) whose windows lie inside the image. */
    int32_t ox_lo, ox_hi, oy_lo, oy_hi;
    /* The row buffer: span_rows input rows of padded_w bytes, every window's taps of them. */
    const int32_t span_rows = p->dil_h * (p->k_h - 1) + 1;
    const int32_t padded_w = (p->out_w - 1) * p->stride_w + p->dil_w * (p->k_w - 1) + 1;
    int8_t buf[ED_DW_SCALAR_BUF];
    int32_t c, t, oy, ox, ky, kx;
    if (p->depth_multiplier != 1 || taps > ED_DW_SCALAR_MAX_TAPS) {
        ed_dw_general(p, input, output);
        return;
    }
    ed_scalar_interior(p->out_w, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &ox_lo, &ox_hi);
    ed_scalar_interior(p->out_h, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &oy_lo, &oy_hi);
    for (c = 0; c < p->out_c; ++c) {
        const int32_t k = p->per_channel ? c : 0;
        const ed_scalar_rq_t q = ed_scalar_rq_init(p->multiplier[k], p->shift[k]);
        const int32_t bias = p->bias != NULL ? p->bias[c] : 0;
        int32_t wk[ED_DW_SCALAR_MAX_TAPS];
        int32_t s = 0, folded;
        for (t = 0; t < taps; ++t) {
            wk[t] = p->weights[(size_t)t * out_col + (size_t)c];
            s += wk[t];
        }
        folded = ed_add_wrap(bias, (int32_t)((uint32_t)p->input_offset * (uint32_t)s));
        if (span_rows * padded_w <= ED_DW_SCALAR_BUF) {
            ed_dw_scalar_rows(p, input, c, wk, folded, q, buf, padded_w, span_rows, output);
            continue;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            int8_t *out = output + (size_t)oy * (size_t)p->out_w * out_col + (size_t)c;
            const int rows_in = oy >= oy_lo && oy < oy_hi;
            const int8_t *x = input + (size_t)(oy * p->stride_h - p->pad_top) * row +
                              (size_t)(ox_lo * p->stride_w - p->pad_left) * col + (size_t)c;
            for (ox = 0; ox < p->out_w; ++ox) {
                if (!rows_in || ox < ox_lo || ox >= ox_hi) {
                    out[(size_t)ox * out_col] = ed_dw_scalar_border(p, input, wk, c, oy, ox, bias, &q);
                    continue;
                }
                if (is3x3) { /* the whole interior run of the row, three row pointers */
                    const int32_t w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5];
                    const int32_t w6 = wk[6], w7 = wk[7], w8 = wk[8];
                    const int8_t *r0 = x, *r1 = x + dy, *r2 = x + 2 * dy;
                    int8_t *o = out + (size_t)ox * out_col;
                    for (; ox < ox_hi; ++ox) {
                        int32_t acc = folded;
                        acc += r0[0] * w0 + r0[dx] * w1 + r0[2 * dx] * w2;
                        acc += r1[0] * w3 + r1[dx] * w4 + r1[2 * dx] * w5;
                        acc += r2[0] * w6 + r2[dx] * w7 + r2[2 * dx] * w8;
                        *o = ed_dw_scalar_out(p, acc, &q);
                        o += out_col;
                        r0 += xstep;
                        r1 += xstep;
                        r2 += xstep;
                    }
                    --ox; /* the loop's ++ox moves to ox_hi */
                    continue;
                }
                {
                    const int8_t *xi = x + (size_t)(ox - ox_lo) * xstep;
                    int32_t acc = folded;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int8_t *xr = xi + (size_t)ky * dy;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            acc += (int32_t)xr[(size_t)kx * dx] * wk[ky * p->k_w + kx];
                        }
                    }
                    out[(size_t)ox * out_col] = ed_dw_scalar_out(p, acc, &q);
                }
            }
        }
    }
}
