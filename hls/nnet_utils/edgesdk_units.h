/*
 * edgesdk_units.h - edgesdk's HLS units for hls4ml (Vivado and Vitis backends, io_parallel).
 *
 * Every unit reproduces TensorFlow Lite Micro's int8 integer arithmetic bit for bit: the requantization
 * (fixed-point multiplier, double rounding, per channel), the ADD rescaling, the pooling divisions and the
 * fixed-point softmax all call the helpers of ed_fixedpoint.h, the very header the microcontroller kernels
 * use (firmware/kernels/), so the MCU and the FPGA share one source of truth for that math.
 *
 * Layout: activations are flattened NHWC (channels last, as hls4ml's io_parallel arrays), convolution
 * weights OHWI, depthwise weights HW(C*M), as in edgesdk's IR. Configuration comes as a struct of static
 * constants written by hls4ml from the layer's attributes (sdk/edgesdk/backends/hls/extensions.py).
 */
#ifndef EDGESDK_UNITS_H_
#define EDGESDK_UNITS_H_

#include "ap_int.h"
#include "ed_fixedpoint.h"
#include <stdint.h>

namespace edgesdk {

/* The requantization every MAC unit ends with: MBQM (double rounding) + output offset, clamped. */
static inline int32_t requantize_one(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo,
                                     int32_t hi) {
    return ed_clamp_i32(ed_mbqm(acc, mult, shift) + out_offset, lo, hi);
}

/* ---- Requantization of an int32 accumulator tensor, per channel (last axis) ---------------------------- */
struct requant_config {
    static const unsigned n_in = 1;
    static const unsigned n_chan = 1;
    static const int output_offset = 0;
    static const int act_min = -128;
    static const int act_max = 127;
};

template <class data_T, class res_T, typename CONFIG_T>
void requant(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
             const typename CONFIG_T::mult_t mult[CONFIG_T::n_chan],
             const typename CONFIG_T::shift_t shift[CONFIG_T::n_chan]) {
RequantLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS PIPELINE II=1
        const unsigned c = i % CONFIG_T::n_chan;
        res[i] = requantize_one((int32_t)data[i].to_int(), (int32_t)mult[c].to_int(), (int32_t)shift[c].to_int(),
                                CONFIG_T::output_offset, CONFIG_T::act_min, CONFIG_T::act_max);
    }
}

/* ---- Convolution and depthwise convolution with fused per-channel requantization ---------------------- */
struct conv_config {
    static const unsigned in_h = 1, in_w = 1, in_c = 1;
    static const unsigned out_h = 1, out_w = 1, out_c = 1;
    static const unsigned filter_h = 1, filter_w = 1;
    static const unsigned stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
    static const int pad_h = 0, pad_w = 0;
    static const bool depthwise = false;
    static const unsigned depth_multiplier = 1;
    static const int input_offset = 0, output_offset = 0;
    static const int act_min = -128, act_max = 127;
};

/*
 * acc = bias[oc] + sum over the in-bounds taps of w * (x + input_offset); out-of-bounds taps (padding)
 * contribute nothing, exactly as TFLM's ConvPerChannel / DepthwiseConvPerChannel.
 */
