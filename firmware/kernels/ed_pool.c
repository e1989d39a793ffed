/*
 * ed_pool.c - int8 AVERAGE_POOL_2D and MAX_POOL_2D, TFLite Micro semantics.
 *
 * The window is clipped to the image; the average divides by the number of taps inside it, rounding
 * half away from zero. Input and output share quantization, so there is no requantization.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

void ed_avgpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    int32_t oy, ox, c;
    ED_POOL_PIXELS(p, output, ch)
        const int32_t count = (fy_end - fy_begin) * (fx_end - fx_begin);
        for (c = 0; c < ch; ++c) {
            int32_t sum = 0;
            int32_t fy, fx;
            for (fy = fy_begin; fy < fy_end; ++fy) {
                const int8_t *row = input + ((size_t)(iy0 + fy) * (size_t)p->in_w) * (size_t)ch;
                for (fx = fx_begin; fx < fx_end; ++fx) {
                    sum += row[(size_t)(ix0 + fx) * (size_t)ch + (size_t)c];
                }
            }
            out_px[c] = (int8_t)ed_clamp_i32(ed_pool_mean(sum, count), p->act_min, p->act_max);
        }
    ED_POOL_PIXELS_END
}

void ed_maxpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    int32_t oy, ox, c;
    ED_POOL_PIXELS(p, output, ch)
        for (c = 0; c < ch; ++c) {
            int32_t best = -128;
            int32_t fy, fx;
            for (fy = fy_begin; fy < fy_end; ++fy) {
                const int8_t *row = input + ((size_t)(iy0 + fy) * (size_t)p->in_w) * (size_t)ch;
                for (fx = fx_begin; fx < fx_end; ++fx) {
                    const int32_t v = row[(size_t)(ix0 + fx) * (size_t)ch + (size_t)c];
                    best = v > best ? v : best;
                }
            }
            out_px[c] = (int8_t)ed_clamp_i32(best, p->act_min, p->act_max);
        }
    ED_POOL_PIXELS_END
}
