/*
 * ed_dwconv.c (Cortex-M DSP) - int8 DEPTHWISE_CONV_2D, same interface and results as the portable
 * firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * Channel-innermost: four channels at a time keep their accumulators in registers across all taps. Per tap one
 * word of inputs and one of weights are loaded, SXTAB16/SXTB16 split them into halfword pairs (the input offset
 * added for free) and SMLABB/SMLATT do the four per-channel multiply-accumulates: 10 instructions per 4 MACs.
 *
 * 3x3, depth multiplier 1, undilated (MobileNet's and DS-CNN's depthwise layers), any stride: each output row is
 * split into its interior - the whole window inside the input, the nine taps unrolled with no window clipping
 * and no tap loop - and its border pixels, which run the general per-pixel loop. The interior requantizes four
 * channels with the per-channel parameters walked by pointers and writes them with one word store.
 * Other shapes (depth multiplier > 1, dilation, other kernel sizes) run the general loop throughout.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* The general requantization (any shift, any accumulator), out of line: it runs only off the fast path. */
static int8_t ed_dw_requant(const ed_dwconv_params_t *p, int32_t acc, int32_t oc)
{
    const int32_t q = p->per_channel ? oc : 0;
    if (p->bias != NULL) {
        acc += p->bias[oc];
    }
    acc = ed_mbqm_fast(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

/* Requantized output of one channel, TFLite Micro's double rounding in its fast form (ed_mbqm_fast with the
 * conditions checked once per layer by ed_dw3x3_fast_ok): SMMULR, the rounding right shift by e = -shift >= 1,
 * the output offset and the clamp. Returned as the low byte of a word, to be packed four to a store. */
static inline uint32_t ed_dw_out(int32_t acc, int32_t multiplier, int32_t e, int32_t out_off, int32_t lo, int32_t hi)
{
    const int32_t y = ed_srdhm_small(acc, multiplier);
    const int32_t v = ((y + ((int32_t)1 << (e - 1)) + (y >> 31)) >> e) + out_off;
    return (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(v, lo, hi);
}

/* One output pixel, any shape: the window clipped to the input, channel groups of four, then the tail. ``fast``:
 * the layer passed ed_dw3x3_fast_ok (the four channels requantized by ed_dw_out and stored as one word). */
static void ed_dw_pixel(const ed_dwconv_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int8_t *out_pixel,
                        int fast)
{
    const int32_t in_c = p->in_c, out_c = p->out_c, mult = p->depth_multiplier;
    const int32_t in_row = p->in_w * in_c;
    const int32_t dy_step = p->dil_h * in_row, dx_step = p->dil_w * in_c;
    const int32_t w_row = p->k_w * out_c;
    const uint32_t off2 = ed_dup16(p->input_offset);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t ky_begin, ky_end, kx_begin, kx_end, c, ky, kx;
    const int8_t *x_tap0;
    const int8_t *w_tap0;
    ed_window_clip(iy0, p->dil_h, p->k_h, p->in_h, &ky_begin, &ky_end);
    ed_window_clip(ix0, p->dil_w, p->k_w, p->in_w, &kx_begin, &kx_end);
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
            if (fast) {
                const int32_t *m = p->multiplier + c, *sh = p->shift + c, *bs = p->bias + c;
                const int32_t oo = p->output_offset, lo = p->act_min, hi = p->act_max;
                const uint32_t packed = ed_dw_out(a0 + bs[0], m[0], -sh[0], oo, lo, hi) |
                                        ed_dw_out(a1 + bs[1], m[1], -sh[1], oo, lo, hi) << 8 |
                                        ed_dw_out(a2 + bs[2], m[2], -sh[2], oo, lo, hi) << 16 |
                                        ed_dw_out(a3 + bs[3], m[3], -sh[3], oo, lo, hi) << 24;
                ED_MEMCPY_(out_pixel + c, &packed, 4);
            } else {
                out_pixel[c] = ed_dw_requant(p, a0, c);
                out_pixel[c + 1] = ed_dw_requant(p, a1, c + 1);
                out_pixel[c + 2] = ed_dw_requant(p, a2, c + 2);
                out_pixel[c + 3] = ed_dw_requant(p, a3, c + 3);
            }
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

/* Whether the interior's requantization may use the fast form for every output of the layer: per-channel
 * parameters, a bias, every shift negative (right shift >= 1), and |acc| < 2^30 for any input (9 taps of
 * |(x + offset) * w| <= 255 * 128 plus the bias). Otherwise the general per-pixel path runs everything. */
static int ed_dw3x3_fast_ok(const ed_dwconv_params_t *p)
{
    int32_t c;
    if (!p->per_channel || p->bias == NULL) {
        return 0;
    }
    for (c = 0; c < p->out_c; ++c) {
        const int32_t b = p->bias[c];
        if (p->shift[c] >= 0 || b > (1 << 29) || b < -(1 << 29)) {
            return 0;
        }
    }
    return 1;
}

/* The first output index o in [0, n) whose window start o * stride - pad is >= 0, and one past the last one
 * whose 3-tap window ends inside size: the interior [lo, hi) (empty when hi <= lo). */
static inline void ed_dw_interior(int32_t n, int32_t stride, int32_t pad, int32_t size, int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride;
    int32_t b = size - 3 + pad >= 0 ? (size - 3 + pad) / stride + 1 : 0;
    if (a < 0) { /* pad < 0: a single row of a layer run row by row (ed_dwconv_inplace_s8) */
        a = 0;
    }
    if (a > n) {
        a = n;
    }
    if (b > n) {
        b = n;
    }
    *lo = a;
    *hi = b > a ? b : a;
}

/* The interior of one output row [xlo, xhi) for four channels c..c+3: the nine taps' weights are sign-extended
 * once into halfword pairs (even channels, odd channels) and the requantization parameters read once, then every
 * pixel costs per tap one input load, two SXTAB16 and four multiply-accumulates, and one word store per pixel. */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's pre-allocation scheduler would hoist all nine taps' loads and spill them */
__attribute__((optimize("no-schedule-insns")))
#endif
static void ed_dw3x3_run4(const ed_dwconv_params_t *p, const int8_t *x0, int8_t *dst0, int32_t rows, int32_t n0,
                          int32_t c, int32_t dy)
{
    const int32_t C = p->in_c, C2 = 2 * C, in_row = p->in_w * C;
    const int32_t sx = p->stride_w * C;
    const uint32_t off2 = ed_dup16(p->input_offset);
    const int32_t out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
    uint32_t we[9], wo[9];
    int32_t bias[4], mult[4], e[4];
    int32_t k;
    for (k = 0; k < 9; k += 3) {
        const int32_t wk = k + 3 * dy; /* the window's row k / 3 is the weights' row k / 3 + dy (ed_dw3x3_s8) */
        if (wk >= 0 && wk < 9) {
            const int8_t *w = p->weights + (size_t)wk * (size_t)C + (size_t)c;
            const uint32_t w0 = ed_read32(w), w1 = ed_read32(w + C), w2 = ed_read32(w + 2 * C);
            we[k] = ed_sxtb16(w0), wo[k] = ed_sxtb16_ror8(w0);
            we[k + 1] = ed_sxtb16(w1), wo[k + 1] = ed_sxtb16_ror8(w1);
            we[k + 2] = ed_sxtb16(w2), wo[k + 2] = ed_sxtb16_ror8(w2);
        } else {
            we[k] = wo[k] = we[k + 1] = wo[k + 1] = we[k + 2] = wo[k + 2] = 0u;
        }
    }
    for (k = 0; k < 4; ++k) {
        bias[k] = p->bias[c + k];
        mult[k] = p->multiplier[c + k];
        e[k] = -p->shift[c + k];
    }
    x0 += c;
    dst0 += c;
    for (; rows > 0; --rows, x0 += p->stride_h * in_row, dst0 += p->out_w * C) {
    const int8_t *x = x0;
    int8_t *dst = dst0;
    int32_t n;
    for (n = n0; n > 0; --n, x += sx, dst += C) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        const int8_t *xr = x;
        uint32_t packed;
        for (k = 0; k < 9; k += 3, xr += in_row) {
            uint32_t xv = ed_read32(xr), xe = ed_sxtab16(off2, xv), xo = ed_sxtab16_ror8(off2, xv);
            a0 = ed_smlabb(xe, we[k], a0);
            a2 = ed_smlatt(xe, we[k], a2);
            a1 = ed_smlabb(xo, wo[k], a1);
            a3 = ed_smlatt(xo, wo[k], a3);
            xv = ed_read32(xr + C);
            xe = ed_sxtab16(off2, xv);
            xo = ed_sxtab16_ror8(off2, xv);
            a0 = ed_smlabb(xe, we[k + 1], a0);
            a2 = ed_smlatt(xe, we[k + 1], a2);
            a1 = ed_smlabb(xo, wo[k + 1], a1);
            a3 = ed_smlatt(xo, wo[k + 1], a3);
            xv = ed_read32(xr + C2);
            xe = ed_sxtab16(off2, xv);
            xo = ed_sxtab16_ror8(off2, xv);
            a0 = ed_smlabb(xe, we[k + 2], a0);
            a2 = ed_smlatt(xe, we[k + 2], a2);
            a1 = ed_smlabb(xo, wo[k + 2], a1);
            a3 = ed_smlatt(xo, wo[k + 2], a3);
        }
        packed = ed_dw_out(a0, mult[0], e[0], out_off, lo, hi) | ed_dw_out(a1, mult[1], e[1], out_off, lo, hi) << 8 |
                 ed_dw_out(a2, mult[2], e[2], out_off, lo, hi) << 16 |
                 ed_dw_out(a3, mult[3], e[3], out_off, lo, hi) << 24;
        ED_MEMCPY_(dst, &packed, 4);
    }
    }
}

/* The channel tail c of a row's interior (in_c not a multiple of 4), one channel at a time, rows moved as run4. */
static void ed_dw3x3_run1(const ed_dwconv_params_t *p, const int8_t *x0, int8_t *dst0, int32_t rows, int32_t n0,
                          int32_t c, int32_t dy)
{
    const int32_t C = p->in_c, in_row = p->in_w * C, sx = p->stride_w * C;
    for (; rows > 0; --rows, x0 += p->stride_h * in_row, dst0 += p->out_w * C) {
    const int8_t *x = x0;
    int8_t *dst = dst0;
    int32_t n;
    for (n = n0; n > 0; --n, x += sx, dst += C) {
        int32_t acc = 0, ky, kx;
        for (ky = 0; ky < 3; ++ky) {
            for (kx = 0; kx < 3; ++kx) {
                const int32_t wy = ky + dy;
                if (wy >= 0 && wy < 3) {
                    acc += ((int32_t)x[ky * in_row + kx * C + c] + p->input_offset) *
                           (int32_t)p->weights[(wy * 3 + kx) * C + c];
                }
            }
        }
        dst[c] = ed_dw_requant(p, acc, c);
    }
    }
}

static void ed_dw3x3_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t C = p->in_c;
    const int32_t in_row = p->in_w * C;
    int32_t xlo, xhi, ylo, yhi, oy, ox, c;
    ed_dw_interior(p->out_w, p->stride_w, p->pad_left, p->in_w, &xlo, &xhi);
    if (xhi - xlo < 2) { /* a one-pixel interior does not repay run4's per-call setup: all pixels one by one */
        xlo = xhi = p->out_w;
    }
    ed_dw_interior(p->out_h, p->stride_h, p->pad_top, p->in_h, &ylo, &yhi);
    for (oy = 0; oy < p->out_h; ++oy) {
        /* The interior rows' interior columns are one block (run4's setup once per group and layer). A row whose
         * windows stick out of the input at the top or bottom (padding) runs its interior columns the same way:
         * the windows moved inside by dy rows (the input has at least 3), the weights moved the other way, the
         * rows that fell outside the input - and only those - weighted 0. Border columns go pixel by pixel. */
        const int32_t rows = (oy == ylo && yhi - ylo > 1) ? yhi - ylo : 1;
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ay = iy0 < 0 ? 0 : (iy0 > p->in_h - 3 ? p->in_h - 3 : iy0);
        int8_t *out_row = output + (size_t)oy * (size_t)p->out_w * (size_t)C;
        int32_t r;
        for (r = 0; r < rows; ++r) {
            int8_t *o = out_row + (size_t)r * (size_t)p->out_w * (size_t)C;
            for (ox = 0; ox < xlo; ++ox) {
                ed_dw_pixel(p, input, oy + r, ox, o + (size_t)ox * (size_t)C, 1);
            }
            for (ox = xhi > xlo ? xhi : xlo; ox < p->out_w; ++ox) {
                ed_dw_pixel(p, input, oy + r, ox, o + (size_t)ox * (size_t)C, 1);
            }
        }
        if (xhi > xlo) {
            const int8_t *x = input + (size_t)ay * (size_t)in_row + (size_t)(xlo * p->stride_w - p->pad_left) * (size_t)C;
            int8_t *dst = out_row + (size_t)xlo * (size_t)C;
            for (c = 0; c + 4 <= C; c += 4) {
                ed_dw3x3_run4(p, x, dst, rows, xhi - xlo, c, ay - iy0);
            }
            for (; c < C; ++c) {
                ed_dw3x3_run1(p, x, dst, rows, xhi - xlo, c, ay - iy0);
            }
        }
        oy += rows - 1;
    }
}

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox;
    if (p->depth_multiplier == 1 && p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->in_h >= 3 &&
        ed_dw3x3_fast_ok(p)) {
        ed_dw3x3_s8(p, input, output);
        return;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            ed_dw_pixel(p, input, oy, ox, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c, 0);
        }
    }
}
