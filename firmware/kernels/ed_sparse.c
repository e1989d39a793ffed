/*
 * ed_sparse.c - sparse int8 FULLY_CONNECTED with relative column indices (Han et al., "Deep Compression",
 * ICLR 2016, section 3: relative indices with filler zeros), optionally with codebook-coded weights.
 *
 * The work is proportional to the stored entries, not to in_depth * out_depth: a 90 %-sparse layer visits
 * about a tenth of the weights. Bit-exact with ed_fc_s8 on the same int8 weights (zeros add nothing and the
 * input offset is folded into the bias on the host).
 */
#include "edgesdk_kernels.h"
#include "ed_compressed.h"
#include "ed_fixedpoint.h"

static int8_t ed_sparse_output(const ed_fc_sparse_params_t *p, int32_t acc, int32_t o)
{
    const int32_t q = p->per_channel ? o : 0;
    if (p->rounding == ED_ROUNDING_SINGLE) {
        acc = ed_mbqm_single(acc, p->multiplier[q], p->shift[q]);
    } else {
        acc = ed_mbqm(acc, p->multiplier[q], p->shift[q]);
    }
    acc += p->output_offset;
    return (int8_t)ed_clamp_i32(acc, p->act_min, p->act_max);
}

void ed_fc_sparse_s8(const ed_fc_sparse_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t code_bits = p->code_bits;
    const uint32_t code_mask = ((uint32_t)1 << code_bits) - 1u;
    int32_t b, o;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->in_depth;
        int8_t *y = output + (size_t)b * (size_t)p->out_depth;
        const uint8_t *e = p->entries;
        const int8_t *v = p->values;
        for (o = 0; o < p->out_depth; ++o) {
            const int32_t n = p->row_count8 != NULL ? (int32_t)p->row_count8[o] : (int32_t)p->row_count16[o];
            const int8_t *xc = x;
            int32_t acc = p->bias[o];
            int32_t k;
            if (code_bits == 0) {
                for (k = 0; k < n; ++k) {
                    xc += e[k];
                    acc += (int32_t)*xc * (int32_t)v[k];
                }
                v += n;
            } else {
                const int8_t *cb = p->values + (size_t)o * (size_t)p->codebook_size;
                for (k = 0; k < n; ++k) {
                    const uint32_t entry = e[k];
                    xc += entry >> code_bits;
                    acc += (int32_t)*xc * (int32_t)cb[entry & code_mask];
                }
            }
            e += n;
            y[o] = ed_sparse_output(p, acc, o);
        }
    }
}
