/*
 * ed_compressed.h - int8 kernels for compressed weights: sparse (relative indices, Deep Compression style)
 * and codebook (weight sharing: packed b-bit indices into a small table of int8 values).
 *
 * Every kernel here gives exactly the integer result of the dense int8 kernel of the same weights
 * (ed_fc_s8 / ed_conv_s8): the same products are summed in int32 and requantized the same way. Only the
 * way the int8 weights are stored and visited differs. The tables are built on the host by edgesdk
 * (sdk/edgesdk/backends/c/compressed.py), which also folds input_offset * sum(weights) into the bias of the
 * fully-connected kernels so their inner loops multiply raw inputs.
 */
#ifndef ED_COMPRESSED_H
#define ED_COMPRESSED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sparse FULLY_CONNECTED. Row o has row_count8[o] (or row_count16[o]) entries; each entry advances the column (starting at 0
 * for every row) by its delta, then accumulates input[col] * weight. Two encodings:
 *   code_bits == 0: entries[k] is the delta (uint8), values[k] the int8 weight;
 *   code_bits  > 0: entries[k] = delta << code_bits | code, and the weight is
 *                   values[row_group[o] * codebook_size + code]: rows share codebooks of int8 values
 *                   (rows whose per-channel scale maps the shared centroids to the same values).
 * Gaps longer than the delta field allows are bridged by filler entries whose weight is 0.
 * bias[o] already holds bias + input_offset * sum_i w[o][i].
 */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    int32_t rounding; /* ED_ROUNDING_DOUBLE or ED_ROUNDING_SINGLE */
    int32_t code_bits;
    int32_t codebook_size;
    const uint8_t *row_count8;  /* [out_depth] entries per row when every row has < 256, else NULL */
    const int16_t *row_count16; /* [out_depth] otherwise */
    const uint8_t *entries;
    const int8_t *values;
    const uint8_t *row_group; /* code_bits > 0: codebook of each row, else NULL */
    ED_REQUANT_ARRAYS; /* bias: [out_depth], folded */
} ed_fc_sparse_params_t;

void ed_fc_sparse_s8(const ed_fc_sparse_params_t *p, const int8_t *input, int8_t *output);

/*
 * Sparse CONV_2D: the geometry of ed_conv_params_t; output channel oc has row_count8[oc] (or
 * row_count16[oc]) entries, each advancing the flattened filter index (ky, kx, ic) by its delta (the first
 * from 0) with the int8 weight values[k]. Gaps longer than 255 are bridged by fillers of weight 0. Taps that
 * fall into the padding are skipped, as in ed_conv_s8.
 */
typedef struct {
    ED_CONV_GEOMETRY_FIELDS;
    const uint8_t *row_count8;
    const int16_t *row_count16;
    const uint8_t *entries;
    const int8_t *values;
    ED_REQUANT_ARRAYS; /* bias: [out_c] or NULL */
} ed_conv_sparse_params_t;

void ed_conv_sparse_s8(const ed_conv_sparse_params_t *p, const int8_t *input, int8_t *output);

/*
 * Codebook FULLY_CONNECTED: weight [o][i] is codebook[row_group[o] * codebook_size + code] (rows share
 * codebooks when their values fit one), with the codes of the
 * flattened (out, in) weights packed LSB first, 8 / code_bits per byte (code_bits 1, 2 or 4). Every row
 * starts on a byte boundary (row_bytes bytes per row). bias[o] is folded as for the sparse kernel.
 */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    int32_t rounding;
    int32_t code_bits;
    int32_t codebook_size;
    int32_t row_bytes;
    const uint8_t *codes;
    const uint8_t *row_group; /* [out_depth]: the codebook of each row */
    const int8_t *codebook;   /* [groups][codebook_size] */
    ED_REQUANT_ARRAYS; /* bias: [out_depth], folded */
} ed_fc_codebook_params_t;

void ed_fc_codebook_s8(const ed_fc_codebook_params_t *p, const int8_t *input, int8_t *output);

/*
 * Codebook CONV_2D: the geometry of ed_conv_params_t; each output channel's k_h*k_w*in_c codes are packed
 * LSB first from a byte boundary (filter_bytes per channel); codebook [groups][codebook_size], channel oc
 * using codebook row_group[oc].
 */
