/*
 * scalar/ed_conv.c - int8 CONV_2D (NHWC input, OHWI weights, per-channel requantization) for cores without
 * SIMD (Cortex-M0/M0+/M3, RV32IMC): the same function and semantics as the portable ../ed_conv.c.
 *
 * Blocks of output channels, outermost: a block's requantization (shift split, bias) is set up once per call.
 * Output pixels whose whole kernel window lies in the image go two at a time (ed_scalar_dot2: every loaded weight
 * serves both pixels, every loaded input all the block's channels), the input offset folded into the block's start
 * (sum((x + off) * w) = sum(x * w) + off * sum(w), the weight sums taken once per block), so the inner loop is a
 * bare multiply-add. Undilated, a kernel row's taps are one contiguous run of k_w * in_c bytes in both the input
 * and the weights: one dot product per kernel row, however few the input channels. Pixels on the border take the
 * clipped window (taps in the padding skipped: the same as reading the input zero point) with the offset added
 * per input (ed_scalar_dot_rows), ED_SCALAR_ROWS channels or one at a time.
 *
 * Cores with a 32x32 -> 64-bit multiply-accumulate (Thumb-2: SMLAL) take two channels per multiply: the block's
 * weights packed once per call, channel 2j's weight plus channel 2j+1's times 2^24 in one word, so that
 * x * packed accumulates both channels' sums in one 64-bit accumulator, the low one in its low 24 bits (exact
 * while it stays within +-2^23: windows of up to 511 taps, |x * w| <= 2^14) and the high one above them. Border
 * pixels of those blocks copy their window (the zero point in the padding) and run the same loop, and a block
 * whose channels all shift right and clamp to int8 alone requantizes with ed_scalar_rq_right and SSAT.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

#define ED_CONV_BLOCK (ED_SCALAR_ROWS > ED_SCALAR_PAIR_ROWS ? ED_SCALAR_ROWS : ED_SCALAR_PAIR_ROWS)

/* Packed pairs of channels (see above): on by default where SMLAL is one instruction (Thumb-2 without the DSP
 * kernels: the Cortex-M3); the host tests force it on to check the C below. */
#ifndef ED_CONV_PACKED
#if defined(__thumb2__) && ED_SCALAR_PIX == 2 && ED_CONV_BLOCK == 4
#define ED_CONV_PACKED 1
#else
#define ED_CONV_PACKED 0
#endif
#endif
/* Taps (k_h * k_w * in_c) of the largest window packed: 8 bytes a tap on the stack, and at most 511. */
#ifndef ED_CONV_PACKED_TAPS
#define ED_CONV_PACKED_TAPS 511
#endif

#if ED_CONV_PACKED
#if ED_CONV_BLOCK != 4 || ED_SCALAR_PIX != 2 || ED_CONV_PACKED_TAPS > 511
#error "the packed convolution takes blocks of two pixels by four channels and windows of at most 511 taps"
#endif
/* Where the low channel's sum starts (2^23): its field then holds sum + 2^23 in [0, 2^24), and the 64-bit
 * accumulator shifted right by 24 is the high channel's sum exactly. */
#define ED_CONV_PACKED_BASE ((int64_t)1 << 23)

/* The four channels from oc packed into pk (two words a tap: channels 0 + 1 * 2^24, 2 + 3 * 2^24) and their
 * weight sums into sums; 0 where a word would overflow (a high weight of -128 beside a negative low one): the
 * block then takes the unpacked loops. */
