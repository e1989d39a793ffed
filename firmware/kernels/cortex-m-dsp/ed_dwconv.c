/*
 * ed_dwconv.c (Cortex-M DSP) - int8 DEPTHWISE_CONV_2D, same interface and results as the portable
 * firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * 3x3, depth multiplier 1, undilated, stride 1 or 2, input at least 3x3, padding at most 1 (MobileNet's and
 * DS-CNN's depthwise layers): channel group by channel group (four channels), each input row of the group goes
 * once into a band on the stack (a ring of three rows per channel, ed_dw_fill): per channel, words of two
 * neighbouring columns as int16 with the input offset added (SXTAB16, PKHBT/PKHTB), zeros in the padding (four
 * columns a step in Thumb-2, ed_dw_fill_quads). Then each output row of each channel: SMLAD sums two taps of one
 * channel, so four output columns cost six loads of band words, three LDRD of weights, 24 multiplies (SMLAD,
 * SMLATB, SMLABT) for 36 MACs and the requantization (doubled weights and bias: SMMLAR, an add, a shift, SSAT;
 * ed_dw_requant2, bit-exact with TFLite Micro's double rounding), in inline Thumb-2 on DSP cores (ED_DW_A_CHANS:
 * the group's channels of a row in one piece). A map taller than wide and as wide as its input (KWS's 25x5) runs
 * transposed: its columns as the band's rows. An output row lands only on input rows already in the band and on
 * its own channels: the kernel may write the layer over its input (edgesdk.compiler.dw_inplace.SELF_ATTR).
 * Small maps (a padded input row of at most ED_DW_MAP_NW words, at most ED_DW_MAP_ROWS padded rows, an output at
 * least two columns wide; ed_dw_map.h) put each group's whole padded input into a map on the stack in the band's
 * layout and run every channel's rows in one Thumb-2 pass: no ring, no per-row fill or set-up, in place too. Small
 * stride-2 maps one column wide run pixel by pixel from the input with a 5x5 table of weights instead
 * (ed_dw3x3_table_s8), in place too.
 * Other shapes (depth multiplier > 1, dilation, other kernel sizes, smaller inputs, per-tensor requantization,
 * no bias) run the general per-pixel loop.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"
#include "ed_dw_dsp.h"

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

/* One output pixel, any shape: the window clipped to the input, channel groups of four (SXTAB16 adds the input
 * offset, SMLABB/SMLATT multiply), then the tail and any depth multiplier one channel at a time. */
static void ed_dw_pixel(const ed_dwconv_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int8_t *out_pixel,
                        int32_t c_first)
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
    c = c_first;
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
            out_pixel[c] = ed_dw_requant(p, a0, c);
            out_pixel[c + 1] = ed_dw_requant(p, a1, c + 1);
            out_pixel[c + 2] = ed_dw_requant(p, a2, c + 2);
            out_pixel[c + 3] = ed_dw_requant(p, a3, c + 3);
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

#define ED_DW_NW 32 /* words of a band row */

/* Whether the band path's loops run as inline Thumb-2 (ED_DW_A_CHANS, ed_dw_fill's four-column loop) */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && defined(__thumb2__) && \
    defined(__OPTIMIZE__)
#define ED_DW_ASM 1
#else
#define ED_DW_ASM 0
#endif

/* Whether the layer runs transposed (ed_dw_view_t): taller than wide, as wide as its input (stride 1 across, so
 * that an output column lands on its own input column and the layer may still be computed in place), at most
 * ED_DW_NW words a band row, stride at most 2 down. */
static int ed_dw3x3_transposed(const ed_dwconv_params_t *p)
{
    return p->out_h > p->out_w && p->out_w == p->in_w && p->out_h <= p->in_h && p->stride_h <= 2 &&
           ((p->out_h - 1) * p->stride_h + 4) / 2 <= ED_DW_NW;
}

/* Whether the 3x3 path may run the layer: its shape, windows that stick out of the input by at most one row or
 * column (padding 1, as SAME gives), a padded row of at most 2 * ED_DW_NW words, and requantization the fast form
 * computes exactly for any input (ed_dw_requant2): per-channel parameters, a bias with |bias| <= 2^29 (9 taps of
 * |(x + offset) * w| <= 255 * 128 keep |acc| < 2^30), every right shift in [1, 22]. */
static int ed_dw3x3_fast_ok(const ed_dwconv_params_t *p)
{
    int32_t c;
    if (p->depth_multiplier != 1 || p->k_h != 3 || p->k_w != 3 || p->dil_h != 1 || p->dil_w != 1 || p->in_h < 3 ||
        p->in_w < 3 || !p->per_channel || p->bias == NULL || p->out_h < 1 || p->out_w < 1 ||
        ((p->stride_w > 2 || p->out_w > p->in_w || ((p->out_w - 1) * p->stride_w + 4) / 2 > ED_DW_NW) &&
         !ed_dw3x3_transposed(p))) {
        return 0;
    }
    if (p->pad_top < 0 || p->pad_top > 1 || (p->out_h - 1) * p->stride_h - p->pad_top + 3 - p->in_h > 1 ||
        p->pad_left < 0 || p->pad_left > 1 || (p->out_w - 1) * p->stride_w - p->pad_left + 3 - p->in_w > 1) {
        return 0;
    }
    for (c = 0; c < p->out_c; ++c) {
        const int32_t b = p->bias[c];
        if (p->shift[c] >= 0 || p->shift[c] < -22 || b > (1 << 29) || b < -(1 << 29)) {
            return 0;
        }
    }
    return 1;
}

/* One channel's requantization: the doubled bias (the weights are doubled too, for ed_dw_requant2), multiplier,
 * rounding-and-offset term and right shift. */
typedef struct {
    int32_t bias2, m, round_off, e;
} ed_dw_ch_t;

/* A channel of the band path: per kernel row r the halfword pairs (2 w[r][0], 2 w[r][1]) and (2 w[r][1],
 * 2 w[r][2]), in the order of the ring's slots (slot s: w[2s], w[2s + 1]; ed_dw3x3_group's rec[rot]), its
 * requantization, and where the Thumb-2 loop's band pointer ends its four-column steps, starts the pair and starts
 * the single column (NULL: no pair, no single), the next channel's band (NULL: the last channel) and output step.
 * The assembly reads them at fixed offsets (ED_DW_A_CHANS). */
