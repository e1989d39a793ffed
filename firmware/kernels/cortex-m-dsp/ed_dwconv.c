/*
 * ed_dwconv.c (Cortex-M DSP) - int8 DEPTHWISE_CONV_2D, same interface and results as the portable
 * firmware/kernels/ed_dwconv.c (TFLite Micro's DepthwiseConvPerChannel, bit for bit).
 *
 * 3x3, depth multiplier 1, undilated, any stride, input at least 3x3, padding at most 1 (MobileNet's and DS-CNN's
 * depthwise layers): channel group by channel group (four channels, their accumulators in registers), the
 * group's weights are sign-extended and doubled once into a 5x5 table of halfword pairs (the kernel in the
 * middle, zeros around), then every output pixel of the layer costs per tap one input word, two SXTAB16 (even
 * and odd channels, input offset added), one LDRD of weights and four SMLABB/SMLATT, nine taps unrolled. A
 * window that sticks out of the input (padding) is moved inside it and reads the table moved the other way, so
 * the taps that fell outside weigh 0 and border pixels cost what interior ones do; the rows and columns of
 * windows inside the input run as one block per group. In a stride-1 layer the rows whose windows lie inside the
 * input run in vertical pairs (ed_dw3x3_pairs): two pixels of a column share two of their three input rows, 12
 * input words instead of 18, eight accumulators in registers (inline Thumb-2 on DSP cores). Doubled weights and
 * bias make the requantization SMMLAR, an add, a shift and SSAT per output (ed_dw_requant2, bit-exact with TFLite
 * Micro's double rounding).
 * Other shapes (depth multiplier > 1, dilation, other kernel sizes, smaller inputs, per-tensor requantization,
 * no bias) run the general per-pixel loop.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"
#include "ed_dw_dsp.h"

/* The vertical pairs' taps as one block of Thumb-2 (registers allocated by hand: GCC's C spills the pointers). It
 * takes 13 registers besides the stack pointer, so not without optimization (-O0 keeps a frame pointer; so does
 * -fno-omit-frame-pointer, which this path does not build with). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && defined(__thumb2__) && \
    defined(__OPTIMIZE__)
#define ED_DW_PAIR_ASM 1
#else
#define ED_DW_PAIR_ASM 0
#endif

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

/* Whether the 3x3 path may run the layer: its shape, windows that stick out of the input by at most one row or
 * column (padding 1, as SAME gives), and requantization the fast form computes exactly for any input
 * (ed_dw_requant2): per-channel parameters, a bias with |bias| <= 2^29 (9 taps of |(x + offset) * w| <= 255 * 128
 * keep |acc| < 2^30), every right shift in [1, 22]. */
