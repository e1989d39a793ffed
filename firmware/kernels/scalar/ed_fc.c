/*
 * scalar/ed_fc.c - int8 FULLY_CONNECTED for cores without SIMD (Cortex-M0/M0+/M3, RV32IMC), the same
 * function and semantics as the portable ../ed_fc.c (TFLite Micro, per-tensor or per-channel, double or single
 * rounding), on the weights in the scalar layout (edgesdk.ir.weightformats.fc_weights_scalar): rows in blocks of
 * ED_FC_BLOCK, a block's weights column by column (the block's rows of input 0, then of input 1, ...), the rows
 * left over in a block of 8 and one of 4 the same way, the last out % 4 rows one after the other.
 *
 * A pass computes ED_FC_ROWS rows of a block (RV32: a whole block of 16; Thumb-2: 8; Thumb-1: 4): each input byte
 * is loaded once for all of them, and the pass's weights of a column lie at fixed offsets from one pointer, so a
 * multiply-accumulate is a weight load and a multiply-add (RV32: LB, MUL, ADD; Thumb-2: LDRSB, MLA). With an input
 * offset, an input equal to the zero point adds nothing to any row and its column is skipped (after a ReLU about
 * half of an autoencoder's activations are): the same sums, bit for bit. A layer whose input comes from no ReLU
 * has its offset folded into its bias at export (edgesdk.backends.c.generator.folds_input_offset: sum((x + off) *
 * w) = sum(x * w) + off * sum(w)) and input offset 0: its blocks of 16 run a bare dot product.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

/* Rows of a block of the weight layout (every scalar core reads the same bytes). */
#define ED_FC_BLOCK 16

/* Rows per pass (their accumulators, the weight pointer, the input and a product must stay in registers). */
#ifndef ED_FC_ROWS
#if defined(__riscv)
#define ED_FC_ROWS 16
#elif defined(__ARM_ARCH_6M__)
#define ED_FC_ROWS 4
#else
#define ED_FC_ROWS 8
#endif
#endif

#if ED_FC_BLOCK % ED_FC_ROWS != 0 || (ED_FC_ROWS != 16 && ED_FC_ROWS != 8 && ED_FC_ROWS != 4)
#error "ED_FC_ROWS must be 4, 8 or 16"
#endif

/* The accumulators as plain variables a0.. (an array indexed in a loop unrolled late stays on the stack). */
#define ED_FC_EACH4(M) M(0) M(1) M(2) M(3)
#define ED_FC_EACH8(M) ED_FC_EACH4(M) M(4) M(5) M(6) M(7)
#define ED_FC_EACH16(M) ED_FC_EACH8(M) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define ED_FC_INIT(r) int32_t a##r = init[r];
#define ED_FC_DONE(r) acc[r] = a##r;
#define ED_FC_MAC0(r) a##r += v * (int32_t)w[r];
#define ED_FC_MAC1(r) a##r += v * (int32_t)w[S + r];
#define ED_FC_MAC2(r) a##r += v * (int32_t)w[2 * S + r];
#define ED_FC_MAC3(r) a##r += v * (int32_t)w[3 * S + r];
/* Column j of a step: unless its input is the zero point, (x[j] + off) times the column's weights of every row.
 * RV32 compares the input with the zero point (a column skipped in two instructions, LB and BEQ), and so does
 * Thumb-1 (measured faster there); Thumb-2 subtracts first (SUBS sets the flags the branch reads: three
 * instructions a column that is not skipped instead of four). */
