/*
 * ed_xnor.c - binary activations: int8 -> bits (BINARIZE), XNOR-popcount fully connected and conv with
 * per-channel integer thresholds (BatchNorm + sign folded), bits -> int8 (UNPACK). See edgesdk_kernels.h.
 *
 * Words are read and written with memcpy (one LDR/STR on Cortex-M, no aliasing questions). Popcount: a
 * Cortex-M4 has no popcount instruction; ED_POPCOUNT is the SWAR bit count (12 data instructions, no table,
 * no call), which measured fewer instructions on the emulated Cortex-M4 than __builtin_popcount (a libgcc
 * call) - see benchmarks/compression.py. Define ED_XNOR_BUILTIN_POPCOUNT to use the compiler's instead.
 */
#include <string.h>

#include "edgesdk_kernels.h"

static inline uint32_t ed_ld32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void ed_st32(int8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

#if defined(ED_XNOR_BUILTIN_POPCOUNT) && (defined(__GNUC__) || defined(__clang__))
#define ED_POPCOUNT(v) ((int32_t)__builtin_popcount(v))
#else
static inline int32_t ED_POPCOUNT(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((v * 0x01010101u) >> 24);
}
#endif

static inline int ed_bit_out(int32_t dot, int32_t thr, uint8_t flip)
{
    return flip ? dot <= thr : dot >= thr;
}

void ed_binarize_s8(const ed_binarize_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t pos, c, k;
    for (pos = 0; pos < p->positions; ++pos) {
        const int8_t *x = input + (size_t)pos * (size_t)p->channels;
        int8_t *y = output + (size_t)pos * (size_t)p->words * 4u;
        for (k = 0; k < p->words; ++k) {
            uint32_t w = 0u;
            const int32_t c_end = (k + 1) * 32 < p->channels ? (k + 1) * 32 : p->channels;
            for (c = k * 32; c < c_end; ++c) {
                if (ed_bit_out((int32_t)x[c], p->threshold[c], p->flip[c])) {
                    w |= 1u << (c - k * 32);
                }
            }
            ed_st32(y + 4 * k, w);
        }
    }
}

/* Writes output bits of `n` channels from their dot products, word by word. */
void ed_xnor_fc(const ed_xnor_fc_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t b, o, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_words * 4u;
        int8_t *y = output + (size_t)b * (size_t)p->out_words * 4u;
        uint32_t word = 0u;
        for (o = 0; o < p->out_features; ++o) {
            const uint32_t *w = p->weights + (size_t)o * (size_t)p->in_words;
            int32_t pc = 0;
            int32_t dot;
            for (k = 0; k < p->in_words; ++k) {
                pc += ED_POPCOUNT(ed_ld32(x + 4 * k) ^ w[k]);
            }
            dot = p->in_bits - 2 * pc;
            if (ed_bit_out(dot, p->threshold[o], p->flip[o])) {
                word |= 1u << (o & 31);
            }
            if ((o & 31) == 31 || o == p->out_features - 1) {
                ed_st32(y + 4 * (o >> 5), word);
                word = 0u;
            }
        }
    }
}

void ed_xnor_conv(const ed_xnor_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t iw = p->in_words;
    const int32_t taps_bits = p->k_h * p->k_w * p->in_c;
    int32_t oy, ox, oc, ky, kx, k;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *y = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_words * 4u;
            uint32_t word = 0u;
            for (oc = 0; oc < p->out_c; ++oc) {
                const uint32_t *w = p->weights + (size_t)oc * (size_t)(p->k_h * p->k_w * iw);
                int32_t pc = 0;
                int32_t dot;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky;
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + kx;
                        const uint32_t *wt = w + (size_t)(ky * p->k_w + kx) * (size_t)iw;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            /* Padded tap: every channel reads pad_value (bits all 1 for +1, all 0 for -1). */
                            for (k = 0; k < iw; ++k) {
                                const int32_t nb = p->in_c - 32 * k < 32 ? p->in_c - 32 * k : 32;
                                const uint32_t valid = nb == 32 ? 0xFFFFFFFFu : ((1u << nb) - 1u);
                                pc += ED_POPCOUNT(((p->pad_value > 0) ? valid : 0u) ^ wt[k]);
                            }
                        } else {
                            const int8_t *x = input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)iw * 4u;
                            for (k = 0; k < iw; ++k) {
                                pc += ED_POPCOUNT(ed_ld32(x + 4 * k) ^ wt[k]);
                            }
                        }
                    }
                }
                dot = taps_bits - 2 * pc;
                if (ed_bit_out(dot, p->threshold[oc], p->flip[oc])) {
                    word |= 1u << (oc & 31);
                }
                if ((oc & 31) == 31 || oc == p->out_c - 1) {
                    ed_st32(y + 4 * (oc >> 5), word);
                    word = 0u;
                }
            }
        }
    }
}

void ed_unpack_bits(const ed_unpack_bits_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t pos, c;
    for (pos = 0; pos < p->positions; ++pos) {
        const int8_t *x = input + (size_t)pos * (size_t)p->words * 4u;
        int8_t *y = output + (size_t)pos * (size_t)p->channels;
        uint32_t w = 0u;
        for (c = 0; c < p->channels; ++c) {
            if ((c & 31) == 0) {
                w = ed_ld32(x + 4 * (c >> 5));
            }
            y[c] = (int8_t)(((w >> (c & 31)) & 1u) ? p->high : p->low);
        }
    }
}
