/*
 * scalar/ed_fc.c - int8 FULLY_CONNECTED for cores without SIMD (Cortex-M0/M0+/M3, RV32IMC), the same
 * function and semantics as the portable ../ed_fc.c (TFLite Micro, per-tensor or per-channel, double or single
 * rounding), on the weights in the scalar layout (edgesdk.ir.weightformats.fc_weights_scalar): rows in blocks of
 * ED_FC_BLOCK, a block's weights column by column (the block's rows of input 0, then of input 1, ...), the rows
 * left over in blocks of 8 and 4 the same way, the last out % 4 rows one after the other.
 *
 * A pass computes ED_FC_ROWS rows of a block (RV32: a whole block of 16; Thumb-2: 8; Thumb-1: 4): each input byte
 * is loaded and offset once for all of them, and the pass's weights of a column lie at fixed offsets from one
 * pointer, so a multiply-accumulate is a weight load and a multiply-add (RV32: LB, MUL, ADD; Thumb-2: LDRSB,
 * MLA). An input equal to the input zero point adds nothing to any row: its column is skipped (after a fused
 * ReLU about half of an autoencoder's activations are), bit for bit the same sums.
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
#define ED_FC_INIT(r) int32_t a##r = acc[r];
#define ED_FC_DONE(r) acc[r] = a##r;
#define ED_FC_MAC0(r) a##r += v * (int32_t)w[r];
#define ED_FC_MAC1(r) a##r += v * (int32_t)w[S + r];
#define ED_FC_MAC2(r) a##r += v * (int32_t)w[2 * S + r];
#define ED_FC_MAC3(r) a##r += v * (int32_t)w[3 * S + r];
/* Column j of a step: unless its input is the zero point, (x[j] + off) times the column's weights of every row. */
#define ED_FC_COLUMN(EACH, j)                                                                                          \
    {                                                                                                                  \
        const int32_t xv = x[j];                                                                                       \
        if (xv != zp) {                                                                                                \
            const int32_t v = xv + off;                                                                                \
            EACH(ED_FC_MAC##j)                                                                                         \
        }                                                                                                              \
        ED_SCALAR_BARRIER();                                                                                           \
    }

/* ed_fc_pass_R_S: acc[r] += sum over i < n of (x[i] + off) * w[i * S + r] for r < R (R rows of a block whose
 * columns are S bytes apart), four inputs per step (one weight pointer, the loads at fixed offsets). */
#define ED_FC_PASS_FN(R, STRIDE)                                                                                       \
    ED_SCALAR_OUTLINE ED_SCALAR_FN static void ed_fc_pass_##R##_##STRIDE(const int8_t *x, int32_t n, int32_t zp,    \
                                                                         const int8_t *w, int32_t *acc)                \
    {                                                                                                                  \
        enum { S = STRIDE };                                                                                           \
        const int32_t off = -zp;                                                                                       \
        const int8_t *const xend = x + n;                                                                              \
        ED_FC_EACH##R(ED_FC_INIT)                                                                                      \
        for (; x + 4 <= xend; x += 4, w += 4 * S) {                                                                    \
            ED_FC_COLUMN(ED_FC_EACH##R, 0)                                                                             \
            ED_FC_COLUMN(ED_FC_EACH##R, 1)                                                                             \
            ED_FC_COLUMN(ED_FC_EACH##R, 2)                                                                             \
            ED_FC_COLUMN(ED_FC_EACH##R, 3)                                                                             \
        }                                                                                                              \
        for (; x < xend; ++x, w += S) {                                                                                \
            ED_FC_COLUMN(ED_FC_EACH##R, 0)                                                                             \
        }                                                                                                              \
        ED_FC_EACH##R(ED_FC_DONE)                                                                                      \
    }

#if ED_FC_ROWS == 16
ED_FC_PASS_FN(16, 16)
#define ED_FC_PASS16(x, n, zp, w, acc) ed_fc_pass_16_16(x, n, zp, w, acc)
#elif ED_FC_ROWS == 8
ED_FC_PASS_FN(8, 16)
#define ED_FC_PASS16(x, n, zp, w, acc) (ed_fc_pass_8_16(x, n, zp, w, acc), ed_fc_pass_8_16(x, n, zp, w + 8, acc + 8))
#else
ED_FC_PASS_FN(4, 16)
#define ED_FC_PASS16(x, n, zp, w, acc)                                                                                 \
    (ed_fc_pass_4_16(x, n, zp, w, acc), ed_fc_pass_4_16(x, n, zp, w + 4, acc + 4),                                     \
     ed_fc_pass_4_16(x, n, zp, w + 8, acc + 8), ed_fc_pass_4_16(x, n, zp, w + 12, acc + 12))
#endif
#if ED_FC_ROWS >= 8
ED_FC_PASS_FN(8, 8)
#define ED_FC_PASS8(x, n, zp, w, acc) ed_fc_pass_8_8(x, n, zp, w, acc)
#else
ED_FC_PASS_FN(4, 8)
#define ED_FC_PASS8(x, n, zp, w, acc) (ed_fc_pass_4_8(x, n, zp, w, acc), ed_fc_pass_4_8(x, n, zp, w + 4, acc + 4))
#endif
ED_FC_PASS_FN(4, 4)

/* The requantized output of accumulator acc (bias not yet added) of row o. */
static inline int8_t ed_fc_out(const ed_fc_params_t *p, int32_t acc, int32_t o, const ed_scalar_rq_t *rq)
{
    const int32_t q = p->per_channel ? o : 0;
    if (p->bias != NULL) {
        acc += p->bias[o];
    }
    if (p->rounding == ED_ROUNDING_SINGLE) {
        acc = ed_mbqm_single(acc, p->multiplier[q], p->shift[q]);
    } else if (p->per_channel) {
        const ed_scalar_rq_t one = ed_scalar_rq_init(p->multiplier[o], p->shift[o]);
        acc = ed_scalar_rq(acc, &one);
    } else {
        acc = ed_scalar_rq(acc, rq);
    }
    return (int8_t)ed_clamp_i32(acc + p->output_offset, p->act_min, p->act_max);
}

/* Rows [o, o + rows) of input row x into y (a block of the layout at w: rows 16, 8 or 4); wsum: the weights
 * offset times the sum of the offset inputs. */
static void ed_fc_block(const ed_fc_params_t *p, const int8_t *x, const int8_t *w, int32_t rows, int32_t o,
                        int32_t wsum, const ed_scalar_rq_t *rq, int8_t *y)
{
    const int32_t zp = -p->input_offset;
    int32_t acc[ED_FC_BLOCK];
    int32_t r;
    for (r = 0; r < rows; ++r) {
        acc[r] = wsum;
    }
    if (rows == 16) {
        ED_FC_PASS16(x, p->in_depth, zp, w, acc);
    } else if (rows == 8) {
        ED_FC_PASS8(x, p->in_depth, zp, w, acc);
    } else {
        ed_fc_pass_4_4(x, p->in_depth, zp, w, acc);
    }
    for (r = 0; r < rows; ++r) {
        y[o + r] = ed_fc_out(p, acc[r], o + r, rq);
    }
}

ED_SCALAR_FN void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_depth = p->in_depth;
    const int32_t out_depth = p->out_depth;
    const ed_scalar_rq_t rq = ed_scalar_rq_init(p->multiplier[0], p->shift[0]);
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)in_depth;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        const int8_t *w = p->weights;
        /* sum((x + in_off) * (w + w_off)) = sum((x + in_off) * w) + w_off * sum(x + in_off) */
        int32_t wsum = 0;
        if (p->weights_offset != 0) {
            for (i = 0; i < in_depth; ++i) {
                wsum += (int32_t)x[i] + p->input_offset;
            }
            wsum *= p->weights_offset;
        }
        for (o = 0; o + ED_FC_BLOCK <= out_depth; o += ED_FC_BLOCK) {
            ed_fc_block(p, x, w, ED_FC_BLOCK, o, wsum, &rq, y);
            w += (size_t)ED_FC_BLOCK * (size_t)in_depth;
        }
        if (out_depth - o >= 8) {
            ed_fc_block(p, x, w, 8, o, wsum, &rq, y);
            w += (size_t)8 * (size_t)in_depth;
            o += 8;
        }
        if (out_depth - o >= 4) {
            ed_fc_block(p, x, w, 4, o, wsum, &rq, y);
            w += (size_t)4 * (size_t)in_depth;
            o += 4;
        }
        for (; o < out_depth; ++o, w += in_depth) {
            int32_t acc = wsum;
            for (i = 0; i < in_depth; ++i) {
                acc += ((int32_t)x[i] + p->input_offset) * (int32_t)w[i];
            }
            y[o] = ed_fc_out(p, acc, o, &rq);
        }
    }
}
