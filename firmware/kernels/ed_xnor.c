/*
 * ed_xnor.c - binary activations: int8 -> bits (BINARIZE), XNOR-popcount fully connected and conv with
 * per-channel integer thresholds (BatchNorm + sign folded), bits -> int8 (UNPACK). See edgesdk_kernels.h.
 *
 * Words are read and written with memcpy (one LDR/STR on Cortex-M, no aliasing questions; the builtin, so it
 * stays inline in freestanding builds).
 *
 * Popcount: a Cortex-M4 has no popcount instruction. The default is a split SWAR count (the 2- and 4-bit steps
 * per word, byte counts summed over up to 31 words, one horizontal sum), with two output channels per pass in
 * the conv kernel. Measured on the emulated Cortex-M4 (benchmarks/xnor_popcount.py, executed instructions of the
 * layer): dense 512->512 169,200 against 199,440 with __builtin_popcount (a libgcc call), conv 3x3 32->32 16x16
 * 1,365,000 against 1,675,560. Define ED_XNOR_BUILTIN_POPCOUNT to use the compiler's count instead (a core
 * with a popcount instruction).
 */
#include <string.h>

#include "edgesdk_kernels.h"
#include "ed_simd.h" /* ed_read32, ed_write32: words by the builtin memcpy */

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

/*
 * Popcount of a ^ w over n words. The SWAR count is split: the 2- and 4-bit steps per word, the byte counts
 * (each <= 8) of up to 31 words summed in one register, the horizontal sum once per 31 words. On the emulated
 * Cortex-M4 this took 11 instead of 15 data instructions per word (benchmarks/compression.py).
 */
static inline int32_t ed_xor_popcount(const uint32_t *a, const uint32_t *w, int32_t n)
{
#if defined(ED_XNOR_BUILTIN_POPCOUNT) && (defined(__GNUC__) || defined(__clang__))
    int32_t pc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        pc += ED_POPCOUNT(a[k] ^ w[k]);
    }
    return pc;
#else
    int32_t pc = 0;
    while (n > 0) {
        const int32_t m = n > 31 ? 31 : n;
        uint32_t bytes = 0u;
        int32_t k;
        for (k = 0; k < m; ++k) {
            uint32_t v = a[k] ^ w[k];
            v = v - ((v >> 1) & 0x55555555u);
            v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
            bytes += (v + (v >> 4)) & 0x0F0F0F0Fu;
        }
        bytes = (bytes & 0x00FF00FFu) + ((bytes >> 8) & 0x00FF00FFu);
        pc += (int32_t)((bytes & 0xFFFFu) + (bytes >> 16));
        a += m;
        w += m;
        n -= m;
    }
    return pc;
#endif
}

/* SWAR step shared by the two-channel count: byte counts (each <= 8) of one word. */
static inline uint32_t ed_byte_counts(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (v + (v >> 4)) & 0x0F0F0F0Fu;
}

static inline int32_t ed_hsum_bytes(uint32_t bytes)
{
    bytes = (bytes & 0x00FF00FFu) + ((bytes >> 8) & 0x00FF00FFu);
    return (int32_t)((bytes & 0xFFFFu) + (bytes >> 16));
}

/* The two-channel count's running sums: the popcounts themselves with the compiler's count, else the SWAR byte
 * counts, summed horizontally at the end. */
#if defined(ED_XNOR_BUILTIN_POPCOUNT) && (defined(__GNUC__) || defined(__clang__))
typedef int32_t ed_pc_sum_t;
#define ED_PC_ADD(v) ED_POPCOUNT(v)
#define ED_PC_TOTAL(s) (s)
#else
typedef uint32_t ed_pc_sum_t;
#define ED_PC_ADD(v) ed_byte_counts(v)
#define ED_PC_TOTAL(s) ed_hsum_bytes(s)
#endif

/* Popcounts of a ^ w0 and a ^ w1 over n <= 31 words: two output channels share each input word. */
static inline void ed_xor_popcount2(const uint32_t *a, const uint32_t *w0, const uint32_t *w1, int32_t n,
                                    int32_t *pc0, int32_t *pc1)
{
    ed_pc_sum_t s0 = 0;
    ed_pc_sum_t s1 = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        const uint32_t x = a[k];
        s0 += ED_PC_ADD(x ^ w0[k]);
        s1 += ED_PC_ADD(x ^ w1[k]);
    }
    *pc0 = ED_PC_TOTAL(s0);
    *pc1 = ED_PC_TOTAL(s1);
}

/* Largest receptive field (k_h * k_w * in_words words) gathered on the stack; larger ones read in place. */
#define ED_XNOR_MAX_WINDOW 256


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
            ed_write32(y + 4 * k, w);
        }
    }
}