typedef struct {
    uint32_t w[6];
    ed_dw_ch_t q;
    const uint32_t *p_end[3], *p_next;
    int32_t o_next;
} ed_dw_rec_t;

/* Byte steps of the layer in the band's orientation: input, output and weights between two columns (the band's
 * word direction) and two rows. A tall, narrow map (KWS's 25x5) runs transposed, columns as rows: 25 outputs per
 * band row instead of 5, the per-row costs paid a fifth as often. */
typedef struct {
    int32_t x_col, x_row, o_col, o_row, w_col, w_row;
} ed_dw_view_t;

/* The band: per channel of a group three slots (a ring of input rows, row iy in slot (iy + 3) % 3) of nw words;
 * word j of a slot holds padded columns 2j and 2j + 1 (column u = ix + pad_left) as int16 x + input_offset, 0 in
 * the padding. Output column ox's window starts at word ox * stride_w / 2: an even column (or any column of a
 * stride-2 layer) is SMLAD of word j with (w0, w1) plus the low half of word j + 1 times w2 (SMLABT), an odd one
 * the high half of word j times w0 (SMLATB) plus SMLAD of word j + 1 with (w1, w2): 9 MACs in 6 instructions and
 * two output columns share their three row loads (LDRD). */
static inline ED_ALWAYS_INLINE void ed_dw_pack4(uint32_t *d, int32_t plane, uint32_t ae, uint32_t ao, uint32_t be,
                                                uint32_t bo)
{
    d[0] = ed_dw_pkhbt(ae, be);
    d[plane] = ed_dw_pkhbt(ao, bo);
    d[2 * plane] = ed_dw_pkhtb(be, ae);
    d[3 * plane] = ed_dw_pkhtb(bo, ao);
}

/* ed_dw_fill4's columns from *x on, four a step while at least four remain before x_end (the last column), into
 * words j, j + 1, ... of slot d: in Thumb-2 on DSP cores (28 instructions for 16 values: SXTAB16, PKHBT/PKHTB, a
 * channel's two words a STRD at offsets that need planes of 3 * ED_DW_NW words), nothing elsewhere. *x advanced
 * past them; returns the next word. */
static inline ED_ALWAYS_INLINE int32_t ed_dw_fill_quads(uint32_t off2, const int8_t **xp, const int8_t *x_end,
                                                        uint32_t *d, int32_t j, int32_t plane, int32_t C)
{
#if ED_DW_ASM
    const int8_t *x = *xp;
    if (plane == 3 * ED_DW_NW && x_end - x > 2 * C) {
        const int8_t *const lim = x_end - 2 * C;
        uint32_t *q = d + j + 2 * plane; /* channel 2's slot: the four within STRD's offsets */
        uint32_t a, b, a2, b2, ae, be, ae2, be2, t;
        __asm__ volatile(
            "1:\n\tldr %[a], [%[x]]\n\tldr %[b], [%[x], %[C]]\n\tadd %[x], %[x], %[C], lsl #1\n\t"
            "ldr %[a2], [%[x]]\n\tldr %[b2], [%[x], %[C]]\n\tadd %[x], %[x], %[C], lsl #1\n\t"
            "sxtab16 %[ae], %[off], %[a]\n\tsxtab16 %[a], %[off], %[a], ror #8\n\t"
            "sxtab16 %[be], %[off], %[b]\n\tsxtab16 %[b], %[off], %[b], ror #8\n\t"
            "sxtab16 %[ae2], %[off], %[a2]\n\tsxtab16 %[a2], %[off], %[a2], ror #8\n\t"
            "sxtab16 %[be2], %[off], %[b2]\n\tsxtab16 %[b2], %[off], %[b2], ror #8\n\t"
            "pkhbt %[t], %[ae], %[be], lsl #16\n\tpkhtb %[be], %[be], %[ae], asr #16\n\t"
            "pkhbt %[ae], %[ae2], %[be2], lsl #16\n\tpkhtb %[be2], %[be2], %[ae2], asr #16\n\t"
            "strd %[t], %[ae], [%[q], #-768]\n\t"
            "pkhbt %[t], %[a], %[b], lsl #16\n\tpkhtb %[b], %[b], %[a], asr #16\n\t"
            "pkhbt %[a], %[a2], %[b2], lsl #16\n\tpkhtb %[b2], %[b2], %[a2], asr #16\n\t"
            "strd %[t], %[a], [%[q], #-384]\n\tstrd %[b], %[b2], [%[q], #384]\n\t"
            "strd %[be], %[be2], [%[q]], #8\n\tcmp %[x], %[lim]\n\tblo 1b\n\t"
            : [x] "+r"(x), [q] "+r"(q), [a] "=&r"(a), [b] "=&r"(b), [a2] "=&r"(a2), [b2] "=&r"(b2),
              [ae] "=&r"(ae), [be] "=&r"(be), [ae2] "=&r"(ae2), [be2] "=&r"(be2), [t] "=&r"(t)
            : [C] "r"(C), [off] "r"(off2), [lim] "r"(lim)
            : "cc", "memory");
        *xp = x;
        return (int32_t)(q - d) - 2 * plane;
    }
#else
    (void)off2, (void)xp, (void)x_end, (void)d, (void)plane, (void)C;
#endif
    return j;
}

/* Input row x (four channels, column 0 at x, columns C bytes apart) into slot d (channel k's at d + k * plane),
 * its columns up to x_end (the last one the slot holds) after pad_left (0 or 1) padding columns, the padding halves
 * of their words 0; returns the words written (the words after them hold padding only). */