template <class data_T, class res_T, typename CONFIG_T>
void conv2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::in_c],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::out_c],
            const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
            const typename CONFIG_T::bias_t biases[CONFIG_T::out_c],
            const typename CONFIG_T::mult_t mult[CONFIG_T::out_c],
            const typename CONFIG_T::shift_t shift[CONFIG_T::out_c]) {
    const unsigned taps_c = CONFIG_T::depthwise ? 1 : CONFIG_T::in_c;
OutRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_h; oy++) {
    OutCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_w; ox++) {
        OutChannels:
            for (unsigned oc = 0; oc < CONFIG_T::out_c; oc++) {
                #pragma HLS PIPELINE II=1
                typename CONFIG_T::accum_t acc = biases[oc];
            FilterRows:
                for (unsigned ky = 0; ky < CONFIG_T::filter_h; ky++) {
                FilterCols:
                    for (unsigned kx = 0; kx < CONFIG_T::filter_w; kx++) {
                        const int iy = (int)(oy * CONFIG_T::stride_h) - CONFIG_T::pad_h + (int)(ky * CONFIG_T::dilation_h);
                        const int ix = (int)(ox * CONFIG_T::stride_w) - CONFIG_T::pad_w + (int)(kx * CONFIG_T::dilation_w);
                        if (iy < 0 || ix < 0 || iy >= (int)CONFIG_T::in_h || ix >= (int)CONFIG_T::in_w) {
                            continue;
                        }
                        const unsigned pix = ((unsigned)iy * CONFIG_T::in_w + (unsigned)ix) * CONFIG_T::in_c;
                    InChannels:
                        for (unsigned t = 0; t < taps_c; t++) {
                            unsigned ic, wi;
                            if (CONFIG_T::depthwise) {
                                ic = oc / CONFIG_T::depth_multiplier;
                                wi = (ky * CONFIG_T::filter_w + kx) * CONFIG_T::out_c + oc;
                            } else {
                                ic = t;
                                wi = ((oc * CONFIG_T::filter_h + ky) * CONFIG_T::filter_w + kx) * CONFIG_T::in_c + t;
                            }
                            const ap_int<10> xv = (ap_int<10>)data[pix + ic] + (ap_int<10>)CONFIG_T::input_offset;
                            acc += xv * weights[wi];
                        }
                    }
                }
                res[(oy * CONFIG_T::out_w + ox) * CONFIG_T::out_c + oc] =
                    requantize_one((int32_t)acc.to_int(), (int32_t)mult[oc].to_int(), (int32_t)shift[oc].to_int(),
                                   CONFIG_T::output_offset, CONFIG_T::act_min, CONFIG_T::act_max);
            }
        }
    }
}

/* ---- Winograd F(2x2,3x3) convolution (Lavin & Gray 2016) on integer-exact transforms ---------------- */
struct winograd_config {
    static const unsigned in_h = 1, in_w = 1, in_c = 1, out_h = 1, out_w = 1, out_c = 1;
    static const int pad_h = 0, pad_w = 0;
    static const int input_offset = 0, output_offset = 0;
    static const int act_min = -128, act_max = 127;
    static const unsigned tile_a = 4, tile_m = 2, tiles_h = 1, tiles_w = 1;
    static const int transform_scale_log2 = 2;
};

/*
 * U' = G' g G'^T (weights, layout a x a x O x I), B^T and A^T all come from edgesdk/winograd.py through hls4ml
 * weight variables. Per tile: V_c = B^T d_c B (d = x + input_offset, 0 outside the input),
 * M = sum_c U'_c (.) V_c (a*a multiplies per channel pair, 16 for F(2x2,3x3) vs 36 direct),
 * Y = A^T M A = 4 acc (exact in wrapping int32 arithmetic), acc = Y >> 2, + bias, requantize.
 */
