/*
 * ed_im2col_x16.h (Cortex-M DSP) - a convolution with few input channels (a model's first layer: 1 to 4 channels,
 * 3x3 or similar, stride 1 or 2) as im2col straight into int16 pairs, two pixels by two output channels at a time.
 *
 * The window's rows are contiguous in the input (k_w * in_c bytes each, no dilation), so its column is read a word
 * at a time: each row's whole words (an unaligned LDR; a row of 4n + 3 bytes takes one more word whose last byte
 * meets a zero weight), then the rows' leftover bytes grouped four (one per row: 3x3x3, 5x5x1) or two rows to a
 * word (two per row: 3x3x2). The weights are stored int8 in that column order (edgesdk.ir.weightformats.
 * im2col_x16_order; zero weights at the unused bytes). Each column word w of a pixel becomes the two int16 pairs
 * SXTB16(w) = (b0, b2) and SXTB16(w, ROR 8) = (b1, b3); a pair of pixels' words is stored as one group of four words
 * (px0 even, px1 even, px0 odd, px1 odd), so that one LDM gives two SMLAD steps of both pixels.
 *
 * Per call the layer's weights are widened into a stream on the stack, per pair of output channels: the two
 * doubled biases (the input offset folded in: bias + input_offset * sum(w), so the column needs no offset and a tap
 * outside the image reads the input zero point), the groups of four doubled weight pairs (c0 even, c1 even, c0 odd,
 * c1 odd), then the two multipliers and rounding terms. The dot product of a pixel pair and a channel pair is then
 * LDM x, LDM w and eight SMLAD per four taps (10 instructions per 16 MACs); the doubled accumulator is what SMMULR
 * wants, so each output is SMMLAR (rounding term and output offset added), SSAT with the shift and STRB: the
 * Armv7E-M sequence of a layer is generated per layer (templates/c/im2col_x16_layer.c.j2) with its shifts as
 * immediates, the channel pairs unrolled, and every other channel pair walking the pixel pair's groups backwards
 * (LDMDB) so that the column pointer never rewinds; the same sequence gathers the pixel pairs of a row whose windows
 * lie inside the image (one LDR per column word, four SXTB16, one STM per two groups), a pair over the padding from
 * a copy of its windows laid out as the image (ed_x16_patch). ed_x16_run_c is the same in C (the host, other
 * builds). Taken where every |acc| < 2^30 is proven (|bias + input_offset * sum(w)| < 2^29, at most 768 taps) and
 * every shift is a right shift of 1 to 22 (edgesdk.ir.weightformats.im2col_x16_refusal): the results are
 * ed_conv_s8's, bit for bit.
 */
#ifndef ED_IM2COL_X16_H
#define ED_IM2COL_X16_H

#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* ed_x16_params_t: edgesdk_kernels.h */

/* Words of the weight stream per channel pair, and of a pixel pair's column. */
#define ED_X16_CP_WORDS(groups) (6 + 4 * (groups))
#define ED_X16_X_WORDS(groups) (4 * (groups))

/* The column words of a window row: its whole words (one more for a 4n + 3 byte row). */
static inline int32_t ed_x16_row_words(int32_t row) { return (row & 3) == 3 ? (row + 1) >> 2 : row >> 2; }

/* Two bytes from any address, zero-extended (LDRH). */
static inline uint32_t ed_x16_read16(const int8_t *p)
{
    uint16_t v;
    ED_MEMCPY_(&v, p, sizeof v);
    return v;
}

