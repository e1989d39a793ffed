/*
 * ed_decode.c - compressed weights (bit-planes, codebook codes, sparse entries) decoded into a RAM scratch in the
 * layout an int8 kernel reads (see ed_decode_params_t in ed_compressed.h). The decoded values are the layer's
 * int8 weights exactly, so the kernel that runs on them gives the int8 layer's result bit for bit.
 *
 * Per four weights of a plane row: two nibbles index a table of byte masks, and the masks select the row's
 * two values: (mask_pos & b...b) | (mask_neg & -a...-a), one word store. Binary rows take the negative mask as
 * the complement of the positive one.
 */
#include "edgesdk_kernels.h"
#include "ed_compressed.h"
#include "ed_simd.h"

/* Bit j of the nibble set -> byte j of the word 0xFF. */
static const uint32_t ed_nibble_mask[16] = {
    0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu, 0x00FFFF00u, 0x00FFFFFFu,
    0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu, 0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu,
};

/* One plane word (up to 32 weights) as bytes: four at a time, whole words (up to 3 bytes past the row). */
#define ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst)                                                    \
    do {                                                                                            \
        ed_write32((dst), (ed_nibble_mask[(wp) & 15u] & (vp4)) | (ed_nibble_mask[(wn) & 15u] & (vn4))); \
        (dst) += step;                                                                              \
        (wp) >>= 4;                                                                                 \
        (wn) >>= 4;                                                                                 \
    } while (0)

/* Row o's words (four weights each) at dst, dst + step, ...: 4 for a row-major row, 16 for a row of a four-row
 * block of the DSP FC layout. */
static void ed_decode_planes_row(const ed_decode_params_t *d, int32_t o, int8_t *dst, const int32_t step)
{
    const uint32_t *pp = d->plane_pos + (size_t)o * (size_t)d->words;
    const uint32_t *pn = d->format == ED_DECODE_TERNARY ? d->plane_neg + (size_t)o * (size_t)d->words : NULL;
    const int32_t vp = d->wpos != NULL ? (int32_t)d->wpos[o] : d->wval;
    const int32_t vn = d->wneg != NULL ? (int32_t)d->wneg[o] : d->wval;
    const uint32_t vp4 = 0x01010101u * (uint32_t)(uint8_t)vp;
    const uint32_t vn4 = 0x01010101u * (uint32_t)(uint8_t)(-vn);
    int32_t left = d->cols;
    int32_t j;
    while (left >= 32) {
        uint32_t wp = *pp++;
        uint32_t wn = pn != NULL ? *pn++ : ~wp;
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        left -= 32;
    }
    if (left > 0) {
        uint32_t wp = *pp;
        uint32_t wn = pn != NULL ? *pn : ~wp;
        for (j = 0; j < left; j += 4) {
            ED_DECODE_NIBBLE_(wp, wn, vp4, vn4, dst);
        }
    }
}

static void ed_decode_codebook_row(const ed_decode_params_t *d, int32_t o, int8_t *dst)
{
    const uint8_t *row = d->codes + (size_t)o * (size_t)d->row_bytes;
    const int8_t *cb = d->codebook + (size_t)d->row_group[o] * (size_t)d->codebook_size;
    const int32_t n = d->cols;
    int32_t i;
    if (d->code_bits == 4) {
        const int32_t pairs = n >> 1;
        for (i = 0; i < pairs; ++i) {
            const uint32_t c = row[i];
            dst[2 * i] = cb[c & 15u];
            dst[2 * i + 1] = cb[c >> 4];
        }
        if (n & 1) {
            dst[n - 1] = cb[row[pairs] & 15u];
        }
    } else {
        const int32_t bits = d->code_bits;
        const int32_t per_byte = 8 / bits;
        const uint32_t mask = ((uint32_t)1 << bits) - 1u;
        for (i = 0; i < n; ++i) {
            dst[i] = cb[((uint32_t)row[i / per_byte] >> ((i % per_byte) * bits)) & mask];
        }
    }
}

