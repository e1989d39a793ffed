/*
 * ed_dwconv_inplace.c - int8 DEPTHWISE_CONV_2D (depth multiplier 1) whose output overwrites its input in `buf`.
 *
 * Rows are computed `rows` at a time (a group) by ed_dwconv_s8 (the core's kernel: portable, or the Cortex-M DSP
 * one) on a copy of the parameters that describes the group (out_h = its rows, pad_top shifted), so the result is
 * the regular kernel's bit for bit; fewer, longer calls cost fewer instructions and more scratch. Output row oy covers input rows up to
 * last_in_row(oy) of `buf` and reads input rows from need_lo(oy) = max(0, oy * stride - pad_top) on. It is written in place directly when
 * its bytes lie before every input row still to be read (and no earlier row waits); otherwise it goes to slot
 * oy % slots of `scratch` (slots rows of out_w * out_c bytes, a multiple of `rows`; a group is written only when
 * its whole destination lies before the rows it reads) and is copied to its place, in order, once no
 * later row reads the input rows it covers. edgesdk.dw_inplace.schedule is the same rule in Python: it sizes
 * `scratch` (two rows for stride 1 SAME, one for stride 2 or VALID). slots == 0: the layer is one the core's
 * kernel writes in place itself (the Cortex-M DSP kernel's band path), one call.
 */
#include <string.h>

#include "edgesdk_kernels.h"

static int32_t ed_dwi_last_in_row(int32_t oy, int32_t row_out, int32_t row_in)
{
    return ((oy + 1) * row_out - 1) / row_in;
}

static int32_t ed_dwi_need_lo(const ed_dwconv_params_t *p, int32_t oy)
{
    const int32_t r = oy * p->stride_h - p->pad_top;
    return r > 0 ? r : 0;
}

/* A staged row to its place: words when everything is word-aligned (the arena and its offsets are), else bytes. */
static void ed_dwi_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if ((((uintptr_t)dst | (uintptr_t)src | (uintptr_t)n) & 3u) == 0u) {
        uint32_t *d = (uint32_t *)(void *)dst;
        const uint32_t *s = (const uint32_t *)(const void *)src;
        int32_t k;
        for (k = 0; k < n / 4; ++k) {
            d[k] = s[k];
        }
    } else {
        memcpy(dst, src, (size_t)n);
    }
}

void ed_dwconv_inplace_s8(const ed_dwconv_params_t *p, int8_t *buf, int8_t *scratch, int32_t slots, int32_t rows)
{
    const int32_t row_in = p->in_w * p->in_c, row_out = p->out_w * p->out_c;
    ed_dwconv_params_t q = *p;
    int32_t oy, pb = 0, pe = 0;
    if (slots == 0) { /* the core's kernel writes in place itself (edgesdk.compiler.dw_inplace.SELF_ATTR) */
        ed_dwconv_s8(p, buf, buf);
        return;
    }
    for (oy = 0; oy < p->out_h; oy += rows) {
        const int32_t end = oy + rows < p->out_h ? oy + rows : p->out_h;
        int32_t nlo;
        q.out_h = end - oy;
        q.pad_top = p->pad_top - oy * p->stride_h;
        if (pb == pe && ed_dwi_last_in_row(end - 1, row_out, row_in) < ed_dwi_need_lo(p, oy)) {
            /* a group per call: a kernel may compute the rows of one call in any order (the DSP kernel runs its
             * interior as a block, channel group by channel group) */
            ed_dwconv_s8(&q, buf, buf + (size_t)oy * (size_t)row_out);
            pb = pe = end;
        } else {
            /* groups start at multiples of rows and slots is one too: the group's rows are contiguous slots */
            ed_dwconv_s8(&q, buf, scratch + (size_t)(oy % slots) * (size_t)row_out);
            pe = end;
        }
        nlo = end < p->out_h ? ed_dwi_need_lo(p, end) : INT32_MAX;
        while (pb < pe && ed_dwi_last_in_row(pb, row_out, row_in) < nlo) {
            ed_dwi_copy(buf + (size_t)pb * (size_t)row_out, scratch + (size_t)(pb % slots) * (size_t)row_out,
                        row_out);
            ++pb;
        }
        if (pb == pe) {
            pb = pe = end;
        }
    }
}