/* Column word g of the window at b whose rows are rs bytes apart (int8 taps, no offset). */
ED_ALWAYS_INLINE static inline uint32_t ed_x16_word(const ed_x16_params_t *p, const int8_t *b, size_t rs, int32_t g)
{
    const int32_t row = p->k_w * p->in_c, nw = ed_x16_row_words(row), tail = row & 3;
    if (g < p->k_h * nw) {
        return ed_read32(b + (size_t)(g / nw) * rs + (size_t)(4 * (g % nw)));
    }
    g -= p->k_h * nw;
    if (tail == 1) { /* the last byte of rows 4g .. 4g + 3 */
        uint32_t v = 0;
        int32_t r;
        for (r = 0; r < 4 && 4 * g + r < p->k_h; ++r) {
            v |= (uint32_t)(uint8_t)b[(size_t)(4 * g + r) * rs + (size_t)(row - 1)] << (8 * r);
        }
        return v;
    }
    { /* the last two bytes of rows 2g and 2g + 1 */
        uint32_t v = ed_x16_read16(b + (size_t)(2 * g) * rs + (size_t)(row - 2));
        if (2 * g + 1 < p->k_h) {
            v |= ed_x16_read16(b + (size_t)(2 * g + 1) * rs + (size_t)(row - 2)) << 16;
        }
        return v;
    }
}

/* The group of column words v0 (px0) and v1 (px1) at x: px0 even, px1 even, px0 odd, px1 odd pairs. */
ED_ALWAYS_INLINE static inline void ed_x16_store(uint32_t *x, uint32_t v0, uint32_t v1)
{
    x[0] = ed_sxtb16(v0);
    x[1] = ed_sxtb16(v1);
    x[2] = ed_sxtb16_ror8(v0);
    x[3] = ed_sxtb16_ror8(v1);
}

/* Bytes per row of a window copied out of the image (ed_x16_window): its row and the byte after it. */
#define ED_X16_ROW_BYTES(row) (((row) + 4) & ~3)

/* The window at (iy0, ix0) (over the padding) copied into buf, rows ED_X16_ROW_BYTES apart, the input zero point
 * outside the image. */
static inline void ed_x16_window(const ed_x16_params_t *p, const int8_t *input, int32_t iy0, int32_t ix0, int8_t *buf)
{
    const int32_t row = p->k_w * p->in_c, rb = ED_X16_ROW_BYTES(row), c = p->in_c;
    const int8_t zp = (int8_t)-p->input_offset;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        int8_t *d = buf + ky * rb;
        ED_MEMSET_(d, 0, (size_t)rb);
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                ED_MEMSET_(d + kx * c, zp, (size_t)c);
            } else {
                ED_MEMCPY_(d + kx * c, input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)c, (size_t)c);
            }
        }
    }
}

/* The column of a pixel pair into x (ED_X16_X_WORDS): px0's window at b0 with rows s0 bytes apart, px1's at b1, s1
 * apart (inside the image: the input's rows). */
ED_ALWAYS_INLINE static inline void ed_x16_gather(const ed_x16_params_t *p, const int8_t *b0, size_t s0,
                                                  const int8_t *b1, size_t s1, uint32_t *x)
{
    int32_t g;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (g = 0; g < p->groups; ++g) {
        ed_x16_store(x + 4 * g, ed_x16_word(p, b0, s0, g), ed_x16_word(p, b1, s1, g));
    }
}

/* The same for the pixel pair whose windows start at (iy0, ix0) and (iy1, ix1), any of them over the padding: such a
 * window is copied out first, into scratch (2 k_h ED_X16_ROW_BYTES(k_w * in_c) bytes). */
