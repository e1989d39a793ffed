/*
 * ed_misc.c - int8 data-movement and reduction kernels: PAD, CONCATENATION, MEAN, and the RESHAPE copy.
 *
 * Tensors of rank <= 4 are handled as 4-D with leading dimensions of one, so one loop nest serves all ranks.
 */
#include <string.h>

#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_copy_s8(const int8_t *input, int8_t *output, int32_t size)
{
    if (input != output && size > 0) {
        memmove(output, input, (size_t)size);
    }
}

void ed_pad_s8(const ed_pad_params_t *p, const int8_t *input, int8_t *output)
{
    const int8_t value = (int8_t)p->pad_value;
    const int32_t *od = p->out_dims;
    const int32_t *id = p->in_dims;
    const int32_t *b = p->before;
    int32_t d0, d1, d2;
    size_t o = 0;
    for (d0 = 0; d0 < od[0]; ++d0) {
        const int32_t i0 = d0 - b[0];
        for (d1 = 0; d1 < od[1]; ++d1) {
            const int32_t i1 = d1 - b[1];
            for (d2 = 0; d2 < od[2]; ++d2) {
                const int32_t i2 = d2 - b[2];
                if (i0 < 0 || i0 >= id[0] || i1 < 0 || i1 >= id[1] || i2 < 0 || i2 >= id[2]) {
                    memset(output + o, value, (size_t)od[3]);
                } else {
                    const size_t src = (((size_t)i0 * (size_t)id[1] + (size_t)i1) * (size_t)id[2] + (size_t)i2) * (size_t)id[3];
                    const int32_t after = od[3] - b[3] - id[3];
                    memset(output + o, value, (size_t)b[3]);
                    memcpy(output + o + (size_t)b[3], input + src, (size_t)id[3]);
                    memset(output + o + (size_t)b[3] + (size_t)id[3], value, (size_t)after);
                }
                o += (size_t)od[3];
            }
        }
    }
}

void ed_concat_s8(const ed_concat_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    int32_t k, i;
    size_t o = 0;
    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < p->num_inputs; ++i) {
            const size_t n = (size_t)p->copy_sizes[i];
            const int8_t *src = inputs[i] + (size_t)k * n;
            if (p->requantize != NULL && p->requantize[i]) {
                const int32_t zp = p->input_zero_points[i];
                const int32_t mult = p->multipliers[i];
                const int32_t shift = p->shifts[i];
                size_t j;
                for (j = 0; j < n; ++j) {
                    const int32_t y = ed_mbqm((int32_t)src[j] - zp, mult, shift) + p->output_zero_point;
                    output[o + j] = (int8_t)ed_clamp_i32(y, p->act_min, p->act_max);
                }
            } else if (p->act_min > -128 || p->act_max < 127) {
                size_t j;
                for (j = 0; j < n; ++j) {
                    output[o + j] = (int8_t)ed_clamp_i32(src[j], p->act_min, p->act_max);
                }
            } else {
                memcpy(output + o, src, n);
            }
            o += n;
        }
    }
}

void ed_mean_s8(const ed_mean_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t od[4], rd[4];
    size_t stride[4];
    int32_t k;
    int32_t o0, o1, o2, o3;
    size_t o = 0;
    /* Output extents (one on reduced axes) and reduction extents (one on kept axes). */
    for (k = 0; k < 4; ++k) {
        od[k] = p->reduce[k] ? 1 : p->in_dims[k];
        rd[k] = p->reduce[k] ? p->in_dims[k] : 1;
    }
    stride[3] = 1;
    for (k = 2; k >= 0; --k) {
        stride[k] = stride[k + 1] * (size_t)p->in_dims[k + 1];
    }
    for (o0 = 0; o0 < od[0]; ++o0) {
        for (o1 = 0; o1 < od[1]; ++o1) {
            for (o2 = 0; o2 < od[2]; ++o2) {
                for (o3 = 0; o3 < od[3]; ++o3) {
                    const size_t base = (size_t)o0 * stride[0] + (size_t)o1 * stride[1] + (size_t)o2 * stride[2] + (size_t)o3;
                    int32_t sum = 0;
                    int32_t r0, r1, r2, r3;
                    int32_t out;
                    for (r0 = 0; r0 < rd[0]; ++r0) {
                        for (r1 = 0; r1 < rd[1]; ++r1) {
                            for (r2 = 0; r2 < rd[2]; ++r2) {
                                for (r3 = 0; r3 < rd[3]; ++r3) {
                                    sum += input[base + (size_t)r0 * stride[0] + (size_t)r1 * stride[1] +
                                                 (size_t)r2 * stride[2] + (size_t)r3];
                                }
                            }
                        }
                    }
                    if (p->mode == ED_MEAN_SAME_QUANT) {
                        out = sum / p->count;
                    } else {
                        out = ed_mbqm(sum - p->input_zero_point * p->count, p->multiplier, p->shift) +
                              p->output_zero_point;
                    }
                    output[o++] = (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
                }
            }
        }
    }
}
