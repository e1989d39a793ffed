/*
 * ed_fc.c (Cortex-M DSP) - int8 FULLY_CONNECTED with the Armv7E-M SIMD instructions; same interface and
 * results as the portable firmware/kernels/ed_fc.c (TFLite Micro semantics, double or single rounding).
 *
 * Two output rows share each input word: SXTAB16 extends four inputs into two halfword pairs with the input
 * offset added, SXTAB16 does the same for each row's weights with the weight offset, and SMLAD accumulates
 * two products at a time (8 MACs per 3 loads, 6 extends and 4 SMLAD; the loop is unrolled to 8 inputs).
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

static inline int8_t ed_fc_requant(const ed_fc_params_t *p, int32_t acc, int32_t o)
{
    const int32_t q = p->per_channel ? o : 0;
    if (p->bias != NULL) {
        acc += p->bias[o];
    }
    if (p->rounding == ED_ROUNDING_SINGLE) {
        acc = ed_mbqm_single(acc, p->multiplier[q], p->shift[q]);
    } else {
        acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]);
    }
    acc += p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t n = p->in_depth;
    const int32_t out_depth = p->out_depth;
    const uint32_t xoff2 = ed_dup16(p->input_offset);
    const uint32_t woff2 = ed_dup16(p->weights_offset);
    int32_t b, o;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x_row = input + (size_t)b * (size_t)n;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        for (o = 0; o < out_depth; o += 2) {
            const int32_t o1 = o + 1 < out_depth ? o + 1 : o;
            const int8_t *w0 = p->weights + (size_t)o * (size_t)n;
            const int8_t *w1 = p->weights + (size_t)o1 * (size_t)n;
            const int8_t *x = x_row;
            const int8_t *end8 = x_row + (n & ~7);
            const int8_t *end = x_row + n;
            int32_t a0 = 0, a1 = 0;
            while (x != end8) {
                uint32_t xv = ed_read32(x);
                uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
                uint32_t wa = ed_read32(w0), wb = ed_read32(w1);
                a0 = ed_smlad(xe, ed_sxtab16(woff2, wa), a0);
                a0 = ed_smlad(xo, ed_sxtab16_ror8(woff2, wa), a0);
                a1 = ed_smlad(xe, ed_sxtab16(woff2, wb), a1);
                a1 = ed_smlad(xo, ed_sxtab16_ror8(woff2, wb), a1);
                xv = ed_read32(x + 4);
                xe = ed_sxtab16(xoff2, xv);
                xo = ed_sxtab16_ror8(xoff2, xv);
                wa = ed_read32(w0 + 4);
                wb = ed_read32(w1 + 4);
                a0 = ed_smlad(xe, ed_sxtab16(woff2, wa), a0);
                a0 = ed_smlad(xo, ed_sxtab16_ror8(woff2, wa), a0);
                a1 = ed_smlad(xe, ed_sxtab16(woff2, wb), a1);
                a1 = ed_smlad(xo, ed_sxtab16_ror8(woff2, wb), a1);
                x += 8;
                w0 += 8;
                w1 += 8;
            }
            while (x != end) {
                const int32_t xv = (int32_t)*x++ + p->input_offset;
                a0 += xv * ((int32_t)*w0++ + p->weights_offset);
                a1 += xv * ((int32_t)*w1++ + p->weights_offset);
            }
            y[o] = ed_fc_requant(p, a0, o);
            if (o1 != o) {
                y[o1] = ed_fc_requant(p, a1, o1);
            }
        }
    }
}