static inline ED_ALWAYS_INLINE int32_t ed_dw_fill4(uint32_t off2, const int8_t *x, const int8_t *x_end,
                                                   int32_t pad_left, uint32_t *d, int32_t plane, int32_t C)
{
    int32_t j = 0;
    if (pad_left) { /* word 0: the padding column, then column 0 */
        const uint32_t b = ed_read32(x);
        ed_dw_pack4(d, plane, 0u, 0u, ed_sxtab16(off2, b), ed_sxtab16_ror8(off2, b));
        x += C;
        j = 1;
    }
    j = ed_dw_fill_quads(off2, &x, x_end, d, j, plane, C);
    for (; x < x_end; x += 2 * C, ++j) {
        const uint32_t a = ed_read32(x), b = ed_read32(x + C);
        ed_dw_pack4(d + j, plane, ed_sxtab16(off2, a), ed_sxtab16_ror8(off2, a), ed_sxtab16(off2, b),
                    ed_sxtab16_ror8(off2, b));
    }
    if (x == x_end) { /* the last column, and the padding after it */
        const uint32_t a = ed_read32(x);
        ed_dw_pack4(d + j, plane, ed_sxtab16(off2, a), ed_sxtab16_ror8(off2, a), 0u, 0u);
        ++j;
    }
    return j;
}

/* The last column of input row x that a slot of nw words holds. */
static inline const int8_t *ed_dw_fill_end(const ed_dwconv_params_t *p, const int8_t *x, int32_t nw, int32_t C)
{
    const int32_t cols = p->in_w < 2 * nw - p->pad_left ? p->in_w : 2 * nw - p->pad_left;
    return x + (size_t)(cols - 1) * (size_t)C;
}

/* Input row x of n < 4 channels into slot d, nw words: channel by channel. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void ed_dw_fill_few(const ed_dwconv_params_t *p, const int8_t *x, uint32_t *d, int32_t plane, int32_t nw,
                           int32_t n, int32_t C)
{
    const int32_t off = p->input_offset;
    int32_t j, k, h, ix;
    for (k = 0; k < n; ++k) {
        uint32_t *dk = d + k * plane;
        for (j = 0; j < nw; ++j) {
            uint32_t v = 0u;
            for (h = 0; h < 2; ++h) {
                ix = 2 * j + h - p->pad_left;
                if (ix >= 0 && ix < p->in_w) {
                    v |= ((uint32_t)((int32_t)x[(size_t)ix * (size_t)C + (size_t)k] + off) & 0xFFFFu) << (16 * h);
                }
            }
            dk[j] = v;
        }
    }
}

/* Input row x (channel c of column 0; NULL: a padding row) of n channels into slot d (channel 0's; channel k's
 * at d + k * plane), nw words. (No memset: newlib-nano's is a byte loop, and the tails are a word or two.) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void ed_dw_fill(const ed_dwconv_params_t *p, const int8_t *x, uint32_t *d, int32_t plane, int32_t nw,
                       int32_t n, int32_t C)
{
    int32_t j, k;
    if (x == NULL) {
        for (k = 0; k < n; ++k) {
            for (j = 0; j < nw; ++j) {
                d[k * plane + j] = 0u;
            }
        }
        return;
    }
    if (n == 4) {
        for (j = ed_dw_fill4(ed_dup16(p->input_offset), x, ed_dw_fill_end(p, x, nw, C), p->pad_left, d, plane, C);
             j < nw; ++j) {
            ed_dw_pack4(d + j, plane, 0u, 0u, 0u, 0u);
        }
        return;
    }
    ed_dw_fill_few(p, x, d, plane, nw, n, C);
}

/* One output value: requantized (ed_dw_requant2), saturated or clamped to the activation. */
static inline ED_ALWAYS_INLINE int32_t ed_dw_out1(int32_t acc2, const ed_dw_ch_t *k, int full, int32_t lo,
                                                  int32_t hi)
{
    const int32_t v = ed_dw_requant2(acc2, k->m, k->round_off, k->e);
    return full ? ed_dw_ssat8(v) : ed_clamp_i32(v, lo, hi);
}

/* One output row of one channel from slots r0, r1, r2 (kernel rows 0, 1, 2) into o (outputs C bytes apart). */
static inline ED_ALWAYS_INLINE void ed_dw_row(const uint32_t *r0, const uint32_t *r1, const uint32_t *r2,
                                              const uint32_t *w, const ed_dw_ch_t *k, int8_t *o, int32_t C,
                                              int32_t out_w, int32_t stride, int full, int32_t lo, int32_t hi)
{
    const uint32_t p0 = w[0], q0 = w[1], p1 = w[2], q1 = w[3], p2 = w[4], q2 = w[5];
    int32_t n = out_w;
    if (stride == 1) {
        for (; n >= 2; n -= 2, o += 2 * C) {
            int32_t s0 = k->bias2, s1 = k->bias2;
            uint32_t a, b;
            ED_DW_LDRD_INC4(r0, a, b);
            s0 = ed_smlad(a, p0, s0), s1 = ed_smlatb(a, p0, s1), s0 = ed_smlabt(b, q0, s0), s1 = ed_smlad(b, q0, s1);
            ED_DW_LDRD_INC4(r1, a, b);
            s0 = ed_smlad(a, p1, s0), s1 = ed_smlatb(a, p1, s1), s0 = ed_smlabt(b, q1, s0), s1 = ed_smlad(b, q1, s1);
            ED_DW_LDRD_INC4(r2, a, b);
            s0 = ed_smlad(a, p2, s0), s1 = ed_smlatb(a, p2, s1), s0 = ed_smlabt(b, q2, s0), s1 = ed_smlad(b, q2, s1);
            ED_DW_STRB(o, 0, ed_dw_out1(s0, k, full, lo, hi));
            ED_DW_STRB(o, C, ed_dw_out1(s1, k, full, lo, hi));
        }
    }
    for (; n > 0; --n, o += C) { /* an odd last column; every column of a stride-2 layer */
        int32_t s0 = k->bias2;
        uint32_t a, b;
        ED_DW_LDRD_INC4(r0, a, b);
        s0 = ed_smlad(a, p0, s0), s0 = ed_smlabt(b, q0, s0);
        ED_DW_LDRD_INC4(r1, a, b);
        s0 = ed_smlad(a, p1, s0), s0 = ed_smlabt(b, q1, s0);
        ED_DW_LDRD_INC4(r2, a, b);
        s0 = ed_smlad(a, p2, s0), s0 = ed_smlabt(b, q2, s0);
        ED_DW_STRB(o, 0, ed_dw_out1(s0, k, full, lo, hi));
    }
}