template <class data_T, class res_T, typename CONFIG_T>
void winograd_conv(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::in_c],
                   res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::out_c],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::tile_a * CONFIG_T::tile_a * CONFIG_T::out_c * CONFIG_T::in_c],
                   const typename CONFIG_T::bias_t biases[CONFIG_T::out_c],
                   const typename CONFIG_T::mult_t mult[CONFIG_T::out_c],
                   const typename CONFIG_T::shift_t shift[CONFIG_T::out_c],
                   const typename CONFIG_T::bt_t bt[CONFIG_T::tile_a * CONFIG_T::tile_a],
                   const typename CONFIG_T::at_t at[CONFIG_T::tile_m * CONFIG_T::tile_a]) {
    const unsigned A = CONFIG_T::tile_a, M = CONFIG_T::tile_m;
    ap_int<12> d[CONFIG_T::tile_a][CONFIG_T::tile_a][CONFIG_T::in_c];
    ap_int<14> tmp[CONFIG_T::tile_a][CONFIG_T::tile_a];
    ap_int<16> v[CONFIG_T::tile_a][CONFIG_T::tile_a][CONFIG_T::in_c];
TileRows:
    for (unsigned ty = 0; ty < CONFIG_T::tiles_h; ty++) {
    TileCols:
        for (unsigned tx = 0; tx < CONFIG_T::tiles_w; tx++) {
        LoadTile:
            for (unsigned c = 0; c < CONFIG_T::in_c; c++) {
                #pragma HLS PIPELINE II=1
                for (unsigned i = 0; i < A; i++) {
                    for (unsigned j = 0; j < A; j++) {
                        const int iy = (int)(ty * M + i) - CONFIG_T::pad_h;
                        const int ix = (int)(tx * M + j) - CONFIG_T::pad_w;
                        const bool inside = iy >= 0 && ix >= 0 && iy < (int)CONFIG_T::in_h && ix < (int)CONFIG_T::in_w;
                        d[i][j][c] = inside ? (ap_int<12>)((ap_int<12>)data[((unsigned)iy * CONFIG_T::in_w + (unsigned)ix) * CONFIG_T::in_c + c] + (ap_int<12>)CONFIG_T::input_offset)
                                            : (ap_int<12>)0;
                    }
                }
            }
        InputTransform:
            for (unsigned c = 0; c < CONFIG_T::in_c; c++) {
                #pragma HLS PIPELINE II=1
                for (unsigned i = 0; i < A; i++) {
                    for (unsigned l = 0; l < A; l++) {
                        ap_int<14> s = 0;
                        for (unsigned k = 0; k < A; k++) {
                            s += bt[i * A + k] * d[k][l][c];
                        }
                        tmp[i][l] = s;
                    }
                }
                for (unsigned i = 0; i < A; i++) {
                    for (unsigned j = 0; j < A; j++) {
                        ap_int<16> s = 0;
                        for (unsigned l = 0; l < A; l++) {
                            s += tmp[i][l] * bt[j * A + l];
                        }
                        v[i][j][c] = s;
                    }
                }
            }
        OutChannels:
            for (unsigned o = 0; o < CONFIG_T::out_c; o++) {
                #pragma HLS PIPELINE II=1
                ap_int<32> m[CONFIG_T::tile_a][CONFIG_T::tile_a];
                for (unsigned i = 0; i < A; i++) {
                    for (unsigned j = 0; j < A; j++) {
                        ap_int<32> s = 0;
                        for (unsigned c = 0; c < CONFIG_T::in_c; c++) {
                            s += weights[((i * A + j) * CONFIG_T::out_c + o) * CONFIG_T::in_c + c] * v[i][j][c];
                        }
                        m[i][j] = s;
                    }
                }
                for (unsigned p = 0; p < M; p++) {
                    for (unsigned q = 0; q < M; q++) {
                        const unsigned oy = ty * M + p, ox = tx * M + q;
                        if (oy >= CONFIG_T::out_h || ox >= CONFIG_T::out_w) {
                            continue;
                        }
                        ap_int<32> y = 0;
                        for (unsigned i = 0; i < A; i++) {
                            for (unsigned j = 0; j < A; j++) {
                                y += at[p * A + i] * m[i][j] * at[q * A + j];
                            }
                        }
                        const ap_int<32> acc = (y >> CONFIG_T::transform_scale_log2) + biases[o];
                        res[(oy * CONFIG_T::out_w + ox) * CONFIG_T::out_c + o] =
                            requantize_one((int32_t)acc.to_int(), (int32_t)mult[o].to_int(), (int32_t)shift[o].to_int(),
                                           CONFIG_T::output_offset, CONFIG_T::act_min, CONFIG_T::act_max);
                    }
                }
            }
        }
    }
}

