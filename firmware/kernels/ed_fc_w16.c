/*
 * ed_fc_w16.c - int8 FULLY_CONNECTED with int16 weights pre-extended at export (edgesdk's `--optimize speed`
 * choice where the flash allows): same results as ed_fc_s8 (TFLite Micro semantics, double or single rounding).
 *
 * Four output rows share each input word: SXTAB16 extends four inputs into the pairs (x0, x2) and (x1, x3) with
 * the input offset added; the weights are already int16 pairs in that order, so each row needs two loads and
 * two SMLAD per four inputs and no extends: 16 MACs per 9 loads, 2 extends and 8 SMLAD (the int8-weight
 * kernel needs 10 more extends). Layout: see ed_fc_w16_params_t in edgesdk_kernels.h.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

void ed_fc_w16_s8(const ed_fc_w16_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t n = p->in_depth;
    const int32_t n4 = n & ~3;
    const int32_t tail = n & 3;
    const int32_t out_depth = p->out_depth;
    const int32_t in_off = p->input_offset;
    const uint32_t xoff2 = ed_dup16(in_off);
    int32_t b, o, t, r;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x_row = input + (size_t)b * (size_t)n;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        const int16_t *w = p->weights;
        for (o = 0; o < out_depth; o += 4) {
            const int8_t *x = x_row;
            const int8_t *end4 = x_row + n4;
            int32_t acc[4];
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            while (x != end4) {
                const uint32_t xv = ed_read32(x);
                const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
                a0 = ed_smlad(xe, ed_read32((const int8_t *)w), a0);
                a1 = ed_smlad(xe, ed_read32((const int8_t *)(w + 2)), a1);
                a2 = ed_smlad(xe, ed_read32((const int8_t *)(w + 4)), a2);
                a3 = ed_smlad(xe, ed_read32((const int8_t *)(w + 6)), a3);
                a0 = ed_smlad(xo, ed_read32((const int8_t *)(w + 8)), a0);
                a1 = ed_smlad(xo, ed_read32((const int8_t *)(w + 10)), a1);
                a2 = ed_smlad(xo, ed_read32((const int8_t *)(w + 12)), a2);
                a3 = ed_smlad(xo, ed_read32((const int8_t *)(w + 14)), a3);
                x += 4;
                w += 16;
            }
            acc[0] = a0;
            acc[1] = a1;
            acc[2] = a2;
            acc[3] = a3;
            for (r = 0; r < 4; ++r) {
                for (t = 0; t < tail; ++t) {
                    acc[r] += ((int32_t)x[t] + in_off) * (int32_t)w[t];
                }
                w += tail;
            }
            for (r = 0; r < 4 && o + r < out_depth; ++r) {
                y[o + r] = ED_FC_REQUANT(p, acc[r], o + r);
            }
        }
    }
}
