/*
 * ed_winograd_dw.c - int8 DEPTHWISE_CONV_2D 3x3, stride 1, undilated, depth multiplier 1 through Winograd
 * F(2x2,3x3) (Lavin & Gray, CVPR 2016), integer-exact: the output equals ed_dwconv_s8 bit for bit.
 *
 * Depthwise has no sum over input channels, so per channel and 2x2 output tile the 16 products U (.) V replace
 * 36 multiply-accumulates, and the transforms must pay for themselves channel by channel. The weights were
 * transformed at export by edgesdk.winograd (the single source of the transforms): U = G' g G'^T with G' = 2G,
 * int16 (|U| <= 1152), in groups of four channels [in_c / 4][16][c0, c2, c1, c3] (halfword pairs matching the
 * even and odd halves SXTAB16 splits a word of four input channels into), then the channels of the tail
 * (in_c % 4) one by one [in_c % 4][16] (edgesdk.backends.c.winograd_dw). Per tile and group of four channels:
 *   d: 16 words of input, SXTAB16 adds the input offset (0 outside the image, i.e. the zero point);
 *   V = B^T d B on halfword pairs with SADD16/SSUB16 (|V| <= 1020: no lane overflows);
 *   M = U (.) V with SMULBB/SMULTT, Y = A^T M A = 4 * acc, acc = Y >> 2 exactly;
 * then bias, TFLite Micro's double-rounding requantization and the clamp as the direct kernel.
 * On a core without the DSP extension ed_simd.h supplies the instructions in C, so the kernel is portable C99.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline uint32_t ed_wdw_add(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b); }
static inline uint32_t ed_wdw_sub(uint32_t a, uint32_t b) { return (uint32_t)__ssub16((int16x2_t)a, (int16x2_t)b); }
#else
static inline uint32_t ed_wdw_lane(uint32_t x, int k) { return (uint32_t)(int32_t)(int16_t)(uint16_t)(x >> (16 * k)); }
static inline uint32_t ed_wdw_add(uint32_t a, uint32_t b)
{
    return ((ed_wdw_lane(a, 0) + ed_wdw_lane(b, 0)) & 0xFFFFu) | ((ed_wdw_lane(a, 1) + ed_wdw_lane(b, 1)) << 16);
}
static inline uint32_t ed_wdw_sub(uint32_t a, uint32_t b)
{
    return ((ed_wdw_lane(a, 0) - ed_wdw_lane(b, 0)) & 0xFFFFu) | ((ed_wdw_lane(a, 1) - ed_wdw_lane(b, 1)) << 16);
}
#endif

/* V = B^T d B of a 4x4 tile (d[4 * row + column]), any lane type T with add/sub. */
#define ED_WDW_VT(ADD, SUB, d, v)                                                                            \
    do {                                                                                                     \
        int k_;                                                                                              \
        for (k_ = 0; k_ < 4; ++k_) { /* B^T d: rows t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3 */ \
            const uint32_t a_ = (d)[k_], b_ = (d)[4 + k_], c_ = (d)[8 + k_], e_ = (d)[12 + k_];             \
            (d)[k_] = SUB(a_, c_);                                                                           \
            (d)[4 + k_] = ADD(b_, c_);                                                                       \
            (d)[8 + k_] = SUB(c_, b_);                                                                       \
            (d)[12 + k_] = SUB(b_, e_);                                                                      \
        }                                                                                                    \
        for (k_ = 0; k_ < 16; k_ += 4) { /* (B^T d) B: the same on the columns */                             \
            const uint32_t a_ = (d)[k_], b_ = (d)[k_ + 1], c_ = (d)[k_ + 2], e_ = (d)[k_ + 3];              \
            (v)[k_] = SUB(a_, c_);                                                                           \
            (v)[k_ + 1] = ADD(b_, c_);                                                                       \
            (v)[k_ + 2] = SUB(c_, b_);                                                                       \
            (v)[k_ + 3] = SUB(b_, e_);                                                                       \
        }                                                                                                    \
    } while (0)

static inline uint32_t ed_wdw_add32(uint32_t a, uint32_t b) { return a + b; }
static inline uint32_t ed_wdw_sub32(uint32_t a, uint32_t b) { return a - b; }

/* Y = A^T M A of one channel (wrapping uint32 arithmetic, exact since |4 acc| < 2^31), requantized: the 2x2
 * outputs (row-major) as the bytes of one word. */
