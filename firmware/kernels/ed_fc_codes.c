/*
 * ed_fc_codes.c - ternary and binary fully-connected layers with the DSP multiply-accumulate (SMLAD).
 *
 * For weights that are one magnitude per output channel, w = v[o] * t with t in {-1, 0, +1} (ternary) or
 * {-1, +1} (binary), rows are stored as codes instead of bit-planes (same bytes): ternary 2 bits a weight
 * (01 = +1, 10 = -1, 00 = 0), binary 1 bit (1 = +1), least significant first, each row padded to whole bytes.
 * A constant table turns one code byte (ternary: four weights) or nibble (binary: four weights) into the four
 * weights as two halfword pairs in the order SXTB16 widens four inputs ((x0, x2) and (x1, x3)), so two SMLAD
 * take four multiply-accumulates: about 5 instructions per 4 MACs and row, two rows sharing each input load,
 * against the subset-sum tables' ~2.2 per MAC (ternary, ed_packed.c) and the int16-weight FC's ~1.1 at 8x
 * (ternary) or 16x (binary) the weight bytes. The sum is scaled by v[o] once per output; the input offset is
 * folded into the bias as for the bit-plane kernel, so the result is the int8 kernel's bit for bit.
 *
 * The inputs are widened ED_CODES_CHUNK at a time into a stack buffer (zero past the row: a zero input adds
 * nothing whatever its code), output channels in tiles of ED_CODES_TILE partial sums, so any size works.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

#define ED_CODES_CHUNK 256
#define ED_CODES_TILE 32

/* One 2-bit ternary code as a halfword; a code byte as the pairs (t0, t2) and (t1, t3). */
#define ED_T1(c) ((((c) & 3u) == 1u) ? 1u : ((((c) & 3u) == 2u) ? 0xFFFFu : 0u))
#define ED_TE(c) (ED_T1(c) | (ED_T1((c) >> 4) << 16)), (ED_T1((c) >> 2) | (ED_T1((c) >> 6) << 16))
#define ED_T4(c) ED_TE(c), ED_TE((c) + 1u), ED_TE((c) + 2u), ED_TE((c) + 3u)
#define ED_T16(c) ED_T4(c), ED_T4((c) + 4u), ED_T4((c) + 8u), ED_T4((c) + 12u)
#define ED_T64(c) ED_T16(c), ED_T16((c) + 16u), ED_T16((c) + 32u), ED_T16((c) + 48u)
static const uint32_t ed_ternary_pairs[512] = {ED_T64(0u), ED_T64(64u), ED_T64(128u), ED_T64(192u)};

/* One binary bit as a halfword; a nibble as the pairs (b0, b2) and (b1, b3). */
#define ED_B1(c) (((c) & 1u) ? 1u : 0xFFFFu)
#define ED_BE(c) (ED_B1(c) | (ED_B1((c) >> 2) << 16)), (ED_B1((c) >> 1) | (ED_B1((c) >> 3) << 16))
#define ED_B4(c) ED_BE(c), ED_BE((c) + 1u), ED_BE((c) + 2u), ED_BE((c) + 3u)
static const uint32_t ed_binary_pairs[32] = {ED_B4(0u), ED_B4(4u), ED_B4(8u), ED_B4(12u)};

/* Inputs x[0..n) widened into pairs (x0, x2), (x1, x3) per four, zero past n up to `len` (a multiple of 8). */
static void ed_codes_widen(uint32_t *xw, const int8_t *x, int32_t n, int32_t len)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t v = ed_read32(x + i);
        xw[i / 2] = ed_sxtb16(v);
        xw[i / 2 + 1] = ed_sxtb16_ror8(v);
    }
    for (; i < len; i += 4) {
        int8_t t[4] = {0, 0, 0, 0};
        int32_t j;
        for (j = 0; j < 4 && i + j < n; ++j) {
            t[j] = x[i + j];
        }
        xw[i / 2] = ed_sxtb16(ed_read32(t));
        xw[i / 2 + 1] = ed_sxtb16_ror8(ed_read32(t));
    }
}

