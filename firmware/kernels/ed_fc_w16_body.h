/*
 * ed_fc_w16_body.h - the body of the int16-weight FULLY_CONNECTED kernel (see ed_fc_w16.c), always inlined.
 *
 * ed_fc_w16.c instantiates it once for run-time parameters (ed_fc_w16_s8). A layer that edgesdk specialises
 * instantiates it in the generated model source with its own `static const` parameters: the compiler then folds
 * every field (depths, offsets, clamp bounds, rounding, per-channel or not, the bias and requantization arrays'
 * addresses), so the per-output stage loses its branches and reloads and the loops get constant trip counts.
 */
#ifndef ED_FC_W16_BODY_H
#define ED_FC_W16_BODY_H

#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"

/* Output rows [o, o + 4) of one input row x (in_depth values) against one block of the int16 layout at w; the
 * outputs at y[o..]. Returns the next block's weights. */
ED_ALWAYS_INLINE static inline const int16_t *ed_fc_w16_rows4(const ed_fc_w16_params_t *p, const int8_t *x,
                                                              const int16_t *w, int32_t o, int8_t *y)
{
    const int32_t n = p->in_depth;
    const int32_t n4 = n & ~3;
    const int32_t tail = n & 3;
    const int32_t in_off = p->input_offset;
    const uint32_t xoff2 = ed_dup16(in_off);
    int32_t acc[4];
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t k, t, r;
    for (k = n4 >> 2; k != 0; --k) { /* a count, not an end pointer: one register less */
        const uint32_t xv = ed_read32(x);
        const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
        uint32_t w0, w1, w2, w3, w4, w5, w6, w7;
        ED_READ64(w, 0, w0, w1);
        ED_READ64(w, 8, w2, w3);
        a0 = ed_smlad(xe, w0, a0);
        a1 = ed_smlad(xe, w1, a1);
        a2 = ed_smlad(xe, w2, a2);
        a3 = ed_smlad(xe, w3, a3);
        ED_READ64(w, 16, w4, w5);
        ED_READ64(w, 24, w6, w7);
        a0 = ed_smlad(xo, w4, a0);
        a1 = ed_smlad(xo, w5, a1);
        a2 = ed_smlad(xo, w6, a2);
        a3 = ed_smlad(xo, w7, a3);
        x += 4;
        w += 16;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    for (r = 0; r < 4; ++r) {
        for (t = 0; t < tail; ++t) {
            acc[r] += ((int32_t)x[t] + in_off) * (int32_t)w[t];
        }
        w += tail;
    }
    for (r = 0; r < 4 && o + r < p->out_depth; ++r) {
        y[o + r] = ED_FC_REQUANT(p, acc[r], o + r);
    }
    return w;
}

ED_ALWAYS_INLINE static inline void ed_fc_w16_body(const ed_fc_w16_params_t *p, const int8_t *input,
                                                   int8_t *output)
{
    int32_t b, o;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        const int16_t *w = p->weights;
        for (o = 0; o < p->out_depth; o += 4) {
            w = ed_fc_w16_rows4(p, x, w, o, y);
        }
    }
}

#ifdef ED_COMPRESSED_H
/*
 * The same layer with compressed weights (ed_compressed.h): block by block (four output rows), the block's
 * weights are decoded into `block` (4 * in_depth int16 of RAM) once, then every batch row (a 1x1 convolution's
 * pixel) runs against it. Same inner loop, same results; p->weights is not read.
 */
ED_ALWAYS_INLINE static inline void ed_fc_w16_decoded_body(const ed_fc_w16_params_t *p, const ed_decode_params_t *d,
                                                           int16_t *block, const int8_t *input, int8_t *output)
{
    ed_decode_cursor_t cur;
    int32_t b, o;
    cur.entries = d->entries;
    cur.values = d->values;
    for (o = 0; o < p->out_depth; o += 4) {
        ed_decode_block_w16(d, o, block, &cur);
        for (b = 0; b < p->batches; ++b) {
            (void)ed_fc_w16_rows4(p, input + (size_t)b * (size_t)p->in_depth, block, o,
                                  output + (size_t)b * (size_t)p->out_depth);
        }
    }
}
#endif

#endif /* ED_FC_W16_BODY_H */