/* ---- ADD (TFLM int8): both inputs rescaled to a common scale with 20 bits of headroom ---------------- */
struct add_config {
    static const unsigned n_out = 1;
    static const unsigned n_in1 = 1, n_in2 = 1; /* an input of one element per channel broadcasts */
    static const unsigned n_chan = 1;
    static const int left_shift = 20;
    static const int input1_offset = 0, input2_offset = 0, output_offset = 0;
    static const int input1_multiplier = 0, input1_shift = 0, input2_multiplier = 0, input2_shift = 0;
    static const int output_multiplier = 0, output_shift = 0;
    static const int act_min = -128, act_max = 127;
};

template <class input1_T, class input2_T, class res_T, typename CONFIG_T>
void add(const input1_T data1[CONFIG_T::n_in1], const input2_T data2[CONFIG_T::n_in2], res_T res[CONFIG_T::n_out]) {
AddLoop:
    for (unsigned i = 0; i < CONFIG_T::n_out; i++) {
        #pragma HLS PIPELINE II=1
        const int32_t a = (int32_t)data1[CONFIG_T::n_in1 == CONFIG_T::n_out ? i : i % CONFIG_T::n_in1].to_int();
        const int32_t b = (int32_t)data2[CONFIG_T::n_in2 == CONFIG_T::n_out ? i : i % CONFIG_T::n_in2].to_int();
        const int32_t x1 = ed_shl_wrap(a + CONFIG_T::input1_offset, CONFIG_T::left_shift);
        const int32_t x2 = ed_shl_wrap(b + CONFIG_T::input2_offset, CONFIG_T::left_shift);
        const int32_t s1 = ed_mbqm(x1, CONFIG_T::input1_multiplier, CONFIG_T::input1_shift);
        const int32_t s2 = ed_mbqm(x2, CONFIG_T::input2_multiplier, CONFIG_T::input2_shift);
        res[i] = requantize_one(ed_add_wrap(s1, s2), CONFIG_T::output_multiplier, CONFIG_T::output_shift,
                                CONFIG_T::output_offset, CONFIG_T::act_min, CONFIG_T::act_max);
    }
}

/* ---- AVERAGE_POOL_2D / MAX_POOL_2D (TFLM int8): only in-bounds taps count --------------------------- */
struct pool_config {
    static const unsigned in_h = 1, in_w = 1, n_chan = 1, out_h = 1, out_w = 1;
    static const unsigned filter_h = 1, filter_w = 1, stride_h = 1, stride_w = 1;
    static const int pad_h = 0, pad_w = 0;
    static const bool is_max = false;
    static const int act_min = -128, act_max = 127;
};

template <class data_T, class res_T, typename CONFIG_T>
void pool2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
PoolRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_h; oy++) {
    PoolCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_w; ox++) {
        PoolChannels:
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                #pragma HLS PIPELINE II=1
                int32_t acc = CONFIG_T::is_max ? -128 : 0;
                int32_t count = 0;
                for (unsigned ky = 0; ky < CONFIG_T::filter_h; ky++) {
                    for (unsigned kx = 0; kx < CONFIG_T::filter_w; kx++) {
                        const int iy = (int)(oy * CONFIG_T::stride_h) - CONFIG_T::pad_h + (int)ky;
                        const int ix = (int)(ox * CONFIG_T::stride_w) - CONFIG_T::pad_w + (int)kx;
                        if (iy < 0 || ix < 0 || iy >= (int)CONFIG_T::in_h || ix >= (int)CONFIG_T::in_w) {
                            continue;
                        }
                        const int32_t v =
                            (int32_t)data[((unsigned)iy * CONFIG_T::in_w + (unsigned)ix) * CONFIG_T::n_chan + c].to_int();
                        acc = CONFIG_T::is_max ? ed_max_i32(acc, v) : acc + v;
                        count++;
                    }
                }
                int32_t out;
                if (CONFIG_T::is_max) {
                    out = acc;
                } else {
                    /* round half away from zero with C's truncating division, as TFLM */
                    out = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                res[(oy * CONFIG_T::out_w + ox) * CONFIG_T::n_chan + c] =
                    ed_clamp_i32(out, CONFIG_T::act_min, CONFIG_T::act_max);
            }
        }
    }
}