/* One output row of one channel of a group in Thumb-2 (registers allocated by hand: in C, GCC spills the
 * accumulators and pointers), for the full int8 range (SSAT). Four output columns a step: the band pointer (the
 * channel's slot 0; slots 1 and 2 at fixed offsets), the output pointer and stride, the channel's record (ed_dw_rec_t:
 * its weight pairs in the ring's slot order, bias, requantization), one kernel row's two weight pairs (reloaded per
 * slot), two band words, four accumulators and the channel's multiplier and rounding term take the 14 registers.
 * Per four output columns (36 MACs): 3 LDRD of weights, 6 loads of band words (stride 1: LDRD and LDR a slot;
 * stride 2: 2 LDRD and LDR), 24 multiply-accumulates, the bias, 21 instructions of requantization (SMMLAR, the
 * sign's ADD, ASR, SSAT, STRB per output; the shift loaded once, with the loop's end in the same LDRD), two adds
 * of the output pointer, a compare and a branch: 59 (stride 2: 62). Then at most one pair and one single column. */
#if ED_DW_ASM
typedef char ed_dw_rec_offsets_ok[sizeof(ed_dw_rec_t) == 60 ? 1 : -1]; /* the assembly's offsets */
/* Fragments for a loop that keeps a channel's six weight pairs in registers (w0..w5) and a pair's accumulators s0,
 * s1 (the band path's row loads one kernel row's weights per slot instead: ED_DW_A_CHANS).
 * Slot `ld`'s taps: LDRD of two words, SMLAD/SMLATB/SMLABT/SMLAD into the pair, or SMLAD/SMLABT into one */
#define ED_DW_A_ROW(ld, wp, wq)                                                                             \
    "ldrd %[a], %[b], " ld "\n\tsmlad %[s0], %[a], %[" wp "], %[s0]\n\tsmlatb %[s1], %[a], %[" wp "], %[s1]\n\t" \
    "smlabt %[s0], %[b], %[" wq "], %[s0]\n\tsmlad %[s1], %[b], %[" wq "], %[s1]\n\t"
#define ED_DW_A_ONE(ld, wp, wq) "ldrd %[a], %[b], " ld "\n\tsmlad %[s0], %[a], %[" wp "], %[s0]\n\t" \
    "smlabt %[s0], %[b], %[" wq "], %[s0]\n\t"
/* s0 requantized into t (the shift loaded into s0) and stored at o */
#define ED_DW_A_RQ0                                                                                  \
    "ldrd %[a], %[b], %[mro]\n\tsmmlar %[t], %[s0], %[a], %[b]\n\tadd %[t], %[t], %[s0], asr #31\n\t" \
    "ldr %[s0], %[e]\n\tasr %[t], %[t], %[s0]\n\tssat %[t], #8, %[t]\n\tstrb %[t], [%[o]]\n\t"
/* stride 2: the pair's windows start two columns apart, words j and j + 1: LDRD of words j, j + 1, LDR of j + 2 */
#define ED_DW_A_ROW2(ld, ld3, wp, wq)                                                                       \
    "ldrd %[a], %[b], " ld "\n\tsmlad %[s0], %[a], %[" wp "], %[s0]\n\tsmlabt %[s0], %[b], %[" wq "], %[s0]\n\t" \
    "smlad %[s1], %[b], %[" wp "], %[s1]\n\tldr %[a], " ld3 "\n\tsmlabt %[s1], %[a], %[" wq "], %[s1]\n\t"
#define ED_DW_A_S(x) #x
/* ld: the slot's first LDRD of band words; ld3: its third word; wo: the byte offset of its weights in the record.
 * I: the first slot, whose taps start every accumulator from s0 (the bias) */
#define ED_DW_A_Q1_(wo, ld, ld3, s1i, s2i, s3i)                                                                    \
    "ldrd %[w0], %[w1], [%[wp], #" ED_DW_A_S(wo) "]\n\tldrd %[a], %[b], " ld "\n\t"                                   \
    "smlatb %[s1], %[a], %[w0], %[" s1i "]\n\tsmlad %[s2], %[b], %[w0], %[" s2i "]\n\t"                              \
    "smlatb %[s3], %[b], %[w0], %[" s3i "]\n\tsmlad %[s0], %[a], %[w0], %[s0]\n\t"                                   \
    "smlabt %[s0], %[b], %[w1], %[s0]\n\tsmlad %[s1], %[b], %[w1], %[s1]\n\tldr %[a], " ld3 "\n\t"                  \
    "smlabt %[s2], %[a], %[w1], %[s2]\n\tsmlad %[s3], %[a], %[w1], %[s3]\n\t"
#define ED_DW_A_Q1I(wo, ld, ld3) ED_DW_A_Q1_(wo, ld, ld3, "s0", "s0", "s0")
#define ED_DW_A_Q1(wo, ld, ld3) ED_DW_A_Q1_(wo, ld, ld3, "s1", "s2", "s3")
/* stride 2: output k's window starts at band word j + k: ld the words j + 2, j + 3, ld0 the words j, j + 1, ld4
 * the word j + 4 */
#define ED_DW_A_Q2_(wo, ld, ld0, ld4, s1i, s2i, s3i)                                                               \
    "ldrd %[w0], %[w1], [%[wp], #" ED_DW_A_S(wo) "]\n\tldrd %[a], %[b], " ld "\n\t"                                   \
    "smlabt %[s1], %[a], %[w1], %[" s1i "]\n\tsmlad %[s2], %[a], %[w0], %[" s2i "]\n\t"                              \
    "smlad %[s3], %[b], %[w0], %[" s3i "]\n\tsmlabt %[s2], %[b], %[w1], %[s2]\n\tldrd %[a], %[b], " ld0 "\n\t"     \
    "smlad %[s0], %[a], %[w0], %[s0]\n\tsmlabt %[s0], %[b], %[w1], %[s0]\n\tsmlad %[s1], %[b], %[w0], %[s1]\n\t"    \
    "ldr %[a], " ld4 "\n\tsmlabt %[s3], %[a], %[w1], %[s3]\n\t"
#define ED_DW_A_Q2I(wo, ld, ld0, ld4) ED_DW_A_Q2_(wo, ld, ld0, ld4, "s0", "s0", "s0")
#define ED_DW_A_Q2(wo, ld, ld0, ld4) ED_DW_A_Q2_(wo, ld, ld0, ld4, "s1", "s2", "s3")
/* accumulator s requantized into a and stored at addr (the shift in w0) */
#define ED_DW_A_RQ(s, addr)                                                                                        \
    "smmlar %[a], %[" s "], %[m], %[ro]\n\tadd %[a], %[a], %[" s "], asr #31\n\tasr %[a], %[a], %[w0]\n\t"          \
    "ssat %[a], #8, %[a]\n\tstrb %[a], " addr "\n\t"
