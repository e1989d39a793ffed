/*
 * ed_binary.h - the per-element int8 ADD and MUL of TFLite Micro and the walk of two inputs with up to 4-D
 * broadcasting, shared by the portable ed_elementwise.c and the per-target variants that speed up only the
 * same-shape case (firmware/kernels/helium/ed_elementwise.c).
 *
 * ADD rescales both inputs to a common scale with left_shift bits of headroom, adds, and requantizes; MUL
 * multiplies the offset inputs and requantizes once.
 */
#ifndef ED_BINARY_H
#define ED_BINARY_H

#include <stddef.h>
#include <stdint.h>

#include "ed_fixedpoint.h"
#include "edgesdk_kernels.h"

static inline int8_t ed_add_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t x1 = ed_shl_wrap(a + p->input1_offset, p->left_shift);
    const int32_t x2 = ed_shl_wrap(b + p->input2_offset, p->left_shift);
    const int32_t s1 = ed_mbqm(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = ed_mbqm(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = ed_mbqm(ed_add_wrap(s1, s2), p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

static inline int8_t ed_mul_one(const ed_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = ed_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp_i32(out, p->act_min, p->act_max);
}

/* ADD (mul = 0) or MUL (mul = 1) element by element: flat when both inputs have the output's shape, else
 * through the inputs' 4-D strides (0 on a broadcast axis). */
static inline void ed_binary_walk(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                                  int8_t *output, int mul)
{
    if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = mul ? ed_mul_one(p, input1[i], input2[i]) : ed_add_one(p, input1[i], input2[i]);
        }
    } else {
        int32_t d0, d1, d2, d3;
        size_t o = 0;
        for (d0 = 0; d0 < p->out_dims[0]; ++d0) {
            for (d1 = 0; d1 < p->out_dims[1]; ++d1) {
                for (d2 = 0; d2 < p->out_dims[2]; ++d2) {
                    const size_t a0 = (size_t)(d0 * p->in1_strides[0] + d1 * p->in1_strides[1] + d2 * p->in1_strides[2]);
                    const size_t b0 = (size_t)(d0 * p->in2_strides[0] + d1 * p->in2_strides[1] + d2 * p->in2_strides[2]);
                    for (d3 = 0; d3 < p->out_dims[3]; ++d3) {
                        const int32_t a = input1[a0 + (size_t)(d3 * p->in1_strides[3])];
                        const int32_t b = input2[b0 + (size_t)(d3 * p->in2_strides[3])];
                        output[o++] = mul ? ed_mul_one(p, a, b) : ed_add_one(p, a, b);
                    }
                }
            }
        }
    }
}

#endif /* ED_BINARY_H */
