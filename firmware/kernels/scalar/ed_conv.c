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
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

#define ED_CONV_BLOCK (ED_SCALAR_ROWS > ED_SCALAR_PAIR_ROWS ? ED_SCALAR_ROWS : ED_SCALAR_PAIR_ROWS)

static int8_t ed_conv_out(const ed_conv_params_t *p, int32_t acc, const ed_scalar_rq_t *q)
{
    return (int8_t)ed_clamp_i32(ed_scalar_rq(acc, q) + p->output_offset, p->act_min, p->act_max);
}

/* One output pixel, channels [oc, oc + n) with n == ED_SCALAR_ROWS or 1, over the clipped window. */
static inline void ed_conv_pixel(const ed_conv_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int32_t oc,
                                 int32_t n, const ed_scalar_rq_t *q, int8_t *out_pixel)
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
        acc[r] = 0;
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

/* Two interior output pixels (inputs xa and xb at their windows' first tap) by ED_CONV_BLOCK channels from oc,
 * ED_SCALAR_PAIR_ROWS at a time, each accumulator starting at its channel's folded input offset; ob may be NULL
 * (xb == xa: one pixel). */
static void ed_conv_pair(const ed_conv_params_t *p, const int8_t *xa, const int8_t *xb, int32_t oc,
                         const ed_scalar_rq_t *q, const int32_t *folded, int8_t *oa, int8_t *ob)
{
    const int32_t in_c = p->in_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const size_t in_row = (size_t)p->in_w * (size_t)in_c;
    int32_t g, r, ky, kx;
    for (g = 0; g < ED_CONV_BLOCK; g += ED_SCALAR_PAIR_ROWS) {
        int32_t acc[2 * ED_SCALAR_PAIR_ROWS];
        const int8_t *fr[ED_SCALAR_PAIR_ROWS];
        for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
            acc[r] = folded[g + r];
            acc[ED_SCALAR_PAIR_ROWS + r] = folded[g + r];
        }
        for (ky = 0; ky < p->k_h; ++ky) {
            const size_t dy = (size_t)(p->dil_h * ky) * in_row;
            const int8_t *f = p->weights + (size_t)(oc + g) * (size_t)filter_size + (size_t)ky * (size_t)filter_row;
            if (p->dil_w == 1) { /* the kernel row: one run of k_w * in_c bytes */
                for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
                    fr[r] = f + (size_t)r * (size_t)filter_size;
                }
                ed_scalar_dot2(xa + dy, xb + dy, filter_row, fr, acc);
                continue;
            }
            for (kx = 0; kx < p->k_w; ++kx) {
                const size_t dx = dy + (size_t)(p->dil_w * kx) * (size_t)in_c;
                for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
                    fr[r] = f + (size_t)r * (size_t)filter_size + (size_t)kx * (size_t)in_c;
                }
                ed_scalar_dot2(xa + dx, xb + dx, in_c, fr, acc);
            }
        }
        for (r = 0; r < ED_SCALAR_PAIR_ROWS; ++r) {
            oa[oc + g + r] = ed_conv_out(p, acc[r], &q[g + r]);
            if (ob != NULL) {
                ob[oc + g + r] = ed_conv_out(p, acc[ED_SCALAR_PAIR_ROWS + r], &q[g + r]);
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
    const int8_t *pending = NULL; /* an interior pixel's input waiting for a second one, and its output */
    int8_t *pending_out = NULL;
    /* Output columns [ox_lo, ox_hi) and rows [oy_lo, oy_hi) whose windows lie inside the image. */
    int32_t ox_lo = 0, ox_hi = p->out_w, oy_lo = 0, oy_hi = p->out_h;
    int32_t oc, oy, ox, r, i;
    while (ox_lo < p->out_w && ox_lo * p->stride_w - p->pad_left < 0) {
        ++ox_lo;
    }
    while (ox_hi > ox_lo && (ox_hi - 1) * p->stride_w - p->pad_left + p->dil_w * (p->k_w - 1) >= p->in_w) {
        --ox_hi;
    }
    while (oy_lo < p->out_h && oy_lo * p->stride_h - p->pad_top < 0) {
        ++oy_lo;
    }
    while (oy_hi > oy_lo && (oy_hi - 1) * p->stride_h - p->pad_top + p->dil_h * (p->k_h - 1) >= p->in_h) {
        --oy_hi;
    }
    for (oc = 0; oc < out_c;) {
        const int32_t left = out_c - oc;
        /* ED_CONV_BLOCK channels where that many are left, else one at a time. */
        const int32_t nb = left >= ED_CONV_BLOCK ? ED_CONV_BLOCK : 1;
        ed_scalar_rq_t q[ED_CONV_BLOCK];
        int32_t folded[ED_CONV_BLOCK]; /* off * the channel's weight sum: what the interior pairs start from */
        for (r = 0; r < nb; ++r) {
            const int32_t c = oc + r;
            const int32_t k = p->per_channel ? c : 0;
            const int8_t *f = p->weights + (size_t)c * (size_t)filter_size;
            int32_t s = 0;
            q[r] = ed_scalar_rq_init(p->bias != NULL ? p->bias[c] : 0, p->multiplier[k], p->shift[k]);
            for (i = 0; i < filter_size; ++i) {
                s += f[i];
            }
            folded[r] = (int32_t)((uint32_t)p->input_offset * (uint32_t)s);
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t *out_pixel = output + (size_t)oy * out_row + (size_t)ox * (size_t)out_c;
                int32_t g;
                if (nb == ED_CONV_BLOCK && oy >= oy_lo && oy < oy_hi && ox >= ox_lo && ox < ox_hi) {
                    const int8_t *x = input + ((size_t)(oy * p->stride_h - p->pad_top) * (size_t)p->in_w +
                                               (size_t)(ox * p->stride_w - p->pad_left)) *
                                                  (size_t)in_c;
                    if (pending == NULL) { /* wait for the next interior pixel, on this row or a later one */
                        pending = x;
                        pending_out = out_pixel;
                        continue;
                    }
                    ed_conv_pair(p, pending, x, oc, q, folded, pending_out, out_pixel);
                    pending = NULL;
                } else if (nb == 1) {
                    ed_conv_pixel(p, input, oy, ox, oc, 1, q, out_pixel);
                } else {
                    for (g = 0; g < nb; g += ED_SCALAR_ROWS) {
                        ed_conv_pixel(p, input, oy, ox, oc + g, ED_SCALAR_ROWS, &q[g], out_pixel);
                    }
                }
            }
        }
        if (pending != NULL) { /* an odd interior pixel left: paired with itself, its second result dropped */
            ed_conv_pair(p, pending, pending, oc, q, folded, pending_out, NULL);
            pending = NULL;
        }
        oc += nb;
    }
}