#define ED_DW_A_RQ2 ED_DW_A_RQ("s0", "[%[o]]") ED_DW_A_RQ("s1", "[%[o], %[C]]") "add %[o], %[o], %[C], lsl #1\n\t"
/* a pair of columns (stride 1 or 2) and a single column: slot's weights, band words, 4 or 2 multiplies */
#define ED_DW_A_P1(wo, ld)                                                                                         \
    "ldrd %[w0], %[w1], [%[wp], #" ED_DW_A_S(wo) "]\n\tldrd %[a], %[b], " ld "\n\t"                                   \
    "smlad %[s0], %[a], %[w0], %[s0]\n\tsmlatb %[s1], %[a], %[w0], %[s1]\n\t"                                        \
    "smlabt %[s0], %[b], %[w1], %[s0]\n\tsmlad %[s1], %[b], %[w1], %[s1]\n\t"
#define ED_DW_A_P2(wo, ld, ld3)                                                                                    \
    "ldrd %[w0], %[w1], [%[wp], #" ED_DW_A_S(wo) "]\n\tldrd %[a], %[b], " ld "\n\t"                                   \
    "smlad %[s0], %[a], %[w0], %[s0]\n\tsmlabt %[s0], %[b], %[w1], %[s0]\n\tsmlad %[s1], %[b], %[w0], %[s1]\n\t"    \
    "ldr %[a], " ld3 "\n\tsmlabt %[s1], %[a], %[w1], %[s1]\n\t"
#define ED_DW_A_SGL(wo, ld)                                                                                        \
    "ldrd %[w0], %[w1], [%[wp], #" ED_DW_A_S(wo) "]\n\tldrd %[a], %[b], " ld "\n\t"                                   \
    "smlad %[s0], %[a], %[w0], %[s0]\n\tsmlabt %[s0], %[b], %[w1], %[s0]\n\t"
/* the stride's four-column step, pair and single column, slots 1 and 2 at byte offsets a1 and a2 from slot 0 (the
 * band's 128 and 256; the small map's rows 32 and 64), a1_8 = a1 + 8, a1_16 = a1 + 16 and so on */
#define ED_DW_A_QUAD1_AT(a1, a1_8, a2, a2_8)                                                                       \
    ED_DW_A_Q1I(8, "[%[p], #" a1 "]", "[%[p], #" a1_8 "]") ED_DW_A_Q1(16, "[%[p], #" a2 "]", "[%[p], #" a2_8 "]")  \
    ED_DW_A_Q1(0, "[%[p]], #8", "[%[p]]")
#define ED_DW_A_PAIR1_AT(a1, a2)                                                                                   \
    "mov %[s1], %[s0]\n\t" ED_DW_A_P1(8, "[%[p], #" a1 "]") ED_DW_A_P1(16, "[%[p], #" a2 "]")                      \
    ED_DW_A_P1(0, "[%[p]], #4")
#define ED_DW_A_QUAD2_AT(a1, a1_8, a1_16, a2, a2_8, a2_16)                                                         \
    ED_DW_A_Q2I(8, "[%[p], #" a1_8 "]", "[%[p], #" a1 "]", "[%[p], #" a1_16 "]")                                  \
    ED_DW_A_Q2(16, "[%[p], #" a2_8 "]", "[%[p], #" a2 "]", "[%[p], #" a2_16 "]")                                  \
    ED_DW_A_Q2(0, "[%[p], #8]", "[%[p]], #16", "[%[p]]")
#define ED_DW_A_PAIR2_AT(a1, a1_8, a2, a2_8)                                                                       \
    "mov %[s1], %[s0]\n\t" ED_DW_A_P2(8, "[%[p], #" a1 "]", "[%[p], #" a1_8 "]")                                  \
    ED_DW_A_P2(16, "[%[p], #" a2 "]", "[%[p], #" a2_8 "]") ED_DW_A_P2(0, "[%[p]], #8", "[%[p]]")
#define ED_DW_A_SINGLE_AT(a1, a2)                                                                                  \
    ED_DW_A_SGL(8, "[%[p], #" a1 "]") ED_DW_A_SGL(16, "[%[p], #" a2 "]") ED_DW_A_SGL(0, "[%[p]]")
#define ED_DW_A_QUAD1 ED_DW_A_QUAD1_AT("128", "136", "256", "264")
#define ED_DW_A_PAIR1 ED_DW_A_PAIR1_AT("128", "256")
#define ED_DW_A_QUAD2 ED_DW_A_QUAD2_AT("128", "136", "144", "256", "264", "272")
#define ED_DW_A_PAIR2 ED_DW_A_PAIR2_AT("128", "136", "256", "264")
#define ED_DW_A_SINGLE ED_DW_A_SINGLE_AT("128", "256")
/* The group's output row, channel after channel: band bp (channel 0's), output o_ (channel 0's), records r
 * (ed_dw_rec_t: bias at 24, multiplier and rounding term at 28, shift at 36, the band pointer's ends at 40, 44, 48,
 * the next channel's band at 52, NULL after the last, the step from the output pointer after a channel's row (its
 * last even column) to the next channel's start at 56). */
