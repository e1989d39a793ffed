/*
 * ed_fc.c - int8 FULLY_CONNECTED (weights (out, in)), TFLite Micro semantics, per-tensor or per-channel.
 *
 * Rounding is TFLite Micro's double rounding unless the layer asks for ED_ROUNDING_SINGLE (what some
 * TFLite CPU kernels do); the choice is per call, hoisted out of the loops.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_depth = p->in_depth;
    const int32_t out_depth = p->out_depth;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)in_depth;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        for (o = 0; o < out_depth; ++o) {
            const int8_t *w = p->weights + (size_t)o * (size_t)in_depth;
            const int32_t q = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (i = 0; i < in_depth; ++i) {
                acc += ((int32_t)x[i] + p->input_offset) * ((int32_t)w[i] + p->weights_offset);
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            ED_REQUANT_STORE(p, acc, q, y[o]);
        }
    }
}