static inline void ed_x16_gather_any(const ed_x16_params_t *p, const int8_t *input, int32_t iy0, int32_t ix0,
                                     int32_t iy1, int32_t ix1, uint32_t *x, int8_t *scratch)
{
    const size_t rb = (size_t)ED_X16_ROW_BYTES(p->k_w * p->in_c), rs = (size_t)p->in_w * (size_t)p->in_c;
    const int32_t iy[2] = {iy0, iy1}, ix[2] = {ix0, ix1};
    const int8_t *b[2];
    size_t st[2];
    int32_t k;
    for (k = 0; k < 2; ++k) {
        const int32_t more = (p->k_w * p->in_c & 3) == 3 && iy[k] + p->k_h == p->in_h;
        if (iy[k] < 0 || ix[k] < 0 || iy[k] + p->k_h > p->in_h || ix[k] + p->k_w + more > p->in_w) {
            int8_t *buf = scratch + (size_t)k * (size_t)p->k_h * rb;
            ed_x16_window(p, input, iy[k], ix[k], buf);
            b[k] = buf, st[k] = rb;
        } else {
            b[k] = input + (size_t)iy[k] * rs + (size_t)(ix[k] * p->in_c), st[k] = rs;
        }
    }
    ed_x16_gather(p, b[0], st[0], b[1], st[1], x);
}

/* The weight stream (ED_X16_CP_WORDS per channel pair) of the layer into w; even channel pairs list their groups
 * last to first (the generated sequence gathers the column, then walks it back). A missing second channel (odd
 * out_c) has zero weights. */
static inline void ed_x16_weights(const ed_x16_params_t *p, uint32_t *w)
{
    const int32_t groups = p->groups, k4 = 4 * groups;
    int32_t cp, c, g, k;
    for (cp = 0; 2 * cp < p->out_c; ++cp) {
        const int8_t *r[2];
        for (c = 0; c < 2; ++c) {
            const int32_t o = 2 * cp + c;
            int32_t b = 0;
            r[c] = o < p->out_c ? p->weights + (size_t)o * (size_t)k4 : NULL;
            if (r[c] != NULL) {
                int32_t sum = 0;
                for (k = 0; k < k4; ++k) {
                    sum += r[c][k];
                }
                b = (p->bias != NULL ? p->bias[o] : 0) + p->input_offset * sum;
            }
            w[c] = (uint32_t)b << 1;
        }
        w += 2;
        for (g = 0; g < groups; ++g, w += 4) {
            const int32_t gg = (cp & 1) ? g : groups - 1 - g;
            const uint32_t v0 = r[0] != NULL ? ed_read32(r[0] + 4 * gg) : 0u;
            const uint32_t v1 = r[1] != NULL ? ed_read32(r[1] + 4 * gg) : 0u;
            w[0] = ed_sadd16(ed_sxtb16(v0), ed_sxtb16(v0));
            w[1] = ed_sadd16(ed_sxtb16(v1), ed_sxtb16(v1));
            w[2] = ed_sadd16(ed_sxtb16_ror8(v0), ed_sxtb16_ror8(v0));
            w[3] = ed_sadd16(ed_sxtb16_ror8(v1), ed_sxtb16_ror8(v1));
        }
        for (c = 0; c < 2; ++c) {
            const int32_t o = 2 * cp + c < p->out_c ? 2 * cp + c : 2 * cp;
            const int32_t e = -p->shift[o];
            w[2 * c] = (uint32_t)p->multiplier[o];
            w[2 * c + 1] = (1u + 2u * (uint32_t)p->output_offset) << (e - 1);
        }
        w += 4;
    }
}

/* One output of the doubled accumulator a (TFLite's double rounding, see ed_simd.h). */
static inline int8_t ed_x16_out(const ed_x16_params_t *p, int32_t a, const uint32_t *mr, int32_t o)
{
    const int32_t t = ed_smmulr(a, (int32_t)mr[0]);
    const int32_t v = ed_add_wrap(ed_add_wrap(t, (int32_t)mr[1]), t >> 31) >> -p->shift[o];
    return (int8_t)ed_clamp_i32(v, p->act_min, p->act_max);
}

/* Every output channel of the pixel pair whose column is x (px0's outputs at y0, px1's at y1): the generated
 * sequence's semantics in C. */
