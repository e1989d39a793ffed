/*
 * ed_fc_codes.c - ternary and binary fully-connected layers with the DSP multiply-accumulate (SMLAD).
 *
 * For weights that are one magnitude per output channel, w = v[o] * t with t in {-1, 0, +1} (ternary) or
 * {-1, +1} (binary), rows are stored as codes instead of bit-planes (same bytes): ternary four weights a byte in
 * base 3, binary 1 bit a weight (1 = +1) least significant first, each row padded to whole bytes.
 * Rows go in blocks of four with the four rows' code bytes interleaved ([r0 b0][r1 b0][r2 b0][r3 b0][r0 b1]...;
 * the out % 4 last rows row-major, written at export by edgesdk.reference.binary.code_rows), so one pointer
 * walks a block. Two constant tables turn one code byte (ternary: four weights) or nibble (binary: four weights)
 * into the four weights as two halfword pairs in the order SXTB16 widens four inputs ((x0, x2) and (x1, x3)),
 * so per four MACs and row: a code load, two indexed table loads and two SMLAD, the four rows sharing the
 * input pairs -- about the int8 DSP kernel's instructions (ed_fc.c) at a quarter (ternary) or an eighth
 * (binary) of its weight bytes. The sum is scaled by v[o] once per output; the input offset is folded into
 * the bias as for the bit-plane kernel, so the result is the int8 kernel's bit for bit.
 *
 * The inputs are widened ED_CODES_CHUNK at a time into a stack buffer (zero past the row: a zero input adds
 * nothing whatever its code), output channels in tiles of ED_CODES_TILE partial sums, so any size works.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

#define ED_CODES_CHUNK 256
#define ED_CODES_TILE 32 /* a multiple of 4: blocks do not straddle tiles */

#define ED_R4(F, c) F(c), F((c) + 1u), F((c) + 2u), F((c) + 3u)
#define ED_R16(F, c) ED_R4(F, c), ED_R4(F, (c) + 4u), ED_R4(F, (c) + 8u), ED_R4(F, (c) + 12u)
#define ED_R64(F, c) ED_R16(F, c), ED_R16(F, (c) + 16u), ED_R16(F, (c) + 32u), ED_R16(F, (c) + 48u)

/* A ternary code byte holds four weights in base 3, c = sum (t_i + 1) * 3^i (0..80: the table is 648 bytes, not
 * the 2 KB of 2-bit fields); its weights as a halfword each, as the pairs (t0, t2), (t1, t3), side by side. */
#define ED_T1(c, d) ((((c) / (d)) % 3u == 2u) ? 1u : ((((c) / (d)) % 3u == 0u) ? 0xFFFFu : 0u))
#define ED_TP(c) (ED_T1(c, 1u) | (ED_T1(c, 9u) << 16)), (ED_T1(c, 3u) | (ED_T1(c, 27u) << 16))
static const uint32_t ed_ternary_pairs[162] = {ED_R64(ED_TP, 0u), ED_R16(ED_TP, 64u), ED_TP(80u)};

/* A binary bit as a halfword; a nibble's weights as the pairs (b0, b2), (b1, b3), side by side. */
#define ED_B1(c) (((c) & 1u) ? 1u : 0xFFFFu)
#define ED_BP(c) (ED_B1(c) | (ED_B1((c) >> 2) << 16)), (ED_B1((c) >> 1) | (ED_B1((c) >> 3) << 16))
static const uint32_t ed_binary_pairs[32] = {ED_R16(ED_BP, 0u)};

/* Inputs x[0..n) widened into pairs (x0, x2), (x1, x3) per four, zero past n up to `len` (a multiple of 4). */
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

/* Four MACs of one row: the input pairs xa, xb times the weight pairs of code k in `pairs` (one LDRD). */
#define ED_CODES_MAC(acc, xa, xb, pairs, k)                   \
    do {                                                      \
        const uint32_t *e_ = (pairs) + 2u * (k);              \
        uint32_t lo_, hi_;                                    \
        ED_READ64(e_, 0, lo_, hi_);                           \
        (acc) = ed_smlad((xb), hi_, ed_smlad((xa), lo_, (acc))); \
    } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && !defined(__clang__)