static inline uint32_t ed_wdw_out(const uint32_t *m, int32_t bias, int32_t mult, int32_t shift, int32_t out_off,
                                  int32_t lo, int32_t hi)
{
    const uint32_t r00 = m[0] + m[4] + m[8], r01 = m[1] + m[5] + m[9];
    const uint32_t r02 = m[2] + m[6] + m[10], r03 = m[3] + m[7] + m[11];
    const uint32_t r10 = m[4] - m[8] - m[12], r11 = m[5] - m[9] - m[13];
    const uint32_t r12 = m[6] - m[10] - m[14], r13 = m[7] - m[11] - m[15];
    const int32_t y00 = (int32_t)(r00 + r01 + r02) >> 2, y01 = (int32_t)(r01 - r02 - r03) >> 2;
    const int32_t y10 = (int32_t)(r10 + r11 + r12) >> 2, y11 = (int32_t)(r11 - r12 - r13) >> 2;
    return (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(y00 + bias, mult, shift) + out_off, lo, hi) |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(y01 + bias, mult, shift) + out_off, lo, hi) << 8 |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(y10 + bias, mult, shift) + out_off, lo, hi) << 16 |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(y11 + bias, mult, shift) + out_off, lo, hi) << 24;
}

/* One lane (channel) of a group: the 16 products U (.) V (bottom halves with SMULBB, or top with SMULTT; the
 * weight words are u[2k]) folded column by column straight into the output transform Y = A^T M A, so that only
 * the four outputs stay live; returns the 2x2 requantized outputs as the bytes of one word. */
#define ED_WDW_MUL(k) ((top) ? (uint32_t)ed_smlatt(v[k], u[2 * (k)], 0) : (uint32_t)ed_smlabb(v[k], u[2 * (k)], 0))
static inline uint32_t ed_wdw_lane_out(const uint32_t *v, const uint32_t *u, int top, int32_t bias, int32_t mult,
                                       int32_t shift, int32_t out_off, int32_t lo, int32_t hi)
{
    uint32_t y00, y01, y10, y11, m0, m1, m2, m3, r0, r1;
    int32_t a, b, c, d;
    /* column j: r0 = m[j] + m[4 + j] + m[8 + j], r1 = m[4 + j] - m[8 + j] - m[12 + j] */
    m0 = ED_WDW_MUL(0), m1 = ED_WDW_MUL(4), m2 = ED_WDW_MUL(8), m3 = ED_WDW_MUL(12);
    y00 = m0 + m1 + m2;
    y10 = m1 - m2 - m3;
    m0 = ED_WDW_MUL(1), m1 = ED_WDW_MUL(5), m2 = ED_WDW_MUL(9), m3 = ED_WDW_MUL(13);
    r0 = m0 + m1 + m2;
    r1 = m1 - m2 - m3;
    y00 += r0, y01 = r0, y10 += r1, y11 = r1;
    m0 = ED_WDW_MUL(2), m1 = ED_WDW_MUL(6), m2 = ED_WDW_MUL(10), m3 = ED_WDW_MUL(14);
    r0 = m0 + m1 + m2;
    r1 = m1 - m2 - m3;
    y00 += r0, y01 -= r0, y10 += r1, y11 -= r1;
    m0 = ED_WDW_MUL(3), m1 = ED_WDW_MUL(7), m2 = ED_WDW_MUL(11), m3 = ED_WDW_MUL(15);
    y01 -= m0 + m1 + m2;
    y11 -= m1 - m2 - m3;
    a = ((int32_t)y00 >> 2) + bias, b = ((int32_t)y01 >> 2) + bias;
    c = ((int32_t)y10 >> 2) + bias, d = ((int32_t)y11 >> 2) + bias;
    return (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(a, mult, shift) + out_off, lo, hi) |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(b, mult, shift) + out_off, lo, hi) << 8 |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(c, mult, shift) + out_off, lo, hi) << 16 |
           (uint32_t)(uint8_t)(int8_t)ed_clamp_i32(ed_mbqm_fast(d, mult, shift) + out_off, lo, hi) << 24;
}
#undef ED_WDW_MUL