static inline void ed_x16_pair_c(const ed_x16_params_t *p, const uint32_t *x, const uint32_t *w, int8_t *y0,
                                 int8_t *y1)
{
    const int32_t groups = p->groups;
    int32_t cp, g;
    for (cp = 0; 2 * cp < p->out_c; ++cp) {
        const int32_t o = 2 * cp;
        int32_t a0 = (int32_t)w[0], a2 = (int32_t)w[0], a1 = (int32_t)w[1], a3 = (int32_t)w[1];
        w += 2;
        for (g = 0; g < groups; ++g, w += 4) {
            const uint32_t *xg = x + 4 * ((cp & 1) ? g : groups - 1 - g);
            a0 = ed_smlad(xg[2], w[2], ed_smlad(xg[0], w[0], a0));
            a1 = ed_smlad(xg[2], w[3], ed_smlad(xg[0], w[1], a1));
            a2 = ed_smlad(xg[3], w[2], ed_smlad(xg[1], w[0], a2));
            a3 = ed_smlad(xg[3], w[3], ed_smlad(xg[1], w[1], a3));
        }
        y0[o] = ed_x16_out(p, a0, w, o);
        y1[o] = ed_x16_out(p, a2, w, o);
        if (o + 1 < p->out_c) {
            y0[o + 1] = ed_x16_out(p, a1, w + 2, o + 1);
            y1[o + 1] = ed_x16_out(p, a3, w + 2, o + 1);
        }
        w += 4;
    }
}

/* The two windows of a pixel pair along a row, px0's at (iy0, ix0), as the image would hold them (rows in_w * in_c
 * bytes apart at patch, px0's window first): the input's bytes, the input zero point outside the image; the
 * columns ix0 .. ix0 + stride_w + k_w - 1 (and one more: the byte a 4n + 3 byte row reads after the window). */
static inline void ed_x16_patch(const ed_x16_params_t *p, const int8_t *input, int32_t iy0, int32_t ix0,
                                int8_t *patch)
{
    const int32_t c = p->in_c, cols = p->stride_w + p->k_w + ((p->k_w * c & 3) == 3);
    const size_t rs = (size_t)p->in_w * (size_t)c;
    const int8_t zp = (int8_t)-p->input_offset;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        int8_t *d = patch + (size_t)ky * rs;
        if (iy < 0 || iy >= p->in_h) {
            ED_MEMSET_(d, zp, (size_t)(cols * c));
        } else if (ix0 >= 0 && ix0 + cols <= p->in_w) {
            ED_MEMCPY_(d, input + (size_t)iy * rs + (size_t)(ix0 * c), (size_t)(cols * c));
        } else {
            for (kx = 0; kx < cols; ++kx, d += c) {
                const int32_t ix = ix0 + kx;
                if (ix < 0 || ix >= p->in_w) {
                    ED_MEMSET_(d, zp, (size_t)c);
                } else {
                    ED_MEMCPY_(d, input + (size_t)iy * rs + (size_t)(ix * c), (size_t)c);
                }
            }
        }
    }
}

/* Pixel pairs along a row, the layer's generated sequence or ed_x16_run_c: px0's outputs at y (px1's out_c bytes
 * on), the column gathered into x from px0's window at b and px1's stride_w * in_c bytes on, both inside the image
 * (NULL: x holds the column), the next pair's 2 * out_c and 2 * stride_w * in_c bytes on, until b reaches end. */
typedef void (*ed_x16_run_fn)(int8_t *y, const int8_t *b, uintptr_t end, uint32_t *x, const uint32_t *w);

/* The same in C. */
static inline void ed_x16_run_c(const ed_x16_params_t *p, int8_t *y, const int8_t *b, uintptr_t end, uint32_t *x,
                                const uint32_t *w)
{
    const size_t oc = (size_t)p->out_c, step = (size_t)(p->stride_w * p->in_c);
    const size_t rs = (size_t)p->in_w * (size_t)p->in_c;
    uintptr_t at = (uintptr_t)b;
    do {
        if (b != NULL) {
            ed_x16_gather(p, b, rs, b + step, rs, x);
            b += 2 * step;
        }
        ed_x16_pair_c(p, x, w, y, y + oc);
        y += 2 * oc, at += 2 * step;
    } while (at != end);
}