static int ed_dw3x3_fast_ok(const ed_dwconv_params_t *p)
{
    int32_t c;
    if (p->depth_multiplier != 1 || p->k_h != 3 || p->k_w != 3 || p->dil_h != 1 || p->dil_w != 1 || p->in_h < 3 ||
        p->in_w < 3 || !p->per_channel || p->bias == NULL || p->out_h < 1 || p->out_w < 1) {
        return 0;
    }
    if (-p->pad_top < -1 || (p->out_h - 1) * p->stride_h - p->pad_top + 3 - p->in_h > 1 || p->pad_left > 1 ||
        (p->out_w - 1) * p->stride_w - p->pad_left + 3 - p->in_w > 1) {
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

/* Where window start s (a row or column) moves to fit a 3-tap window inside size: max(0, min(s, size - 3)). */
static inline int32_t ed_dw_fit(int32_t s, int32_t size)
{
    return s < 0 ? 0 : (s > size - 3 ? size - 3 : s);
}

/* A channel group's weights: 5x5 taps of (even channels, odd channels) halfword pairs, doubled, the 3x3 kernel in
 * the middle and zeros around, so that a window moved by (dy, dx) to fit the input reads its weights from the
 * table at (1 + dy, 1 + dx): the taps that fell outside the input weigh 0. 8-byte aligned for LDRD. */
#define ED_DW_T 5

/* The four channels' requantization: doubled bias, multiplier, rounding-and-offset term, right shift. */
typedef struct {
    int32_t bias2, m, round_off, e;
} ed_dw_rq_t;

/* The four channels' outputs of one pixel: SMMLAR, an add and a shift (ed_dw_requant2), SSAT or the activation's
 * clamp, four byte stores. */
static inline ED_ALWAYS_INLINE void ed_dw_out4(int8_t *dst, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                               const ed_dw_rq_t *q, const ed_dwconv_params_t *p, int full)
{
    int32_t v0 = ed_dw_requant2(a0, q[0].m, q[0].round_off, q[0].e);
    int32_t v1 = ed_dw_requant2(a1, q[1].m, q[1].round_off, q[1].e);
    int32_t v2 = ed_dw_requant2(a2, q[2].m, q[2].round_off, q[2].e);
    int32_t v3 = ed_dw_requant2(a3, q[3].m, q[3].round_off, q[3].e);
    if (full) {
        v0 = ed_dw_ssat8(v0), v1 = ed_dw_ssat8(v1), v2 = ed_dw_ssat8(v2), v3 = ed_dw_ssat8(v3);
    } else {
        v0 = ed_clamp_i32(v0, p->act_min, p->act_max), v1 = ed_clamp_i32(v1, p->act_min, p->act_max);
        v2 = ed_clamp_i32(v2, p->act_min, p->act_max), v3 = ed_clamp_i32(v3, p->act_min, p->act_max);
    }
    ED_DW_STRB(dst, 0, v0);
    ED_DW_STRB(dst, 1, v1);
    ED_DW_STRB(dst, 2, v2);
    ED_DW_STRB(dst, 3, v3);
}

/* n output pixels of four channels (dst, dst + C, ...), windows from x (inside the input, sx bytes apart), weights
 * from w (a 3x3 view of the 5x5 table): per tap one input word, two SXTAB16 (even and odd channels, input
 * offset added), one LDRD of weights and four multiply-accumulates; then SMMLAR, an add, a shift and SSAT per
 * output. */
static inline ED_ALWAYS_INLINE void ed_dw3x3_px4(const int8_t *x0, int8_t *dst0, int32_t rows, int32_t n0,
                                                 const uint32_t *w, const ed_dw_rq_t *q, const ed_dwconv_params_t *p)
{
    const int32_t C = p->in_c, C2 = 2 * C, in_row = p->in_w * C, sx = p->stride_w * C;
    const uint32_t off2 = ed_dup16(p->input_offset);
    const int full = p->act_min == -128 && p->act_max == 127;
    for (; rows > 0; --rows, x0 += p->stride_h * in_row, dst0 += p->out_w * C) {
    const int8_t *x = x0;
    int8_t *dst = dst0;
    int32_t n;
    for (n = n0; n > 0; --n, x += sx, dst += C) {
        int32_t a0 = q[0].bias2, a1 = q[1].bias2, a2 = q[2].bias2, a3 = q[3].bias2;
        const int8_t *xr = x;
        /* tap (j, i): one input word, its even and odd channels (offset added), the weight pair in one LDRD */
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
        ed_dw_out4(dst, a0, a1, a2, a3, q, p, full);
    }
    }
}

/* Vertical pairs of output pixels (stride 1, both windows inside the input rows), four channels, ncols columns
 * (x and dst advance by sx and C per column): the two windows share two of their three input rows, so a pair
 * loads 12 input words instead of 18. The 3x3 weight view w is copied to the stack (LDRD from the stack pointer:
 * no register for the table), and the input offset is folded into the bias (offset x the view's weight sum,
 * which counts only the taps inside the input), so SXTB16 unpacks the input and the offset needs no register
 * either: eight accumulators, the input pointer, the channel stride and four temporaries fit the 14 registers. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-schedule-insns"), noinline))
#endif
static void ed_dw3x3_pairs(const ed_dwconv_params_t *p, const int8_t *x_row, int8_t *o_row, int32_t pairs,
                           const uint32_t *wc, const ed_dw_rq_t *qs)
{
    const ed_dw_rq_t q[4] = {qs[0], qs[1], qs[2], qs[3]}; /* on the stack too: no register for its address */
    const int32_t C = p->in_c, in_row = p->in_w * C, out_row = p->out_w * C;
    const int full = p->act_min == -128 && p->act_max == 127;
    /* the view, (even, odd) word pairs, then the input row; uint64_t for the alignment (zeroed in C, where GCC
     * cannot see that the first column fills it) */
#if ED_DW_PAIR_ASM
    uint64_t wl64[10];
#else
    uint64_t wl64[10] = {0u};
#endif
    uint32_t *wl = (uint32_t *)(void *)wl64;
    int32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0, ox, dx_view = 2;
    wl[18] = (uint32_t)in_row;
    for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_left, dx = ed_dw_fit(ix0, p->in_w) - ix0;
        const int8_t *x = x_row + (size_t)(ix0 + dx) * (size_t)C;
        int8_t *dst = o_row + (size_t)ox * (size_t)C;
        const int8_t *const x_end = x + (size_t)pairs * 2u * (size_t)in_row;
        if (dx != dx_view) { /* a border column, or the first column after it: its view of the table */
            const uint32_t *w = wc + 2 * dx;
            uint32_t se = 0u, so = 0u, we, wo;
            dx_view = dx;
#define ED_DW_COPY(k, off)               \
    do {                                 \
        ED_DW_LDRD(w, off, we, wo);      \
        wl[2 * (k)] = we;                \
        wl[2 * (k) + 1] = wo;            \
        se = ed_sadd16(se, we);          \
        so = ed_sadd16(so, wo);          \
    } while (0)
            ED_DW_COPY(0, 0);
            ED_DW_COPY(1, 8);
            ED_DW_COPY(2, 16);
            ED_DW_COPY(3, 40);
            ED_DW_COPY(4, 48);
            ED_DW_COPY(5, 56);
            ED_DW_COPY(6, 80);
            ED_DW_COPY(7, 88);
            ED_DW_COPY(8, 96);
#undef ED_DW_COPY
            /* nine doubled weights: |sum| <= 9 * 256 fits a halfword */
            b0 = q[0].bias2 + p->input_offset * (int32_t)(int16_t)(se & 0xFFFFu);
            b2 = q[2].bias2 + p->input_offset * ((int32_t)se >> 16);
            b1 = q[1].bias2 + p->input_offset * (int32_t)(int16_t)(so & 0xFFFFu);
            b3 = q[3].bias2 + p->input_offset * ((int32_t)so >> 16);
        }
        for (; x != x_end; x += 2 * in_row, dst += 2 * out_row) {
            /* a: the upper pixel, c: the lower one */
            int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3, c0 = b0, c1 = b1, c2 = b2, c3 = b3;
#if ED_DW_PAIR_ASM
            {
                const int8_t *xr = x;
                uint32_t xe, xo, we, wo;
                /* input word at column offset `col` of the row at xr: even and odd channels */
#define ED_DW_LD(col) "ldr %[xo], [%[xr]" col "]\n\tsxtb16 %[xe], %[xo]\n\tsxtb16 %[xo], %[xo], ror #8\n\t"
                /* kernel tap k of one pixel's four accumulators */
#define ED_DW_MA(k, d0, d1, d2, d3)                                                                    \
    "ldrd %[we], %[wo], %[w" #k "]\n\tsmlabb %[" d0 "], %[xe], %[we], %[" d0 "]\n\tsmlatt %[" d2 "], %[xe], " \
    "%[we], %[" d2 "]\n\tsmlabb %[" d1 "], %[xo], %[wo], %[" d1 "]\n\tsmlatt %[" d3 "], %[xo], %[wo], %[" d3 "]\n\t"
#define ED_DW_UP(k) ED_DW_MA(k, "a0", "a1", "a2", "a3")
#define ED_DW_DN(k) ED_DW_MA(k, "c0", "c1", "c2", "c3")
#define ED_DW_NEXT "ldr %[we], %[row]\n\tadd %[xr], %[xr], %[we]\n\t"
                /* operands: eight accumulators, the row pointer, four temporaries; the channel stride, the input
                 * row in memory (a temporary loads it), weight pair k of the view */
#define ED_DW_OUT                                                                                                 \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2),     \
        [c3] "+r"(c3), [xr] "+r"(xr), [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)
#define ED_DW_IN [C] "r"(C), [row] "m"(wl[18])
#define ED_DW_W(k) [w##k] "m"(*(const uint32_t(*)[2])(const void *)&wl[2 * (k)])
                /* two statements (at most 30 operands each): input rows 0 and 1, then 2 and 3 */
                __asm__(ED_DW_LD("") ED_DW_UP(0) ED_DW_LD(", %[C]") ED_DW_UP(1) ED_DW_LD(", %[C], lsl #1") ED_DW_UP(2)
                        ED_DW_NEXT ED_DW_LD("") ED_DW_UP(3) ED_DW_DN(0) ED_DW_LD(", %[C]") ED_DW_UP(4) ED_DW_DN(1)
                        ED_DW_LD(", %[C], lsl #1") ED_DW_UP(5) ED_DW_DN(2) ED_DW_NEXT
                        : ED_DW_OUT
                        : ED_DW_IN,
                          ED_DW_W(0), ED_DW_W(1), ED_DW_W(2), ED_DW_W(3), ED_DW_W(4), ED_DW_W(5)
                        : "memory");
                __asm__(ED_DW_LD("") ED_DW_UP(6) ED_DW_DN(3) ED_DW_LD(", %[C]") ED_DW_UP(7) ED_DW_DN(4)
                        ED_DW_LD(", %[C], lsl #1") ED_DW_UP(8) ED_DW_DN(5)
                        ED_DW_NEXT ED_DW_LD("") ED_DW_DN(6) ED_DW_LD(", %[C]") ED_DW_DN(7)
                        ED_DW_LD(", %[C], lsl #1") ED_DW_DN(8)
                        : ED_DW_OUT
                        : ED_DW_IN,
                          ED_DW_W(3), ED_DW_W(4), ED_DW_W(5), ED_DW_W(6), ED_DW_W(7), ED_DW_W(8)
                        : "memory");
#undef ED_DW_LD
#undef ED_DW_MA
#undef ED_DW_UP
#undef ED_DW_DN
#undef ED_DW_NEXT
#undef ED_DW_OUT
#undef ED_DW_IN
#undef ED_DW_W
            }
#else
            {
            const int8_t *xr = x;
            uint32_t xe, xo, we, wo;
#define ED_DW_LOAD(xp)                \
    do {                              \
        xo = ed_read32(xp);           \
        xe = ed_sxtb16(xo);           \
        xo = ed_sxtb16_ror8(xo);      \
    } while (0)
#define ED_DW_MAC(k, d0, d1, d2, d3)        \
    do {                                    \
        ED_DW_LDRD_L(wl, k, we, wo);        \
        d0 = ed_smlabb(xe, we, d0);         \
        d2 = ed_smlatt(xe, we, d2);         \
        d1 = ed_smlabb(xo, wo, d1);         \
        d3 = ed_smlatt(xo, wo, d3);         \
    } while (0)
            /* input row 0: the upper pixel's kernel row 0 */
            ED_DW_LOAD(xr); ED_DW_MAC(0, a0, a1, a2, a3);
            ED_DW_LOAD(xr + C); ED_DW_MAC(1, a0, a1, a2, a3);
            ED_DW_LOAD(xr + 2 * C); ED_DW_MAC(2, a0, a1, a2, a3);
            xr += in_row; /* rows 1 and 2: kernel rows 1 and 2 of the upper pixel, 0 and 1 of the lower */
            ED_DW_LOAD(xr); ED_DW_MAC(3, a0, a1, a2, a3); ED_DW_MAC(0, c0, c1, c2, c3);
            ED_DW_LOAD(xr + C); ED_DW_MAC(4, a0, a1, a2, a3); ED_DW_MAC(1, c0, c1, c2, c3);
            ED_DW_LOAD(xr + 2 * C); ED_DW_MAC(5, a0, a1, a2, a3); ED_DW_MAC(2, c0, c1, c2, c3);
            xr += in_row;
            ED_DW_LOAD(xr); ED_DW_MAC(6, a0, a1, a2, a3); ED_DW_MAC(3, c0, c1, c2, c3);
            ED_DW_LOAD(xr + C); ED_DW_MAC(7, a0, a1, a2, a3); ED_DW_MAC(4, c0, c1, c2, c3);
            ED_DW_LOAD(xr + 2 * C); ED_DW_MAC(8, a0, a1, a2, a3); ED_DW_MAC(5, c0, c1, c2, c3);
            xr += in_row; /* row 3: the lower pixel's kernel row 2 */
            ED_DW_LOAD(xr); ED_DW_MAC(6, c0, c1, c2, c3);
            ED_DW_LOAD(xr + C); ED_DW_MAC(7, c0, c1, c2, c3);
            ED_DW_LOAD(xr + 2 * C); ED_DW_MAC(8, c0, c1, c2, c3);
#undef ED_DW_LOAD
#undef ED_DW_MAC
            }
#endif
            ed_dw_out4(dst, a0, a1, a2, a3, q, p, full);
            ed_dw_out4(dst + out_row, c0, c1, c2, c3, q, p, full);
        }
    }
}