/*
 * The four-row block loop as one fixed instruction sequence (Armv7E-M): GCC's schedule of the C loop keeps more
 * values live than the core has registers and spills (36 instructions a ternary group). Per group of four
 * inputs: one LDRD of the input pairs, per row a code load, the table address, one LDRD of the weight pairs and
 * two SMLAD; 23 instructions for 16 MACs (binary: 25, two rows a code byte). The loop runs at least once.
 */
#define ED_CODES_ASM 1
#define ED_CODES_ROW_(A, KSTEP)                                                                             \
    KSTEP "add %[k], %[tab], %[k], lsl #3\n\t"                                                              \
          "ldrd %[k], %[hi], [%[k]]\n\t"                                                                    \
          "smlad %[" A "], %[xa], %[k], %[" A "]\n\t"                                                       \
          "smlad %[" A "], %[xb], %[hi], %[" A "]\n\t"
#define ED_CODES_ASM_OPERANDS_                                                                             \
    : [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [c] "+r"(c), [x] "+r"(xw),      \
      [xa] "=&r"(xa), [xb] "=&r"(xb), [k] "=&r"(k), [hi] "=&r"(hi), [v] "=&r"(v)                         \
    : [end] "r"(end), [tab] "r"(pairs)                                                                      \
    : "cc", "memory"

static inline ED_ALWAYS_INLINE void ed_codes_block4_asm(const uint32_t *xw, const uint8_t *c, const uint8_t *end,
                                                        int binary, int32_t a[4])
{
    uint32_t xa, xb, k, hi, v;
    if (binary) {
        const uint32_t *pairs = ed_binary_pairs;
        __asm__("1:\n\t"
                "ldrd %[xa], %[xb], [%[x]], #8\n\t"
                "ldrb %[v], [%[c]], #1\n\t" ED_CODES_ROW_("a0", "and %[k], %[v], #15\n\t")
                    ED_CODES_ROW_("a1", "lsr %[k], %[v], #4\n\t") "ldrb %[v], [%[c]], #1\n\t"
                    ED_CODES_ROW_("a2", "and %[k], %[v], #15\n\t") ED_CODES_ROW_("a3", "lsr %[k], %[v], #4\n\t")
                "cmp %[c], %[end]\n\t"
                "bne 1b\n\t" ED_CODES_ASM_OPERANDS_);
    } else {
        const uint32_t *pairs = ed_ternary_pairs;
        v = 0;
        __asm__("1:\n\t"
                "ldrd %[xa], %[xb], [%[x]], #8\n\t" ED_CODES_ROW_("a0", "ldrb %[k], [%[c]], #1\n\t")
                    ED_CODES_ROW_("a1", "ldrb %[k], [%[c]], #1\n\t") ED_CODES_ROW_("a2", "ldrb %[k], [%[c]], #1\n\t")
                        ED_CODES_ROW_("a3", "ldrb %[k], [%[c]], #1\n\t") "cmp %[c], %[end]\n\t"
                "bne 1b\n\t" ED_CODES_ASM_OPERANDS_);
    }
}
#endif

/* Sums of `rows` rows over `bytes` code bytes a row: 4 = an interleaved block (ternary: the four rows' bytes per
 * group of four inputs; binary: per group the bytes r0 | r1 << 4 and r2 | r3 << 4), 1 = a row-major row. */
static inline ED_ALWAYS_INLINE void ed_codes_rows(const uint32_t *xw, const uint8_t *c, int32_t bytes, int32_t rows,
                                                  int binary, int32_t *acc)
{
    const uint8_t *end = c + (size_t)rows * (size_t)bytes;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t xa, xb, xc, xd;
    if (rows == 4) {
#if defined(ED_CODES_ASM)
        int32_t a[4] = {0, 0, 0, 0};
        ed_codes_block4_asm(xw, c, end, binary, a);
        acc[0] += a[0];
        acc[1] += a[1];
        acc[2] += a[2];
        acc[3] += a[3];
        return;
#endif
        const uint32_t *pairs = binary ? ed_binary_pairs : ed_ternary_pairs;
        const int32_t step = binary ? 2 : 4;
        for (; c < end; c += step, xw += 2) {
            ED_READ64(xw, 0, xa, xb);
            if (binary) {
                const uint32_t v01 = c[0], v23 = c[1];
                ED_CODES_MAC(a0, xa, xb, pairs, v01 & 15u);
                ED_CODES_MAC(a1, xa, xb, pairs, v01 >> 4);
                ED_CODES_MAC(a2, xa, xb, pairs, v23 & 15u);
                ED_CODES_MAC(a3, xa, xb, pairs, v23 >> 4);
            } else {
                ED_CODES_MAC(a0, xa, xb, pairs, c[0]);
                ED_CODES_MAC(a1, xa, xb, pairs, c[1]);
                ED_CODES_MAC(a2, xa, xb, pairs, c[2]);
                ED_CODES_MAC(a3, xa, xb, pairs, c[3]);
            }
        }
        acc[1] += a1;
        acc[2] += a2;
        acc[3] += a3;
    } else if (binary) {
        for (; c < end; ++c, xw += 4) {
            ED_READ64(xw, 0, xa, xb);
            ED_READ64(xw, 8, xc, xd);
            ED_CODES_MAC(a0, xa, xb, ed_binary_pairs, *c & 15u);
            ED_CODES_MAC(a0, xc, xd, ed_binary_pairs, (uint32_t)*c >> 4);
        }
    } else {
        for (; c < end; ++c, xw += 2) {
            ED_READ64(xw, 0, xa, xb);
            ED_CODES_MAC(a0, xa, xb, ed_ternary_pairs, *c);
        }
    }
    acc[0] += a0;
}

static inline ED_ALWAYS_INLINE void ed_fc_codes(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output,
                                                int binary)
{
    uint32_t xw[ED_CODES_CHUNK / 2];
    int32_t acc[ED_CODES_TILE];
    const int32_t stride = binary ? (p->in_depth + 7) / 8 : (p->in_depth + 3) / 4; /* code bytes a row */
    const int32_t per_byte = binary ? 8 : 4;
    const int32_t blocked = p->out_depth & ~3; /* rows in interleaved blocks of four */
    int32_t b, o0, t, c0;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        for (o0 = 0; o0 < p->out_depth; o0 += ED_CODES_TILE) {
            const int32_t nt = p->out_depth - o0 < ED_CODES_TILE ? p->out_depth - o0 : ED_CODES_TILE;
            for (t = 0; t < nt; ++t) {
                acc[t] = 0;
            }
            for (c0 = 0; c0 < p->in_depth; c0 += ED_CODES_CHUNK) {
                const int32_t n = p->in_depth - c0 < ED_CODES_CHUNK ? p->in_depth - c0 : ED_CODES_CHUNK;
                const int32_t bytes = (n + per_byte - 1) / per_byte; /* this chunk's code bytes a row */
                const int32_t skip = c0 / per_byte;
                if (o0 == 0 || p->in_depth > ED_CODES_CHUNK) { /* one chunk: widened once a batch */
                    ed_codes_widen(xw, x + c0, n, per_byte * bytes);
                }
                for (t = 0; t < nt; t += 4) {
                    const size_t row = (size_t)(o0 + t) * (size_t)stride;
                    if (o0 + t < blocked) {
                        ed_codes_rows(xw, p->codes + row + 4u * (size_t)skip, bytes, 4, binary, &acc[t]);
                        continue;
                    }
                    for (; t < nt; ++t) {
                        const size_t r = (size_t)(o0 + t) * (size_t)stride + (size_t)skip;
                        ed_codes_rows(xw, p->codes + r, bytes, 1, binary, &acc[t]);
                    }
                }
            }
            for (t = 0; t < nt; ++t) {
                const int32_t o = o0 + t;
                const int32_t v = p->wpos != NULL ? (int32_t)p->wpos[o] : p->wval;
                y[o] = ED_FC_REQUANT(p, v * acc[t], o);
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
