/*
 * scalar/ed_fc.c - int8 FULLY_CONNECTED for cores without SIMD (Cortex-M0/M0+/M3, RV32IMC), the same
 * function and semantics as the portable ../ed_fc.c (TFLite Micro, per-tensor or per-channel, double or single
 * rounding).
 *
 * ED_SCALAR_ROWS output rows at once (ed_scalar.h): each input byte is loaded and offset once for all of them.
 * The weights offset of int8 TFLite is 0; a layer with another one takes the one-row loop.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_scalar.h"

static int8_t ed_fc_finish(const ed_fc_params_t *p, int32_t acc, int32_t o)
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
    return (int8_t)ed_clamp_i32(acc + p->output_offset, p->act_min, p->act_max);
}

ED_SCALAR_FN void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_depth = p->in_depth;
    const int32_t out_depth = p->out_depth;
    int32_t b, o, i, r;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)in_depth;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        o = 0;
        if (p->weights_offset == 0) {
            for (; o + ED_SCALAR_ROWS <= out_depth; o += ED_SCALAR_ROWS) {
                const int8_t *w[ED_SCALAR_ROWS];
                int32_t acc[ED_SCALAR_ROWS];
                ED_UNROLL
                for (r = 0; r < ED_SCALAR_ROWS; ++r) {
                    w[r] = p->weights + (size_t)(o + r) * (size_t)in_depth;
                    acc[r] = 0;
                }
                ed_scalar_dot_rows(x, in_depth, p->input_offset, w, acc);
                ED_UNROLL
                for (r = 0; r < ED_SCALAR_ROWS; ++r) {
                    y[o + r] = ed_fc_finish(p, acc[r], o + r);
                }
            }
        }
        for (; o < out_depth; ++o) {
            const int8_t *w = p->weights + (size_t)o * (size_t)in_depth;
            int32_t acc = 0;
            for (i = 0; i < in_depth; ++i) {
                acc += ((int32_t)x[i] + p->input_offset) * ((int32_t)w[i] + p->weights_offset);
            }
            y[o] = ed_fc_finish(p, acc, o);
        }
    }
}
