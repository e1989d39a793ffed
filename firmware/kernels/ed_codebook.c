/*
 * ed_codebook.c - int8 FULLY_CONNECTED and CONV_2D whose weights are stored as packed b-bit indices into a
 * per-channel codebook of int8 values (weight sharing, Han et al., "Deep Compression", ICLR 2016, section 3).
 *
 * A layer whose weights take at most 2^b distinct int8 values per output channel stores b bits per weight
 * instead of 8. The kernel looks every weight up in the codebook and sums the same products as the dense
 * kernel, so the integer result is identical to ed_fc_s8 / ed_conv_s8.
 */
#include "edgesdk_kernels.h"
#include "ed_compressed.h"
#include "ed_fixedpoint.h"

/* The code of element i of a row packed LSB first from a byte boundary. */
static inline uint32_t ed_code_at(const uint8_t *row, int32_t i, int32_t code_bits, int32_t per_byte_log2,
                                  uint32_t mask)
{
    const uint32_t byte = row[i >> per_byte_log2];
    const uint32_t bit = ((uint32_t)i & ((1u << per_byte_log2) - 1u)) * (uint32_t)code_bits;
    return (byte >> bit) & mask;
}

static int32_t ed_log2_per_byte(int32_t code_bits)
{
    return code_bits == 1 ? 3 : (code_bits == 2 ? 2 : 1);
}

void ed_fc_codebook_s8(const ed_fc_codebook_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t bits = p->code_bits;
    const int32_t lpb = ed_log2_per_byte(bits);
    const uint32_t mask = ((uint32_t)1 << bits) - 1u;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const uint8_t *row = p->codes + (size_t)o * (size_t)p->row_bytes;
            const int8_t *cb = p->codebook + (size_t)p->row_group[o] * (size_t)p->codebook_size;
            const int32_t q = p->per_channel ? o : 0;
            int32_t acc = p->bias[o];
            if (bits == 4) {
                /* Two codes per byte: the common case, without per-element shifts. */
                const int32_t pairs = p->in_depth >> 1;
                for (i = 0; i < pairs; ++i) {
                    const uint32_t c = row[i];
                    acc += (int32_t)x[2 * i] * (int32_t)cb[c & 15u];
                    acc += (int32_t)x[2 * i + 1] * (int32_t)cb[c >> 4];
                }
                if (p->in_depth & 1) {
                    acc += (int32_t)x[p->in_depth - 1] * (int32_t)cb[row[pairs] & 15u];
                }
            } else {
                for (i = 0; i < p->in_depth; ++i) {
                    acc += (int32_t)x[i] * (int32_t)cb[ed_code_at(row, i, bits, lpb, mask)];
                }
            }
            ED_REQUANT_STORE(p, acc, q, y[o]);
        }
    }
}

void ed_conv_codebook_s8(const ed_conv_codebook_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t bits = p->code_bits;
    const int32_t lpb = ed_log2_per_byte(bits);
    const uint32_t mask = ((uint32_t)1 << bits) - 1u;
    int32_t oy, ox, oc;
    ED_CONV_PIXELS(p, output, out_c)
        for (oc = 0; oc < out_c; ++oc) {
            const uint8_t *codes = p->codes + (size_t)oc * (size_t)p->filter_bytes;
            const int8_t *cb = p->codebook + (size_t)p->row_group[oc] * (size_t)p->codebook_size;
            const int32_t q = p->per_channel ? oc : 0;
            int32_t acc = 0;
            int32_t ky, kx, ic;
            for (ky = wy.begin; ky < wy.end; ++ky) {
                const int32_t iy = wy.origin + p->dil_h * ky;
                const int8_t *in_row = input + (size_t)iy * (size_t)p->in_w * (size_t)in_c;
                for (kx = wx.begin; kx < wx.end; ++kx) {
                    const int32_t ix = wx.origin + p->dil_w * kx;
                    const int8_t *in_px = in_row + (size_t)ix * (size_t)in_c;
                    const int32_t base = ky * filter_row + kx * in_c;
                    for (ic = 0; ic < in_c; ++ic) {
                        const int32_t w = cb[ed_code_at(codes, base + ic, bits, lpb, mask)];
                        acc += ((int32_t)in_px[ic] + p->input_offset) * w;
                    }
                }
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
            out_pixel[oc] = (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
        }
    ED_CONV_PIXELS_END
}