void ed_xnor_fc(const ed_xnor_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_words = p->in_words;
    const int32_t n_out = p->out_features;
    uint32_t x[ED_XNOR_MAX_WINDOW];
    int32_t b, o, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = input + (size_t)b * (size_t)in_words * 4u;
        int8_t *y = output + (size_t)b * (size_t)p->out_words * 4u;
        uint32_t word = 0u;
        const int32_t chunk = in_words < ED_XNOR_MAX_WINDOW ? in_words : ED_XNOR_MAX_WINDOW;
        for (o = 0; o < n_out; ++o) {
            const uint32_t *w = p->weights + (size_t)o * (size_t)in_words;
            int32_t pc = 0;
            int32_t dot, k0;
            for (k0 = 0; k0 < in_words; k0 += chunk) {
                const int32_t n = in_words - k0 < chunk ? in_words - k0 : chunk;
                if (o == 0 || in_words > chunk) {
                    for (k = 0; k < n; ++k) {
                        x[k] = ed_read32(xb + 4 * (k0 + k));
                    }
                }
                pc += ed_xor_popcount(x, w + k0, n);
            }
            dot = p->in_bits - 2 * pc;
            if (ed_bit_out(dot, p->threshold[o], p->flip[o])) {
                word |= 1u << (o & 31);
            }
            if ((o & 31) == 31 || o == n_out - 1) {
                ed_write32(y + 4 * (o >> 5), word);
                word = 0u;
            }
        }
    }
}

/*
 * Per output pixel the receptive field is gathered once into a window of words (padded taps read pad_value in
 * every channel: bits all 1 for +1, all 0 for -1, tails zero), then every output channel is one XOR-popcount
 * run over k_h * k_w * in_words contiguous words, the same loop as the fully connected kernel.
 */
void ed_xnor_conv(const ed_xnor_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t iw = p->in_words;
    const int32_t taps_bits = p->k_h * p->k_w * p->in_c;
    const int32_t n_win = p->k_h * p->k_w * iw;
    const int32_t out_c = p->out_c;
    uint32_t win[ED_XNOR_MAX_WINDOW];
    uint32_t pad[ED_XNOR_MAX_WINDOW];
    int32_t oy, ox, oc, ky, kx, k;
    for (k = 0; k < iw && k < ED_XNOR_MAX_WINDOW; ++k) {
        const int32_t nb = p->in_c - 32 * k < 32 ? p->in_c - 32 * k : 32;
        const uint32_t valid = nb == 32 ? 0xFFFFFFFFu : ((1u << nb) - 1u);
        pad[k] = p->pad_value > 0 ? valid : 0u;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *y = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_words * 4u;
            uint32_t word = 0u;
            const int gathered = n_win <= ED_XNOR_MAX_WINDOW;
            if (gathered) {
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky;
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + kx;
                        uint32_t *dst = win + (size_t)(ky * p->k_w + kx) * (size_t)iw;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            for (k = 0; k < iw; ++k) {
                                dst[k] = pad[k];
                            }
                        } else {
                            const int8_t *x = input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)iw * 4u;
                            for (k = 0; k < iw; ++k) {
                                dst[k] = ed_read32(x + 4 * k);
                            }
                        }
                    }
                }
            }
            oc = 0;
            if (gathered && n_win <= 31) {
                /* Two output channels per pass over the window. */
                const uint32_t *w = p->weights;
                for (; oc + 1 < out_c; oc += 2) {
                    int32_t pc0, pc1;
                    ed_xor_popcount2(win, w, w + n_win, n_win, &pc0, &pc1);
                    w += 2 * n_win;
                    if (ed_bit_out(taps_bits - 2 * pc0, p->threshold[oc], p->flip[oc])) {
                        word |= 1u << (oc & 31);
                    }
                    if (ed_bit_out(taps_bits - 2 * pc1, p->threshold[oc + 1], p->flip[oc + 1])) {
                        word |= 1u << ((oc + 1) & 31);
                    }
                    if (((oc + 1) & 31) == 31) {
                        ed_write32(y + 4 * (oc >> 5), word);
                        word = 0u;
                    }
                }
            }
            for (; oc < out_c; ++oc) {
                const uint32_t *w = p->weights + (size_t)oc * (size_t)n_win;
                int32_t pc = 0;
                int32_t dot;
                if (gathered) {
                    pc = ed_xor_popcount(win, w, n_win);
                } else {
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx;
                            const uint32_t *wt = w + (size_t)(ky * p->k_w + kx) * (size_t)iw;
                            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                            const int8_t *x = inside ? input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)iw * 4u : NULL;
                            for (k = 0; k < iw; ++k) {
                                uint32_t a;
                                if (x != NULL) {
                                    a = ed_read32(x + 4 * k);
                                } else {
                                    const int32_t nb = p->in_c - 32 * k < 32 ? p->in_c - 32 * k : 32;
                                    const uint32_t valid = nb == 32 ? 0xFFFFFFFFu : ((1u << nb) - 1u);
                                    a = p->pad_value > 0 ? valid : 0u;
                                }
                                pc += ED_POPCOUNT(a ^ wt[k]);
                            }
                        }
                    }
                }
                dot = taps_bits - 2 * pc;
                if (ed_bit_out(dot, p->threshold[oc], p->flip[oc])) {
                    word |= 1u << (oc & 31);
                }
                if ((oc & 31) == 31 || oc == out_c - 1) {
                    ed_write32(y + 4 * (oc >> 5), word);
                    word = 0u;
                }
            }
            if ((out_c & 31) != 0 && oc == out_c && (out_c & 1) == 0 && gathered && n_win <= 31) {
                /* The pair loop ended on a partly filled word that the single loop did not reach. */
                ed_write32(y + 4 * ((out_c - 1) >> 5), word);
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
                w = ed_read32(x + 4 * (c >> 5));
            }
            y[c] = (int8_t)(((w >> (c & 31)) & 1u) ? p->high : p->low);
        }
    }
}