/* ---- MEAN over the spatial axes (TFLM EvalIntegerMean) ------------------------------------------------ */
struct mean_config {
    static const unsigned n_pix = 1, n_chan = 1;
    static const bool same_quant = true;
    static const int input_zero_point = 0, output_zero_point = 0, mean_multiplier = 0, mean_shift = 0;
};

template <class data_T, class res_T, typename CONFIG_T>
void mean(const data_T data[CONFIG_T::n_pix * CONFIG_T::n_chan], res_T res[CONFIG_T::n_chan]) {
MeanChannels:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
        int32_t total = 0;
    MeanPixels:
        for (unsigned i = 0; i < CONFIG_T::n_pix; i++) {
            #pragma HLS PIPELINE II=1
            total += (int32_t)data[i * CONFIG_T::n_chan + c].to_int();
        }
        int32_t out;
        if (CONFIG_T::same_quant) {
            out = total / (int32_t)CONFIG_T::n_pix; /* C division truncates toward zero, as TFLM */
        } else {
            out = ed_mbqm(total - CONFIG_T::input_zero_point * (int32_t)CONFIG_T::n_pix, CONFIG_T::mean_multiplier,
                          CONFIG_T::mean_shift) + CONFIG_T::output_zero_point;
        }
        res[c] = ed_clamp_i32(out, -128, 127);
    }
}

/* ---- SOFTMAX (TFLM int8): gemmlowp fixed-point exp, Q12.19 sum, fixed-point reciprocal --------------- */
struct softmax_config {
    static const unsigned n_rows = 1, depth = 1;
    static const int input_multiplier = 0, input_left_shift = 0, diff_min = 0;
};

template <class data_T, class res_T, typename CONFIG_T>
void softmax(const data_T data[CONFIG_T::n_rows * CONFIG_T::depth], res_T res[CONFIG_T::n_rows * CONFIG_T::depth]) {
    const int32_t diff_integer_bits = 5;
    const int32_t accum_integer_bits = 12;
SoftmaxRows:
    for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
        int32_t exps[CONFIG_T::depth];
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        for (unsigned c = 0; c < CONFIG_T::depth; c++) {
            max_in_row = ed_max_i32(max_in_row, (int32_t)data[r * CONFIG_T::depth + c].to_int());
        }
        for (unsigned c = 0; c < CONFIG_T::depth; c++) {
            #pragma HLS PIPELINE II=1
            const int32_t diff = (int32_t)data[r * CONFIG_T::depth + c].to_int() - max_in_row;
            exps[c] = 0;
            if (diff >= CONFIG_T::diff_min) {
                const int32_t scaled = ed_mbqm_gt1(diff, CONFIG_T::input_multiplier, CONFIG_T::input_left_shift);
                exps[c] = ed_exp_on_negative_values(scaled, diff_integer_bits);
                sum_of_exps = ed_add_wrap(sum_of_exps, ed_sat_rmul_pot(exps[c], -accum_integer_bits));
            }
        }
        const int32_t headroom_plus_one = ed_clz32((uint32_t)sum_of_exps);
        const int32_t num_bits_over_unit = accum_integer_bits - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t shifted_scale = ed_one_over_one_plus_x_0_1(shifted_sum_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        for (unsigned c = 0; c < CONFIG_T::depth; c++) {
            #pragma HLS PIPELINE II=1
            const int32_t diff = (int32_t)data[r * CONFIG_T::depth + c].to_int() - max_in_row;
            int32_t out = -128;
            if (diff >= CONFIG_T::diff_min) {
                out = ed_clamp_i32(ed_rdbpot(ed_srdhm(shifted_scale, exps[c]), exponent) - 128, -128, 127);
            }
            res[r * CONFIG_T::depth + c] = out;
        }
    }
}

