/*
 * ed_winograd.c - int8 CONV_2D 3x3 stride 1 through Winograd F(2x2,3x3) (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", CVPR 2016), integer-exact: the output equals the direct kernel bit for bit.
 *
 * The weights were transformed at export by edgesdk.winograd (the single source of the transforms, shared
 * with the reference and the FPGA backend): U = G' g G'^T with G' = 2G, int16 (|U| <= 1152), stored
 * in blocks of four output channels [out_c / 4][16][c_pad / 2][4][2] (edgesdk.backends.c.winograd), c_pad = in_c
 * rounded up to even, zero channels padding the last block. Per 2x2 output tile:
 *   V = B^T d B of the offset-corrected 4x4 input (int16, |V| <= 1020; 0 outside the image), kept in the
 *       caller's scratch [c_pad / 2][16][2];
 *   M = sum over input channels of U (.) V: SMLAD multiplies two channels per instruction and four output
 *       channels share each load of V (16 multiplies per tile and channel pair instead of 36);
 *   Y = A^T M A = 4 * acc, so acc = Y >> 2 exactly. All of it runs in wrapping int32 arithmetic, which is
 *       exact because the true 4 * acc fits int32 (see edgesdk.winograd.int_ranges);
 * then bias, TFLite Micro's double-rounding requantization and the clamp, as ed_conv_s8.
 * On a core without the DSP extension ed_simd.h supplies SMLAD in C, so the kernel is portable C99.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* V = B^T d B of one channel's 4x4 tile (rows d0..d3), stored at v[2 * k], k = 4 * row + column (the scratch
 * is [c_pad / 2][16][2]: a channel pair's values for one tile position are one word). The input offset adds
 * 4 * offset to V[1][1] only (B^T 1 B is zero elsewhere), so the d may be raw inputs. */
static inline void ed_wino_vt(int16_t *v, int32_t offset4, int32_t d00, int32_t d01, int32_t d02, int32_t d03,
                              int32_t d10, int32_t d11, int32_t d12, int32_t d13, int32_t d20, int32_t d21,
                              int32_t d22, int32_t d23, int32_t d30, int32_t d31, int32_t d32, int32_t d33)
{
    /* B^T d: rows t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3 */
    const int32_t t00 = d00 - d20, t01 = d01 - d21, t02 = d02 - d22, t03 = d03 - d23;
    const int32_t t10 = d10 + d20, t11 = d11 + d21, t12 = d12 + d22, t13 = d13 + d23;
    const int32_t t20 = d20 - d10, t21 = d21 - d11, t22 = d22 - d12, t23 = d23 - d13;
    const int32_t t30 = d10 - d30, t31 = d11 - d31, t32 = d12 - d32, t33 = d13 - d33;
    /* (B^T d) B: the same combination of the columns */
    v[0] = (int16_t)(t00 - t02);
    v[2] = (int16_t)(t01 + t02);
    v[4] = (int16_t)(t02 - t01);
    v[6] = (int16_t)(t01 - t03);
    v[8] = (int16_t)(t10 - t12);
    v[10] = (int16_t)(t11 + t12 + offset4);
    v[12] = (int16_t)(t12 - t11);
    v[14] = (int16_t)(t11 - t13);
    v[16] = (int16_t)(t20 - t22);
    v[18] = (int16_t)(t21 + t22);
    v[20] = (int16_t)(t22 - t21);
    v[22] = (int16_t)(t21 - t23);
    v[24] = (int16_t)(t30 - t32);
    v[26] = (int16_t)(t31 + t32);
    v[28] = (int16_t)(t32 - t31);
    v[30] = (int16_t)(t31 - t33);
}

/* Sign-extended pairs of a word of four int8 channels: (c, c+2), or `odd` (c+1, c+3). */
ED_ALWAYS_INLINE static inline uint32_t ed_wino_ext(uint32_t w, int odd)
{
    return odd ? ed_sxtb16_ror8(w) : ed_sxtb16(w);
}

/* The four values B^T (a0, a1, a2, a3) of one column (or, applied to a row, the row times B). */
#define ED_WINO_B(a0, a1, a2, a3, t0, t1, t2, t3) \
    do {                                         \
        (t0) = ed_ssub16((a0), (a2));            \
        (t1) = ed_sadd16((a1), (a2));            \
        (t2) = ed_ssub16((a2), (a1));            \
        (t3) = ed_ssub16((a1), (a3));            \
    } while (0)

