/*
 * ed_fc.c (Cortex-M DSP) - int8 FULLY_CONNECTED with the Armv7E-M SIMD instructions; same interface and
 * results as the portable firmware/kernels/ed_fc.c (TFLite Micro semantics, double or single rounding).
 *
 * Weight layout (written at export by edgesdk.backends.c.dsp.fc_weights_dsp): output rows in blocks of four,
 * and within a block the weights of the four rows interleaved four inputs at a time
 *     [r0 i0..i3][r1 i0..i3][r2 i0..i3][r3 i0..i3][r0 i4..i7]...  then each row's n % 4 tail bytes;
 * the out % 4 last rows stay row-major. One pointer walks a block, so four rows share each input word:
 * SXTAB16 extends four inputs into two halfword pairs with the input offset added (free), SXTB16 extends
 * each row's weights, and SMLAD accumulates two products: 16 MACs per 5 loads, 10 extends and 8 SMLAD.
 * A nonzero weight offset (not produced by int8 TFLite models) adds weights_offset * sum(x + input_offset).
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t n = p->in_depth;
    const int32_t n4 = n & ~3;
    const int32_t tail = n & 3;
    const int32_t out_depth = p->out_depth;
    const int32_t in_off = p->input_offset;
    const uint32_t xoff2 = ed_dup16(in_off);
    int32_t b, o, t;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x_row = input + (size_t)b * (size_t)n;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        int32_t wsum = 0; /* weights_offset * sum(x + input_offset), 0 for int8 models */
        if (p->weights_offset != 0) {
            for (t = 0; t < n; ++t) {
                wsum += (int32_t)x_row[t] + in_off;
            }
            wsum *= p->weights_offset;
        }
        for (o = 0; o + 4 <= out_depth; o += 4) {
            const int8_t *w = p->weights + (size_t)o * (size_t)n;
            const int8_t *x = x_row;
            const int8_t *end4 = x_row + n4;
            int32_t a0 = wsum, a1 = wsum, a2 = wsum, a3 = wsum;
            while (x != end4) {
                const uint32_t xv = ed_read32(x);
                const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
                uint32_t wv = ed_read32(w);
                a0 = ed_smlad(xe, ed_sxtb16(wv), a0);
                a0 = ed_smlad(xo, ed_sxtb16_ror8(wv), a0);
                wv = ed_read32(w + 4);
                a1 = ed_smlad(xe, ed_sxtb16(wv), a1);
                a1 = ed_smlad(xo, ed_sxtb16_ror8(wv), a1);
                wv = ed_read32(w + 8);
                a2 = ed_smlad(xe, ed_sxtb16(wv), a2);
                a2 = ed_smlad(xo, ed_sxtb16_ror8(wv), a2);
                wv = ed_read32(w + 12);
                a3 = ed_smlad(xe, ed_sxtb16(wv), a3);
                a3 = ed_smlad(xo, ed_sxtb16_ror8(wv), a3);
                x += 4;
                w += 16;
            }
            for (t = 0; t < tail; ++t) {
                const int32_t xv = (int32_t)x[t] + in_off;
                a0 += xv * (int32_t)w[t];
                a1 += xv * (int32_t)w[tail + t];
                a2 += xv * (int32_t)w[2 * tail + t];
                a3 += xv * (int32_t)w[3 * tail + t];
            }
            y[o] = ED_FC_REQUANT(p, a0, o);
            y[o + 1] = ED_FC_REQUANT(p, a1, o + 1);
            y[o + 2] = ED_FC_REQUANT(p, a2, o + 2);
            y[o + 3] = ED_FC_REQUANT(p, a3, o + 3);
        }
        for (; o < out_depth; ++o) {
            const int8_t *w = p->weights + (size_t)o * (size_t)n;
            const int8_t *x = x_row;
            const int8_t *end4 = x_row + n4;
            int32_t a0 = wsum;
            while (x != end4) {
                const uint32_t xv = ed_read32(x), wv = ed_read32(w);
                a0 = ed_smlad(ed_sxtab16(xoff2, xv), ed_sxtb16(wv), a0);
                a0 = ed_smlad(ed_sxtab16_ror8(xoff2, xv), ed_sxtb16_ror8(wv), a0);
                x += 4;
                w += 4;
            }
            for (t = 0; t < tail; ++t) {
                a0 += ((int32_t)x[t] + in_off) * (int32_t)w[t];
            }
            y[o] = ED_FC_REQUANT(p, a0, o);
        }
    }
}