void ed_winograd_dw_s8(const ed_winograd_dw_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, C = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t C4 = C & ~3;
    const uint32_t off2 = ed_dup16(p->input_offset);
    /* four bytes of the zero point: outside the image SXTAB16 then gives 0 in every lane */
    const uint32_t zp4 = ((uint32_t)(uint8_t)(int8_t)(-p->input_offset)) * 0x01010101u;
    const int32_t out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int16_t *tail_u = p->weights + (size_t)C4 * 16u;
    int32_t ty, tx, c, k;
    for (ty = 0; ty < out_h; ty += 2) {
        for (tx = 0; tx < out_w; tx += 2) {
            const int32_t y0 = ty - p->pad_top, x0 = tx - p->pad_left;
            const int32_t ny = out_h - ty < 2 ? 1 : 2, nx = out_w - tx < 2 ? 1 : 2;
            int32_t at[16]; /* the 16 taps' input offsets, -1 outside the image */
            for (k = 0; k < 16; ++k) {
                const int32_t yy = y0 + (k >> 2), xx = x0 + (k & 3);
                at[k] = (yy >= 0 && yy < in_h && xx >= 0 && xx < in_w) ? (yy * in_w + xx) * C : -1;
            }
            for (c = 0; c < C; c += c < C4 ? 4 : 1) {
                if (c < C4) { /* four channels: halfword pairs (c0, c2) and (c1, c3) */
                    uint32_t de[16], dd[16], ve[16], vo[16];
                    const uint32_t *u = (const uint32_t *)(const void *)(p->weights + (size_t)c * 16u);
                    const int32_t *mq = p->multiplier + (p->per_channel ? c : 0);
                    const int32_t *sq = p->shift + (p->per_channel ? c : 0);
                    const int32_t qs = p->per_channel ? 1 : 0;
                    int32_t bias[4] = {0, 0, 0, 0};
                    uint32_t w4[4];
                    if (p->bias != NULL) {
                        bias[0] = p->bias[c];
                        bias[1] = p->bias[c + 1];
                        bias[2] = p->bias[c + 2];
                        bias[3] = p->bias[c + 3];
                    }
                    for (k = 0; k < 16; ++k) {
                        const uint32_t xv = at[k] >= 0 ? ed_read32(input + at[k] + c) : zp4;
                        de[k] = ed_sxtab16(off2, xv);
                        dd[k] = ed_sxtab16_ror8(off2, xv);
                    }
                    ED_WDW_VT(ed_wdw_add, ed_wdw_sub, de, ve);
                    ED_WDW_VT(ed_wdw_add, ed_wdw_sub, dd, vo);
                    w4[0] = ed_wdw_lane_out(ve, u, 0, bias[0], mq[0], sq[0], out_off, lo, hi);
                    w4[1] = ed_wdw_lane_out(vo, u + 1, 0, bias[1], mq[qs], sq[qs], out_off, lo, hi);
                    w4[2] = ed_wdw_lane_out(ve, u, 1, bias[2], mq[2 * qs], sq[2 * qs], out_off, lo, hi);
                    w4[3] = ed_wdw_lane_out(vo, u + 1, 1, bias[3], mq[3 * qs], sq[3 * qs], out_off, lo, hi);
                    for (k = 0; k < 4; ++k) { /* transpose [channel][pixel] bytes to [pixel][channel] */
                        const int32_t sh = 8 * k;
                        const uint32_t px = ((w4[0] >> sh) & 0xFFu) | ((w4[1] >> sh) & 0xFFu) << 8 |
                                            ((w4[2] >> sh) & 0xFFu) << 16 | ((w4[3] >> sh) & 0xFFu) << 24;
                        if ((k >> 1) < ny && (k & 1) < nx) {
                            int8_t *dst = output +
                                          ((size_t)(ty + (k >> 1)) * (size_t)out_w + (size_t)(tx + (k & 1))) * (size_t)C +
                                          (size_t)c;
                            ED_MEMCPY_(dst, &px, 4);
                        }
                    }
                    continue;
                } else { /* one channel of the tail, in plain int32 */
                    uint32_t d[16], v[16], m[16];
                    const int16_t *u = tail_u + (size_t)(c - C4) * 16u;
                    const int32_t q = p->per_channel ? c : 0;
                    for (k = 0; k < 16; ++k) {
                        d[k] = at[k] >= 0 ? (uint32_t)((int32_t)input[at[k] + c] + p->input_offset) : 0u;
                    }
                    ED_WDW_VT(ed_wdw_add32, ed_wdw_sub32, d, v);
                    for (k = 0; k < 16; ++k) {
                        m[k] = (uint32_t)((int32_t)v[k] * (int32_t)u[k]);
                    }
                    const uint32_t y4 = ed_wdw_out(m, p->bias != NULL ? p->bias[c] : 0, p->multiplier[q], p->shift[q],
                                                   out_off, lo, hi);
                    for (k = 0; k < 4; ++k) {
                        if ((k >> 1) < ny && (k & 1) < nx) {
                            output[((size_t)(ty + (k >> 1)) * (size_t)out_w + (size_t)(tx + (k & 1))) * (size_t)C +
                                   (size_t)c] = (int8_t)(uint8_t)(y4 >> (8 * k));
                        }
                    }
                }
            }
        }
    }
}
