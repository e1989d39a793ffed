/*
 * ed_packed.c - CONV_2D and FULLY_CONNECTED with ternary ({-a, 0, b}) or binary ({-a, b}) per-channel int8
 * weights stored as bit-planes (see edgesdk_kernels.h). Only additions, subtractions and table lookups run per
 * weight; the conv kernel visits only the set bits of its planes (zero weights cost nothing). Every accumulator is
 * the int8 kernel's (ed_fc.c / ed_conv.c) exactly, so the requantized outputs are bit-identical.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"

#if defined(__GNUC__) || defined(__clang__)
#define ED_CTZ(v) ((int32_t)__builtin_ctz(v))
#else
static int32_t ED_CTZ(uint32_t v)
{
    int32_t n = 0;
    while ((v & 1u) == 0u) {
        v >>= 1;
        ++n;
    }
    return n;
}
#endif

/* n (1..32) bits of a packed stream starting at bit `pos`, LSB first. */
static inline uint32_t ed_bits_at(const uint32_t *w, int32_t pos, int32_t n)
{
    const int32_t k = pos >> 5;
    const int32_t sh = pos & 31;
    uint32_t v = w[k] >> sh;
    if (sh != 0 && sh + n > 32) {
        v |= w[k + 1] << (32 - sh);
    }
    if (n < 32) {
        v &= (1u << n) - 1u;
    }
    return v;
}

static inline int32_t ed_requant(int32_t acc, int32_t m, int32_t s, int32_t rounding)
{
    return rounding == ED_ROUNDING_SINGLE ? ed_mbqm_single(acc, m, s) : ed_mbqm(acc, m, s);
}

/*
 * Fully connected: table lookup instead of one operation per set bit (the idea of T-MAC, Wei et al. 2024). For
 * each group of 4 inputs, the 16 sums of its subsets are tabulated once (11 additions) and shared by all output
 * channels; each 4-bit nibble of a plane then costs one lookup. The table covers ED_LUT_INPUTS inputs (1 KB of
 * stack), output channels are processed in tiles of ED_LUT_TILE partial sums, so any size works.
 */
#define ED_LUT_INPUTS 128
#define ED_LUT_GROUPS (ED_LUT_INPUTS / 4)
#define ED_LUT_TILE 32

static void ed_lut_build(int16_t lut[][16], const int8_t *x, int32_t n, int32_t groups)
{
    int32_t g, j;
    for (g = 0; g < groups; ++g) {
        int16_t v[4];
        int16_t *t = lut[g];
        for (j = 0; j < 4; ++j) {
            v[j] = (int16_t)(4 * g + j < n ? x[4 * g + j] : 0);
        }
        t[0] = 0;
        t[1] = v[0];
        t[2] = v[1];
        t[3] = (int16_t)(v[0] + v[1]);
        for (j = 0; j < 4; ++j) {
            t[4 + j] = (int16_t)(t[j] + v[2]);
        }
        for (j = 0; j < 8; ++j) {
            t[8 + j] = (int16_t)(t[j] + v[3]);
        }
    }
}

/* Sum over the set bits of one plane word: 8 nibble lookups in the 8 tables starting at `lut`. */
static inline int32_t ed_lut_word(uint32_t w, const int16_t lut[][16])
{
    return (int32_t)lut[0][w & 15u] + (int32_t)lut[1][(w >> 4) & 15u] + (int32_t)lut[2][(w >> 8) & 15u] +
           (int32_t)lut[3][(w >> 12) & 15u] + (int32_t)lut[4][(w >> 16) & 15u] + (int32_t)lut[5][(w >> 20) & 15u] +
           (int32_t)lut[6][(w >> 24) & 15u] + (int32_t)lut[7][w >> 28];
}