/* ---- Binary activations: XNOR-popcount units on packed 32-bit words (FINN folding) ------------------- */
/*
 * Bits are packed LSB first, 32 per word, each row (a pixel's channels, or a sample's features) starting a new
 * word, tail bits zero (edgesdk/reference/binary.py). A +-1 dot product over K bits is K - 2 popcount(a ^ w);
 * BatchNorm + sign are folded into one integer threshold per channel: bit = dot >= t, or dot <= t where the
 * BatchNorm scale is negative (flip) - the FINN approach (Umuroglu et al., FPGA 2017).
 */
static inline unsigned popcount32(ap_uint<32> x) {
    unsigned n = 0;
    for (unsigned b = 0; b < 32; b++) {
        #pragma HLS UNROLL
        n += x[b];
    }
    return n;
}

static inline ap_uint<32> valid_mask(unsigned word, unsigned bits) {
    const unsigned first = word * 32;
    if (first + 32 <= bits) {
        return ap_uint<32>(0xFFFFFFFFu);
    }
    return ap_uint<32>((1u << (bits - first)) - 1u);
}

template <class threshold_T, class flip_T>
static inline bool threshold_bit(int dot, const threshold_T &t, const flip_T &f) {
    return f != 0 ? dot <= (int)t.to_int() : dot >= (int)t.to_int();
}

struct binarize_config {
    static const unsigned n_pix = 1, n_chan = 1, n_words = 1;
};

/* int8 (n_pix x n_chan) -> packed bits (n_pix x n_words): BatchNorm + sign after an int8 layer. */
template <class data_T, class res_T, typename CONFIG_T>
void binarize(const data_T data[CONFIG_T::n_pix * CONFIG_T::n_chan], res_T res[CONFIG_T::n_pix * CONFIG_T::n_words],
              const typename CONFIG_T::threshold_t threshold[CONFIG_T::n_chan],
              const typename CONFIG_T::flip_t flip[CONFIG_T::n_chan]) {
BinarizePixels:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        for (unsigned w = 0; w < CONFIG_T::n_words; w++) {
            #pragma HLS PIPELINE II=1
            ap_uint<32> word = 0;
            for (unsigned b = 0; b < 32; b++) {
                const unsigned c = w * 32 + b;
                if (c < CONFIG_T::n_chan) {
                    word[b] = threshold_bit((int)data[p * CONFIG_T::n_chan + c].to_int(), threshold[c], flip[c]);
                }
            }
            res[p * CONFIG_T::n_words + w] = word;
        }
    }
}

/* Any fixed-point values (n_pix x n_chan) -> packed sign bits (1 where x >= 0): the sign activation of a
 * binary layer's Keras input, exact for every value hls4ml's own layers produce (no integer conversion). */
struct sign_config {
    static const unsigned n_pix = 1, n_chan = 1, n_words = 1;
};

template <class data_T, class res_T, typename CONFIG_T>
void sign_pack(const data_T data[CONFIG_T::n_pix * CONFIG_T::n_chan], res_T res[CONFIG_T::n_pix * CONFIG_T::n_words]) {
SignPixels:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        for (unsigned w = 0; w < CONFIG_T::n_words; w++) {
            #pragma HLS PIPELINE II=1
            ap_uint<32> word = 0;
            for (unsigned b = 0; b < 32; b++) {
                const unsigned c = w * 32 + b;
                if (c < CONFIG_T::n_chan) {
                    word[b] = data[p * CONFIG_T::n_chan + c] >= 0 ? 1 : 0;
                }
            }
            res[p * CONFIG_T::n_words + w] = word;
        }
    }
}