#define ED_DW_A_CHANS(QUAD, PAIR, bp, o_, r)                                                                       \
    do {                                                                                                           \
        const uint32_t *p_ = (bp);                                                                                 \
        int8_t *oo_ = (o_);                                                                                        \
        const ed_dw_rec_t *wp_ = (r);                                                                              \
        uint32_t s0, s1, s2, s3, a, b, w0, w1, m, ro;                                                              \
        __asm__ volatile(                                                                                          \
            "0:\n\tldrd %[m], %[ro], [%[wp], #28]\n\tldr %[a], [%[wp], #40]\n\tcmp %[p], %[a]\n\tbeq 2f\n"        \
            "1:\n\tldr %[s0], [%[wp], #24]\n\t" QUAD "ldrd %[w0], %[w1], [%[wp], #36]\n\t" ED_DW_A_RQ2              \
            ED_DW_A_RQ("s2", "[%[o]]") ED_DW_A_RQ("s3", "[%[o], %[C]]") "add %[o], %[o], %[C], lsl #1\n\t"          \
            "cmp %[p], %[w1]\n\tbne 1b\n"                                                                          \
            "2:\n\tldrd %[s2], %[s3], [%[wp], #44]\n\tcmp %[p], %[s2]\n\tbne 3f\n\t"                                \
            "ldr %[s0], [%[wp], #24]\n\t" PAIR "ldr %[w0], [%[wp], #36]\n\t" ED_DW_A_RQ2                           \
            "3:\n\tcmp %[p], %[s3]\n\tbne 4f\n\t"                                                                   \
            "ldr %[s0], [%[wp], #24]\n\t" ED_DW_A_SINGLE "ldr %[w0], [%[wp], #36]\n\t" ED_DW_A_RQ("s0", "[%[o]]")   \
            "4:\n\tldrd %[p], %[a], [%[wp], #52]\n\tcmp %[p], #0\n\tbeq 5f\n\t"                                    \
            "add %[o], %[o], %[a]\n\tadd %[wp], %[wp], #60\n\tb 0b\n"                                                \
            "5:\n\t"                                                                                               \
            : [p] "+r"(p_), [o] "+r"(oo_), [wp] "+r"(wp_), [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2),          \
              [s3] "=&r"(s3), [a] "=&r"(a), [b] "=&r"(b), [w0] "=&r"(w0), [w1] "=&r"(w1), [m] "=&r"(m),            \
              [ro] "=&r"(ro)                                                                                       \
            : [C] "r"(C)                                                                                           \
            : "cc", "memory");                                                                                     \
    } while (0)
#endif

#if ED_DW_ASM
/* Outputs o[ox * C + k] (ox < out_w, k < n) clamped to [lo, hi]; four channels a word: SSUB8 sets a lane's GE
 * flag where v >= lo, SEL keeps v there and lo elsewhere, and the same against hi. */
static inline ED_ALWAYS_INLINE void ed_dw_clamp_row(int8_t *o, int32_t n, int32_t C, int32_t out_w, int32_t lo,
                                                    int32_t hi)
{
    const uint32_t lo4 = ((uint32_t)lo & 0xFFu) * 0x01010101u, hi4 = ((uint32_t)hi & 0xFFu) * 0x01010101u;
    int32_t ox, k;
    for (ox = 0; ox < out_w; ++ox, o += C) {
        if (n == 4) {
            uint32_t v = ed_read32(o), t;
            __asm__("ssub8 %[t], %[v], %[lo]\n\tsel %[v], %[v], %[lo]\n\tssub8 %[t], %[hi], %[v]\n\t"
                    "sel %[v], %[v], %[hi]"
                    : [v] "+r"(v), [t] "=&r"(t)
                    : [lo] "r"(lo4), [hi] "r"(hi4)
                    : "cc");
            ed_write32(o, v);
            continue;
        }
        for (k = 0; k < n; ++k) {
            o[k] = (int8_t)ed_clamp_i32(o[k], lo, hi);
        }
    }
}
#endif

/* Output rows of channels c..c+n-1, one after the other: the input rows a row needs go into the band (each input
 * row once), then each channel's row. Output row oy lands in input pixels of rows <= oy, already in the band, and
 * touches only these channels: output may be input (the layer in place, no scratch). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline))
#endif
static void ed_dw3x3_group(const ed_dwconv_params_t *p, const ed_dw_view_t *v, const int8_t *input, int8_t *output,
                           int32_t c, int32_t n, uint32_t *band, int32_t nw)
{
    const int32_t C = v->o_col, plane = 3 * ED_DW_NW, in_row = v->x_row, out_row = v->o_row;
    const int full = p->act_min == -128 && p->act_max == 127;
    /* the channels' records (ed_dw_rec_t) in the ring's three slot orders: rec[rot] */
    ed_dw_rec_t rec[3][4];
#if ED_DW_ASM
    const int32_t step = 2 * p->stride_w; /* band words per four output columns, then per pair */
    const int32_t quads = p->out_w / 4, pair = p->out_w & 2;