/* Four words stored at p, p + 1, p + 2, p + 3 (one row of a transformed tile). */
#define ED_WINO_STORE4(p, a, b, c, d) \
    do {                              \
        ed_write32((p), (a));         \
        ed_write32((p) + 1, (b));     \
        ed_write32((p) + 2, (c));     \
        ed_write32((p) + 3, (d));     \
    } while (0)

/* V = B^T d B for one halfword lane set of a group of four channels: d[4 * row + column] are the tile's 16
 * words of four int8 channels (c..c+3), extended to the pairs (c, c+2) or, `odd`, (c+1, c+3); the 16 results
 * go to v[k] (the scratch words of one channel pair), two channels per SADD16/SSUB16. Written out in full so
 * that every value stays in a register. */
ED_ALWAYS_INLINE static inline void ed_wino_vt_pairs(uint32_t *v, const uint32_t *d, uint32_t offset4x2, int odd)
{
    uint32_t t00, t01, t02, t03, t10, t11, t12, t13, t20, t21, t22, t23, t30, t31, t32, t33;
    uint32_t v0, v1, v2, v3;
    /* B^T d, column by column */
    ED_WINO_B(ed_wino_ext(d[0], odd), ed_wino_ext(d[4], odd), ed_wino_ext(d[8], odd), ed_wino_ext(d[12], odd),
              t00, t10, t20, t30);
    ED_WINO_B(ed_wino_ext(d[1], odd), ed_wino_ext(d[5], odd), ed_wino_ext(d[9], odd), ed_wino_ext(d[13], odd),
              t01, t11, t21, t31);
    ED_WINO_B(ed_wino_ext(d[2], odd), ed_wino_ext(d[6], odd), ed_wino_ext(d[10], odd), ed_wino_ext(d[14], odd),
              t02, t12, t22, t32);
    ED_WINO_B(ed_wino_ext(d[3], odd), ed_wino_ext(d[7], odd), ed_wino_ext(d[11], odd), ed_wino_ext(d[15], odd),
              t03, t13, t23, t33);
    /* (B^T d) B, row by row; the input offset adds 4 * offset to V[1][1] only */
    ED_WINO_B(t00, t01, t02, t03, v0, v1, v2, v3);
    ED_WINO_STORE4(v + 0, v0, v1, v2, v3);
    ED_WINO_B(t10, t11, t12, t13, v0, v1, v2, v3);
    ED_WINO_STORE4(v + 4, v0, ed_sadd16(v1, offset4x2), v2, v3);
    ED_WINO_B(t20, t21, t22, t23, v0, v1, v2, v3);
    ED_WINO_STORE4(v + 8, v0, v1, v2, v3);
    ED_WINO_B(t30, t31, t32, t33, v0, v1, v2, v3);
    ED_WINO_STORE4(v + 12, v0, v1, v2, v3);
}

