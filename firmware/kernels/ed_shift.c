/*
 * ed_shift.c - a DEPTHWISE_CONV_2D whose kernels are one-hot (a Shift layer), as memory moves.
 *
 * Every output channel reads one tap of its input channel: the output is a table lookup of that input
 * value (the table holds the int8 depthwise result, requantization and activation included), or the
 * channel's padding value when the tap falls outside the input. No multiply-accumulate per element; the
 * element offset of each channel's tap is precomputed (delta), so the inner loop only adds and compares.
 */
#include "edgesdk_kernels.h"

void ed_shift_s8(const ed_shift_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t out_c = p->out_c;
    const int32_t row_step = p->in_w * p->in_c;
    const int32_t col_step = p->stride_w * p->in_c;
    const int32_t down_step = p->stride_h * row_step;
    int32_t oy, ox, oc;
    int8_t *out = output;
    int32_t iy0 = -p->pad_top;
    int32_t row_origin = -p->pad_top * row_step - p->pad_left * p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
        int32_t ix0 = -p->pad_left;
        int32_t origin = row_origin; /* element index of the window's top-left tap */
        for (ox = 0; ox < p->out_w; ++ox) {
            const int8_t *lut = p->lut;
            for (oc = 0; oc < out_c; ++oc) {
                const int32_t iy = iy0 + p->tap_y[oc];
                const int32_t ix = ix0 + p->tap_x[oc];
                if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                    out[oc] = lut[(int32_t)input[origin + p->delta[oc]] + 128];
                } else {
                    out[oc] = p->pad_value[oc];
                }
                lut += 256;
            }
            out += out_c;
            ix0 += p->stride_w;
            origin += col_step;
        }
        iy0 += p->stride_h;
        row_origin += down_step;
    }
}
