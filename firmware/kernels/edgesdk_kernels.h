/*
 * edgesdk_kernels.h - portable C99 int8 kernels used by edgesdk-generated models.
 *
 * Semantics follow TensorFlow Lite Micro's int8 reference kernels bit for bit (see ed_fixedpoint.h for the
 * requantization). Layouts follow the edgesdk IR: activations NHWC with batch 1, Conv2D weights OHWI,
 * depthwise weights 1HW(C*M), fully-connected weights (out, in). Multipliers are Q0.31 and shifts use
 * TFLite's sign (positive = left). All integer parameters are computed on the host by edgesdk and
 * stored in `static const` parameter structs so that they land in flash.
 *
 * No malloc, no VLA, no recursion, no float outside the QUANTIZE/DEQUANTIZE edge kernels.
 * A target overrides a kernel by shipping a file with the same name (e.g. ed_conv.c) in its own folder.
 */
#ifndef EDGESDK_KERNELS_H
#define EDGESDK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGESDK_KERNELS_VERSION 1

/* Requantization rounding (fully connected): TFLite Micro's double rounding, or one rounding step. */
#define ED_ROUNDING_DOUBLE 0
#define ED_ROUNDING_SINGLE 1

/*
 * The fields every conv-like kernel's parameters start with (CONV_2D and its sparse and codebook forms), defined
 * once: input and output shape, kernel window, stride, dilation, top/left padding, minus the input zero point
 * (input_offset), the output zero point (output_offset), the output clamp, and per_channel (0: the requantization
 * arrays hold one entry for the whole tensor).
 */
#define ED_CONV_GEOMETRY_FIELDS \
    int32_t in_h, in_w, in_c; \
    int32_t out_h, out_w, out_c; \
    int32_t k_h, k_w; \
    int32_t stride_h, stride_w; \
    int32_t dil_h, dil_w; \
    int32_t pad_top, pad_left; \
    int32_t input_offset; \
    int32_t output_offset; \
    int32_t act_min, act_max; \
    int32_t per_channel

/* The requantization arrays every requantizing kernel's parameters end with: bias ([out] or NULL), multiplier
 * and shift ([out], or [1] when per_channel is 0). */
#define ED_REQUANT_ARRAYS \
    const int32_t *bias; \
    const int32_t *multiplier; \
    const int32_t *shift

/*
 * The output byte of parameter index q of a layer p with a rounding choice (fields rounding, multiplier, shift,
 * output_offset, act_min, act_max): acc requantized with the layer's rounding (ed_fixedpoint.h), the output
 * offset added, clamped to the activation range and stored in dst.
 */
#define ED_REQUANT_STORE(p, acc, q, dst)                                                                             \
    do {                                                                                                             \
        if ((p)->rounding == ED_ROUNDING_SINGLE) {                                                                   \
            (acc) = ed_mbqm_single((acc), (p)->multiplier[q], (p)->shift[q]);                                         \
        } else {                                                                                                     \
            (acc) = ed_mbqm((acc), (p)->multiplier[q], (p)->shift[q]);                                                \
        }                                                                                                            \
        (acc) += (p)->output_offset;                                                                                 \
        (dst) = (int8_t)ed_clamp_i32((acc), (p)->act_min, (p)->act_max);                                             \
    } while (0)

/*
 * The window clipping of every conv-like kernel (portable, DSP and Helium): the kernel taps [*begin, *end) along
 * one axis whose input coordinate start + dil * k lands inside [0, size). Taps outside it are skipped, which is the
 * same as reading the input zero point; computed once per output pixel, so the channel loops test no bounds.
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void ed_window_clip(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *begin, int32_t *end)
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

/* The same for an undilated window (pooling) in closed form: [*begin, *end) of the taps from `origin` inside
 * [0, size), empty (*end == *begin) when none is. */
static inline void ed_pool_window(int32_t origin, int32_t filter, int32_t size, int32_t *begin, int32_t *end)
{
    *begin = origin < 0 ? -origin : 0;
    *end = size - origin < filter ? size - origin : filter;
    if (*end < *begin) {
        *end = *begin;
    }
}

typedef struct {
    int32_t origin, begin, end;
} ed_window_t;

/* The window of output coordinate o: the input coordinate of its tap 0 (origin, which may lie in the padding)
 * and its taps inside the image. */