/* One group of four inputs (xa = (x0, x2), xb = (x1, x3)) for two rows whose codes index `table` at k0, k1. */
static inline ED_ALWAYS_INLINE void ed_codes_step(uint32_t xa, uint32_t xb, const uint32_t *table, uint32_t k0,
                                                  uint32_t k1, int32_t *a, int32_t *b)
{
    *a = ed_smlad(xa, table[k0], *a);
    *b = ed_smlad(xa, table[k1], *b);
    *a = ed_smlad(xb, table[k0 + 1u], *a);
    *b = ed_smlad(xb, table[k1 + 1u], *b);
}

/* Sums over `groups` groups of four inputs for two rows of codes: ternary one byte a group, binary one byte two
 * groups (low nibble first). Per ternary group: two code bytes, four indexed table loads, two input loads and
 * four SMLAD. */
static inline void ed_codes_rows2(const uint32_t *xw, const uint8_t *c0, const uint8_t *c1, int32_t groups,
                                  int binary, int32_t *s0, int32_t *s1)
{
    const uint32_t *end = xw + 2 * groups;
    int32_t a = 0, b = 0;
    if (binary) {
        for (; xw < end; xw += 4) {
            const uint32_t v0 = *c0++, v1 = *c1++;
            ed_codes_step(xw[0], xw[1], ed_binary_pairs, 2u * (v0 & 15u), 2u * (v1 & 15u), &a, &b);
            ed_codes_step(xw[2], xw[3], ed_binary_pairs, 2u * (v0 >> 4), 2u * (v1 >> 4), &a, &b);
        }
    } else {
        for (; xw < end; xw += 2) {
            ed_codes_step(xw[0], xw[1], ed_ternary_pairs, 2u * *c0++, 2u * *c1++, &a, &b);
        }
    }
    *s0 += a;
    *s1 += b;
}

static void ed_fc_codes(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output, int binary)
{
    uint32_t xw[ED_CODES_CHUNK / 2];
    int32_t acc[ED_CODES_TILE + 1];
    const int32_t stride = binary ? (p->in_depth + 7) / 8 : (p->in_depth + 3) / 4; /* code bytes a row */
    int32_t b, o0, t, c0;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        for (o0 = 0; o0 < p->out_depth; o0 += ED_CODES_TILE) {
            const int32_t nt = p->out_depth - o0 < ED_CODES_TILE ? p->out_depth - o0 : ED_CODES_TILE;
            for (t = 0; t <= nt; ++t) {
                acc[t] = 0;
            }
            for (c0 = 0; c0 < p->in_depth; c0 += ED_CODES_CHUNK) {
                const int32_t n = p->in_depth - c0 < ED_CODES_CHUNK ? p->in_depth - c0 : ED_CODES_CHUNK;
                const int32_t groups = (n + 7) / 8 * 2; /* whole code bytes for binary; padding adds zero */
                const uint8_t *rows = p->codes + (size_t)o0 * (size_t)stride + (size_t)(binary ? c0 / 8 : c0 / 4);
                ed_codes_widen(xw, x + c0, n, 4 * groups);
                for (t = 0; t < nt; t += 2) {
                    const uint8_t *r0 = rows + (size_t)t * (size_t)stride;
                    const uint8_t *r1 = t + 1 < nt ? r0 + stride : r0; /* an odd last row: its sum is dropped */
                    ed_codes_rows2(xw, r0, r1, binary ? groups : (n + 3) / 4, binary, &acc[t], &acc[t + 1]);
                }
            }
            for (t = 0; t < nt; ++t) {
                const int32_t o = o0 + t;
                const int32_t q = p->per_channel ? o : 0;
                const int32_t v = p->wpos != NULL ? (int32_t)p->wpos[o] : p->wval;
                int32_t a = v * acc[t];
                if (p->bias != NULL) {
                    a += p->bias[o];
                }
                a = (p->rounding == ED_ROUNDING_SINGLE ? ed_mbqm_single(a, p->multiplier[q], p->shift[q])
                                                       : ed_mbqm(a, p->multiplier[q], p->shift[q])) +
                    p->output_offset;
                y[o] = (int8_t)ed_clamp_i32(a, p->act_min, p->act_max);
            }
        }
    }
}

void ed_fc_ternary_codes_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_codes(p, input, output, 0);
}

void ed_fc_binary_codes_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_codes(p, input, output, 1);
}