static int ed_conv_pack(const int8_t *f, int32_t filter_size, int32_t *pk, int32_t *sums)
{
    const int8_t *f0 = f, *f1 = f + filter_size, *f2 = f1 + filter_size, *f3 = f2 + filter_size;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, i;
    int ok = 1;
    for (i = 0; i < filter_size; ++i) {
        const int32_t a = f0[i], b = f1[i], c = f2[i], d = f3[i];
        ok &= (b != -128 || a >= 0) & (d != -128 || c >= 0);
        pk[2 * i] = (int32_t)(((uint32_t)b << 24) + (uint32_t)a);
        pk[2 * i + 1] = (int32_t)(((uint32_t)d << 24) + (uint32_t)c);
        s0 += a;
        s1 += b;
        s2 += c;
        s3 += d;
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
    return ok;
}

/* One tap of two pixels (a, b) by two packed pairs (w0, w1): four SMLALs for eight multiply-accumulates. */
#define ED_CONV_PK_TAP(j) { const int32_t w0 = pk[2 * (j)], w1 = pk[2 * (j) + 1]; int32_t xv = xa[j]; \
    s0 += (int64_t)xv * w0; s1 += (int64_t)xv * w1; xv = xb[j]; s2 += (int64_t)xv * w0; s3 += (int64_t)xv * w1; } \
    ED_SCALAR_BARRIER();

/* s[j] += sum over the taps of xa * pk-pair j and s[2 + j] of xb (inputs and weights walked as in
 * ed_scalar_dot2). */
ED_SCALAR_INLINE void ed_conv_dot2_packed(const int8_t *xa, const int8_t *xb, int32_t n, int32_t runs, int32_t skip,
                                          const int32_t *pk, int64_t *s)
{
    int64_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    for (; runs > 0; --runs, xa += skip, xb += skip) {
        const int8_t *const xend = xa + n;
        for (; xa + 4 <= xend; xa += 4, xb += 4, pk += 8) {
            ED_CONV_PK_TAP(0)
            ED_CONV_PK_TAP(1)
            ED_CONV_PK_TAP(2)
            ED_CONV_PK_TAP(3)
        }
        for (; xa < xend; ++xa, ++xb, pk += 2) {
            ED_CONV_PK_TAP(0)
        }
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}
#endif

#if ED_CONV_PACKED
/* The window of output (oy, ox) into dst (k_h * k_w * in_c bytes, in the weights' order), the input zero point
 * (-off: a tap there adds nothing once off * sum(w) is folded in) where it lies outside the image: a border pixel
 * then runs the packed interior loop. Undilated rows (packed blocks): a kernel row's taps in the image are one run. */
static void ed_conv_gather(const ed_conv_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int8_t *dst)
{
    const int8_t zero = (int8_t)(-p->input_offset);
    const int32_t in_c = p->in_c, filter_row = p->k_w * in_c;
    const ed_window_t wx = ed_window(ox, p->stride_w, p->pad_left, 1, p->k_w, p->in_w);
    const int32_t lo = wx.begin * in_c, hi = wx.end * in_c; /* the run's bytes within a kernel row */
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    int32_t ky, j;
    for (ky = 0; ky < p->k_h; ++ky, dst += filter_row) {
        const int32_t iy = iy0 + p->dil_h * ky;
        j = 0;
        if (iy >= 0 && iy < p->in_h) {
            /* the image's first byte in the run: column origin + begin of row iy */
            const int8_t *x = input + (size_t)iy * (size_t)p->in_w * (size_t)in_c + (size_t)(wx.origin * in_c + lo);
            for (; j < lo; ++j) {
                dst[j] = zero;
            }
            for (; j < hi; ++j) {
                *(dst + j) = *x++;
            }
        }
        for (; j < filter_row; ++j) {
            dst[j] = zero;
        }
    }
}
#endif

static int8_t ed_conv_out(const ed_conv_params_t *p, int32_t acc, const ed_scalar_rq_t *q)
{
    return (int8_t)ed_clamp_i32(ed_scalar_rq(acc, q) + p->output_offset, p->act_min, p->act_max);
}

/* One output pixel, channels [oc, oc + n) with n == ED_SCALAR_ROWS or 1, over the clipped window. */
static inline void ed_conv_pixel(const ed_conv_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int32_t oc,
                                 int32_t n, const ed_scalar_rq_t *q, const int32_t *bias, int8_t *out_pixel)
{
    const int32_t in_c = p->in_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const ed_window_t wy = ed_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h);
    const ed_window_t wx = ed_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w);
    /* Undilated: the valid taps of a kernel row are one run of bytes; dilated: one run per tap. */
    const int32_t run = p->dil_w == 1 ? (wx.end - wx.begin) * in_c : in_c;
    const int32_t kx_step = p->dil_w == 1 ? (wx.end > wx.begin ? wx.end - wx.begin : 1) : 1;
    int32_t acc[ED_SCALAR_ROWS];
    int32_t ky, kx, r, i;
    for (r = 0; r < ED_SCALAR_ROWS; ++r) {
        acc[r] = r < n ? bias[r] : 0;
    }
    for (ky = wy.begin; ky < wy.end; ++ky) {
        const int8_t *in_row = input + (size_t)(wy.origin + p->dil_h * ky) * (size_t)p->in_w * (size_t)in_c;
        for (kx = wx.begin; kx < wx.end; kx += kx_step) {
            const int8_t *x = in_row + (size_t)(wx.origin + p->dil_w * kx) * (size_t)in_c;
            const int8_t *f =
                p->weights + (size_t)oc * (size_t)filter_size + (size_t)ky * (size_t)filter_row + (size_t)kx * (size_t)in_c;
            if (n == ED_SCALAR_ROWS) {
                const int8_t *fr[ED_SCALAR_ROWS];
                ED_UNROLL
                for (r = 0; r < ED_SCALAR_ROWS; ++r) {
                    fr[r] = f + (size_t)r * (size_t)filter_size;
                }
                ed_scalar_dot_rows(x, run, p->input_offset, fr, acc);
            } else {
                for (i = 0; i < run; ++i) {
                    acc[0] += ((int32_t)x[i] + p->input_offset) * (int32_t)f[i];
                }
            }
        }
    }
    for (r = 0; r < n; ++r) {
        out_pixel[oc + r] = ed_conv_out(p, acc[r], &q[r]);
    }
}

