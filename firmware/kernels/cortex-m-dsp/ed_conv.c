/*
 * ed_conv.c (Cortex-M DSP) - int8 CONV_2D with the Armv7E-M SIMD instructions, same semantics and interface
 * as the portable firmware/kernels/ed_conv.c (TFLite Micro's ConvPerChannel, bit for bit).
 *
 * The body (SXTAB16/SMLAD inner products, 2x2 register blocking, interior/border split) lives in
 * ed_conv_dsp.h, where layers specialised at export instantiate it with their constant parameters; this shared
 * kernel runs it with the layer's run-time parameter struct.
 */
#include "ed_conv_dsp.h"

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    ed_conv_dsp_rows(p, input, output, 0, p->out_h, 0, NULL);
}