static void ed_fc_packed(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output, int binary)
{
    int16_t lut[ED_LUT_GROUPS][16];
    int32_t acc_pos[ED_LUT_TILE];
    int32_t acc_neg[ED_LUT_TILE];
    int32_t b, o0, t, k, c0;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        int32_t total = 0;
        if (binary) {
            for (k = 0; k < p->in_depth; ++k) {
                total += (int32_t)x[k];
            }
        }
        for (o0 = 0; o0 < p->out_depth; o0 += ED_LUT_TILE) {
            const int32_t nt = p->out_depth - o0 < ED_LUT_TILE ? p->out_depth - o0 : ED_LUT_TILE;
            for (t = 0; t < nt; ++t) {
                acc_pos[t] = 0;
                acc_neg[t] = 0;
            }
            for (c0 = 0; c0 < p->in_depth; c0 += ED_LUT_INPUTS) {
                const int32_t n = p->in_depth - c0 < ED_LUT_INPUTS ? p->in_depth - c0 : ED_LUT_INPUTS;
                const int32_t nw = (n + 31) / 32;
                const int32_t w0 = c0 / 32;
                ed_lut_build(lut, x + c0, n, 8 * nw);
                for (t = 0; t < nt; ++t) {
                    const uint32_t *wp = p->plane_pos + (size_t)(o0 + t) * (size_t)p->words + (size_t)w0;
                    int32_t sp = 0;
                    for (k = 0; k < nw; ++k) {
                        sp += ed_lut_word(wp[k], (const int16_t(*)[16])&lut[8 * k]);
                    }
                    acc_pos[t] += sp;
                    if (!binary) {
                        const uint32_t *wn = p->plane_neg + (size_t)(o0 + t) * (size_t)p->words + (size_t)w0;
                        int32_t sn = 0;
                        for (k = 0; k < nw; ++k) {
                            sn += ed_lut_word(wn[k], (const int16_t(*)[16])&lut[8 * k]);
                        }
                        acc_neg[t] += sn;
                    }
                }
            }
            for (t = 0; t < nt; ++t) {
                const int32_t o = o0 + t;
                const int32_t q = p->per_channel ? o : 0;
                const int32_t vp = p->wpos != NULL ? (int32_t)p->wpos[o] : p->wval;
                const int32_t vn = p->wneg != NULL ? (int32_t)p->wneg[o] : p->wval;
                const int32_t neg = binary ? total - acc_pos[t] : acc_neg[t];
                int32_t acc = vp * acc_pos[t] - vn * neg;
                if (p->bias != NULL) {
                    acc += p->bias[o];
                }
                acc = ed_requant(acc, p->multiplier[q], p->shift[q], p->rounding) + p->output_offset;
                y[o] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}

void ed_fc_ternary_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_packed(p, input, output, 0);
}

void ed_fc_binary_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_packed(p, input, output, 1);
}

/* Sum of (x[j] + offset) over the set bits j of m. */
static inline int32_t ed_sum_bits_off(uint32_t m, const int8_t *x, int32_t offset)
{
    int32_t s = 0;
    while (m != 0u) {
        s += (int32_t)x[ED_CTZ(m)] + offset;
        m &= m - 1u;
    }
    return s;
}

