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

/* The clipped window of one output pixel: its first tap, rows, columns and taps. */
typedef struct {
    const int8_t *base;
    int32_t rows, cols;
} ed_pool_taps_;

static inline ed_pool_taps_ ed_pool_taps(const ed_pool_params_t *p, const int8_t *input, int32_t oy, int32_t ox)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t fy_begin, fy_end, fx_begin, fx_end;
    ed_pool_taps_ t;
    ed_pool_window(iy0, p->f_h, p->in_h, &fy_begin, &fy_end);
    ed_pool_window(ix0, p->f_w, p->in_w, &fx_begin, &fx_end);
    t.rows = fy_end - fy_begin;
    t.cols = fx_end - fx_begin;
    t.base = t.rows == 0 || t.cols == 0
                 ? input
                 : input + ((size_t)(iy0 + fy_begin) * (size_t)p->in_w + (size_t)(ix0 + fx_begin)) * (size_t)p->channels;
    return t;
}

/* sum / count rounded half away from zero, clamped (the portable kernel's division; 0 for an empty window). */
static int8_t ed_pool_avg(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    const int32_t avg = count == 0 ? 0 : (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
    return (int8_t)ed_clamp_i32(avg, lo, hi);
}

void ed_avgpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const ed_pool_taps_ w = ed_pool_taps(p, input, oy, ox);
            const int32_t count = w.rows * w.cols;
            int8_t *out_px = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)ch;
            if (count <= 256) {
                for (c = 0; c < ch; c += 8) {
                    const mve_pred16_t pr = vctp16q((uint32_t)(ch - c));
                    const int32_t lanes = ch - c < 8 ? ch - c : 8;
                    int16x8_t acc = vdupq_n_s16(0);
                    int16_t sums[8];
                    int32_t k;
                    const int8_t *r = w.base + c;
                    for (fy = 0; fy < w.rows; ++fy, r += row) {
                        const int8_t *t = r;
                        for (fx = 0; fx < w.cols; ++fx, t += ch) {
                            acc = vaddq_s16(acc, vldrbq_z_s16(t, pr));
                        }
                    }
                    vstrhq_s16(sums, acc);
                    for (k = 0; k < lanes; ++k) {
                        out_px[c + k] = ed_pool_avg(sums[k], count, p->act_min, p->act_max);
                    }
                }
                continue;
            }
            for (c = 0; c < ch; ++c) {
                int32_t sum = 0;
                const int8_t *r = w.base + c;
                for (fy = 0; fy < w.rows; ++fy, r += row) {
                    for (fx = 0; fx < w.cols; ++fx) {
                        sum += r[(size_t)fx * (size_t)ch];
                    }
                }
                out_px[c] = ed_pool_avg(sum, count, p->act_min, p->act_max);
            }
        }
    }
}

void ed_maxpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            const ed_pool_taps_ w = ed_pool_taps(p, input, oy, ox);
            int8_t *out_px = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)ch;
            for (c = 0; c < ch; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                int8x16_t best = vdupq_n_s8(-128); /* an empty window gives -128 clamped, as the portable one */
                const int8_t *r = w.base + c;
                for (fy = 0; fy < w.rows; ++fy, r += row) {
                    const int8_t *t = r;
                    for (fx = 0; fx < w.cols; ++fx, t += ch) {
                        best = vmaxq_s8(best, vldrbq_z_s8(t, pr));
                    }
                }
                vstrbq_p_s8(out_px + c, vminq_s8(vmaxq_s8(best, lo), hi), pr);
            }
        }
    }
}