/* The whole layer for channel group c..c+3 (weight table w, requantization q), row by row: per row the window's
 * move dy, per run of columns with the same move dx one run of the pixel loop (inlined: no call per block of
 * pixels, and a 3x3 output is nine blocks); the rows whose windows lie inside the input as one block. */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's pre-allocation scheduler would hoist all nine taps' loads and spill them */
__attribute__((optimize("no-schedule-insns"), noinline))
#endif
static void ed_dw3x3_group(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output, int32_t c,
                           const uint32_t *w, const ed_dw_rq_t *q)
{
    const int32_t C = p->in_c;
    /* the last column and row whose windows end inside the input */
    const int32_t last = (p->in_w - 3 + p->pad_left) / p->stride_w;
    const int32_t last_y = p->in_h - 3 + p->pad_top >= 0 ? (p->in_h - 3 + p->pad_top) / p->stride_h : -1;
    int32_t oy;
    for (oy = 0; oy < p->out_h;) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top, ay = ed_dw_fit(iy0, p->in_h);
        const int32_t rows = ay == iy0 ? (last_y < p->out_h ? last_y + 1 : p->out_h) - oy : 1;
        const int8_t *x_row = input + (size_t)ay * (size_t)p->in_w * (size_t)C;
        int8_t *o_row = output + (size_t)oy * (size_t)p->out_w * (size_t)C;
        int32_t ox = 0;
        if (rows >= 2 && p->stride_h == 1) { /* windows inside the input rows: vertical pairs, any odd row next */
            ed_dw3x3_pairs(p, x_row + c, o_row + c, rows / 2, w + 2 * (ED_DW_T + 1), q);
            oy += rows & ~1;
            continue;
        }
        while (ox < p->out_w) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left, ax = ed_dw_fit(ix0, p->in_w);
            /* a run of windows inside the input, or one border column */
            const int32_t n = ax == ix0 ? (last < p->out_w ? last + 1 : p->out_w) - ox : 1;
            const int8_t *x = x_row + (size_t)ax * (size_t)C;
            int8_t *o = o_row + (size_t)ox * (size_t)C;
            ed_dw3x3_px4(x + c, o + c, rows, n, w + 2 * ((1 + ay - iy0) * ED_DW_T + 1 + ax - ix0), q, p);
            ox += n;
        }
        oy += rows;
    }
}