static inline ed_window_t ed_window(int32_t o, int32_t stride, int32_t pad, int32_t dil, int32_t k, int32_t in)
{
    ed_window_t w;
    w.origin = o * stride - pad;
    ed_window_clip(w.origin, dil, k, in, &w.begin, &w.end);
    return w;
}

/*
 * The output pixels of a conv-like layer p (the ED_CONV_GEOMETRY_FIELDS) in the kernel's int32_t oy, ox: for each,
 * wy and wx, the valid kernel window (ed_window) of its row and column, and out_pixel, its out_c channels in
 * output. ED_CONV_PIXELS_END closes the two loops that ED_CONV_PIXELS opens.
 */
#define ED_CONV_PIXELS(p, output, out_c)                                                                             \
    for (oy = 0; oy < (p)->out_h; ++oy) {                                                                            \
        const ed_window_t wy = ed_window(oy, (p)->stride_h, (p)->pad_top, (p)->dil_h, (p)->k_h, (p)->in_h);          \
        for (ox = 0; ox < (p)->out_w; ++ox) {                                                                        \
            const ed_window_t wx = ed_window(ox, (p)->stride_w, (p)->pad_left, (p)->dil_w, (p)->k_w, (p)->in_w);     \
            int8_t *out_pixel = (output) + ((size_t)oy * (size_t)(p)->out_w + (size_t)ox) * (size_t)(out_c);
#define ED_CONV_PIXELS_END                                                                                           \
    }                                                                                                                \
    }

/* CONV_2D, per-channel (or per-tensor: per_channel = 0 reads index 0). */
typedef struct {
    ED_CONV_GEOMETRY_FIELDS;
    const int8_t *weights; /* [out_c][k_h][k_w][in_c] */
    ED_REQUANT_ARRAYS; /* bias: [out_c] or NULL */
} ed_conv_params_t;

void ed_conv_s8(const ed_conv_params_t *p, const int8_t *input, int8_t *output);

/* DEPTHWISE_CONV_2D with depth multiplier; out_c = in_c * depth_multiplier. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *weights; /* [k_h][k_w][out_c] */
    ED_REQUANT_ARRAYS;
} ed_dwconv_params_t;

void ed_dwconv_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output);
/* The same layer (depth multiplier 1) with its output written over its input in buf, `rows` output rows per
 * kernel call; scratch holds `slots` output rows (edgesdk.dw_inplace.schedule; may be NULL when slots is 0: then
 * the core's kernel writes the layer in place itself, one call). */
void ed_dwconv_inplace_s8(const ed_dwconv_params_t *p, int8_t *buf, int8_t *scratch, int32_t slots, int32_t rows);

/* FULLY_CONNECTED over `batches` rows. */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t input_offset, weights_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    int32_t rounding; /* ED_ROUNDING_DOUBLE or ED_ROUNDING_SINGLE */
    const int8_t *weights; /* [out_depth][in_depth] */
    ED_REQUANT_ARRAYS;
} ed_fc_params_t;

void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output);
/* The same for a 1x1 convolution's pixels on the DSP cores (cortex-m-dsp/ed_fc.c: passes of their own for thin
 * layers and few-pixel maps; the results are ed_fc_s8's). */
void ed_fc_pw_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output);
/* The same with a scratch block (arena bytes free at the layer; NULL: none) for longer passes over the pixels, their
 * weights widened once a pass (cortex-m-dsp/ed_fc.c). */
typedef struct {
    void *buf;
    int32_t bytes;
} ed_fc_scratch_t;
void ed_fc_pw_buf_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output, const ed_fc_scratch_t *s);
void ed_fc_thin_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output);
void ed_fc_thin_layer_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output, void (*run)(const uint32_t *f));

/* CONV_2D with few input channels as im2col into int16 pairs (Cortex-M DSP: cortex-m-dsp/ed_im2col_x16.h,
 * instantiated per layer); per-channel bias (NULL: none), multipliers and right shifts of 1 to 22. */
typedef struct {
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t groups;        /* words of a window's column (four taps each) */
    const int8_t *weights; /* [out_c][4 groups], the kernel's column order */
    ED_REQUANT_ARRAYS;
} ed_x16_params_t;

/*
 * FULLY_CONNECTED with weights pre-extended to int16 at export (the weight offset folded in), for speed at twice
 * the flash: rows in blocks of four (zero rows pad the last block); per block and per four inputs the pairs
 * (w0, w2) of rows 0..3 then (w1, w3) of rows 0..3; then each row's in_depth % 4 tail weights.
 */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    int32_t rounding; /* ED_ROUNDING_DOUBLE or ED_ROUNDING_SINGLE */
    const int16_t *weights;
    ED_REQUANT_ARRAYS;
} ed_fc_w16_params_t;