/* ed_scalar_dot2 or ed_scalar_dot3 (ED_SCALAR_PIX pixels from x, xstep bytes apart) */
#if ED_SCALAR_PIX == 3
#define ED_CONV_DOT(x, xstep, n, runs, skip, fr, acc) \
    ed_scalar_dot3((x), (x) + (xstep), (x) + 2 * (xstep), (n), (runs), (skip), (fr), (acc))
#else
#define ED_CONV_DOT(x, xstep, n, runs, skip, fr, acc) ed_scalar_dot2((x), (x) + (xstep), (n), (runs), (skip), (fr), (acc))
#endif

/* A run of `count` interior output pixels (the first one's window starts at input x, each next one xstep bytes on;
 * outputs from out, out_step bytes apart) by ED_CONV_BLOCK channels from oc: ED_SCALAR_PIX pixels at a time,
 * ED_SCALAR_PAIR_ROWS channels at a time, each accumulator starting at its channel's folded bias and input offset;
 * a last short group repeats its last pixel (computed, not stored). pk: the block's packed weights (undilated
 * windows; NULL: not packed), all four channels a pass. The layer's fields are read into locals: an output store
 * could alias them. */
/* The packed weights' parameter only where blocks are packed: an argument more (or GCC's clone for a constant
 * NULL) allocated the RV32 blocks' registers worse (IC +2.5 % instructions). */
#if ED_CONV_PACKED
#define ED_CONV_PK_PARAM , const int32_t *pk
#define ED_CONV_PK_ARG , pk
#else
#define ED_CONV_PK_PARAM
#define ED_CONV_PK_ARG
#endif

