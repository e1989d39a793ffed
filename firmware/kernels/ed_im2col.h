/*
 * ed_im2col.h - a convolution as "gather the window, then a fully-connected row block" (im2col), for layers with
 * few input channels (a model's first layer: 1 to 4 channels), where the direct kernel's SIMD lanes mostly idle.
 *
 * Per output pixel the k_h x k_w x in_c inputs under the window are copied, in the filters' OHWI order, into
 * a column of K = k_h * k_w * in_c bytes (the input zero point where the window leaves the image, so the input
 * offset makes those taps 0 exactly as the direct kernel's skipped taps); then the int16-weight FC body
 * (ed_fc_w16_body.h) multiplies the column by the out_c x K filters, four output channels per input word. The
 * generated code instantiates it per layer with constant parameters. Same results as ed_conv_s8, bit for bit.
 */
#ifndef ED_IM2COL_H
#define ED_IM2COL_H

#include "ed_fc_w16_body.h"

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t zero_point; /* the input zero point: the value of a tap outside the image */
} ed_im2col_params_t;

/* The window under output pixel (oy, ox) into col. */
ED_ALWAYS_INLINE static inline void ed_im2col_gather(const ed_im2col_params_t *g, const int8_t *input, int32_t oy,
                                                     int32_t ox, int8_t *col)
{
    const int32_t row = g->k_w * g->in_c;
    const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
    const int interior_x = ix0 >= 0 && ix0 + (g->k_w - 1) * g->dil_w < g->in_w;
    int32_t ky, kx;
    for (ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky * g->dil_h;
        int8_t *dst = col + ky * row;
        if (iy < 0 || iy >= g->in_h) {
            ED_MEMSET_(dst, g->zero_point, (size_t)row);
        } else if (interior_x && g->dil_w == 1) { /* the window's row is contiguous in the input */
            ED_MEMCPY_(dst, input + ((size_t)iy * (size_t)g->in_w + (size_t)ix0) * (size_t)g->in_c, (size_t)row);
        } else {
            for (kx = 0; kx < g->k_w; ++kx) {
                const int32_t ix = ix0 + kx * g->dil_w;
                if (ix < 0 || ix >= g->in_w) {
                    ED_MEMSET_(dst + kx * g->in_c, g->zero_point, (size_t)g->in_c);
                } else {
                    ED_MEMCPY_(dst + kx * g->in_c, input + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)g->in_c,
                               (size_t)g->in_c);
                }
            }
        }
    }
}

/* The convolution: gather each pixel's window into col (K bytes), then p's FC body writes the pixel's out_c
 * outputs (p: batches 1, in_depth K, out_depth out_c, double rounding). */
ED_ALWAYS_INLINE static inline void ed_im2col_conv_s8(const ed_im2col_params_t *g, const ed_fc_w16_params_t *p,
                                                      int8_t *col, const int8_t *input, int8_t *output)
{
    int32_t oy, ox;
    for (oy = 0; oy < g->out_h; ++oy) {
        for (ox = 0; ox < g->out_w; ++ox) {
            ed_im2col_gather(g, input, oy, ox, col);
            ed_fc_w16_body(p, col, output);
            output += p->out_depth;
        }
    }
}

/* The same with int8 weights (edgesdk's im2col_s8, --optimize size): bands of up to `band` pixels gathered into col
 * (band * K bytes), then the int8-weight FC kernel ed_fc_s8 over the band, one pixel per batch row (p: in_depth
 * K, out_depth out_c, double rounding; its batches field is set per band). The weights keep their bytes. */
ED_ALWAYS_INLINE static inline void ed_im2col_conv_fc_s8(const ed_im2col_params_t *g, const ed_fc_params_t *p,
                                                         int32_t band, int8_t *col, const int8_t *input,
                                                         int8_t *output)
{
    const int32_t total = g->out_h * g->out_w, k = p->in_depth;
    ed_fc_params_t q = *p;
    int32_t i, j;
    for (i = 0; i < total; i += band) {
        const int32_t n = total - i < band ? total - i : band;
        for (j = 0; j < n; ++j) {
            ed_im2col_gather(g, input, (i + j) / g->out_w, (i + j) % g->out_w, col + (size_t)j * (size_t)k);
        }
        q.batches = n;
        ed_fc_s8(&q, col, output + (size_t)i * (size_t)p->out_depth);
    }
}

#endif /* ED_IM2COL_H */