void ed_fc_w16_s8(const ed_fc_w16_params_t *p, const int8_t *input, int8_t *output);

/* AVERAGE_POOL_2D / MAX_POOL_2D (input and output share scale and zero point). */
typedef struct {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t f_h, f_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} ed_pool_params_t;

/*
 * The output pixels of a pooling layer p in the kernel's int32_t oy, ox: for each, iy0 and ix0, the input
 * coordinates of the window's tap 0, [fy_begin, fy_end) x [fx_begin, fx_end), its taps inside the image
 * (ed_pool_window), and out_px, its ch channels in output. ED_POOL_PIXELS_END closes the two loops.
 */
#define ED_POOL_PIXELS(p, output, ch)                                                                                \
    for (oy = 0; oy < (p)->out_h; ++oy) {                                                                            \
        const int32_t iy0 = oy * (p)->stride_h - (p)->pad_top;                                                       \
        int32_t fy_begin, fy_end;                                                                                    \
        ed_pool_window(iy0, (p)->f_h, (p)->in_h, &fy_begin, &fy_end);                                                \
        for (ox = 0; ox < (p)->out_w; ++ox) {                                                                        \
            const int32_t ix0 = ox * (p)->stride_w - (p)->pad_left;                                                  \
            int32_t fx_begin, fx_end;                                                                                \
            int8_t *out_px = (output) + ((size_t)oy * (size_t)(p)->out_w + (size_t)ox) * (size_t)(ch);               \
            ed_pool_window(ix0, (p)->f_w, (p)->in_w, &fx_begin, &fx_end);
#define ED_POOL_PIXELS_END ED_CONV_PIXELS_END
/* AVERAGE_POOL_2D's mean of `count` taps that sum to `sum`: rounded half away from zero, 0 for an empty window
 * (TFLite Micro). */
static inline int32_t ed_pool_mean(int32_t sum, int32_t count)
{
    return count == 0 ? 0 : (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
}

void ed_avgpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output);
void ed_maxpool_s8(const ed_pool_params_t *p, const int8_t *input, int8_t *output);

/*
 * ADD and MUL with up to 4-D broadcasting. When `broadcast` is 0 both inputs have `size` elements;
 * otherwise the output is out_dims[0..3] and each input is read through its strides (0 on a broadcast axis).
 */
typedef struct {
    int32_t size;
    int32_t broadcast;
    int32_t out_dims[4];
    int32_t in1_strides[4];
    int32_t in2_strides[4];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;                           /* ADD only */
    int32_t input1_multiplier, input1_shift;      /* ADD only */
    int32_t input2_multiplier, input2_shift;      /* ADD only */
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ed_binary_params_t;

void ed_add_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void ed_mul_s8(const ed_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

/* SOFTMAX over the last axis; output scale 1/256, zero point -128. */
typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} ed_softmax_params_t;

void ed_softmax_s8(const ed_softmax_params_t *p, const int8_t *input, int8_t *output);

/* LOGISTIC; output scale 1/256, zero point -128. */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier, input_left_shift;
} ed_logistic_params_t;

void ed_logistic_s8(const ed_logistic_params_t *p, const int8_t *input, int8_t *output);

/* PAD of a tensor of rank <= 4 (dimensions right-aligned into 4, leading ones). */
typedef struct {
    int32_t in_dims[4];
    int32_t out_dims[4];
    int32_t before[4];
    int32_t pad_value;
} ed_pad_params_t;

void ed_pad_s8(const ed_pad_params_t *p, const int8_t *input, int8_t *output);

/*
 * CONCATENATION: `outer` blocks, copy_sizes[i] bytes per block from input i. An input whose quantization
 * equals the output's is copied; one with requantize[i] set goes through clamp(mbqm(x - zp) + out_zp).
 */
typedef struct {
    int32_t num_inputs;
    int32_t outer;
    const int32_t *copy_sizes;
    const int32_t *requantize;        /* [num_inputs] or NULL when every input is copied */
    const int32_t *input_zero_points; /* [num_inputs] */
    const int32_t *multipliers;       /* [num_inputs] */
    const int32_t *shifts;            /* [num_inputs] */
    int32_t output_zero_point;
    int32_t act_min, act_max;
} ed_concat_params_t;

void ed_concat_s8(const ed_concat_params_t *p, const int8_t *const *inputs, int8_t *output);

/*
 * MEAN over the axes flagged in `reduce` of a rank <= 4 input (right-aligned into 4 dims).
 * mode ED_MEAN_SAME_QUANT: input and output share quantization; out = sum(x) / count, C division
 *   (truncating toward zero), as TFLite Micro does;
 * mode ED_MEAN_FOLDED: out = mbqm(sum(x) - zp_in * count) + zp_out with 1/count folded into multiplier/shift.
 */
#define ED_MEAN_SAME_QUANT 0
#define ED_MEAN_FOLDED 1
typedef struct {
    int32_t in_dims[4];
    int32_t reduce[4];
    int32_t mode;
    int32_t count;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} ed_mean_params_t;

void ed_mean_s8(const ed_mean_params_t *p, const int8_t *input, int8_t *output);

/* QUANTIZE int8 -> int8 (requantize), float32 -> int8, and DEQUANTIZE int8 -> float32 at the edges. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} ed_requant_params_t;

void ed_requantize_s8(const ed_requant_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size;
    double scale; /* q = clamp(round(x / scale) + zero_point), the division in double */
    int32_t zero_point;
} ed_quantize_f32_params_t;

void ed_quantize_f32_s8(const ed_quantize_f32_params_t *p, const float *input, int8_t *output);

typedef struct {
    int32_t size;
    double scale;
    int32_t zero_point;
} ed_dequantize_params_t;

void ed_dequantize_s8_f32(const ed_dequantize_params_t *p, const int8_t *input, float *output);

/*
 * CONV_2D 3x3, stride 1, dilation 1 through Winograd F(2x2,3x3), bit-exact with ed_conv_s8. The weights are
 * transformed at export (edgesdk.winograd): int16 [ceil(out_c / 4)][16][c_pad / 2][4][2], c_pad = in_c rounded
 * up to even;
 * `scratch` holds 16 * c_pad int16 (one tile's transformed input).
 */
/* The fields of both Winograd kernels' parameters after their shapes. */
#define ED_WINOGRAD_FIELDS \
    int32_t pad_top, pad_left; \
    int32_t input_offset, output_offset; \
    int32_t act_min, act_max; \
    int32_t per_channel; \
    const int16_t *weights; \
    ED_REQUANT_ARRAYS

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t c_pad;
    ED_WINOGRAD_FIELDS;
} ed_winograd_params_t;

