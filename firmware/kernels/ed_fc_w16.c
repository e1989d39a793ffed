/*
 * ed_fc_w16.c - int8 FULLY_CONNECTED with int16 weights pre-extended at export (edgesdk's `--optimize speed`
 * choice where the flash allows): same results as ed_fc_s8 (TFLite Micro semantics, double or single rounding).
 *
 * Four output rows share each input word: SXTAB16 extends four inputs into the pairs (x0, x2) and (x1, x3) with
 * the input offset added; the weights are already int16 pairs in that order, so each row needs two loads and
 * two SMLAD per four inputs and no extends: 16 MACs per 9 loads, 2 extends and 8 SMLAD (the int8-weight
 * kernel needs 10 more extends). Layout: see ed_fc_w16_params_t in edgesdk_kernels.h.
 */
#include "ed_fc_w16_body.h"

void ed_fc_w16_s8(const ed_fc_w16_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_w16_body(p, input, output);
}