struct unpack_config {
    static const unsigned n_pix = 1, n_chan = 1, n_words = 1;
    static const int high = 127, low = -127;
};

/* packed bits -> int8: high for +1, low for -1 (the quantized +-1 input of the next int8 layer). */
template <class data_T, class res_T, typename CONFIG_T>
void unpack_bits(const data_T data[CONFIG_T::n_pix * CONFIG_T::n_words], res_T res[CONFIG_T::n_pix * CONFIG_T::n_chan]) {
UnpackPixels:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS PIPELINE II=1
            const ap_uint<32> word = data[p * CONFIG_T::n_words + c / 32];
            res[p * CONFIG_T::n_chan + c] = word[c % 32] ? CONFIG_T::high : CONFIG_T::low;
        }
    }
}

struct xnor_config {
    static const unsigned n_in = 1, n_out = 1, n_words_in = 1, n_words_out = 1;
    static const unsigned pe = 1, simd = 1; /* rows and input words per cycle */
};

/*
 * XNOR-popcount fully connected layer, folded as FINN's matrix-vector unit: PE output rows in parallel, SIMD
 * input words (32 SIMD bits) per cycle; (n_out / PE) * (n_words_in / SIMD) cycles per sample.
 */
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense(const data_T data[CONFIG_T::n_words_in], res_T res[CONFIG_T::n_words_out],
                const typename CONFIG_T::weight_t weights[CONFIG_T::n_out * CONFIG_T::n_words_in],
                const typename CONFIG_T::threshold_t threshold[CONFIG_T::n_out],
                const typename CONFIG_T::flip_t flip[CONFIG_T::n_out]) {
    ap_uint<32> out[CONFIG_T::n_words_out];
    for (unsigned w = 0; w < CONFIG_T::n_words_out; w++) {
        out[w] = 0;
    }
NeuronFold:
    for (unsigned nf = 0; nf < CONFIG_T::n_out / CONFIG_T::pe; nf++) {
        unsigned acc[CONFIG_T::pe];
        #pragma HLS ARRAY_PARTITION variable=acc complete
        for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
            #pragma HLS UNROLL
            acc[pe] = 0;
        }
    SynapseFold:
        for (unsigned sf = 0; sf < CONFIG_T::n_words_in / CONFIG_T::simd; sf++) {
            #pragma HLS PIPELINE II=1
            for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
                #pragma HLS UNROLL
                for (unsigned s = 0; s < CONFIG_T::simd; s++) {
                    #pragma HLS UNROLL
                    const unsigned wi = sf * CONFIG_T::simd + s;
                    const unsigned row = nf * CONFIG_T::pe + pe;
                    acc[pe] += popcount32(ap_uint<32>(data[wi]) ^ ap_uint<32>(weights[row * CONFIG_T::n_words_in + wi]));
                }
            }
        }
        for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
            #pragma HLS UNROLL
            const unsigned row = nf * CONFIG_T::pe + pe;
            const int dot = (int)CONFIG_T::n_in - 2 * (int)acc[pe];
            out[row / 32][row % 32] = threshold_bit(dot, threshold[row], flip[row]);
        }
    }
    for (unsigned w = 0; w < CONFIG_T::n_words_out; w++) {
        res[w] = out[w];
    }
}

struct xnor_conv_config {
    static const unsigned in_h = 1, in_w = 1, in_c = 1, out_h = 1, out_w = 1, out_c = 1;
    static const unsigned filter_h = 1, filter_w = 1, stride_h = 1, stride_w = 1;
    static const int pad_h = 0, pad_w = 0;
    static const int pad_value = 1;
    static const unsigned n_words_in = 1, n_words_out = 1;
    static const unsigned pe = 1, simd = 1;
};

/*
 * XNOR-popcount convolution (NHWC, packed channels): each output pixel is a matrix-vector product over
 * filter_h * filter_w * n_words_in words, folded like xnor_dense. Padded taps read pad_value (+1: the valid
 * channel bits set, -1: none) in every channel, as the layer was trained.
 */