#endif
    int32_t oy, k, r, next = -p->pad_top;
    for (k = 0; k < n; ++k) {
        const int8_t *w = p->weights + c + k;
        const int32_t e = -p->shift[c + k];
        uint32_t pq[6];
        for (r = 0; r < 3; ++r) {
            const int8_t *wr = w + r * v->w_row;
            const int32_t w0 = 2 * wr[0], w1 = 2 * wr[v->w_col], w2 = 2 * wr[2 * v->w_col];
            pq[2 * r] = ((uint32_t)w0 & 0xFFFFu) | ((uint32_t)w1 << 16);
            pq[2 * r + 1] = ((uint32_t)w1 & 0xFFFFu) | ((uint32_t)w2 << 16);
        }
        {
            ed_dw_rec_t *const d = &rec[0][k];
            d->w[0] = pq[0], d->w[1] = pq[1], d->w[2] = pq[2], d->w[3] = pq[3], d->w[4] = pq[4], d->w[5] = pq[5];
            d->q.bias2 = 2 * p->bias[c + k];
            d->q.m = p->multiplier[c + k];
            d->q.e = e;
            d->q.round_off = ed_add_wrap((int32_t)1 << (e - 1), ed_shl_wrap(p->output_offset, e));
#if ED_DW_ASM
            d->p_end[0] = band + k * plane + quads * step;
            d->p_end[1] = pair ? d->p_end[0] : NULL;
            d->p_end[2] = p->out_w & 1 ? d->p_end[0] + (pair ? p->stride_w : 0) : NULL;
            d->p_next = k + 1 < n ? band + (k + 1) * plane : NULL;
            d->o_next = 1 - (p->out_w & ~1) * C; /* the single column does not advance the output pointer */
#endif
        }
        /* ring rotation rot (kernel row 0 in slot rot): slot s holds kernel row (s - rot) mod 3 */
        {
            ed_dw_rec_t *const b = &rec[1][k], *const d = &rec[2][k];
            *b = rec[0][k], *d = rec[0][k];
            b->w[0] = pq[4], b->w[1] = pq[5], b->w[2] = pq[0], b->w[3] = pq[1], b->w[4] = pq[2], b->w[5] = pq[3];
            d->w[0] = pq[2], d->w[1] = pq[3], d->w[2] = pq[4], d->w[3] = pq[5], d->w[4] = pq[0], d->w[5] = pq[1];
        }
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const uint32_t *r0, *r1, *r2;
        int8_t *o = output + (size_t)oy * (size_t)out_row + (size_t)c;
        for (; next <= iy0 + 2; ++next) {
            const int8_t *x = next >= 0 && next < p->in_h ? input + (size_t)next * (size_t)in_row + (size_t)c : NULL;
            ed_dw_fill(p, x, band + ((next + 3) % 3) * ED_DW_NW, plane, nw, n, v->x_col);
        }
#if ED_DW_ASM
        {
            int8_t *const orow = o;
            const ed_dw_rec_t *const rq = rec[(iy0 + 3) % 3];
            if (p->stride_w == 1) {
                ED_DW_A_CHANS(ED_DW_A_QUAD1, ED_DW_A_PAIR1, band, orow, rq);
            } else {
                ED_DW_A_CHANS(ED_DW_A_QUAD2, ED_DW_A_PAIR2, band, orow, rq);
            }
            if (!full) { /* an activation narrower than int8 (ReLU6): clamp(SSAT(v)) is clamp(v), row by row */
                ed_dw_clamp_row(orow, n, C, p->out_w, p->act_min, p->act_max);
            }
            continue;
        }
#endif
        r0 = band + ((iy0 + 3) % 3) * ED_DW_NW;
        r1 = band + ((iy0 + 4) % 3) * ED_DW_NW;
        r2 = band + ((iy0 + 5) % 3) * ED_DW_NW;
        for (k = 0; k < n; ++k, r0 += plane, r1 += plane, r2 += plane) {
            if (full) {
                ed_dw_row(r0, r1, r2, rec[0][k].w, &rec[0][k].q, o + k, C, p->out_w, p->stride_w, 1, -128, 127);
            } else {
                ed_dw_row(r0, r1, r2, rec[0][k].w, &rec[0][k].q, o + k, C, p->out_w, p->stride_w, 0, p->act_min,
                          p->act_max);
            }
        }
    }
}

/* Channels c..c+n-1 (n <= 4): the band, then the layer. */
static void ed_dw3x3_channels(const ed_dwconv_params_t *p, const ed_dw_view_t *v, const int8_t *input,
                              int8_t *output, int32_t c, int32_t n)
{
    uint64_t band64[4 * 3 * ED_DW_NW / 2]; /* uint64_t for LDRD's alignment */
    ed_dw3x3_group(p, v, input, output, c, n, (uint32_t *)(void *)band64, ((p->out_w - 1) * p->stride_w + 4) / 2);
}

/* Small stride-2 maps (output at most ED_DW_TABLE_W wide and tall): the band converts every input value once per
 * output row that needs it, and on a 6x6 or 3x3 map its per-row and per-group setup outweighs the taps. These run
 * pixel by pixel from the input (ed_dw3x3_px4): the group's weights sign-extended and doubled once into a 5x5 table
 * of (even channels, odd channels) halfword pairs, the 3x3 kernel in the middle and zeros around, so that a window
 * that sticks out of the input (padding) moves inside it and reads the table moved the other way (the taps that
 * fell outside weigh 0, and border pixels cost what interior ones do). Group by group, pixels in raster order, a
 * pixel's window starting at or after its own position (stride 2 both ways): in place too. */
#define ED_DW_TABLE_W 6
#define ED_DW_T 5

static int ed_dw3x3_table_ok(const ed_dwconv_params_t *p)
{
    return p->stride_h == 2 && p->stride_w == 2 && p->out_w <= ED_DW_TABLE_W && p->out_h <= ED_DW_TABLE_W;
}

/* Where window start s (a row or column) moves to fit a 3-tap window inside size: max(0, min(s, size - 3)). */
static inline int32_t ed_dw_fit(int32_t s, int32_t size)
{
    return s < 0 ? 0 : (s > size - 3 ? size - 3 : s);
}

/* n output pixels of four channels (dst, dst + C, ...), windows from x (inside the input, 2C bytes apart), weights
 * from w (a 3x3 view of the 5x5 table): per tap one input word, two SXTAB16 (even and odd channels, input offset
 * added), one LDRD of weights and four multiply-accumulates; then the requantization (ed_dw_requant2) per output. */
static inline ED_ALWAYS_INLINE void ed_dw3x3_px4(const ed_dwconv_params_t *p, const int8_t *x, int8_t *dst, int32_t n,
                                                 const uint32_t *w, const ed_dw_ch_t *q, int full)
{
    const int32_t C = p->in_c, C2 = 2 * C, in_row = p->in_w * C;
    const uint32_t off2 = ed_dup16(p->input_offset);
    for (; n > 0; --n, x += C2, dst += C) {
        int32_t a0 = q[0].bias2, a1 = q[1].bias2, a2 = q[2].bias2, a3 = q[3].bias2;
        const int8_t *xr = x;
#define ED_DW_TAP(j, i, xp)                              \
    do {                                                 \
        const uint32_t xv_ = ed_read32(xp);              \
        const uint32_t xe_ = ed_sxtab16(off2, xv_);      \
        const uint32_t xo_ = ed_sxtab16_ror8(off2, xv_); \
        uint32_t we_, wo_;                               \
        ED_DW_LDRD(w, ((j) * 5 + (i)) * 8, we_, wo_);    \
        a0 = ed_smlabb(xe_, we_, a0);                    \
        a2 = ed_smlatt(xe_, we_, a2);                    \
        a1 = ed_smlabb(xo_, wo_, a1);                    \
        a3 = ed_smlatt(xo_, wo_, a3);                    \
    } while (0)
        ED_DW_TAP(0, 0, xr);
        ED_DW_TAP(0, 1, xr + C);
        ED_DW_TAP(0, 2, xr + C2);
        xr += in_row;
        ED_DW_TAP(1, 0, xr);
        ED_DW_TAP(1, 1, xr + C);
        ED_DW_TAP(1, 2, xr + C2);
        xr += in_row;
        ED_DW_TAP(2, 0, xr);
        ED_DW_TAP(2, 1, xr + C);
        ED_DW_TAP(2, 2, xr + C2);
#undef ED_DW_TAP
        ED_DW_STRB(dst, 0, ed_dw_out1(a0, q, full, p->act_min, p->act_max));
        ED_DW_STRB(dst, 1, ed_dw_out1(a1, q + 1, full, p->act_min, p->act_max));
        ED_DW_STRB(dst, 2, ed_dw_out1(a2, q + 2, full, p->act_min, p->act_max));
        ED_DW_STRB(dst, 3, ed_dw_out1(a3, q + 3, full, p->act_min, p->act_max));
    }
}