ED_SCALAR_OUTLINE ED_SCALAR_FN static void ed_conv_run(const ed_conv_params_t *p, const int8_t *x, size_t xstep,
                                                         int32_t count, int32_t oc, const ed_scalar_rq_t *q,
                                                         const int32_t *folded, int8_t *out,
                                                         size_t out_step ED_CONV_PK_PARAM)
{
    const int32_t in_c = p->in_c, k_h = p->k_h, k_w = p->k_w, dil_w = p->dil_w, dil_h = p->dil_h;
    const int32_t filter_row = k_w * in_c;
    const size_t filter_size = (size_t)(k_h * filter_row);
    const int32_t in_row = p->in_w * in_c;
    const int32_t out_off = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int8_t *const f = p->weights + (size_t)oc * filter_size;
    int32_t i, g, r, k, ky;
#if ED_CONV_PACKED
    /* every channel of the block shifts right, and the activation clamps to int8 alone: ed_scalar_rq_right and
     * a saturation */
    const int fast = q[0].right > 0 && q[1].right > 0 && q[2].right > 0 && q[3].right > 0 && act_min == -128 &&
                     act_max == 127;
#endif
    out += oc;
    for (i = 0; i < count; i += ED_SCALAR_PIX, x += ED_SCALAR_PIX * xstep, out += ED_SCALAR_PIX * out_step) {
        const int32_t m = count - i < ED_SCALAR_PIX ? count - i : ED_SCALAR_PIX; /* pixels stored */
        /* a short group: its missing pixels repeat the last one (xstep 0 from there on) */
        const size_t step = m == ED_SCALAR_PIX ? xstep : 0;
#if ED_CONV_PACKED
        if (pk != NULL) {
            int64_t s[4] = {ED_CONV_PACKED_BASE, ED_CONV_PACKED_BASE, ED_CONV_PACKED_BASE, ED_CONV_PACKED_BASE};
            int32_t sum[ED_SCALAR_PIX * ED_CONV_BLOCK]; /* pixel k, channel r: [k * ED_CONV_BLOCK + r] */
            ed_conv_dot2_packed(x, x + step, filter_row, k_h, dil_h * in_row - filter_row, pk, s);
            ED_UNROLL
            for (k = 0; k < ED_SCALAR_PIX * ED_CONV_BLOCK; ++k) {
                const int64_t v = s[k >> 1];
                /* the low channel: its field less the 2^23 it started from; the high one: the rest */
                sum[k] = ed_add_wrap(folded[k % ED_CONV_BLOCK], (k & 1) ? (int32_t)(v >> 24)
                                                                        : (int32_t)((uint32_t)v & 0xFFFFFFu) -
                                                                              (int32_t)ED_CONV_PACKED_BASE);
            }
            if (fast) { /* right shifts only, outputs clamped to int8 alone */
                ED_UNROLL
                for (k = 0; k < ED_SCALAR_PIX * ED_CONV_BLOCK; ++k) {
                    if (k < m * ED_CONV_BLOCK) {
                        out[(size_t)(k / ED_CONV_BLOCK) * out_step + (size_t)(k % ED_CONV_BLOCK)] =
                            (int8_t)ED_SCALAR_SAT8(ed_scalar_rq_right(sum[k], &q[k % ED_CONV_BLOCK]) + out_off);
                    }
                }
                continue;
            }
            ED_UNROLL
            for (k = 0; k < ED_SCALAR_PIX * ED_CONV_BLOCK; ++k) {
                if (k < m * ED_CONV_BLOCK) {
                    out[(size_t)(k / ED_CONV_BLOCK) * out_step + (size_t)(k % ED_CONV_BLOCK)] = (int8_t)ed_clamp_i32(
                        ed_scalar_rq(sum[k], &q[k % ED_CONV_BLOCK]) + out_off, act_min, act_max);
                }
            }
            continue;
        }
#endif
        for (g = 0; g < ED_CONV_BLOCK; g += ED_SCALAR_PAIR_ROWS) {
            int32_t acc[ED_SCALAR_PIX * ED_SCALAR_PAIR_ROWS];
            const int8_t *fr[ED_SCALAR_PAIR_ROWS];
            ED_UNROLL
            for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
                ED_UNROLL
                for (k = 0; k < ED_SCALAR_PIX; ++k) {
                    acc[k * ED_SCALAR_PAIR_ROWS + r] = folded[g + r];
                }
                fr[r] = f + (size_t)(g + r) * filter_size;
            }
#if ED_SCALAR_PIX == 3
            if (m == 2) { /* pixels x, x + xstep, x + xstep */
                const int8_t *const xs = x + xstep;
                if (dil_w == 1) {
                    ed_scalar_dot3(x, xs, xs, filter_row, k_h, dil_h * in_row - filter_row, fr, acc);
                } else {
                    for (ky = 0; ky < k_h; ++ky) {
                        const size_t dy = (size_t)(dil_h * ky * in_row);
                        ed_scalar_dot3(x + dy, xs + dy, xs + dy, in_c, k_w, (dil_w - 1) * in_c, fr, acc);
                    }
                }
            } else
#endif
            if (dil_w == 1) { /* each kernel row one run of k_w * in_c bytes */
                ED_CONV_DOT(x, step, filter_row, k_h, dil_h * in_row - filter_row, fr, acc);
            } else { /* each tap a run of in_c bytes */
                for (ky = 0; ky < k_h; ++ky) {
                    const size_t dy = (size_t)(dil_h * ky * in_row);
                    ED_CONV_DOT(x + dy, step, in_c, k_w, (dil_w - 1) * in_c, fr, acc);
                }
            }
            ED_UNROLL
            for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
                const ed_scalar_rq_t *qr = &q[g + r];
                ED_UNROLL
                for (k = 0; k < ED_SCALAR_PIX; ++k) {
                    if (k < m) {
                        out[(size_t)k * out_step + (size_t)(g + r)] = (int8_t)ed_clamp_i32(
                            ed_scalar_rq(acc[k * ED_SCALAR_PAIR_ROWS + r], qr) + out_off, act_min, act_max);
                    }
                }
            }
        }
    }
}