template <class data_T, class res_T, typename CONFIG_T>
void xnor_conv2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_words_in],
                 res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_words_out],
                 const typename CONFIG_T::weight_t weights[CONFIG_T::out_c * CONFIG_T::filter_h * CONFIG_T::filter_w * CONFIG_T::n_words_in],
                 const typename CONFIG_T::threshold_t threshold[CONFIG_T::out_c],
                 const typename CONFIG_T::flip_t flip[CONFIG_T::out_c]) {
    const unsigned taps = CONFIG_T::filter_h * CONFIG_T::filter_w * CONFIG_T::n_words_in;
    const int k_bits = (int)(CONFIG_T::filter_h * CONFIG_T::filter_w * CONFIG_T::in_c);
ConvPixels:
    for (unsigned oy = 0; oy < CONFIG_T::out_h; oy++) {
        for (unsigned ox = 0; ox < CONFIG_T::out_w; ox++) {
            ap_uint<32> window[CONFIG_T::filter_h * CONFIG_T::filter_w * CONFIG_T::n_words_in];
            for (unsigned ky = 0; ky < CONFIG_T::filter_h; ky++) {
                for (unsigned kx = 0; kx < CONFIG_T::filter_w; kx++) {
                    const int iy = (int)(oy * CONFIG_T::stride_h) - CONFIG_T::pad_h + (int)ky;
                    const int ix = (int)(ox * CONFIG_T::stride_w) - CONFIG_T::pad_w + (int)kx;
                    const bool inside = iy >= 0 && ix >= 0 && iy < (int)CONFIG_T::in_h && ix < (int)CONFIG_T::in_w;
                    for (unsigned w = 0; w < CONFIG_T::n_words_in; w++) {
                        const ap_uint<32> pad = CONFIG_T::pad_value > 0 ? valid_mask(w, CONFIG_T::in_c) : ap_uint<32>(0);
                        window[(ky * CONFIG_T::filter_w + kx) * CONFIG_T::n_words_in + w] =
                            inside ? ap_uint<32>(data[((unsigned)iy * CONFIG_T::in_w + (unsigned)ix) * CONFIG_T::n_words_in + w]) : pad;
                    }
                }
            }
            ap_uint<32> out[CONFIG_T::n_words_out];
            for (unsigned w = 0; w < CONFIG_T::n_words_out; w++) {
                out[w] = 0;
            }
        NeuronFold:
            for (unsigned nf = 0; nf < CONFIG_T::out_c / CONFIG_T::pe; nf++) {
                unsigned acc[CONFIG_T::pe];
                for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
                    acc[pe] = 0;
                }
            SynapseFold:
                for (unsigned sf = 0; sf < taps / CONFIG_T::simd; sf++) {
                    #pragma HLS PIPELINE II=1
                    for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
                        #pragma HLS UNROLL
                        for (unsigned s = 0; s < CONFIG_T::simd; s++) {
                            #pragma HLS UNROLL
                            const unsigned ti = sf * CONFIG_T::simd + s;
                            const unsigned row = nf * CONFIG_T::pe + pe;
                            acc[pe] += popcount32(window[ti] ^ ap_uint<32>(weights[row * taps + ti]));
                        }
                    }
                }
                for (unsigned pe = 0; pe < CONFIG_T::pe; pe++) {
                    const unsigned row = nf * CONFIG_T::pe + pe;
                    out[row / 32][row % 32] = threshold_bit(k_bits - 2 * (int)acc[pe], threshold[row], flip[row]);
                }
            }
            for (unsigned w = 0; w < CONFIG_T::n_words_out; w++) {
                res[(oy * CONFIG_T::out_w + ox) * CONFIG_T::n_words_out + w] = out[w];
            }
        }
    }
}

} // namespace edgesdk

#endif