/* Rows [0, rows) of a sparse layer in order (the entries are one stream): row o into dst + o * stride. */
static void ed_decode_sparse_rows(const ed_decode_params_t *d, int8_t *dst, int32_t row_first, int32_t row_end,
                                  const uint8_t **entries, const int8_t **values)
{
    const int32_t code_bits = d->code_bits;
    const uint32_t code_mask = ((uint32_t)1 << code_bits) - 1u;
    int32_t o, k;
    for (o = row_first; o < row_end; ++o) {
        const int32_t n = d->row_count8 != NULL ? (int32_t)d->row_count8[o] : (int32_t)d->row_count16[o];
        const uint8_t *e = *entries;
        int8_t *row = dst + (size_t)(o - row_first) * (size_t)d->cols;
        int32_t col = 0;
        ED_MEMSET_(row, 0, (size_t)d->cols);
        if (code_bits == 0) {
            const int8_t *v = *values;
            for (k = 0; k < n; ++k) {
                col += e[k];
                row[col] = v[k];
            }
            *values = v + n;
        } else {
            const int8_t *cb = d->values + (size_t)d->row_group[o] * (size_t)d->codebook_size;
            for (k = 0; k < n; ++k) {
                const uint32_t entry = e[k];
                col += (int32_t)(entry >> code_bits);
                row[col] = cb[entry & code_mask];
            }
        }
        *entries = e + n;
    }
}

/* Rows [first, end) decoded as int8, row-major from dst (the sparse stream carried across calls). */
static void ed_decode_rows(const ed_decode_params_t *d, int8_t *dst, int32_t first, int32_t end,
                           const uint8_t **entries, const int8_t **values)
{
    int32_t o;
    if (d->format == ED_DECODE_SPARSE) {
        ed_decode_sparse_rows(d, dst, first, end, entries, values);
        return;
    }
    if (d->format == ED_DECODE_RAW) {
        ED_MEMCPY_(dst, d->values + (size_t)first * (size_t)d->cols, (size_t)(end - first) * (size_t)d->cols);
        return;
    }
    for (o = first; o < end; ++o) {
        int8_t *row = dst + (size_t)(o - first) * (size_t)d->cols;
        if (d->format == ED_DECODE_CODEBOOK) {
            ed_decode_codebook_row(d, o, row);
        } else {
            ed_decode_planes_row(d, o, row, 4);
        }
    }
}

/* Four int8 rows (row-major in rb, `cols` each; rows past the layer's are zero) as one block of the int16
 * layout of ed_fc_w16_params_t: per four inputs the pairs (w0, w2) of rows 0..3, then (w1, w3); then tails. */
static int16_t *ed_decode_w16_block(const int8_t *rb, int32_t cols, int32_t nrows, int16_t *out)
{
    const int32_t n4 = cols & ~3;
    uint32_t *o32 = (uint32_t *)(void *)out;
    int32_t i, r, t;
    for (i = 0; i < n4; i += 4) {
        for (r = 0; r < 4; ++r) {
            const uint32_t x = r < nrows ? ed_read32(rb + (size_t)r * (size_t)cols + i) : 0u;
            o32[r] = ed_sxtb16(x);
            o32[4 + r] = ed_sxtb16_ror8(x);
        }
        o32 += 8;
    }
    out = (int16_t *)(void *)o32;
    for (r = 0; r < 4; ++r) {
        for (t = n4; t < cols; ++t) {
            *out++ = r < nrows ? (int16_t)rb[(size_t)r * (size_t)cols + t] : 0;
        }
    }
    return out;
}

void ed_decode_block_w16(const ed_decode_params_t *d, int32_t o, int16_t *dst, ed_decode_cursor_t *cur)
{
    const int32_t nrows = d->rows - o < 4 ? d->rows - o : 4;
    ed_decode_rows(d, d->rowbuf, o, o + nrows, &cur->entries, &cur->values);
    (void)ed_decode_w16_block(d->rowbuf, d->cols, nrows, dst);
}

/*
 * The layout of the DSP int8 FC kernel (ed_fc_s8, cortex-m-dsp/ed_fc.c; weightformats.fc_weights_dsp) for rows of
 * row_len bytes (the cols weights, then zeros): blocks of four rows interleaved four inputs at a time, then the
 * four rows' row_len % 4 tail bytes; the rows % 4 last rows row-major. Ternary and binary rows of whole words
 * (cols == row_len, a multiple of 4) are written word by word straight into place (through a table of words
 * where every row has the one magnitude wval), sparse entries byte by byte into the zeroed layer; any other row is
 * decoded into rowbuf, padded with zeros and then moved there.
 */
/* Two table words (nibbles 2i and 2i + 1 of a plane word) into place. */
#define ED_DECODE_FC8_PAIR_(at, step, ev, od)           \
    do {                                                \
        ed_write32((at), tab[(ev) & 255u]);             \
        ed_write32((at) + (step), tab[(od) & 255u]);    \
        (at) += 2 * (step);                             \
        (ev) >>= 8;                                     \
        (od) >>= 8;                                     \
    } while (0)

