/*
 * ed_pool.c (Cortex-M DSP) - int8 AVERAGE_POOL_2D and MAX_POOL_2D with the Armv7E-M SIMD instructions; same
 * interface and results as the portable firmware/kernels/ed_pool.c (TFLite Micro semantics).
 *
 * Channels are innermost, so one word load reads four channels of a tap. Average: SXTAB16 adds the even and the
 * odd bytes into two pairs of halfword sums (exact while the window has at most 256 taps: |sum| <= 128 * 256 =
 * 2^15, and -2^15 is still a halfword), then each sum is divided as the portable kernel does. Max: SSUB8 sets
 * the GE flag of each byte lane where the tap is >= the running maximum and SEL keeps the larger byte; the clamp
 * to the activation range is two more such pairs per word. Channel counts that are not a multiple of four end
 * with the portable per-channel loop.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* Per signed byte lane: max(a, b) (SSUB8 sets GE where a >= b, SEL picks a there). */
static inline uint32_t ed_max8(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(a, b);
}
static inline uint32_t ed_min8(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(b, a);
}
#else
static inline uint32_t ed_lanes8_(uint32_t a, uint32_t b, int want_max)
{
    uint32_t r = 0;
    int k;
    for (k = 0; k < 32; k += 8) {
        const int32_t x = (int8_t)(uint8_t)(a >> k), y = (int8_t)(uint8_t)(b >> k);
        const int32_t v = (x >= y) == (want_max != 0) ? x : y;
        r |= ((uint32_t)v & 0xFFu) << k;
    }
    return r;
}
static inline uint32_t ed_max8(uint32_t a, uint32_t b) { return ed_lanes8_(a, b, 1); }
static inline uint32_t ed_min8(uint32_t a, uint32_t b) { return ed_lanes8_(a, b, 0); }
#endif

/* Out of line: one copy of the division instead of five (code size). */
#if defined(__GNUC__) || defined(__clang__)
#define ED_NOINLINE_ __attribute__((noinline))
#else
#define ED_NOINLINE_
#endif
static ED_NOINLINE_ int8_t ed_avg_div(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    return (int8_t)ed_clamp_i32(ed_pool_mean(sum, count), lo, hi);
}

static inline int32_t ed_half16_(uint32_t x, int k) { return (int32_t)(int16_t)(uint16_t)(x >> (16 * k)); }

void ed_avgpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t fy_begin, fy_end;
        ed_pool_window(iy0, p->f_h, p->in_h, &fy_begin, &fy_end);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t fx_begin, fx_end, count;
            int8_t *out_px = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)ch;
            const int8_t *base;
            ed_pool_window(ix0, p->f_w, p->in_w, &fx_begin, &fx_end);
            count = (fy_end - fy_begin) * (fx_end - fx_begin);
            base = count == 0 ? input : input + (size_t)(iy0 + fy_begin) * row + (size_t)(ix0 + fx_begin) * (size_t)ch;
            c = 0;
            if (count <= 256) {
                for (; c + 4 <= ch; c += 4) {
                    uint32_t even = 0, odd = 0; /* halfword sums of channels c, c+2 and c+1, c+3 */
                    const int8_t *r = base + c;
                    for (fy = fy_begin; fy < fy_end; ++fy, r += row) {
                        const int8_t *t = r;
                        for (fx = fx_begin; fx < fx_end; ++fx, t += ch) {
                            const uint32_t v = ed_read32(t);
                            even = ed_sxtab16(even, v);
                            odd = ed_sxtab16_ror8(odd, v);
                        }
                    }
                    out_px[c] = ed_avg_div(ed_half16_(even, 0), count, p->act_min, p->act_max);
                    out_px[c + 1] = ed_avg_div(ed_half16_(odd, 0), count, p->act_min, p->act_max);
                    out_px[c + 2] = ed_avg_div(ed_half16_(even, 1), count, p->act_min, p->act_max);
                    out_px[c + 3] = ed_avg_div(ed_half16_(odd, 1), count, p->act_min, p->act_max);
                }
            }
            for (; c < ch; ++c) {
                int32_t sum = 0;
                const int8_t *r = base + c;
                for (fy = fy_begin; fy < fy_end; ++fy, r += row) {
                    for (fx = 0; fx < fx_end - fx_begin; ++fx) {
                        sum += r[(size_t)fx * (size_t)ch];
                    }
                }
                out_px[c] = ed_avg_div(sum, count, p->act_min, p->act_max);
            }
        }
    }
}

void ed_maxpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
    const size_t row = (size_t)p->in_w * (size_t)ch;
    const uint32_t lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    const uint32_t hi4 = ((uint32_t)p->act_max & 0xFFu) * 0x01010101u;
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t fy_begin, fy_end;
        ed_pool_window(iy0, p->f_h, p->in_h, &fy_begin, &fy_end);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t fx_begin, fx_end;
            int8_t *out_px = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)ch;
            const int8_t *base;
            ed_pool_window(ix0, p->f_w, p->in_w, &fx_begin, &fx_end);
            base = fy_end == fy_begin || fx_end == fx_begin
                       ? input
                       : input + (size_t)(iy0 + fy_begin) * row + (size_t)(ix0 + fx_begin) * (size_t)ch;
            for (c = 0; c + 4 <= ch; c += 4) {
                uint32_t best = 0x80808080u; /* -128 in every lane */
                const int8_t *r = base + c;
                for (fy = fy_begin; fy < fy_end; ++fy, r += row) {
                    const int8_t *t = r;
                    for (fx = fx_begin; fx < fx_end; ++fx, t += ch) {
                        best = ed_max8(ed_read32(t), best);
                    }
                }
                best = ed_min8(ed_max8(best, lo4), hi4);
                ED_MEMCPY_(out_px + c, &best, sizeof best);
            }
            for (; c < ch; ++c) {
                int32_t v = -128;
                const int8_t *r = base + c;
                for (fy = fy_begin; fy < fy_end; ++fy, r += row) {
                    for (fx = 0; fx < fx_end - fx_begin; ++fx) {
                        const int32_t x = r[(size_t)fx * (size_t)ch];
                        v = x > v ? x : v;
                    }
                }
                out_px[c] = (int8_t)ed_clamp_i32(v, p->act_min, p->act_max);
            }
        }
    }
}