ED_SCALAR_FN void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const size_t out_row = (size_t)p->out_w * (size_t)out_c;
    const int flat = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                     p->pad_left == 0 && p->in_w == p->out_w && p->in_h == p->out_h;
    /* Output columns [ox_lo, ox_hi) and rows [oy_lo, oy_hi) whose windows lie inside the image. */
    int32_t ox_lo, ox_hi, oy_lo, oy_hi;
    const int8_t *pending = NULL; /* an interior pixel waiting for a second one (its input and output) */
    int8_t *pending_out = NULL;
    int32_t oc, oy, ox, r, i;
#if ED_CONV_PACKED
    /* Undilated rows, windows of at most ED_CONV_PACKED_TAPS taps: the four-channel blocks packed. */
    const int packable = p->dil_w == 1 && filter_size <= ED_CONV_PACKED_TAPS;
    int32_t packed[2 * ED_CONV_PACKED_TAPS];
    /* Border pixels of packed blocks: two gathered windows, run as one 1 x (k_h * k_w) row each */
    int8_t windows[2 * ED_CONV_PACKED_TAPS];
    int8_t *window_out = NULL; /* the output of a gathered window waiting for a second one */
    ed_conv_params_t as_row = *p;
    as_row.k_w = p->k_h * p->k_w;
    as_row.k_h = 1;
    as_row.dil_h = 1;