void ed_winograd_s8(const ed_winograd_params_t *p, int16_t *scratch, const int8_t *input, int8_t *output);

/*
 * DEPTHWISE_CONV_2D 3x3, stride 1, dilation 1, depth multiplier 1 through Winograd F(2x2,3x3), bit-exact with
 * ed_dwconv_s8. Weights transformed at export (edgesdk.backends.c.winograd_dw): int16 [in_c / 4][16][4] then
 * [in_c % 4][16].
 */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w;
    ED_WINOGRAD_FIELDS;
} ed_winograd_dw_params_t;

void ed_winograd_dw_s8(const ed_winograd_dw_params_t *p, const int8_t *input, int8_t *output);

/* RESHAPE (and any other pure copy): memmove, a no-op when source and destination coincide. */
void ed_copy_s8(const int8_t *input, int8_t *output, int32_t size);

/* DEPTHWISE_CONV_2D with one-hot kernels (a Shift layer): per output channel one tap and a lookup table. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    const int16_t *tap_y;     /* [out_c] row of the channel's tap (dilation applied) */
    const int16_t *tap_x;     /* [out_c] column of the channel's tap */
    const int32_t *delta;     /* [out_c] element offset of the tap from the window origin (input channel included) */
    const int8_t *lut;        /* [out_c][256] int8 result for input value x at index x + 128 */
    const int8_t *pad_value;  /* [out_c] result when the tap falls in the padding */
} ed_shift_params_t;

void ed_shift_s8(const ed_shift_params_t *p, const int8_t *input, int8_t *output);

/* EDGESDK_ADDER_CONV_2D (AdderNet): acc = -sum |(x - zp_x) - w|, requantized per output channel. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point;
    int32_t output_offset;
    int32_t act_min, act_max;
    const int16_t *weights;    /* [out_c][k_h][k_w][in_c], in the input's units */
    ED_REQUANT_ARRAYS; /* bias: [out_c] in accumulator units, or NULL */
} ed_adder_params_t;