/* Channels c..c+3: the group's weight table (doubled, sign-extended, zeros around) and requantization, then the
 * layer. */
static void ed_dw3x3_channels(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output, int32_t c)
{
    const int32_t C = p->in_c;
    uint64_t table[ED_DW_T * ED_DW_T]; /* (even, odd) pairs of ed_dw3x3_px4; uint64_t for the alignment */
    uint32_t *w = (uint32_t *)(void *)table;
    ed_dw_rq_t q[4];
    int32_t k;
    /* the ring of zeros around the kernel, entry by entry (a memset of the table is a byte loop in newlib-nano) */
    for (k = 0; k < ED_DW_T; ++k) {
        table[k] = 0u;
        table[(ED_DW_T - 1) * ED_DW_T + k] = 0u;
    }
    for (k = 1; k < ED_DW_T - 1; ++k) {
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
    ed_dw3x3_group(p, input, output, c, w, q);
}

static void ed_dw3x3_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t c;
    int32_t oy, ox;
    for (c = 0; c + 4 <= p->in_c; c += 4) {
        ed_dw3x3_channels(p, input, output, c);
    }
    if (c < p->in_c) { /* the channel tail (in_c not a multiple of 4): the general loop, pixel by pixel */
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                ed_dw_pixel(p, input, oy, ox, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->in_c,
                            c);
            }
        }
    }
}

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox;
    if (ed_dw3x3_fast_ok(p)) {
        ed_dw3x3_s8(p, input, output);
        return;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            ed_dw_pixel(p, input, oy, ox, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c, 0);
        }
    }
}