static void ed_conv_packed_bits(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output, int binary)
{
    const int32_t in_c = p->in_c;
    const int32_t io = p->input_offset;
    int32_t oy, ox, oc, ky, kx, c0;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky_begin = iy0 < 0 ? -iy0 : 0;
        const int32_t ky_end = iy0 + p->k_h > p->in_h ? p->in_h - iy0 : p->k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx_begin = ix0 < 0 ? -ix0 : 0;
            const int32_t kx_end = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
            int8_t *out_pixel = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c;
            int32_t total = 0; /* binary: sum of (x + offset) over the window's valid taps */
            if (binary) {
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    for (kx = kx_begin; kx < kx_end; ++kx) {
                        const int8_t *px = input + ((size_t)(iy0 + ky) * (size_t)p->in_w + (size_t)(ix0 + kx)) * (size_t)in_c;
                        for (c0 = 0; c0 < in_c; ++c0) {
                            total += (int32_t)px[c0] + io;
                        }
                    }
                }
            }
            for (oc = 0; oc < p->out_c; ++oc) {
                const uint32_t *wp = p->plane_pos + (size_t)oc * (size_t)p->words;
                const uint32_t *wn = binary ? NULL : p->plane_neg + (size_t)oc * (size_t)p->words;
                const int32_t q = p->per_channel ? oc : 0;
                const int32_t vp = p->wpos != NULL ? (int32_t)p->wpos[oc] : p->wval;
                const int32_t vn = p->wneg != NULL ? (int32_t)p->wneg[oc] : p->wval;
                int32_t pos = 0;
                int32_t neg = 0;
                int32_t acc;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    for (kx = kx_begin; kx < kx_end; ++kx) {
                        const int8_t *px = input + ((size_t)(iy0 + ky) * (size_t)p->in_w + (size_t)(ix0 + kx)) * (size_t)in_c;
                        const int32_t tap = (ky * p->k_w + kx) * in_c;
                        for (c0 = 0; c0 < in_c; c0 += 32) {
                            const int32_t n = in_c - c0 < 32 ? in_c - c0 : 32;
                            pos += ed_sum_bits_off(ed_bits_at(wp, tap + c0, n), px + c0, io);
                            if (!binary) {
                                neg += ed_sum_bits_off(ed_bits_at(wn, tap + c0, n), px + c0, io);
                            }
                        }
                    }
                }
                if (binary) {
                    neg = total - pos;
                }
                acc = vp * pos - vn * neg;
                if (p->bias != NULL) {
                    acc += p->bias[oc];
                }
                acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
                out_pixel[oc] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}

/*
 * Conv through the fully connected table kernel: per output pixel the receptive field (k_h*k_w*in_c values in
 * the weights' OHWI order) is gathered into a window, padded taps holding the input zero point (so that
 * x + input_offset = 0 there, as TFLite pads), and the window is one fully connected row against all output
 * channels, with the input offset folded into `bias_folded`. Windows larger than ED_CONV_WINDOW bytes take the
 * set-bit kernel above.
 */
#define ED_CONV_WINDOW 1152

static void ed_conv_packed(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output, int binary)
{
    const int32_t in_c = p->in_c;
    const int32_t k = p->k_h * p->k_w * in_c;
    const int8_t pad = (int8_t)(-p->input_offset);
    int8_t win[ED_CONV_WINDOW];
    ed_fc_packed_params_t fc;
    int32_t oy, ox, ky, kx, c;
    if (k > ED_CONV_WINDOW) {
        ed_conv_packed_bits(p, input, output, binary);
        return;
    }
    fc.batches = 1;
    fc.in_depth = k;
    fc.out_depth = p->out_c;
    fc.words = p->words;
    fc.output_offset = p->output_offset;
    fc.act_min = p->act_min;
    fc.act_max = p->act_max;
    fc.per_channel = p->per_channel;
    fc.rounding = ED_ROUNDING_DOUBLE;
    fc.wval = p->wval;
    fc.plane_pos = p->plane_pos;
    fc.plane_neg = p->plane_neg;
    fc.wpos = p->wpos;
    fc.wneg = p->wneg;
    fc.bias = p->bias_folded;
    fc.multiplier = p->multiplier;
    fc.shift = p->shift;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *w = win;
            for (ky = 0; ky < p->k_h; ++ky) {
                const int32_t iy = iy0 + ky;
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int32_t ix = ix0 + kx;
                    if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                        for (c = 0; c < in_c; ++c) {
                            w[c] = pad;
                        }
                    } else {
                        const int8_t *px = input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)in_c;
                        for (c = 0; c < in_c; ++c) {
                            w[c] = px[c];
                        }
                    }
                    w += in_c;
                }
            }
            ed_fc_packed(&fc, win, output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c, binary);
        }
    }
}

void ed_conv_ternary_s8(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_conv_packed(p, input, output, 0);
}

void ed_conv_binary_s8(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output)
{
    ed_conv_packed(p, input, output, 1);
}