/* Y = A^T M A of the output channels o..o+n-1 (n <= 4; m[b] holds channel o+b's 16 products, wrapping),
 * requantized and stored at dst (channel o of the tile's top-left output; `line` bytes to the next row; nx, ny =
 * 1 at the image's right / bottom edge). Out of line, with the parameters read once into locals: the compiler
 * keeps them in registers instead of spilling the caller's. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void ed_wino_output(const ed_winograd_params_t *p, const uint32_t m[4][16], int32_t o, int32_t n,
                           int8_t *dst, int32_t line, int32_t nx, int32_t ny)
{
    const int32_t *const bias = p->bias, *const mult = p->multiplier, *const shift = p->shift;
    const int32_t per_channel = p->per_channel, col = p->out_c;
    const int32_t output_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    int32_t b;
    for (b = 0; b < n; ++b) {
        const uint32_t *mb = m[b];
        const int32_t q = per_channel ? o + b : 0;
        const int32_t bi = bias != NULL ? bias[o + b] : 0, mu = mult[q], sh = shift[q];
        const uint32_t s0 = mb[0] + mb[4] + mb[8], s1 = mb[1] + mb[5] + mb[9]; /* M0 + M1 + M2 */
        const uint32_t s2 = mb[2] + mb[6] + mb[10], s3 = mb[3] + mb[7] + mb[11];
        const uint32_t e0 = mb[4] - mb[8] - mb[12], e1 = mb[5] - mb[9] - mb[13]; /* M1 - M2 - M3 */
        const uint32_t e2 = mb[6] - mb[10] - mb[14], e3 = mb[7] - mb[11] - mb[15];
        int32_t y0 = (((int32_t)(s0 + s1 + s2)) >> 2) + bi; /* exact: Y = 4 * acc */
        int32_t y1 = (((int32_t)(s1 - s2 - s3)) >> 2) + bi;
        int32_t y2 = (((int32_t)(e0 + e1 + e2)) >> 2) + bi;
        int32_t y3 = (((int32_t)(e1 - e2 - e3)) >> 2) + bi;
        int8_t *d = dst + b;
        if (sh < 0 && ed_small30(y0) && ed_small30(y1) && ed_small30(y2) && ed_small30(y3)) {
            /* the usual case, decided once for the four outputs: SMMULR and one rounding shift each */
            y0 = ed_rdbpot_pos(ed_srdhm_small(y0, mu), -sh);
            y1 = ed_rdbpot_pos(ed_srdhm_small(y1, mu), -sh);
            y2 = ed_rdbpot_pos(ed_srdhm_small(y2, mu), -sh);
            y3 = ed_rdbpot_pos(ed_srdhm_small(y3, mu), -sh);
        } else {
            y0 = ed_mbqm_slow(y0, mu, sh);
            y1 = ed_mbqm_slow(y1, mu, sh);
            y2 = ed_mbqm_slow(y2, mu, sh);
            y3 = ed_mbqm_slow(y3, mu, sh);
        }
        y0 = ed_clamp_s8(y0 + output_offset, act_min, act_max);
        y1 = ed_clamp_s8(y1 + output_offset, act_min, act_max);
        y2 = ed_clamp_s8(y2 + output_offset, act_min, act_max);
        y3 = ed_clamp_s8(y3 + output_offset, act_min, act_max);
        d[0] = (int8_t)y0;
        if (nx > 1) {
            d[col] = (int8_t)y1;
        }
        if (ny > 1) {
            d[line] = (int8_t)y2;
            if (nx > 1) {
                d[line + col] = (int8_t)y3;
            }
        }
    }
}

