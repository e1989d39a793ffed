/*
 * ed_pool.c (Helium) - int8 AVERAGE_POOL_2D and MAX_POOL_2D with the M-profile Vector Extension (Cortex-M55/M85);
 * same interface and results as the portable firmware/kernels/ed_pool.c (TFLite Micro semantics, bit for bit).
 *
 * Channels are innermost, so one vector load reads a run of channels of a tap. Max: sixteen channels a step
 * (VLDRB.8, VMAX.S8), the clamp to the activation range is one VMAX and one VMIN, one predicated store; the
 * last one to fifteen channels tail-predicated. Average: eight channels a step, each byte widened to a halfword
 * on the load (VLDRB.S16) and summed in halfwords (VADD.I16: exact while the window has at most 256 taps,
 * |sum| <= 128 * 256 = 2^15), then each sum divided as the portable kernel does (rounded half away from zero);
 * a larger window sums each channel in 32 bits.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_mve.h"

/* The first tap of the clipped window of the current output pixel (inside ED_POOL_PIXELS). */
#define ED_POOL_FIRST_TAP(p, input)                                                                                  \
    (fy_end == fy_begin || fx_end == fx_begin                                                                        \
         ? (input)                                                                                                   \
         : (input) + ((size_t)(iy0 + fy_begin) * (size_t)(p)->in_w + (size_t)(ix0 + fx_begin)) * (size_t)(p)->channels)

void ed_avgpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    int32_t oy, ox, c, fy, fx;
    ED_POOL_PIXELS(p, output, ch)
        const int8_t *base = ED_POOL_FIRST_TAP(p, input);
        const int32_t rows = fy_end - fy_begin, cols = fx_end - fx_begin, count = rows * cols;
        if (count <= 256) {
            for (c = 0; c < ch; c += 8) {
                const mve_pred16_t pr = vctp16q((uint32_t)(ch - c));
                const int32_t lanes = ch - c < 8 ? ch - c : 8;
                int16x8_t acc = vdupq_n_s16(0);
                int16_t sums[8];
                int32_t k;
                const int8_t *r = base + c;
                for (fy = 0; fy < rows; ++fy, r += row) {
                    const int8_t *t = r;
                    for (fx = 0; fx < cols; ++fx, t += ch) {
                        acc = vaddq_s16(acc, vldrbq_z_s16(t, pr));
                    }
                }
                vstrhq_s16(sums, acc);
                for (k = 0; k < lanes; ++k) {
                    out_px[c + k] = (int8_t)ed_clamp_i32(ed_pool_mean(sums[k], count), p->act_min, p->act_max);
                }
            }
            continue;
        }
        for (c = 0; c < ch; ++c) {
            int32_t sum = 0;
            const int8_t *r = base + c;
            for (fy = 0; fy < rows; ++fy, r += row) {
                for (fx = 0; fx < cols; ++fx) {
                    sum += r[(size_t)fx * (size_t)ch];
                }
            }
            out_px[c] = (int8_t)ed_clamp_i32(ed_pool_mean(sum, count), p->act_min, p->act_max);
        }
    ED_POOL_PIXELS_END
}

void ed_maxpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    int32_t oy, ox, c, fy, fx;
    ED_POOL_PIXELS(p, output, ch)
        const int8_t *base = ED_POOL_FIRST_TAP(p, input);
        for (c = 0; c < ch; c += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
            int8x16_t best = vdupq_n_s8(-128); /* an empty window gives -128 clamped, as the portable one */
            const int8_t *r = base + c;
            for (fy = fy_begin; fy < fy_end; ++fy, r += row) {
                const int8_t *t = r;
                for (fx = fx_begin; fx < fx_end; ++fx, t += ch) {
                    best = vmaxq_s8(best, vldrbq_z_s8(t, pr));
                }
            }
            vstrbq_p_s8(out_px + c, vminq_s8(vmaxq_s8(best, lo), hi), pr);
        }
    ED_POOL_PIXELS_END
}