/* Rows [first, end) of ternary/binary planes of one magnitude into place (`step`, 16 in the four-row blocks, 4 in
 * the last rows: a constant in each clone), four weights per table word: the bytes of `ev` index the words of
 * nibbles 0, 2, 4, 6 of a row's plane word (positive | negative << 4), those of `od` nibbles 1, 3, 5, 7. */
ED_ALWAYS_INLINE static inline void ed_decode_fc8_rows(const ed_decode_params_t *d, const uint32_t *tab,
                                                       int32_t first, int32_t end, int8_t *dst, const int32_t step)
{
    const int32_t k = d->row_len, words = d->words;
    const uint32_t *pp = d->plane_pos + (size_t)first * (size_t)words;
    const uint32_t *pn = d->format == ED_DECODE_TERNARY ? d->plane_neg + (size_t)first * (size_t)words : NULL;
    int32_t o, left, i;
    for (o = first; o < end; ++o) {
        int8_t *at = step == 16 ? dst + (size_t)(o & ~3) * (size_t)k + (size_t)(o & 3) * 4u
                                : dst + (size_t)o * (size_t)k;
        for (left = k >> 2; left > 0; left -= 8) {
            const uint32_t wp = *pp++, wn = pn != NULL ? *pn++ : ~wp;
            uint32_t ev = (wp & 0x0F0F0F0Fu) | ((wn & 0x0F0F0F0Fu) << 4);
            uint32_t od = ((wp >> 4) & 0x0F0F0F0Fu) | (wn & 0xF0F0F0F0u);
            if (left >= 8) {
                ED_DECODE_FC8_PAIR_(at, step, ev, od);
                ED_DECODE_FC8_PAIR_(at, step, ev, od);
                ED_DECODE_FC8_PAIR_(at, step, ev, od);
                ED_DECODE_FC8_PAIR_(at, step, ev, od);
                continue;
            }
            for (i = 0; i < left; ++i) {
                ed_write32(at, tab[((i & 1) ? od >> (8 * (i >> 1)) : ev >> (8 * (i >> 1))) & 255u]);
                at += step;
            }
        }
    }
}

/* The two instances, out of line: the table's address stays in a register (inlined into the function that holds
 * the table, GCC rebuilt it from sp for every load). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void ed_decode_fc8_blocks(const ed_decode_params_t *d, const uint32_t *tab, int32_t end, int8_t *dst)
{
    ed_decode_fc8_rows(d, tab, 0, end, dst, 16);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void ed_decode_fc8_last(const ed_decode_params_t *d, const uint32_t *tab, int32_t first, int8_t *dst)
{
    ed_decode_fc8_rows(d, tab, first, d->rows, dst, 4);
}

/* One sparse row's entries (ed_fc_sparse_params_t's stream) at `at`, the byte of column c at at[POS(c)]. */
#define ED_DECODE_FC8_SPARSE_(POS)                                                   \
    do {                                                                             \
        if (code_bits == 0) {                                                        \
            for (j = 0; j < n; ++j) {                                                \
                col += e[j];                                                         \
                at[POS(col)] = v[j];                                                 \
            }                                                                        \
            v += n;                                                                  \
        } else {                                                                     \
            const int8_t *cb = d->values + (size_t)d->row_group[o] * (size_t)d->codebook_size; \
            for (j = 0; j < n; ++j) {                                                \
                const uint32_t entry = e[j];                                         \
                col += (int32_t)(entry >> code_bits);                                \
                at[POS(col)] = cb[entry & code_mask];                                \
            }                                                                        \
        }                                                                            \
    } while (0)
#define ED_DECODE_FC8_IN_BLOCK_(c) ((((c) >> 2) << 4) + ((c) & 3))
#define ED_DECODE_FC8_ROW_MAJOR_(c) (c)

/* Sparse rows (row_len a multiple of 4) straight into place: the layer's bytes zeroed word by word once, then each
 * stored entry written where the layout puts its (row, column) -- in a four-row block at 16 (column / 4) +
 * 4 (row % 4) + column % 4. */