/* The first and last output coordinate (along one axis) whose window lies inside the image: out of n outputs,
 * stride s, padding pad, window k over an axis of `in` (`more`: one more input after the window). */
static inline void ed_x16_inner(int32_t n, int32_t s, int32_t pad, int32_t k, int32_t in, int32_t more,
                                int32_t *lo, int32_t *hi)
{
    const int32_t last = in - k - more + pad; /* the last o * s with o * s - pad + k + more <= in */
    *lo = (pad + s - 1) / s;
    *hi = last < 0 ? -1 : last / s;
    if (*hi >= n) {
        *hi = n - 1;
    }
}

/* The layer: the weight stream into w, then pixel pairs in raster order, by `run` (the layer's generated sequence,
 * or ed_x16_run_c): the runs of pairs of one row whose windows lie inside the image from their windows, the others
 * (over the padding: from their windows copied into patch; across two rows: after ed_x16_gather_any, patch its
 * scratch; patch's bytes: edgesdk.ir.weightformats.im2col_x16_patch); the last pixel of an odd count paired with
 * itself (its second outputs into a scratch). */
ED_ALWAYS_INLINE static inline void ed_x16_conv(const ed_x16_params_t *p, const int8_t *input, int8_t *output,
                                                uint32_t *w, uint32_t *x, int8_t *patch, ed_x16_run_fn run)
{
    const int32_t total = p->out_h * p->out_w, c = p->in_c, ow = p->out_w;
    const size_t oc = (size_t)p->out_c, rs = (size_t)p->in_w * (size_t)c, step = (size_t)(p->stride_w * c);
    /* a 4n + 3 byte row reads the byte after the window: the runs keep to the columns whose next byte is in the
     * same row */
    const int32_t more = (p->k_w * c & 3) == 3;
    int32_t i = 0, oy = 0, ox = 0, ylo, yhi, xlo, xhi;
    ed_x16_inner(p->out_h, p->stride_h, p->pad_top, p->k_h, p->in_h, 0, &ylo, &yhi);
    ed_x16_inner(ow, p->stride_w, p->pad_left, p->k_w, p->in_w, more, &xlo, &xhi);
    ed_x16_weights(p, w);
    while (i < total) {
        int8_t *y = output + (size_t)i * oc;
        const int32_t n = oy >= ylo && oy <= yhi && ox >= xlo ? (xhi - ox + 1) >> 1 : 0;
        if (n > 0) { /* n pairs of this row, inside the image */
            const int8_t *b = input + (size_t)(oy * p->stride_h - p->pad_top) * rs +
                              (size_t)((ox * p->stride_w - p->pad_left) * c);
            run(y, b, (uintptr_t)b + 2 * step * (size_t)n, x, w);
            i += 2 * n, ox += 2 * n;
        } else {
            const int32_t oy1 = ox + 1 < ow ? oy : oy + 1, ox1 = ox + 1 < ow ? ox + 1 : 0;
            if (ox + 1 < ow) { /* a pair along a row over the padding */
                ed_x16_patch(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, patch);
                run(y, patch, (uintptr_t)patch + 2 * step, x, w);
            } else if (i + 1 == total) {
                int8_t spare[256];
                ed_x16_gather_any(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left,
                                  oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, x, patch);
                ed_x16_pair_c(p, x, w, y, spare);
            } else {
                ed_x16_gather_any(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left,
                                  oy1 * p->stride_h - p->pad_top, ox1 * p->stride_w - p->pad_left, x, patch);
                run(y, NULL, 2 * step, x, w);
            }
            i += 2, ox += 2;
        }
        while (ox >= ow) {
            ox -= ow, oy += 1;
        }
    }
}

#endif /* ED_IM2COL_X16_H */