#endif
    ed_scalar_interior(p->out_w, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &ox_lo, &ox_hi);
    ed_scalar_interior(p->out_h, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &oy_lo, &oy_hi);
    for (oc = 0; oc < out_c;) {
        const int32_t left = out_c - oc;
        /* ED_CONV_BLOCK channels where that many are left, else one at a time. */
        const int32_t nb = left >= ED_CONV_BLOCK ? ED_CONV_BLOCK : 1;
        ed_scalar_rq_t q[ED_CONV_BLOCK];
        int32_t bias[ED_CONV_BLOCK];   /* what a border pixel's accumulators start from */
        int32_t folded[ED_CONV_BLOCK]; /* bias + off * the channel's weight sum: what the interior pairs start from */
        int32_t sums[ED_CONV_BLOCK] = {0};
        const int32_t *pk = NULL; /* the block's packed weights, if packed */
#if ED_CONV_PACKED
        if (nb == ED_CONV_BLOCK && packable &&
            ed_conv_pack(p->weights + (size_t)oc * (size_t)filter_size, filter_size, packed, sums)) {
            pk = packed;
        }
#endif
        for (r = 0; r < nb; ++r) {
            const int32_t c = oc + r;
            const int32_t k = p->per_channel ? c : 0;
            const int8_t *f = p->weights + (size_t)c * (size_t)filter_size;
            int32_t s = 0;
            q[r] = ed_scalar_rq_init(p->multiplier[k], p->shift[k]);
            bias[r] = p->bias != NULL ? p->bias[c] : 0;
            if (pk != NULL) { /* summed while packing */
                s = sums[r];
            } else {
                for (i = 0; i + 4 <= filter_size; i += 4) { /* (once per call: a band of rows calls again) */
                    s += f[i] + f[i + 1] + f[i + 2] + f[i + 3];
                }
                for (; i < filter_size; ++i) {
                    s += f[i];
                }
            }
            folded[r] = ed_add_wrap(bias[r], (int32_t)((uint32_t)p->input_offset * (uint32_t)s));
        }
        if (nb == ED_CONV_BLOCK && flat) { /* 1x1, stride 1, no padding: every pixel one run */
            ed_conv_run(p, input, (size_t)in_c, p->out_h * p->out_w, oc, q, folded, output, (size_t)out_c ED_CONV_PK_ARG);
            oc += nb;
            continue;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            int8_t *out_line = output + (size_t)oy * out_row;
            for (ox = 0; ox < p->out_w;) {
                int32_t g;
                if (nb == ED_CONV_BLOCK && oy >= oy_lo && oy < oy_hi && ox >= ox_lo && ox < ox_hi) {
                    /* the row's interior pixels in pairs; an odd one waits for the next row's first */
                    const size_t xstep = (size_t)p->stride_w * (size_t)in_c;
                    const int8_t *x = input + ((size_t)(oy * p->stride_h - p->pad_top) * (size_t)p->in_w +
                                               (size_t)(ox * p->stride_w - p->pad_left)) *
                                                  (size_t)in_c;
                    int8_t *o = out_line + (size_t)ox * (size_t)out_c;
                    int32_t n = ox_hi - ox;
                    if (ED_SCALAR_PIX != 2) { /* the row's run as it is */
                        ed_conv_run(p, x, xstep, n, oc, q, folded, o, (size_t)out_c ED_CONV_PK_ARG);
                        ox = ox_hi;
                        continue;
                    }
                    if (pending != NULL) {
                        ed_conv_run(p, pending, (size_t)(x - pending), 2, oc, q, folded, pending_out,
                                    (size_t)(o - pending_out) ED_CONV_PK_ARG);
                        pending = NULL;
                        x += xstep;
                        o += out_c;
                        --n;
                    }
                    ed_conv_run(p, x, xstep, n & ~1, oc, q, folded, o, (size_t)out_c ED_CONV_PK_ARG);
                    if (n & 1) {
                        pending = x + (size_t)(n - 1) * xstep;
                        pending_out = o + (size_t)(n - 1) * (size_t)out_c;
                    }
                    ox = ox_hi;
                    continue;
                }
#if ED_CONV_PACKED
                if (pk != NULL) { /* a border pixel: its window gathered, two at a time */
                    int8_t *const o = out_line + (size_t)ox * (size_t)out_c;
                    ed_conv_gather(p, input, oy, ox, windows + (window_out != NULL ? filter_size : 0));
                    if (window_out == NULL) {
                        window_out = o;
                    } else {
                        ed_conv_run(&as_row, windows, (size_t)filter_size, 2, oc, q, folded, window_out,
                                    (size_t)(o - window_out), pk);
                        window_out = NULL;
                    }
                    ++ox;
                    continue;
                }
#endif
                if (nb == 1) {
                    ed_conv_pixel(p, input, oy, ox, oc, 1, q, bias, out_line + (size_t)ox * (size_t)out_c);
                } else {
                    for (g = 0; g < nb; g += ED_SCALAR_ROWS) {
                        ed_conv_pixel(p, input, oy, ox, oc + g, ED_SCALAR_ROWS, &q[g], &bias[g],
                                      out_line + (size_t)ox * (size_t)out_c);
                    }
                }
                ++ox;
            }
        }
        if (pending != NULL) {
            ed_conv_run(p, pending, 0, 1, oc, q, folded, pending_out, 0 ED_CONV_PK_ARG);
            pending = NULL;
        }
#if ED_CONV_PACKED
        if (window_out != NULL) {
            ed_conv_run(&as_row, windows, 0, 1, oc, q, folded, window_out, 0, pk);
            window_out = NULL;
        }
#endif
        oc += nb;
    }
}