void ed_adder_conv_s8(const ed_adder_params_t *p, const int8_t *input, int8_t *output);
/*
 * Packed-weight kernels (ed_packed.c): per-channel int8 weights that take only the values {-a, 0, b}
 * (ternary: two bit-planes, bit set = +b resp. -a) or {-a, b} (binary: one plane, bit set = +b, clear = -a).
 * The accumulator equals the int8 kernel's exactly: sum(w * (x + input_offset)) = b * P - a * N with P, N the
 * sums of (x + input_offset) over the set bits of each plane. a and b are per channel (wneg, wpos) or, when
 * those are NULL, both `wval` (127 for TWN/BWN weights). Bits are packed LSB first, 32 per word; each output
 * channel's weights (fully connected: its `in_depth` inputs; conv: its k_h*k_w*in_c taps in OHWI order) start
 * a new word and take `words` words per plane.
 */
typedef struct {
    int32_t batches, in_depth, out_depth, words;
    int32_t output_offset; /* the input offset is folded into bias: + input_offset * (b * n_pos - a * n_neg) */
    int32_t act_min, act_max;
    int32_t per_channel;
    int32_t rounding; /* ED_ROUNDING_DOUBLE or ED_ROUNDING_SINGLE */
    int32_t wval;
    const uint32_t *plane_pos; /* ternary: +b bits; binary: sign bits (set = +b) */
    const uint32_t *plane_neg; /* ternary: -a bits; binary: NULL */
    const int16_t *wpos, *wneg; /* per-channel b and a, or NULL for wval */
    const int32_t *bias; /* with the input offset folded in; may be NULL */
    const int32_t *multiplier;
    const int32_t *shift;
    const uint8_t *codes; /* ed_fc_codes.c: rows as codes instead of planes (one magnitude a row: wpos or wval) */
} ed_fc_packed_params_t;

void ed_fc_ternary_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output);
void ed_fc_binary_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output);
void ed_fc_ternary_codes_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output);
void ed_fc_binary_codes_s8(const ed_fc_packed_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t per_channel, words, wval;
    const uint32_t *plane_pos;
    const uint32_t *plane_neg;
    const int16_t *wpos, *wneg;
    const int32_t *bias; /* may be NULL */
    const int32_t *bias_folded; /* bias + input_offset * (b * n_pos - a * n_neg): the gathered-window path */
    const int32_t *multiplier;
    const int32_t *shift;
} ed_conv_packed_params_t;

void ed_conv_ternary_s8(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output);
void ed_conv_binary_s8(const ed_conv_packed_params_t *p, const int8_t *input, int8_t *output);

/*
 * Binary-activation (XNOR) kernels (ed_xnor.c). A binary tensor holds +-1 values as bits (1 = +1), packed LSB
 * first into little-endian 32-bit words, one row of `words` words per pixel (or per sample); bits past the
 * channel count are zero. Weights are packed the same way, per output channel and tap. A +-1 dot product over
 * K valid bits is K - 2 * popcount(a XOR w); BatchNorm + sign is one integer threshold per output channel:
 * bit = dot >= threshold, or dot <= threshold where flip is set.
 */
typedef struct {
    int32_t positions, channels, words;
    const int32_t *threshold; /* on the int8 input value */
    const uint8_t *flip;
} ed_binarize_params_t;

void ed_binarize_s8(const ed_binarize_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t batches, in_bits, in_words, out_features, out_words;
    const uint32_t *weights; /* [out_features][in_words] */
    const int32_t *threshold;
    const uint8_t *flip;
} ed_xnor_fc_params_t;

void ed_xnor_fc(const ed_xnor_fc_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t in_h, in_w, in_c, in_words, out_h, out_w, out_c, out_words;
    int32_t k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t pad_value; /* +1 or -1: what padded taps read in every channel */
    const uint32_t *weights; /* [out_c][k_h][k_w][in_words] */
    const int32_t *threshold;
    const uint8_t *flip;
} ed_xnor_conv_params_t;

void ed_xnor_conv(const ed_xnor_conv_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t positions, channels, words;
    int32_t high, low; /* int8 values written for +1 and -1 */
} ed_unpack_bits_params_t;

void ed_unpack_bits(const ed_unpack_bits_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGESDK_KERNELS_H */