void ed_winograd_s8(const ed_winograd_params_t *p, int16_t *scratch, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t cp = p->c_pad;
    const int32_t row = in_w * in_c;
    const int32_t s16 = 16 * cp;
    const int32_t offset4 = 4 * p->input_offset;
    const uint32_t offset4x2 = ed_dup16(offset4);
    const int32_t in_c4 = in_c & ~3;
    int32_t ty, tx, c, o, k;
    for (ty = 0; ty < out_h; ty += 2) {
        for (tx = 0; tx < out_w; tx += 2) {
            const int32_t y0 = ty - p->pad_top, x0 = tx - p->pad_left;
            const int interior = y0 >= 0 && x0 >= 0 && y0 + 4 <= in_h && x0 + 4 <= in_w;
            const int32_t ny = out_h - ty < 2 ? 1 : 2, nx = out_w - tx < 2 ? 1 : 2;
            /* Input transform into scratch [c_pad / 2][16][2]: groups of four channels two at a time in SIMD
             * (pairs (c, c+2) and (c+1, c+3), see edgesdk.backends.c.winograd.channel_order), the c % 4 last
             * channels one by one in pairs (c, c+1). */
            if (interior) {
                const int8_t *r0 = input + (size_t)y0 * (size_t)row + (size_t)x0 * (size_t)in_c;
                const int8_t *r1 = r0 + row, *r2 = r1 + row, *r3 = r2 + row;
                const int32_t c2 = 2 * in_c, c3 = 3 * in_c;
                for (c = 0; c < in_c4; c += 4) {
                    const uint32_t d[16] = {
                        ed_read32(r0 + c), ed_read32(r0 + c + in_c), ed_read32(r0 + c + c2), ed_read32(r0 + c + c3),
                        ed_read32(r1 + c), ed_read32(r1 + c + in_c), ed_read32(r1 + c + c2), ed_read32(r1 + c + c3),
                        ed_read32(r2 + c), ed_read32(r2 + c + in_c), ed_read32(r2 + c + c2), ed_read32(r2 + c + c3),
                        ed_read32(r3 + c), ed_read32(r3 + c + in_c), ed_read32(r3 + c + c2), ed_read32(r3 + c + c3),
                    };
                    ed_wino_vt_pairs((uint32_t *)(void *)(scratch + 16 * c), d, offset4x2, 0);
                    ed_wino_vt_pairs((uint32_t *)(void *)(scratch + 16 * c + 32), d, offset4x2, 1);
                }
                for (; c < in_c; ++c) {
                    ed_wino_vt(scratch + 32 * (c >> 1) + (c & 1), offset4, r0[c], r0[c + in_c], r0[c + c2],
                               r0[c + c3], r1[c], r1[c + in_c], r1[c + c2], r1[c + c3], r2[c], r2[c + in_c],
                               r2[c + c2], r2[c + c3], r3[c], r3[c + in_c], r3[c + c2], r3[c + c3]);
                }
            } else {
                /* Border tile: the 16 taps' input offsets once per tile (-1 outside the image), then per
                 * channel (group) a read or the zero point (0 once the offset is added). */
                int32_t at[16];
                const int32_t zp = -p->input_offset;
                const uint32_t zp4 = ((uint32_t)zp & 0xFFu) * 0x01010101u;
                for (k = 0; k < 16; ++k) {
                    const int32_t yy = y0 + (k >> 2), xx = x0 + (k & 3);
                    at[k] = (yy >= 0 && yy < in_h && xx >= 0 && xx < in_w) ? yy * row + xx * in_c : -1;
                }
                for (c = 0; c < in_c4; c += 4) {
                    uint32_t d[16];
                    for (k = 0; k < 16; ++k) {
                        d[k] = at[k] >= 0 ? ed_read32(input + at[k] + c) : zp4;
                    }
                    ed_wino_vt_pairs((uint32_t *)(void *)(scratch + 16 * c), d, offset4x2, 0);
                    ed_wino_vt_pairs((uint32_t *)(void *)(scratch + 16 * c + 32), d, offset4x2, 1);
                }
                for (; c < in_c; ++c) {
                    int32_t d[16];
                    for (k = 0; k < 16; ++k) {
                        d[k] = at[k] >= 0 ? input[at[k] + c] : zp;
                    }
                    ed_wino_vt(scratch + 32 * (c >> 1) + (c & 1), offset4, d[0], d[1], d[2], d[3], d[4], d[5], d[6],
                               d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
                }
            }
            if (cp != in_c) {
                for (k = 0; k < 16; ++k) {
                    scratch[32 * (in_c >> 1) + 2 * k + 1] = 0;
                }
            }
            /* Products summed over channels, eight output channels at a time: the weights of a block are laid
             * out [16][c_pad / 2][8 channels][2], so one pointer walks them, and each word of V (a channel
             * pair at one tile position) feeds eight SMLAD. */
            for (o = 0; o < out_c; o += 8) {
                uint32_t m[8][16];
                const int16_t *u = p->weights + (size_t)o * (size_t)s16;
                int32_t half;
                for (k = 0; k < 16; ++k) {
                    const int16_t *v = scratch + 2 * k;
                    const int16_t *v_end = v + 16 * cp;
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
                    while (v != v_end) {
                        const uint32_t vv = ed_read32((const int8_t *)v);
                        uint32_t u0, u1;
                        ED_READ64(u, 0, u0, u1); /* u is 4-byte aligned: one LDRD per two weight words */
                        a0 = ed_smlad(vv, u0, a0);
                        a1 = ed_smlad(vv, u1, a1);
                        ED_READ64(u, 8, u0, u1);
                        a2 = ed_smlad(vv, u0, a2);
                        a3 = ed_smlad(vv, u1, a3);
                        ED_READ64(u, 16, u0, u1);
                        a4 = ed_smlad(vv, u0, a4);
                        a5 = ed_smlad(vv, u1, a5);
                        ED_READ64(u, 24, u0, u1);
                        a6 = ed_smlad(vv, u0, a6);
                        a7 = ed_smlad(vv, u1, a7);
                        v += 32;
                        u += 16;
                    }
                    m[0][k] = (uint32_t)a0;
                    m[1][k] = (uint32_t)a1;
                    m[2][k] = (uint32_t)a2;
                    m[3][k] = (uint32_t)a3;
                    m[4][k] = (uint32_t)a4;
                    m[5][k] = (uint32_t)a5;
                    m[6][k] = (uint32_t)a6;
                    m[7][k] = (uint32_t)a7;
                }
                for (half = 0; half < 8 && o + half < out_c; half += 4) {
                    const int32_t ob = o + half;
                    ed_wino_output(p, (const uint32_t(*)[16])m[half], ob, out_c - ob < 4 ? out_c - ob : 4,
                                   output + ((size_t)ty * (size_t)out_w + (size_t)tx) * (size_t)out_c + (size_t)ob,
                                   out_w * out_c, nx, ny);
                }
            }
        }
    }
}