typedef struct {
    ED_CONV_GEOMETRY_FIELDS;
    int32_t code_bits;
    int32_t codebook_size;
    int32_t filter_bytes;
    const uint8_t *codes;
    const uint8_t *row_group;
    const int8_t *codebook;
    ED_REQUANT_ARRAYS; /* bias: [out_c] or NULL (not folded: padding taps are skipped) */
} ed_conv_codebook_params_t;

void ed_conv_codebook_s8(const ed_conv_codebook_params_t *p, const int8_t *input, int8_t *output);


/*
 * Decoding compressed weights into a RAM scratch, once per layer call, for the int8 kernels: the layer's flash
 * holds the compressed form (bit-planes, codebook codes or sparse entries), and the int8 kernel the model would
 * run anyway (direct or specialised SMLAD convolution, the int16-weight FC / 1x1 / im2col body) reads the
 * decoded weights. A convolution reuses every weight over all its output pixels, so one decode per call costs
 * a small fraction of the layer (edgesdk's decoded pass keeps the total under its budget).
 *
 * format: ED_DECODE_TERNARY / _BINARY (bit-planes of ed_fc_packed_params_t, `words` words per row, values
 * wpos[o] / -wneg[o] or +-wval), ED_DECODE_CODEBOOK (the codes of ed_fc_codebook_params_t, row_bytes per row),
 * ED_DECODE_SPARSE (the entries of ed_fc_sparse_params_t; code_bits 0: int8 values, else coded), ED_DECODE_RAW
 * (int8 rows, row-major, in `values`: the int16 layout is made in RAM instead of flash).
 * layout: ED_DECODE_INT8: rows x cols int8, row-major (OHWI for a convolution; dst needs 4 bytes of slack);
 * ED_DECODE_W16: the int16 layout of ed_fc_w16_params_t (rows padded to a multiple of 4 with zeros), through
 * `rowbuf` (4 * cols + 4 bytes of RAM); ED_DECODE_FC8: the int8 layout of the DSP FC kernel ed_fc_s8 (the 1x1 and
 * im2col convolutions it runs) with rows of `row_len` bytes (cols weights, then zeros: im2col's padded windows),
 * through `rowbuf` (row_len + 4 bytes) where a row is not written straight into place.
 */
#define ED_DECODE_TERNARY 0
#define ED_DECODE_BINARY 1
#define ED_DECODE_CODEBOOK 2
#define ED_DECODE_SPARSE 3
#define ED_DECODE_RAW 4 /* plain int8 rows in `values` (an int8 layer whose kernel reads int16 weights) */
#define ED_DECODE_INT8 0
#define ED_DECODE_W16 1
#define ED_DECODE_FC8 2

typedef struct {
    int32_t rows, cols;
    int32_t format, layout;
    int32_t row_len; /* ED_DECODE_FC8: bytes per row in the kernel's layout (>= cols) */
    /* ternary / binary */
    int32_t words, wval;
    const uint32_t *plane_pos, *plane_neg;
    const int16_t *wpos, *wneg; /* per-row magnitudes, or NULL: wval */
    /* codebook (and coded sparse entries) */
    int32_t code_bits, codebook_size, row_bytes;
    const uint8_t *codes;
    const uint8_t *row_group;
    const int8_t *codebook;
    /* sparse */
    const uint8_t *row_count8;
    const int16_t *row_count16;
    const uint8_t *entries;
    const int8_t *values;
    int8_t *rowbuf;
} ed_decode_params_t;

void ed_decode_weights(const ed_decode_params_t *d, void *dst);
/* The ED_DECODE_FC8 layout (a function of its own: images without such a layer do not link its code). */
void ed_decode_weights_fc8(const ed_decode_params_t *d, void *dst);

/* Where the next row's sparse entries start (rows are decoded in order); other formats ignore it. */
typedef struct {
    const uint8_t *entries;
    const int8_t *values;
} ed_decode_cursor_t;

/* Rows [o, o + 4) (zero rows past the layer's) as one block of the ED_DECODE_W16 layout, 4 * cols int16 at dst;
 * `cur` starts at (d->entries, d->values) for o = 0 and is advanced. */
void ed_decode_block_w16(const ed_decode_params_t *d, int32_t o, int16_t *dst, ed_decode_cursor_t *cur);

#ifdef __cplusplus
}
#endif

#endif /* ED_COMPRESSED_H */
