/*
 * ed_conv.c (Cortex-M DSP) - int8 CONV_2D with the Armv7E-M SIMD instructions, same semantics and interface
 * as the portable firmware/kernels/ed_conv.c (TFLite Micro's ConvPerChannel, bit for bit).
 *
 * - Inner product: four int8 input channels are loaded as one word; SXTAB16 sign-extends bytes 0,2 and 1,3 into
 *   halfword pairs and adds the input offset in the same instruction (so the offset costs nothing), SXTB16
 *   extends the weights the same way, and SMLAD does two multiply-accumulates: 16 MACs per 4 loads, 8 extends
 *   and 8 SMLAD.
 * - 2x2 register blocking: two neighbouring output pixels times two output channels share every load.
 * - With dilation 1 the kw * in_c input bytes under one kernel row are contiguous, as are the weights of that
 *   row, so each kernel row is one long vector (the first layer's 3 channels do not waste lanes).
 * - Interior/border split: pixel pairs whose window lies inside the image in x take the blocked path; border
 *   pixels take a one-pixel path over the clipped window (padding taps are skipped = read the zero point).
 * - A 1x1 convolution is the same code with one tap: a matrix product of pixels by filters.
 */
#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* acc[p][o] += sum_i (x_p[i] + offset) * w_o[i], i < n, for pixels x0, x1 and filters w0, w1. */
static inline void ed_conv_dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1,
                                   int32_t n, int32_t offset, int32_t acc[4])
{
    const uint32_t off2 = ed_dup16(offset);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *end4 = x0 + (n & ~3);
    const int8_t *end = x0 + n;
    while (x0 != end4) {
        const uint32_t xa = ed_read32(x0), xb = ed_read32(x1);
        const uint32_t xa_e = ed_sxtab16(off2, xa), xa_o = ed_sxtab16_ror8(off2, xa);
        const uint32_t xb_e = ed_sxtab16(off2, xb), xb_o = ed_sxtab16_ror8(off2, xb);
        uint32_t w = ed_read32(w0);
        uint32_t we = ed_sxtb16(w), wo = ed_sxtb16_ror8(w);
        a00 = ed_smlad(xa_e, we, a00);
        a10 = ed_smlad(xb_e, we, a10);
        a00 = ed_smlad(xa_o, wo, a00);
        a10 = ed_smlad(xb_o, wo, a10);
        w = ed_read32(w1);
        we = ed_sxtb16(w);
        wo = ed_sxtb16_ror8(w);
        a01 = ed_smlad(xa_e, we, a01);
        a11 = ed_smlad(xb_e, we, a11);
        a01 = ed_smlad(xa_o, wo, a01);
        a11 = ed_smlad(xb_o, wo, a11);
        x0 += 4;
        x1 += 4;
        w0 += 4;
        w1 += 4;
    }
    while (x0 != end) {
        const int32_t xa = (int32_t)*x0++ + offset, xb = (int32_t)*x1++ + offset;
        const int32_t wa = *w0++, wb = *w1++;
        a00 += xa * wa;
        a01 += xa * wb;
        a10 += xb * wa;
        a11 += xb * wb;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[o] += sum_i (x[i] + offset) * w_o[i], i < n, for one pixel and filters w0, w1. */
static inline void ed_conv_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                                   int32_t offset, int32_t acc[2])
{
    const uint32_t off2 = ed_dup16(offset);
    int32_t a0 = acc[0], a1 = acc[1];
    const int8_t *end4 = x + (n & ~3);
    const int8_t *end = x + n;
    while (x != end4) {
        const uint32_t xv = ed_read32(x);
        const uint32_t xe = ed_sxtab16(off2, xv), xo = ed_sxtab16_ror8(off2, xv);
        const uint32_t wa = ed_read32(w0), wb = ed_read32(w1);
        a0 = ed_smlad(xe, ed_sxtb16(wa), a0);
        a0 = ed_smlad(xo, ed_sxtb16_ror8(wa), a0);
        a1 = ed_smlad(xe, ed_sxtb16(wb), a1);
        a1 = ed_smlad(xo, ed_sxtb16_ror8(wb), a1);
        x += 4;
        w0 += 4;
        w1 += 4;
    }
    while (x != end) {
        const int32_t xv = (int32_t)*x++ + offset;
        a0 += xv * *w0++;
        a1 += xv * *w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

static inline int8_t ed_conv_requant(const ed_conv_params_t *p, int32_t acc, int32_t oc)
{
    const int32_t q = p->per_channel ? oc : 0;
    acc = ed_mbqm_fast(acc, p->multiplier[q], p->shift[q]) + p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

/* First and one-past-last kernel taps (along one axis) that land inside [0, size) from position start. */
static inline void ed_conv_window(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin,
                                  int32_t *end)
{
    int32_t b = 0, e = k;
    while (b < e && start + dil * b < 0) {
        ++b;
    }
    while (e > b && start + dil * (e - 1) >= size) {
        --e;
    }
    *begin = b;
    *end = e;
}

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t filter_row = p->k_w * in_c;
    const int32_t filter_size = p->k_h * filter_row;
    const int32_t row_bytes = p->in_w * in_c;
    const int32_t px_step = p->stride_w * in_c; /* input distance between neighbouring output pixels */
    int32_t oy, ox, oc, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky_begin, ky_end;
        int8_t *out_row = output + (size_t)oy * (size_t)p->out_w * (size_t)out_c;
        ed_conv_window(iy0, p->dil_h, p->k_h, p->in_h, &ky_begin, &ky_end);
        ox = 0;
        while (ox < p->out_w) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t kx_begin, kx_end, kx_begin2, kx_end2;
            ed_conv_window(ix0, p->dil_w, p->k_w, p->in_w, &kx_begin, &kx_end);
            kx_begin2 = -1;
            kx_end2 = -1;
            if (ox + 1 < p->out_w) {
                ed_conv_window(ix0 + p->stride_w, p->dil_w, p->k_w, p->in_w, &kx_begin2, &kx_end2);
            }
            if (kx_begin == 0 && kx_end == p->k_w && kx_begin2 == 0 && kx_end2 == p->k_w) {
                /* Interior pair: two pixels x two output channels per pass. */
                int8_t *out0 = out_row + (size_t)ox * (size_t)out_c;
                int8_t *out1 = out0 + out_c;
                for (oc = 0; oc < out_c; oc += 2) {
                    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                    const int8_t *f0 = p->weights + (size_t)oc * (size_t)filter_size;
                    const int8_t *f1 = p->weights + (size_t)oc1 * (size_t)filter_size;
                    int32_t acc[4];
                    acc[0] = p->bias != NULL ? p->bias[oc] : 0;
                    acc[1] = p->bias != NULL ? p->bias[oc1] : 0;
                    acc[2] = acc[0];
                    acc[3] = acc[1];
                    for (ky = ky_begin; ky < ky_end; ++ky) {
                        const int8_t *x0 =
                            input + (size_t)(iy0 + p->dil_h * ky) * (size_t)row_bytes + (size_t)ix0 * (size_t)in_c;
                        const int8_t *w0 = f0 + (size_t)ky * (size_t)filter_row;
                        const int8_t *w1 = f1 + (size_t)ky * (size_t)filter_row;
                        if (p->dil_w == 1) {
                            ed_conv_dot_2x2(x0, x0 + px_step, w0, w1, filter_row, p->input_offset, acc);
                        } else {
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int8_t *xk = x0 + (size_t)(p->dil_w * kx) * (size_t)in_c;
                                ed_conv_dot_2x2(xk, xk + px_step, w0 + kx * in_c, w1 + kx * in_c, in_c,
                                                p->input_offset, acc);
                            }
                        }
                    }
                    out0[oc] = ed_conv_requant(p, acc[0], oc);
                    out1[oc] = ed_conv_requant(p, acc[2], oc);
                    if (oc1 != oc) {
                        out0[oc1] = ed_conv_requant(p, acc[1], oc1);
                        out1[oc1] = ed_conv_requant(p, acc[3], oc1);
                    }
                }
                ox += 2;
            } else {
                /* Border (or last odd) pixel: one pixel x two output channels over the clipped window. */
                int8_t *out0 = out_row + (size_t)ox * (size_t)out_c;
                for (oc = 0; oc < out_c; oc += 2) {
                    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                    const int8_t *f0 = p->weights + (size_t)oc * (size_t)filter_size;
                    const int8_t *f1 = p->weights + (size_t)oc1 * (size_t)filter_size;
                    int32_t acc[2];
                    acc[0] = p->bias != NULL ? p->bias[oc] : 0;
                    acc[1] = p->bias != NULL ? p->bias[oc1] : 0;
                    for (ky = ky_begin; ky < ky_end; ++ky) {
                        const int8_t *x0 =
                            input + (size_t)(iy0 + p->dil_h * ky) * (size_t)row_bytes;
                        const int8_t *w0 = f0 + (size_t)ky * (size_t)filter_row;
                        const int8_t *w1 = f1 + (size_t)ky * (size_t)filter_row;
                        if (p->dil_w == 1) {
                            const int32_t ix = ix0 + kx_begin;
                            ed_conv_dot_1x2(x0 + (size_t)ix * (size_t)in_c, w0 + kx_begin * in_c,
                                            w1 + kx_begin * in_c, (kx_end - kx_begin) * in_c, p->input_offset,
                                            acc);
                        } else {
                            for (kx = kx_begin; kx < kx_end; ++kx) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                ed_conv_dot_1x2(x0 + (size_t)ix * (size_t)in_c, w0 + kx * in_c, w1 + kx * in_c,
                                                in_c, p->input_offset, acc);
                            }
                        }
                    }
                    out0[oc] = ed_conv_requant(p, acc[0], oc);
                    if (oc1 != oc) {
                        out0[oc1] = ed_conv_requant(p, acc[1], oc1);
                    }
                }
                ox += 1;
            }
        }
    }
}