/* Channels c..c+3 of a small stride-2 layer, from the group's weight table w and requantization q: per row the
 * window's move dy, per run of columns with the same move dx one run of ed_dw3x3_px4. Row by row (not the rows
 * whose windows lie inside the input as one block): a pixel then never writes over an input value a pixel before
 * it in raster order still reads, and the layer may run in place. */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's pre-allocation scheduler would hoist all nine taps' loads and spill them */
__attribute__((optimize("no-schedule-insns"), noinline))
#endif
static void ed_dw3x3_table_rows(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output, int32_t c,
                                const uint32_t *w, const ed_dw_ch_t *q)
{
    const int32_t C = p->in_c, last = (p->in_w - 3 + p->pad_left) / 2;
    const int32_t run_end = last + 1 < p->out_w ? last + 1 : p->out_w; /* columns whose windows lie inside */
    const int full = p->act_min == -128 && p->act_max == 127;
    int32_t oy;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = 2 * oy - p->pad_top, ay = ed_dw_fit(iy0, p->in_h);
        const int8_t *x_row = input + (size_t)ay * (size_t)p->in_w * (size_t)C + (size_t)c;
        int8_t *o_row = output + (size_t)oy * (size_t)p->out_w * (size_t)C + (size_t)c;
        const uint32_t *wy = w + 2 * (1 + ay - iy0) * ED_DW_T;
        int32_t ox = 0;
        while (ox < p->out_w) {
            const int32_t ix0 = 2 * ox - p->pad_left, ax = ed_dw_fit(ix0, p->in_w);
            const int32_t n = ax == ix0 ? run_end - ox : 1; /* a run of windows inside the input, or a border column */
            ed_dw3x3_px4(p, x_row + (size_t)ax * (size_t)C, o_row + (size_t)ox * (size_t)C, n, wy + 2 * (1 + ax - ix0), q,
                         full);
            ox += n;
        }
    }
}

/* Channels c..c+3 of a small stride-2 layer: the group's weight table (doubled, sign-extended, zeros around) and
 * requantization, then its rows. */
static void ed_dw3x3_table_group(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output, int32_t c)
{
    const int32_t C = p->in_c;
    uint64_t table[ED_DW_T * ED_DW_T]; /* uint64_t for LDRD's alignment */
    uint32_t *const w = (uint32_t *)(void *)table;
    ed_dw_ch_t q[4];
    int32_t k;
    /* the ring of zeros around the kernel, entry by entry (a memset is a byte loop in newlib-nano) */
    for (k = 0; k < ED_DW_T; ++k) {
        table[k] = 0u;
        table[(ED_DW_T - 1) * ED_DW_T + k] = 0u;
        table[k * ED_DW_T] = 0u;
        table[k * ED_DW_T + ED_DW_T - 1] = 0u;
    }
    for (k = 0; k < 9; ++k) {
        const uint32_t wv = ed_read32(p->weights + (size_t)k * (size_t)C + (size_t)c);
        const uint32_t we = ed_sxtb16(wv), wo = ed_sxtb16_ror8(wv);
        uint32_t *t = w + 2 * ((k / 3 + 1) * ED_DW_T + k % 3 + 1);
        t[0] = ed_sadd16(we, we);
        t[1] = ed_sadd16(wo, wo);
    }
    for (k = 0; k < 4; ++k) {
        const int32_t e = -p->shift[c + k];
        q[k].bias2 = 2 * p->bias[c + k];
        q[k].m = p->multiplier[c + k];
        q[k].e = e;
        q[k].round_off = ed_add_wrap((int32_t)1 << (e - 1), ed_shl_wrap(p->output_offset, e));
    }
    ed_dw3x3_table_rows(p, input, output, c, w, q);
}

/* A small stride-2 layer: channel groups of four by the table, a channel tail by the general loop (pixels in raster
 * order, so in place too). */
static void ed_dw3x3_table_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t c, oy, ox;
    for (c = 0; c + 4 <= p->in_c; c += 4) {
        ed_dw3x3_table_group(p, input, output, c);
    }
    if (c < p->in_c) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                ed_dw_pixel(p, input, oy, ox, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->in_c, c);
            }
        }
    }
}

#include "ed_dw_map.h"

static void ed_dw3x3_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t C = p->in_c;
    ed_dwconv_params_t t;
    ed_dw_view_t v;
    int32_t c;
    v.x_col = C, v.x_row = p->in_w * C, v.o_col = C, v.o_row = p->out_w * C, v.w_col = C, v.w_row = 3 * C;
    if (ed_dw3x3_transposed(p)) { /* the view's rows are the map's columns */
        t = *p;
        t.in_h = p->in_w, t.in_w = p->in_h, t.out_h = p->out_w, t.out_w = p->out_h;
        t.stride_h = p->stride_w, t.stride_w = p->stride_h, t.pad_top = p->pad_left, t.pad_left = p->pad_top;
        v.x_col = p->in_w * C, v.x_row = C, v.o_col = p->out_w * C, v.o_row = C, v.w_col = 3 * C, v.w_row = C;
        p = &t;
    }
    for (c = 0; c < C; c += 4) {
        ed_dw3x3_channels(p, &v, input, output, c, C - c < 4 ? C - c : 4);
    }
}

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox;
    if (ed_dw3x3_fast_ok(p)) {
        if (ed_dw_map_ok(p)) {
            ed_dw_map_s8(p, input, output);
            return;
        }
        if (ed_dw3x3_table_ok(p)) {
            ed_dw3x3_table_s8(p, input, output);
            return;
        }
        ed_dw3x3_s8(p, input, output);
        return;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            ed_dw_pixel(p, input, oy, ox, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c, 0);
        }
    }
}