static void ed_decode_fc8_sparse(const ed_decode_params_t *d, int8_t *dst)
{
    const int32_t k = d->row_len, rows4 = d->rows & ~3, code_bits = d->code_bits;
    const uint32_t code_mask = ((uint32_t)1 << code_bits) - 1u;
    const uint8_t *e = d->entries;
    const int8_t *v = d->values;
    int8_t *z = dst, *end = dst + (size_t)d->rows * (size_t)k;
    int32_t o, j;
    for (; z + 16 <= end; z += 16) {
        ed_write32(z, 0u);
        ed_write32(z + 4, 0u);
        ed_write32(z + 8, 0u);
        ed_write32(z + 12, 0u);
    }
    for (; z < end; z += 4) {
        ed_write32(z, 0u);
    }
    for (o = 0; o < d->rows; ++o) {
        const int32_t n = d->row_count8 != NULL ? (int32_t)d->row_count8[o] : (int32_t)d->row_count16[o];
        int32_t col = 0;
        if (o < rows4) {
            int8_t *at = dst + (size_t)(o & ~3) * (size_t)k + (size_t)(o & 3) * 4u;
            ED_DECODE_FC8_SPARSE_(ED_DECODE_FC8_IN_BLOCK_);
        } else {
            int8_t *at = dst + (size_t)o * (size_t)k;
            ED_DECODE_FC8_SPARSE_(ED_DECODE_FC8_ROW_MAJOR_);
        }
        e += n;
    }
}

static void ed_decode_fc8(const ed_decode_params_t *d, int8_t *dst, ed_decode_cursor_t *cur)
{
    const int32_t k = d->row_len, k4 = k & ~3, tail = k & 3, rows4 = d->rows & ~3;
    const int planes = d->format == ED_DECODE_TERNARY || d->format == ED_DECODE_BINARY;
    const int direct = planes && d->cols == k && tail == 0;
    int32_t o, g, t;
    if (d->format == ED_DECODE_SPARSE && tail == 0) {
        ed_decode_fc8_sparse(d, dst);
        return;
    }
    if (direct && d->wpos == NULL && d->wneg == NULL) {
        /* one magnitude: the 256 words a positive and a negative plane nibble stand for, once per call (1 KB of
         * stack, before the FC kernel's own), then one table load per four weights */
        uint32_t tab[256];
        const uint32_t vp4 = 0x01010101u * (uint32_t)(uint8_t)d->wval;
        const uint32_t vn4 = 0x01010101u * (uint32_t)(uint8_t)(-d->wval);
        for (t = 0; t < 256; ++t) {
            tab[t] = (ed_nibble_mask[t & 15] & vp4) | (ed_nibble_mask[t >> 4] & vn4);
        }
        ed_decode_fc8_blocks(d, tab, rows4, dst);
        if (rows4 < d->rows) {
            ed_decode_fc8_last(d, tab, rows4, dst);
        }
        return;
    }
    for (o = 0; o < d->rows; ++o) {
        const int blocked = o < rows4;
        const int32_t step = blocked ? 16 : 4;
        int8_t *at = blocked ? dst + (size_t)(o & ~3) * (size_t)k + (size_t)(o & 3) * 4u
                             : dst + (size_t)o * (size_t)k;
        const int8_t *src = d->rowbuf;
        if (direct) {
            ed_decode_planes_row(d, o, at, step);
            continue;
        }
        ed_decode_rows(d, d->rowbuf, o, o + 1, &cur->entries, &cur->values);
        ED_MEMSET_(d->rowbuf + d->cols, 0, (size_t)(k - d->cols));
        for (g = 0; g < k4; g += 4) {
            ed_write32(at, ed_read32(src + g));
            at += step;
        }
        if (blocked) { /* the block's tails follow its four rows' interleaved words */
            at = dst + (size_t)(o & ~3) * (size_t)k + 4u * (size_t)k4 + (size_t)(o & 3) * (size_t)tail;
        }
        for (t = 0; t < tail; ++t) {
            at[t] = src[k4 + t];
        }
    }
}

void ed_decode_weights(const ed_decode_params_t *d, void *dst)
{
    ed_decode_cursor_t cur;
    int32_t o;
    cur.entries = d->entries;
    cur.values = d->values;
    if (d->layout == ED_DECODE_INT8) {
        ed_decode_rows(d, (int8_t *)dst, 0, d->rows, &cur.entries, &cur.values);
        return;
    }
    for (o = 0; o < d->rows; o += 4) {
        ed_decode_block_w16(d, o, (int16_t *)dst + (size_t)o * (size_t)d->cols, &cur);
    }
}

void ed_decode_weights_fc8(const ed_decode_params_t *d, void *dst)
{
    ed_decode_cursor_t cur;
    cur.entries = d->entries;
    cur.values = d->values;
    ed_decode_fc8(d, (int8_t *)dst, &cur);
}