#ifndef ED_FC_SKIP_COMPARE
#if defined(__riscv) || defined(__ARM_ARCH_6M__)
#define ED_FC_SKIP_COMPARE 1
#else
#define ED_FC_SKIP_COMPARE 0
#endif
#endif
#if ED_FC_SKIP_COMPARE
#define ED_FC_SKIPPING(EACH, j)                                                                                        \
    {                                                                                                                  \
        const int32_t xv = x[j];                                                                                       \
        if (xv != zp) {                                                                                                \
            const int32_t v = xv + off;                                                                                \
            EACH(ED_FC_MAC##j)                                                                                         \
        }                                                                                                              \
        ED_SCALAR_BARRIER();                                                                                           \
    }
#else
#define ED_FC_SKIPPING(EACH, j)                                                                                        \
    {                                                                                                                  \
        const int32_t v = x[j] + off;                                                                                  \
        if (v != 0) {                                                                                                  \
            EACH(ED_FC_MAC##j)                                                                                         \
        }                                                                                                              \
        ED_SCALAR_BARRIER();                                                                                           \
    }
#endif
/* The same without an offset or a test (a layer whose input offset is folded into its bias). Without the branch
 * GCC would hoist a column's loads ahead of its multiplies and reassociate a step's sums across the columns,
 * rotating the accumulators through registers, and spill: a barrier after each multiply-add, and each accumulator
 * pinned there (an empty asm that "changes" it). */
#if defined(__GNUC__)
#define ED_FC_PIN(r) __asm__("" : "+r"(a##r)); ED_SCALAR_BARRIER();
#else
#define ED_FC_PIN(r)
#endif
#define ED_FC_MACB0(r) ED_FC_MAC0(r) ED_FC_PIN(r)
#define ED_FC_MACB1(r) ED_FC_MAC1(r) ED_FC_PIN(r)
#define ED_FC_MACB2(r) ED_FC_MAC2(r) ED_FC_PIN(r)
#define ED_FC_MACB3(r) ED_FC_MAC3(r) ED_FC_PIN(r)
#if defined(__riscv) && defined(__GNUC__) && ED_FC_ROWS == 16
/* RV32: even so GCC rotated the sixteen accumulators through registers and spilled some: per column two asm
 * statements of eight rows (an asm takes at most 30 operands), LB, MUL, ADD per row, the weights at fixed offsets
 * from w. */
#define ED_FC_RV_MAC(j, r)                                                                                             \
    "lb %[t], " #j "*16+" #r "(%[w])\n\tmul %[t], %[t], %[v]\n\tadd %[a" #r "], %[a" #r "], %[t]\n\t"
#define ED_FC_RV_ROWS(j, A, B, C, D, E, F, G, H)                                                                       \
    {                                                                                                                  \
        int32_t t;                                                                                                     \
        __asm__(ED_FC_RV_MAC(j, A) ED_FC_RV_MAC(j, B) ED_FC_RV_MAC(j, C) ED_FC_RV_MAC(j, D) ED_FC_RV_MAC(j, E)         \
                    ED_FC_RV_MAC(j, F) ED_FC_RV_MAC(j, G) ED_FC_RV_MAC(j, H)                                           \
                : [a##A] "+r"(a##A), [a##B] "+r"(a##B), [a##C] "+r"(a##C), [a##D] "+r"(a##D), [a##E] "+r"(a##E),      \
                  [a##F] "+r"(a##F), [a##G] "+r"(a##G), [a##H] "+r"(a##H), [t] "=&r"(t)                                \
                : [v] "r"(v), [w] "r"(w)                                                                               \
                : "memory");                                                                                           \
    }
#define ED_FC_PLAIN(EACH, j)                                                                                           \
    {                                                                                                                  \
        const int32_t v = x[j];                                                                                        \
        ED_FC_RV_ROWS(j, 0, 1, 2, 3, 4, 5, 6, 7)                                                                       \
        ED_FC_RV_ROWS(j, 8, 9, 10, 11, 12, 13, 14, 15)                                                                 \
    }
#else
#define ED_FC_PLAIN(EACH, j)                                                                                           \
    {                                                                                                                  \
        const int32_t v = x[j];                                                                                        \
        EACH(ED_FC_MACB##j)                                                                                            \
    }
#endif

/* ed_fc_pass_R_S (COLUMN ED_FC_SKIPPING) and ed_fc_plain_R_S (ED_FC_PLAIN, zp 0): acc[r] = init[r] + the sum over
 * i < n of (x[i] - zp) * w[i * S + r] for r < R (R rows of a block whose columns are S bytes apart), four inputs
 * per step (one weight pointer, the loads at fixed offsets). */
#define ED_FC_PASS_FN(NAME, COLUMN, R, STRIDE)                                                                         \
    ED_SCALAR_OUTLINE ED_SCALAR_FN static void ed_fc_##NAME##_##R##_##STRIDE(const int8_t *x, int32_t n, int32_t zp,  \
                                                                           const int8_t *w, const int32_t *init,       \
                                                                           int32_t *acc)                               \
    {                                                                                                                  \
        enum { S = STRIDE };                                                                                           \
        const int32_t off = -zp;                                                                                       \
        const int8_t *const xend = x + n;                                                                              \
        ED_FC_EACH##R(ED_FC_INIT)                                                                                      \
        (void)off;                                                                                                     \
        for (; x + 4 <= xend; x += 4, w += 4 * S) {                                                                    \
            COLUMN(ED_FC_EACH##R, 0)                                                                                   \
            COLUMN(ED_FC_EACH##R, 1)                                                                                   \
            COLUMN(ED_FC_EACH##R, 2)                                                                                   \
            COLUMN(ED_FC_EACH##R, 3)                                                                                   \
        }                                                                                                              \
        for (; x < xend; ++x, w += S) {                                                                                \
            COLUMN(ED_FC_EACH##R, 0)                                                                                   \
        }                                                                                                              \
        ED_FC_EACH##R(ED_FC_DONE)                                                                                      \
    }

/* ED_FC_PASS16 / ED_FC_PLAIN16 / ED_FC_PASS8: a block of 16 (8) rows in passes of ED_FC_ROWS. Only the blocks of 16
 * have the plain twin (the skipping pass with zp 0 gives the same sums: the smaller blocks keep the code small). */
#if ED_FC_ROWS == 16
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 16, 16)
ED_FC_PASS_FN(plain, ED_FC_PLAIN, 16, 16)
#define ED_FC_PASS16(x, n, zp, w, init, acc) ed_fc_pass_16_16(x, n, zp, w, init, acc)
#define ED_FC_PLAIN16(x, n, w, init, acc) ed_fc_plain_16_16(x, n, 0, w, init, acc)
#elif ED_FC_ROWS == 8
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 8, 16)
ED_FC_PASS_FN(plain, ED_FC_PLAIN, 8, 16)
#define ED_FC_PASS16(x, n, zp, w, init, acc)                                                                           \
    (ed_fc_pass_8_16(x, n, zp, w, init, acc), ed_fc_pass_8_16(x, n, zp, w + 8, init + 8, acc + 8))
#define ED_FC_PLAIN16(x, n, w, init, acc)                                                                              \
    (ed_fc_plain_8_16(x, n, 0, w, init, acc), ed_fc_plain_8_16(x, n, 0, w + 8, init + 8, acc + 8))
#else
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 4, 16)
ED_FC_PASS_FN(plain, ED_FC_PLAIN, 4, 16)
#define ED_FC_PASS16(x, n, zp, w, init, acc)                                                                           \
    (ed_fc_pass_4_16(x, n, zp, w, init, acc), ed_fc_pass_4_16(x, n, zp, w + 4, init + 4, acc + 4),                     \
     ed_fc_pass_4_16(x, n, zp, w + 8, init + 8, acc + 8), ed_fc_pass_4_16(x, n, zp, w + 12, init + 12, acc + 12))
#define ED_FC_PLAIN16(x, n, w, init, acc)                                                                              \
    (ed_fc_plain_4_16(x, n, 0, w, init, acc), ed_fc_plain_4_16(x, n, 0, w + 4, init + 4, acc + 4),                     \
     ed_fc_plain_4_16(x, n, 0, w + 8, init + 8, acc + 8), ed_fc_plain_4_16(x, n, 0, w + 12, init + 12, acc + 12))
#endif
#if ED_FC_ROWS >= 8
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 8, 8)
#define ED_FC_PASS8(x, n, zp, w, init, acc) ed_fc_pass_8_8(x, n, zp, w, init, acc)
#else
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 4, 8)
#define ED_FC_PASS8(x, n, zp, w, init, acc)                                                                            \
    (ed_fc_pass_4_8(x, n, zp, w, init, acc), ed_fc_pass_4_8(x, n, zp, w + 4, init + 4, acc + 4))
#endif
ED_FC_PASS_FN(pass, ED_FC_SKIPPING, 4, 4)

/* The requantized output of accumulator acc (bias included) of row o: any rounding, per-tensor or per-channel. */
static int8_t ed_fc_out(const ed_fc_params_t *p, int32_t acc, int32_t o)
{
    const int32_t q = p->per_channel ? o : 0;
    if (p->rounding == ED_ROUNDING_SINGLE) {
        acc = ed_mbqm_single(acc, p->multiplier[q], p->shift[q]);
    } else {
        const ed_scalar_rq_t rq = ed_scalar_rq_init(p->multiplier[q], p->shift[q]);
        acc = ed_scalar_rq(acc, &rq);
    }
    return (int8_t)ed_clamp_i32(acc + p->output_offset, p->act_min, p->act_max);
}

/* Rows [o, o + rows) of input row x into y (a block of the layout at w: rows 16, 8 or 4; rq: the layer's
 * requantization when it is per-tensor with double rounding, else NULL); start: the weights offset times the sum
 * of the offset inputs. */
static void ed_fc_block(const ed_fc_params_t *p, const int8_t *x, const int8_t *w, int32_t rows, int32_t o,
                        int32_t start, const ed_scalar_rq_t *rq, int8_t *y)
{
    const int32_t zp = -p->input_offset;
    int32_t acc[ED_FC_BLOCK];
    /* the accumulators start at the bias (read by the passes where they are) or at the bias plus start */
    const int32_t *init = acc;
    int32_t r;
    if (start == 0 && p->bias != NULL) {
        init = p->bias + o;
    } else {
        for (r = 0; r < rows; ++r) {
            acc[r] = p->bias != NULL ? start + p->bias[o + r] : start;
        }
    }
    if (rows == 16) {
        if (zp == 0) {
            ED_FC_PLAIN16(x, p->in_depth, w, init, acc);
        } else {
            ED_FC_PASS16(x, p->in_depth, zp, w, init, acc);
        }
    } else if (rows == 8) {
        ED_FC_PASS8(x, p->in_depth, zp, w, init, acc);
    } else {
        ed_fc_pass_4_4(x, p->in_depth, zp, w, init, acc);
    }
    y += o;
    if (rq != NULL) {
        /* the layer's fields in locals: a store to y could alias them */
        const ed_scalar_rq_t q = *rq;
        const int32_t out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
        for (r = 0; r < rows; ++r) {
            y[r] = (int8_t)ed_clamp_i32(ed_scalar_rq(acc[r], &q) + out_off, lo, hi);
        }
    } else {
        for (r = 0; r < rows; ++r) {
            y[r] = ed_fc_out(p, acc[r], o + r);
        }
    }
}

ED_SCALAR_FN void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_depth = p->in_depth;
    const int32_t out_depth = p->out_depth;
    const ed_scalar_rq_t layer_rq = ed_scalar_rq_init(p->multiplier[0], p->shift[0]);
    const ed_scalar_rq_t *rq = p->per_channel || p->rounding == ED_ROUNDING_SINGLE ? NULL : &layer_rq;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)in_depth;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        const int8_t *w = p->weights;
        /* sum((x + in_off) * (w + w_off)) = sum((x + in_off) * w) + w_off * sum(x + in_off) */
        int32_t start = 0;
        if (p->weights_offset != 0) {
            for (i = 0; i < in_depth; ++i) {
                start += (int32_t)x[i] + p->input_offset;
            }
            start *= p->weights_offset;
        }
        for (o = 0; o + ED_FC_BLOCK <= out_depth; o += ED_FC_BLOCK) {
            ed_fc_block(p, x, w, ED_FC_BLOCK, o, start, rq, y);
            w += (size_t)ED_FC_BLOCK * (size_t)in_depth;
        }
        if (out_depth - o >= 8) {
            ed_fc_block(p, x, w, 8, o, start, rq, y);
            w += (size_t)8 * (size_t)in_depth;
            o += 8;
        }
        if (out_depth - o >= 4) {
            ed_fc_block(p, x, w, 4, o, start, rq, y);
            w += (size_t)4 * (size_t)in_depth;
            o += 4;
        }
        for (; o < out_depth; ++o, w += in_depth) {
            int32_t acc = p->bias != NULL ? start + p->bias[o] : start;
            for (i = 0; i < in_depth; ++i) {
                acc += ((int32_t)x[i] + p->input_offset) * (int32_t)w[i];
            }
            y[o] = ed_fc_out(p, acc, o);
        }
    }
}
