/*
 * ed_fc.c (Cortex-M DSP) - int8 FULLY_CONNECTED with the Armv7E-M SIMD instructions; same interface and
 * results as the portable firmware/kernels/ed_fc.c (TFLite Micro semantics, double or single rounding).
 *
 * Weight layout (written at export by edgesdk.backends.c.dsp.fc_weights_dsp): output rows in blocks of four,
 * and within a block the weights of the four rows interleaved four inputs at a time
 *     [r0 i0..i3][r1 i0..i3][r2 i0..i3][r3 i0..i3][r0 i4..i7]...  then each row's n % 4 tail bytes;
 * the out % 4 last rows stay row-major. One pointer walks a block, so four rows share each input word:
 * SXTAB16 extends four inputs into two halfword pairs with the input offset added (free), SXTB16 extends
 * each row's weights, and SMLAD accumulates two products: 16 MACs per 5 loads, 10 extends and 8 SMLAD.
 * A nonzero weight offset (not produced by int8 TFLite models) adds weights_offset * sum(x + input_offset).
 */
#include <string.h>

#include "edgesdk_kernels.h"
#include "ed_fixedpoint.h"
#include "ed_simd.h"
#include "ed_fc_thin.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
/*
 * Helium (MVE, Cortex-M55/M85): sixteen inputs per step. The step's four 16-byte blocks hold, for each of the
 * four rows, its sixteen weights at bytes 4r..4r+3 of each block: one gather load per row collects them, and
 * VMLADAVA multiplies them with the sixteen inputs and adds across the vector into the row's accumulator
 * (64 MACs per one input load, four gathers and four VMLADAVA). The input offset is applied once per row at
 * the end: sum((x + off) * w) = sum(x * w) + off * sum(w), the weight sums from VADDVA.
 */
#include <arm_mve.h>

static inline const int8_t *ed_fc_mve16(const int8_t *x, const int8_t *end16, const int8_t *w, int32_t acc[4],
                                        int32_t wsum[4])
{
    static const uint8_t offs[4][16] = {
        {0, 1, 2, 3, 16, 17, 18, 19, 32, 33, 34, 35, 48, 49, 50, 51},
        {4, 5, 6, 7, 20, 21, 22, 23, 36, 37, 38, 39, 52, 53, 54, 55},
        {8, 9, 10, 11, 24, 25, 26, 27, 40, 41, 42, 43, 56, 57, 58, 59},
        {12, 13, 14, 15, 28, 29, 30, 31, 44, 45, 46, 47, 60, 61, 62, 63},
    };
    const uint8x16_t o0 = vld1q_u8(offs[0]), o1 = vld1q_u8(offs[1]), o2 = vld1q_u8(offs[2]);
    const uint8x16_t o3 = vld1q_u8(offs[3]);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t s0 = wsum[0], s1 = wsum[1], s2 = wsum[2], s3 = wsum[3];
    while (x != end16) {
        const int8x16_t xv = vld1q_s8(x);
        const int8x16_t w0 = vldrbq_gather_offset_s8(w, o0);
        const int8x16_t w1 = vldrbq_gather_offset_s8(w, o1);
        const int8x16_t w2 = vldrbq_gather_offset_s8(w, o2);
        const int8x16_t w3 = vldrbq_gather_offset_s8(w, o3);
        a0 = vmladavaq_s8(a0, w0, xv);
        a1 = vmladavaq_s8(a1, w1, xv);
        a2 = vmladavaq_s8(a2, w2, xv);
        a3 = vmladavaq_s8(a3, w3, xv);
        s0 = vaddvaq_s8(s0, w0);
        s1 = vaddvaq_s8(s1, w1);
        s2 = vaddvaq_s8(s2, w2);
        s3 = vaddvaq_s8(s3, w3);
        x += 16;
        w += 64;
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    wsum[0] = s0, wsum[1] = s1, wsum[2] = s2, wsum[3] = s3;
    return w;
}
#endif

/*
 * The output stage of a layer with TFLite Micro's double rounding and right shifts only (every int8 FULLY_CONNECTED
 * TFLite writes, and the 1x1 convolutions run as this kernel): the parameters are read once per call instead of per
 * output (the int8 stores alias the parameter struct, so ED_FC_REQUANT reloads them), and the rounding is SMMULR
 * plus three instructions; |acc| >= 2^30 takes the general ed_mbqm. Same results as ED_FC_REQUANT.
 */
typedef struct {
    const int32_t *bias;       /* NULL: none */
    const int32_t *multiplier; /* per output where per_channel, else one */
    const int32_t *shift;      /* negative: right shifts */
    int32_t per_channel, output_offset, act_min, act_max;
} ed_fc_out_t;

/* ed_mbqm(acc, multiplier, -e) for a right shift e >= 1, round = 2^(e - 1) */
static inline int32_t ed_fc_out(int32_t acc, int32_t multiplier, int32_t e, int32_t round)
{
    if (ed_small30(acc)) {
        const int32_t x = ed_srdhm_small(acc, multiplier);
        return (x + round + (x >> 31)) >> e;
    }
    return ed_mbqm_slow(acc, multiplier, -e);
}

/* Outputs [o, o + 4) of one row into y[o..]; `pc` (a constant in each instance below): per-channel parameters. */
ED_ALWAYS_INLINE static inline void ed_fc_out4_body(const ed_fc_out_t *q, int32_t o, int32_t a0, int32_t a1,
                                                    int32_t a2, int32_t a3, int8_t *y, const int pc)
{
    const int32_t off = q->output_offset, lo = q->act_min, hi = q->act_max;
    const int32_t *m = q->multiplier + (pc ? o : 0), *sh = q->shift + (pc ? o : 0);
    if (q->bias != NULL) {
        a0 += q->bias[o];
        a1 += q->bias[o + 1];
        a2 += q->bias[o + 2];
        a3 += q->bias[o + 3];
    }
    if (pc) {
        a0 = ed_fc_out(a0, m[0], -sh[0], (int32_t)1 << (-sh[0] - 1)) + off;
        a1 = ed_fc_out(a1, m[1], -sh[1], (int32_t)1 << (-sh[1] - 1)) + off;
        a2 = ed_fc_out(a2, m[2], -sh[2], (int32_t)1 << (-sh[2] - 1)) + off;
        a3 = ed_fc_out(a3, m[3], -sh[3], (int32_t)1 << (-sh[3] - 1)) + off;
    } else {
        const int32_t e = -sh[0], r = (int32_t)1 << (e - 1);
        a0 = ed_fc_out(a0, m[0], e, r) + off;
        a1 = ed_fc_out(a1, m[0], e, r) + off;
        a2 = ed_fc_out(a2, m[0], e, r) + off;
        a3 = ed_fc_out(a3, m[0], e, r) + off;
    }
    y[o] = (int8_t)ed_clamp_s8(a0, lo, hi);
    y[o + 1] = (int8_t)ed_clamp_s8(a1, lo, hi);
    y[o + 2] = (int8_t)ed_clamp_s8(a2, lo, hi);
    y[o + 3] = (int8_t)ed_clamp_s8(a3, lo, hi);
}

/* Out of line, so that the parameters sit in registers the dot-product loop needs. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void ed_fc_out4(const ed_fc_out_t *q, int32_t o, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int8_t *y)
{
    if (q->per_channel) {
        ed_fc_out4_body(q, o, a0, a1, a2, a3, y, 1);
    } else {
        ed_fc_out4_body(q, o, a0, a1, a2, a3, y, 0);
    }
}

/* Whether ed_fc_out4 serves the layer: double rounding, every shift a right shift. */
static int ed_fc_out_ok(const ed_fc_params_t *p)
{
    int32_t k;
    if (p->rounding == ED_ROUNDING_SINGLE) {
        return 0;
    }
    for (k = 0; k < (p->per_channel ? p->out_depth : 1); ++k) {
        if (p->shift[k] >= 0) {
            return 0;
        }
    }
    return 1;
}

/* The extended pairs xe_ = (x0, x2), xo_ = (x1, x3) of four inputs against rows [o, o + 4) of an aligned block
 * (the four rows' weights by two post-indexed LDRD at w) into a0..a3. */
#define ED_FC_ROWS4_MAC(xe_, xo_)                          \
    do {                                                   \
        uint32_t wa, wb;                                   \
        ED_READ64_INC(w, wa, wb);                          \
        a0 = ed_smlad((xe_), ed_sxtb16(wa), a0);           \
        a0 = ed_smlad((xo_), ed_sxtb16_ror8(wa), a0);      \
        a1 = ed_smlad((xe_), ed_sxtb16(wb), a1);           \
        a1 = ed_smlad((xo_), ed_sxtb16_ror8(wb), a1);      \
        ED_READ64_INC(w, wa, wb);                          \
        a2 = ed_smlad((xe_), ed_sxtb16(wa), a2);           \
        a2 = ed_smlad((xo_), ed_sxtb16_ror8(wa), a2);      \
        a3 = ed_smlad((xe_), ed_sxtb16(wb), a3);           \
        a3 = ed_smlad((xo_), ed_sxtb16_ror8(wb), a3);      \
    } while (0)

/* Four inputs (the word xv_) against rows [o, o + 4) of an aligned block: the weights of the four rows by two
 * post-indexed LDRD, the inputs extended once (offset added) for all four rows. */
#define ED_FC_ROWS4_STEP(xv_)                                                       \
    do {                                                                            \
        const uint32_t xv = (xv_);                                                  \
        const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv); \
        ED_FC_ROWS4_MAC(xe, xo);                                                    \
    } while (0)

#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
/*
 * Many input rows (a 1x1 convolution's pixels, im2col's windows): ED_FC_PIX rows at a time against one output
 * row at a time. The block's inputs are extended once to int16 pairs (x0, x2), (x1, x3) with the input offset
 * added and doubled (2 (x + offset) fits a halfword), interleaved per four inputs: one post-indexed LDRD gives a
 * row's pair for the next SMLADs, so each weight word is loaded and extended (SXTB16) once for ED_FC_PIX rows:
 * per four inputs 1 LDR + 2 SXTB16 + 6 LDRD + 12 SMLAD for 24 MACs, against 23 instructions per 16 MACs with one
 * input row (on an Armv7E-M core with GCC, per-channel with a bias: three LDM of two rows' pairs instead of the six
 * LDRD, ED_FC_DOT6). The doubling makes each accumulator 2 acc, the doubled operand SMMULR wants, so the requantization
 * per output is SMMULR, the rounding divide (round and output offset added together) and SSAT: the multiplier,
 * shift, rounding term, bias and clamp are read once per output row for ED_FC_PIX outputs. Taken where every
 * |acc| < 2^30 is proven from the bias and in_depth, every shift is a right shift of at most 22 and double
 * rounding applies; the results are ed_fc_s8's one-row path's, bit for bit. The one-row path (below) also takes
 * a per-tensor shift of 0 (TFLite's requantization is then the SMMULR alone: no rounding divide).
 */
#define ED_FC_PIX 6
#define ED_FC_MAXK 256     /* in_depth of the extended block: ED_FC_PIX * ED_FC_MAXK halfword pairs on the stack */
#define ED_FC_ONE_MAXK 768 /* in_depth of the one-row path's extended row */
#define ED_FC_PART_MIN 4   /* the fewest rows after the last full pass that take a pass of their own */
/* ed_fc_ext_ok's bound on |acc| holds for rows of up to 768 inputs */
typedef char ed_fc_maxk_check[(ED_FC_MAXK <= 768 && ED_FC_ONE_MAXK <= 768) ? 1 : -1];

/* Whether the extended-input paths serve the layer (see above) with rows of up to `maxk` inputs; `zero`: a
 * per-tensor shift of 0 too. */
static int ed_fc_ext_ok(const ed_fc_params_t *p, int32_t maxk, int32_t zero)
{
    const int32_t n = p->in_depth, nq = p->per_channel ? p->out_depth : 1;
    const int32_t *shift = p->shift, *bias = p->bias;
    uint32_t mag = 0;
    int32_t k;
    if ((n & 3) != 0 || n > maxk || p->weights_offset != 0 || p->rounding == ED_ROUNDING_SINGLE ||
        (((uintptr_t)p->weights) & 3u) != 0u) {
        return 0;
    }
    if (zero && !p->per_channel) { /* one right shift of 0 to 22 */
        if ((uint32_t)(shift[0] + 22) > 22u) {
            return 0;
        }
    }
    for (k = zero && !p->per_channel ? nq : 0; k < nq; ++k) { /* right shifts of 1 to 22 */
        if ((uint32_t)(shift[k] + 22) > 21u) {
            return 0;
        }
    }
    /* |bias| <= 2^29 (an OR of |b| or |b| - 1 under 2^29): with n <= 768 inputs of |x + offset| <= 255 and
     * |w| <= 128, |acc| < 2^29 + 768 * 32640 < 2^30 */
    for (k = 0; bias != NULL && k < p->out_depth; ++k) {
        mag |= (uint32_t)(bias[k] ^ (bias[k] >> 31));
    }
    return mag < ((uint32_t)1 << 29);
}

/* One requantized output of the blocked path: the doubled accumulator a through SMMULR and the rounding divide
 * (rounding term and output offset in rnd), then the clamp (`full`: the whole int8 range, one SSAT). `nofix`
 * (the clamp's floor at or above the output offset): the divide's correction for negative values is left out, as
 * every negative value ends at or below the output offset and so at the floor either way. */
#define ED_FC_PIX_OUT(a_)                                                                              \
    do {                                                                                               \
        const int32_t t_ = ed_smmulr((a_), m);                                                         \
        const int32_t v_ = (t_ + rnd + (nofix ? 0 : (t_ >> 31))) >> e;                                 \
        *yy = (int8_t)(full ? ed_clamp_s8(v_, -128, 127) : ed_clamp_i32(v_, lo, hi));                 \
        yy += step;                                                                                    \
    } while (0)

/* The six accumulators a0..a5, one per input row, into y[0], y[step], ... */
#define ED_FC_PIX_OUT6()   \
    do {                   \
        ED_FC_PIX_OUT(a0); \
        ED_FC_PIX_OUT(a1); \
        ED_FC_PIX_OUT(a2); \
        ED_FC_PIX_OUT(a3); \
        ED_FC_PIX_OUT(a4); \
        ED_FC_PIX_OUT(a5); \
    } while (0)

/* Four inputs of the next input row (its extended pair by one post-indexed LDRD) into accumulator a_. */
#define ED_FC_PIX_MAC(a_)                  \
    do {                                   \
        ED_READ64_INC(x, xe, xo);          \
        (a_) = ed_smlad(xe, we, (a_));     \
        (a_) = ed_smlad(xo, wo, (a_));     \
    } while (0)

/* The layer's fields the blocked path reads, copied once: the int8 output stores may alias the parameter struct,
 * so GCC would otherwise load them again for every output row. */
typedef struct {
    const int32_t *bias, *multiplier, *shift;
    int32_t per_channel, output_offset, lo, hi, groups;
    size_t step; /* out_depth: bytes between one input row's outputs and the next's */
} ed_fc_pix_t;

/* The fixed sequences need optimization: at -O0 GCC cannot give their fourteen register operands. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
/* Four inputs of the six rows (three LDM of two rows' extended pairs into t0..t3) against one row's weight word
 * (LDR, 16 bytes on: a four-row block), two SXTB16: 18 instructions for 24 MACs. Accumulator a_k's first SMLAD adds
 * onto s_k (a_k itself, or the doubled bias in the first group); the registers as asm operand names or as named
 * registers. */
#define ED_FC_G6_SEQ(s0, s1, s2, s3, s4, s5, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3)       \
    "ldr " t0 ", [" w "], #16\n\t"                                                                       \
    "sxtb16 " we ", " t0 "\n\t"                                                                          \
    "sxtb16 " wo ", " t0 ", ror #8\n\t"                                                                  \
    ED_FC_G6_MACS(s0, s1, s2, s3, s4, s5, a0, a1, a2, a3, a4, a5, x, we, wo, t0, t1, t2, t3)
/* The same with the row's weights widened beforehand (ed_fc_widen4: the pairs (w0, w2), (w1, w3) of each word, 32
 * bytes on to the next): one LDRD of the two pairs, 16 instructions for 24 MACs. */
#define ED_FC_G6W_SEQ(s0, s1, s2, s3, s4, s5, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3)      \
    "ldrd " we ", " wo ", [" w "], #32\n\t"                                                              \
    ED_FC_G6_MACS(s0, s1, s2, s3, s4, s5, a0, a1, a2, a3, a4, a5, x, we, wo, t0, t1, t2, t3)
/* ED_FC_G6_SEQ after its weight pairs: three LDM of the six rows' pairs, twelve SMLAD. */
#define ED_FC_G6_MACS(s0, s1, s2, s3, s4, s5, a0, a1, a2, a3, a4, a5, x, we, wo, t0, t1, t2, t3)         \
    "ldmia " x "!, {" t0 ", " t1 ", " t2 ", " t3 "}\n\t"                                                 \
    "smlad " a0 ", " t0 ", " we ", " s0 "\n\t"                                                           \
    "smlad " a0 ", " t1 ", " wo ", " a0 "\n\t"                                                           \
    "smlad " a1 ", " t2 ", " we ", " s1 "\n\t"                                                           \
    "smlad " a1 ", " t3 ", " wo ", " a1 "\n\t"                                                           \
    "ldmia " x "!, {" t0 ", " t1 ", " t2 ", " t3 "}\n\t"                                                 \
    "smlad " a2 ", " t0 ", " we ", " s2 "\n\t"                                                           \
    "smlad " a2 ", " t1 ", " wo ", " a2 "\n\t"                                                           \
    "smlad " a3 ", " t2 ", " we ", " s3 "\n\t"                                                           \
    "smlad " a3 ", " t3 ", " wo ", " a3 "\n\t"                                                           \
    "ldmia " x "!, {" t0 ", " t1 ", " t2 ", " t3 "}\n\t"                                                 \
    "smlad " a4 ", " t0 ", " we ", " s4 "\n\t"                                                           \
    "smlad " a4 ", " t1 ", " wo ", " a4 "\n\t"                                                           \
    "smlad " a5 ", " t2 ", " we ", " s5 "\n\t"                                                           \
    "smlad " a5 ", " t3 ", " wo ", " a5 "\n\t"
#define ED_FC_G6_(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3) \
    SEQ_(a0, a1, a2, a3, a4, a5, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3)

/* The dot-product sequence of ED_FC_DOT6 from its first group (added onto a5, the doubled bias; C and N set from
 * groups - 1, the block's end at [sp]) to the loop's end, the registers as in ED_FC_G6_SEQ. */
#define ED_FC_DOT6_SEQ(a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3)                                     \
    ED_FC_G6_SEQ(a5, a5, a5, a5, a5, a5, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3)                   \
    "bcs 2f\n\t"                                                                                                 \
    "bmi 13f\n\t"                                                                                                \
    "b 14f\n"                                                                                                    \
    "2:\n\t"                                                                                                     \
    "bmi 11f\n\t"                                                                                                \
    "b 12f\n" ED_FC_DOT6_LOOP(ED_FC_G6_SEQ, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3,              \
                              "ldr " t0 ", [sp]\n\tcmp " x ", " t0 "\n\t")
/* The loop of the groups after the first, four a turn, entered at 14 - (groups - 1) % 4 (each SEQ_, ED_FC_G6_SEQ or
 * ED_FC_G6W_SEQ, 72 or 64 bytes: every instruction of it a 32-bit one, as each names a high register); `end`
 * compares for the loop's end (Z set there; t0 free). */
#define ED_FC_DOT6_LOOP(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3, end)                         \
    "10:\n\t" ED_FC_G6_(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3) "11:\n\t"                    \
    ED_FC_G6_(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3) "12:\n\t"                              \
    ED_FC_G6_(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3) "13:\n\t"                              \
    ED_FC_G6_(SEQ_, a0, a1, a2, a3, a4, a5, x, w, we, wo, t0, t1, t2, t3) "14:\n\t" end                          \
    "bne 10b\n\t"

/* ED_FC_DOT6_SEQ with r0..r5 the accumulators, r6 the extended rows, r7 the weights, r12/lr the extended
 * weights and r8..r11 the rows' pairs, entering the loop after the first group by LDR PC from `entry` (an address
 * operand): the loop's entry for groups - 1 set once beforehand by ED_FC_DOT6_ENTRY. */
#define ED_FC_DOT6_JUMP(SEQ_, entry, end)                                                                        \
    SEQ_("r5", "r5", "r5", "r5", "r5", "r5", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r12", "lr", "r8", "r9", \
         "r10", "r11")                                                                                         \
    "ldr pc, " entry "\n" ED_FC_DOT6_LOOP(SEQ_, "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r12", "lr", "r8",  \
                                          "r9", "r10", "r11", end)
/* The entry of ED_FC_DOT6_JUMP's loop for groups - 1 in register g into register a (t clobbered, g too): label 14
 * less (groups - 1) % 4 groups of `bytes` (72 for ED_FC_G6_SEQ, 64 for ED_FC_G6W_SEQ), the Thumb bit set. */
#define ED_FC_DOT6_ENTRY(g, a, t, bytes)                                                                         \
    "and " g ", " g ", #3\n\tadr.w " a ", 14f\n\tmovs " t ", #" bytes "\n\tmls " a ", " g ", " t ", " a "\n\t"     \
    "orr " a ", " a ", #1\n\t"

/*
 * The six dot products of one row of a four-row block (weights 16 bytes apart) against the `groups` groups of the
 * extended block x, each accumulator starting at b2: one fixed sequence. The first group adds onto b2 (no copies
 * of it), the other groups - 1 run four per loop turn, entered part-way for the (groups - 1) % 4 first (LSLS
 * puts bits 1 and 0 of that count into C and N, which nothing before the branches changes); the loop's end is
 * compared with the end of the block pushed on the stack, as every register holds an accumulator, a pointer or a
 * term: 18 instructions per 24 MACs and 3 per loop turn. t0..t3 are r8..r11 (LDM's list ascends).
 */
#define ED_FC_DOT6(x_, w_, groups_, b2_)                                                                      \
    do {                                                                                                      \
        register uint32_t t0 __asm__("r8") = (uint32_t)(uintptr_t)((x_) + 12 * (groups_));                    \
        register uint32_t t1 __asm__("r9") = (uint32_t)((groups_)-1);                                         \
        register uint32_t t2 __asm__("r10");                                                                  \
        register uint32_t t3 __asm__("r11");                                                                  \
        const uint32_t *xp_ = (x_);                                                                           \
        const int8_t *wp_ = (w_);                                                                             \
        uint32_t we, wo;                                                                                      \
        a5 = (b2_);                                                                                           \
        __asm__ volatile(                                                                                     \
            "push {%[t0]}\n\t"                                                                                \
            "lsls %[t1], %[t1], #31\n\t"                                                                      \
            ED_FC_DOT6_SEQ("%[a0]", "%[a1]", "%[a2]", "%[a3]", "%[a4]", "%[a5]", "%[x]", "%[w]", "%[we]", "%[wo]",  \
                           "%[t0]", "%[t1]", "%[t2]", "%[t3]")                                                  \
            "add sp, sp, #4"                                                                                  \
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4), [a5] "+&r"(a5), \
              [x] "+&r"(xp_), [w] "+&r"(wp_), [we] "=&r"(we), [wo] "=&r"(wo), [t0] "+&r"(t0), [t1] "+&r"(t1), \
              [t2] "=&r"(t2), [t3] "=&r"(t3)                                                                  \
            :                                                                                                 \
            : "cc", "memory");                                                                                \
    } while (0)
#define ED_FC_DOT6_ASM 1
#else
#define ED_FC_DOT6_ASM 0
#endif

/* Output row o of the ED_FC_PIX input rows extended in xb, its weights from w, `stride` (a constant in each
 * instance: 16 in a four-row block, 4 in the row-major last rows) bytes between its words; the outputs at
 * y[r * step]. `full`, `nofix` (constants in each instance): see ED_FC_PIX_OUT. */
ED_ALWAYS_INLINE static inline void ed_fc_pix_row(const ed_fc_pix_t *c, const uint32_t *x, const int8_t *w,
                                                  int32_t o, int8_t *y, const int32_t stride, const int full,
                                                  const int nofix)
{
    const int32_t q = c->per_channel ? o : 0;
    const int32_t m = c->multiplier[q], e = -c->shift[q];
    const int32_t rnd = ((int32_t)1 << (e - 1)) + (int32_t)((uint32_t)c->output_offset << e);
    const int32_t b2 = c->bias != NULL ? 2 * c->bias[o] : 0;
    const int32_t lo = c->lo, hi = c->hi;
    const size_t step = c->step;
    int32_t a0, a1, a2, a3, a4, a5;
    int32_t g;
    int8_t *yy = y;
    if (ED_FC_DOT6_ASM && stride == 16) {
#if ED_FC_DOT6_ASM
        ED_FC_DOT6(x, w, c->groups, b2);
#endif
    } else {
        a0 = b2, a1 = b2, a2 = b2, a3 = b2, a4 = b2, a5 = b2;
        for (g = c->groups; g != 0; --g) {
            const uint32_t wv = ed_read32(w);
            const uint32_t we = ed_sxtb16(wv), wo = ed_sxtb16_ror8(wv);
            uint32_t xe, xo;
            w += stride;
            ED_FC_PIX_MAC(a0);
            ED_FC_PIX_MAC(a1);
            ED_FC_PIX_MAC(a2);
            ED_FC_PIX_MAC(a3);
            ED_FC_PIX_MAC(a4);
            ED_FC_PIX_MAC(a5);
        }
    }
    ED_FC_PIX_OUT6();
}

#if ED_FC_DOT6_ASM
/* The four-row blocks' rows [0, out4) of a per-channel layer with a bias on an Armv7E-M core: ED_FC_DOT6, then
 * the row's multiplier, shift and rounding term (c1 << (e - 1) = 2^(e - 1) + output_offset 2^e) read after it,
 * as the dot product leaves no register free to keep them. */
ED_ALWAYS_INLINE static inline void ed_fc_pix_rows_dsp(const ed_fc_params_t *p, const uint32_t *xb, int8_t *y,
                                                       int32_t out4, const int full, const int nofix)
{
    const int32_t groups = p->in_depth >> 2, lo = p->act_min, hi = p->act_max;
    const size_t step = (size_t)p->out_depth, block = 4u * (size_t)p->in_depth;
    const uint32_t c1 = 1u + 2u * (uint32_t)p->output_offset;
    const int32_t *bias = p->bias, *mult = p->multiplier, *shift = p->shift;
    const int8_t *wb = p->weights;
    int32_t o;
    for (o = 0; o < out4; ++o) {
        int32_t a0, a1, a2, a3, a4, a5;
        ED_FC_DOT6(xb, wb + 4 * (o & 3), groups, 2 * bias[o]);
        {
            const int32_t m = mult[o], e = -shift[o];
            const int32_t rnd = (int32_t)(c1 << (e - 1));
            int8_t *yy = y + o;
            ED_FC_PIX_OUT6();
        }
        if ((o & 3) == 3) {
            wb += block;
        }
    }
}
#endif

#if ED_FC_DOT6_ASM /* (only with optimization: the named registers include r7, the frame pointer at -O0) */
/* The row loop's state in memory (one LDM at a row's start, one STM after its updates): its dot-product half... */
typedef struct {
    const uint32_t *x;   /* the extended block */
    const int8_t *w;     /* the row's first weight word */
    const int32_t *bias; /* the row's bias */
    int32_t o;           /* the row */
    int32_t blk;         /* 4 in_depth - 12: from row 3 of a four-row block to row 0 of the next */
    int32_t out4;        /* the rows of the four-row blocks */
    int32_t gm1;         /* groups - 1 */
} ed_fc_rows_in_t;

/* ... and its output half. */
typedef struct {
    const int32_t *mult, *shift; /* the row's multiplier and (negative) shift */
    int8_t *y;                   /* the row's output of the first input row */
    size_t step;                 /* out_depth */
    uint32_t c1;                 /* 1 + 2 output_offset: the rounding term is c1 << (e - 1) */
} ed_fc_rows_out_t;

/* One output of accumulator a_ (doubled, bias included) in place: SMMLAR adds the rounding term and output offset
 * (r10) to the rounded high word of a_ * m (r11), then the right shift by e (r12) and SSAT to the int8 range. The
 * second form adds the divide's correction for negative products first (see ED_FC_PIX_OUT). */
#define ED_FC_ASM_OUT_NOFIX(a_) "smmlar " a_ ", " a_ ", r11, r10\n\tasr " a_ ", " a_ ", r12\n\tssat " a_ ", #8, " a_ "\n\t"
#define ED_FC_ASM_OUT_FIX(a_)                                                                                  \
    "smmulr " a_ ", " a_ ", r11\n\tadd " a_ ", " a_ ", " a_ ", asr #31\n\tadd " a_ ", " a_ ", r10\n\t"     \
    "asr " a_ ", " a_ ", r12\n\tssat " a_ ", #8, " a_ "\n\t"

/* The six accumulators r0..r5 through OUT_ into the bytes at r8, r8 + r9, ..., r8 + 5 r9 (r0 then holds r8 + 4 r9). */
#define ED_FC_ASM_OUT6(OUT_)                                                                                     \
    OUT_("r0") OUT_("r1") "strb r0, [r8]\n\tstrb r1, [r8, r9]\n\tadd r0, r8, r9, lsl #1\n\t" OUT_("r2") OUT_("r3") \
    "strb r2, [r0]\n\tstrb r3, [r0, r9]\n\tadd r0, r0, r9, lsl #1\n\t" OUT_("r4") OUT_("r5")                       \
    "strb r4, [r0]\n\tstrb r5, [r0, r9]\n\t"

/*
 * Every row of the four-row blocks of a per-channel layer with a bias whose outputs clamp to the whole int8 range
 * (no activation, or ReLU with output offset -128), against the six input rows extended at xin->x: the whole loop
 * over rows as one fixed sequence with every register named, so that nothing spills around the dot products
 * (ED_FC_DOT6's sequence) and the six requantizations take four instructions each (SMMLAR, ASR, SSAT, STRB; six
 * with the divide's correction, OUT_): per row about 52 instructions besides its 18 per four inputs, where GCC's
 * schedule of the same around ED_FC_DOT6 took about 80. The state lives in *xin and *xout (their addresses and the
 * block's end pushed on the stack), read by one LDM and written back by one STM a row; the rounding term is
 * (c1 << e) >> 1 = c1 2^(e - 1) (|c1| <= 255, e <= 22: no overflow).
 */
#define ED_FC_ROWS_FULL(OUT_)                                                                                      \
    do {                                                                                                           \
        register uint32_t r0_ __asm__("r0") = (uint32_t)(uintptr_t)xin;                                            \
        register uint32_t r1_ __asm__("r1") = (uint32_t)(uintptr_t)xout;                                           \
        register uint32_t r2_ __asm__("r2") = (uint32_t)(uintptr_t)(xin->x + 12 * (xin->gm1 + 1));                 \
        __asm__ volatile(                                                                                          \
            "ldr r3, [r0, #24]\n\t" ED_FC_DOT6_ENTRY("r3", "r4", "r5", "72") "push {r4}\n\t"                              \
            "push {r0}\n\t"                                                                                        \
            "push {r1}\n\t"                                                                                        \
            "push {r2}\n\t"                                                                                        \
            "ldr lr, [sp, #8]\n\t"                                                                                 \
            "ldmia lr, {r6, r7, r8, r9, r10, r11, r12}\n"                                                          \
            "5:\n\t"                                                                                               \
            "ldr r5, [r8], #4\n\t"                                                                                 \
            "stmia lr, {r6, r7, r8, r9}\n\t"                                                                       \
            "lsls r5, r5, #1\n\t" ED_FC_DOT6_JUMP(ED_FC_G6_SEQ, "[sp, #12]", "ldr r8, [sp]\n\tcmp r6, r8\n\t")                   \
            "ldr lr, [sp, #4]\n\t"                                                                                 \
            "ldmia lr, {r6, r7, r8, r9, r10}\n\t"                                                                  \
            "ldr r11, [r6], #4\n\t"                                                                                \
            "ldr r12, [r7], #4\n\t"                                                                                \
            "rsb r12, r12, #0\n\t"                                                                                 \
            "lsl r10, r10, r12\n\t"                                                                                \
            "asr r10, r10, #1\n\t" ED_FC_ASM_OUT6(OUT_)                                                      \
            "add r8, r8, #1\n\t"                                                                                   \
            "stmia lr, {r6, r7, r8}\n\t"                                                                           \
            "ldr lr, [sp, #8]\n\t"                                                                                 \
            "ldmia lr, {r6, r7, r8, r9, r10, r11, r12}\n\t"                                                        \
            "adds r9, r9, #1\n\t"                                                                                  \
            "tst r9, #3\n\t"                                                                                       \
            "ite ne\n\t"                                                                                           \
            "addne r7, r7, #4\n\t"                                                                                 \
            "addeq r7, r7, r10\n\t"                                                                                \
            "cmp r9, r11\n\t"                                                                                      \
            "bne 5b\n\t"                                                                                           \
            "add sp, sp, #16"                                                                                      \
            : "+r"(r0_), "+r"(r1_), "+r"(r2_)                                                                      \
            :                                                                                                      \
            : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");               \
    } while (0)

/* The rows [0, out4) of a per-channel layer with a bias clamped to the whole int8 range (see ED_FC_ROWS_FULL);
 * `nofix`: see ED_FC_PIX_OUT. */
ED_ALWAYS_INLINE static inline void ed_fc_rows_full(const ed_fc_params_t *p, const uint32_t *xb, int8_t *y, int32_t out4, int nofix)
{
    ed_fc_rows_in_t sin = {xb, p->weights, p->bias, 0, 4 * p->in_depth - 12, out4, (p->in_depth >> 2) - 1};
    ed_fc_rows_out_t sout = {p->multiplier, p->shift, y, (size_t)p->out_depth,
                             1u + 2u * (uint32_t)p->output_offset};
    ed_fc_rows_in_t *xin = &sin;
    ed_fc_rows_out_t *xout = &sout;
    if (nofix) {
        ED_FC_ROWS_FULL(ED_FC_ASM_OUT_NOFIX);
    } else {
        ED_FC_ROWS_FULL(ED_FC_ASM_OUT_FIX);
    }
}

/*
 * The same over `groups` (>= 2) groups of six input rows extended one after the other at xb, rows outer: one
 * output row's parameters, bias and weights' start stay in a frame on the stack (y, step, rounding term,
 * multiplier, shift, doubled bias, weights, the dot-product loop's entry, the weights' end, the groups' end: one
 * LDRD before each group's dot product, one LDM before its six requantizations) while the group loop walks the
 * extended rows: after the first group, LDR PC enters ED_FC_DOT6_LOOP at the row's entry (set once from
 * groups - 1 in the frame's slot), the loop's end compared on the weights. Per group about 37 instructions besides
 * its 18 per four inputs, against about 54 in ED_FC_ROWS_FULL's loop over the rows of one group. SEQ_ and BYTES_:
 * ED_FC_G6_SEQ and "72" on the int8 weights, ED_FC_G6W_SEQ and "64" on a row widened beforehand (16 per four
 * inputs).
 */
#define ED_FC_GROUPS_FULL(OUT_, SEQ_, BYTES_)                                                                      \
    do {                                                                                                           \
        register uint32_t r0_ __asm__("r0") = (uint32_t)(uintptr_t)f;                                              \
        register uint32_t r6_ __asm__("r6") = (uint32_t)(uintptr_t)xb;                                             \
        __asm__ volatile(                                                                                          \
            "ldmia r0, {r0, r1, r2, r3, r4, r5, r7, r8, r9, r10}\n\t"                                             \
            "push {r0, r1, r2, r3, r4, r5, r7, r8, r9, r10}\n\t"                                                  \
            ED_FC_DOT6_ENTRY("r8", "r9", "r10", BYTES_) "str r9, [sp, #28]\n"                                      \
            "6:\n\t"                                                                                               \
            "ldrd r5, r7, [sp, #20]\n\t" ED_FC_DOT6_JUMP(SEQ_, "[sp, #28]", "ldr r8, [sp, #32]\n\tcmp r7, r8\n\t")  \
            "ldmia sp, {r8, r9, r10, r11, r12}\n\t" ED_FC_ASM_OUT6(OUT_)                                         \
            "add r0, r0, r9, lsl #1\n\t"                                                                           \
            "str r0, [sp]\n\t"                                                                                      \
            "ldr r8, [sp, #36]\n\t"                                                                                 \
            "cmp r6, r8\n\t"                                                                                        \
            "bne 6b\n\t"                                                                                            \
            "add sp, sp, #40"                                                                                      \
            : "+r"(r0_), "+r"(r6_)                                                                                 \
            :                                                                                                      \
            : "r1", "r2", "r3", "r4", "r5", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");        \
    } while (0)

/* The four rows of a four-row block (w: its first word; rows of n > 0 inputs) widened into d: per four inputs each
 * row's pairs (w0, w2), (w1, w3), the rows one after the other (32 bytes a step, ED_FC_G6W_SEQ): one LDM of the
 * rows' words, eight SXTB16 and two STM, 13 instructions a step. */
static inline void ed_fc_widen4(const int8_t *w, int32_t n, uint32_t *d)
{
    const int8_t *end = w + 4 * n;
    __asm__ volatile("1:\n\t"
                     "ldmia %[w]!, {r0, r1, r2, r3}\n\t"
                     "sxtb16 r4, r0\n\t"
                     "sxtb16 r5, r0, ror #8\n\t"
                     "sxtb16 r6, r1\n\t"
                     "sxtb16 r7, r1, ror #8\n\t"
                     "stmia %[d]!, {r4, r5, r6, r7}\n\t"
                     "sxtb16 r4, r2\n\t"
                     "sxtb16 r5, r2, ror #8\n\t"
                     "sxtb16 r6, r3\n\t"
                     "sxtb16 r7, r3, ror #8\n\t"
                     "stmia %[d]!, {r4, r5, r6, r7}\n\t"
                     "cmp %[w], %[e]\n\t"
                     "bne 1b"
                     : [w] "+r"(w), [d] "+r"(d)
                     : [e] "r"(end)
                     : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "cc", "memory");
}

/* ED_FC_GROUPS_FULL with the requantization `nofix` picks (see ED_FC_PIX_OUT). */
#define ED_FC_GROUPS_FULL_OUT(SEQ_, BYTES_)                         \
    do {                                                            \
        if (nofix) {                                                \
            ED_FC_GROUPS_FULL(ED_FC_ASM_OUT_NOFIX, SEQ_, BYTES_);   \
        } else {                                                    \
            ED_FC_GROUPS_FULL(ED_FC_ASM_OUT_FIX, SEQ_, BYTES_);     \
        }                                                           \
    } while (0)

/* The rows [0, out4) of a per-channel layer with a bias clamped to the whole int8 range against `groups` (>= 2)
 * groups of six input rows extended at xb (see ED_FC_GROUPS_FULL), outputs at y[r * out_depth + o]; `nofix`: see
 * ED_FC_PIX_OUT. `widened` (a constant in each instance): each four-row block's weights widened once into `wide`
 * (2 in_depth words, ed_fc_widen4) for the groups. */
ED_ALWAYS_INLINE static inline void ed_fc_groups_rows(const ed_fc_params_t *p, const uint32_t *xb, int32_t groups,
                                                      int8_t *y, int32_t out4, int nofix, uint32_t *wide,
                                                      const int widened)
{
    const int32_t n = p->in_depth;
    const uint32_t c1 = 1u + 2u * (uint32_t)p->output_offset;
    const int8_t *w = p->weights;
    uint32_t f[10]; /* y, step, rounding term, multiplier, shift, 2 bias, weights, groups - 1, weights' end, end */
    int32_t o;
    f[1] = (uint32_t)p->out_depth;
    f[7] = (uint32_t)((n >> 2) - 1);
    f[9] = (uint32_t)(uintptr_t)(xb + 3 * n * groups);
    for (o = 0; o < out4; ++o) {
        const int32_t e = -p->shift[o];
        const int8_t *wr = w + (size_t)(o & ~3) * (size_t)n + (size_t)(o & 3) * 4u;
        f[0] = (uint32_t)(uintptr_t)(y + o);
        f[2] = (uint32_t)((int32_t)(c1 << e) >> 1);
        f[3] = (uint32_t)p->multiplier[o];
        f[4] = (uint32_t)e;
        f[5] = 2u * (uint32_t)p->bias[o];
        if (widened && (o & 3) == 0) {
            ed_fc_widen4(wr, n, wide);
        }
        f[6] = widened ? (uint32_t)(uintptr_t)(wide + 2 * (o & 3)) : (uint32_t)(uintptr_t)wr;
        f[8] = f[6] + (uint32_t)(widened ? 8 * n : 4 * n); /* the row's n / 4 steps, 32 or 16 bytes each */
        if (widened) {
            ED_FC_GROUPS_FULL_OUT(ED_FC_G6W_SEQ, "64");
        } else {
            ED_FC_GROUPS_FULL_OUT(ED_FC_G6_SEQ, "72");
        }
    }
}

/* The same, the weights widened where `wide` is not NULL. */
static void ed_fc_groups_full(const ed_fc_params_t *p, const uint32_t *xb, int32_t groups, int8_t *y, int32_t out4,
                              int nofix, uint32_t *wide)
{
    if (wide != NULL) {
        ed_fc_groups_rows(p, xb, groups, y, out4, nofix, wide, 1);
    } else {
        ed_fc_groups_rows(p, xb, groups, y, out4, nofix, NULL, 0);
    }
}
#define ED_FC_ROWS_FULL_ASM 1
#else
#define ED_FC_ROWS_FULL_ASM 0
#endif

/* Every output row of the input rows extended in xb, outputs at y[r * out_depth + o]. */
ED_ALWAYS_INLINE static inline void ed_fc_pix_rows(const ed_fc_params_t *p, const uint32_t *xb, int8_t *y,
                                                   const int full, const int nofix)
{
    const int32_t n = p->in_depth, out_depth = p->out_depth;
    const int32_t out4 = out_depth & ~3;
    const int8_t *w = p->weights;
    const ed_fc_pix_t c = {p->bias,          p->multiplier, p->shift,   p->per_channel,        p->output_offset,
                           p->act_min,       p->act_max,    n >> 2,     (size_t)out_depth};
    int32_t o = 0;
#if ED_FC_DOT6_ASM
    if (c.per_channel && c.bias != NULL) {
        ed_fc_pix_rows_dsp(p, xb, y, out4, full, nofix);
        o = out4;
    }
#endif
    for (; o < out4; ++o) {
        ed_fc_pix_row(&c, xb, w + (size_t)(o & ~3) * (size_t)n + (size_t)(o & 3) * 4u, o, y + o, 16, full, nofix);
    }
    for (; o < out_depth; ++o) {
        ed_fc_pix_row(&c, xb, w + (size_t)o * (size_t)n, o, y + o, 4, full, nofix);
    }
}

/* d[0] = lo_, d[1] = hi_, then d += 2 (one post-indexed STRD on an Armv7E-M core; GCC stores two words). */
#if ED_FC_DOT6_ASM
#define ED_FC_WRITE64_INC(d_, lo_, hi_) \
    __asm__ volatile("strd %1, %2, [%0], #8" : "+r"(d_) : "r"(lo_), "r"(hi_) : "memory")
#else
#define ED_FC_WRITE64_INC(d_, lo_, hi_) \
    do {                                \
        (d_)[0] = (lo_);                \
        (d_)[1] = (hi_);                \
        (d_) += 2;                      \
    } while (0)
#endif

/* The word at xr_ (then xr_ += 4) as its two doubled pairs with the offset at d (then d += 2). */
#define ED_FC_EXT_WORD(xr_)                                                               \
    do {                                                                                  \
        const uint32_t xv_ = ed_read32(xr_);                                              \
        const uint32_t xe_ = ed_sxtab16(xoff2, xv_), xo_ = ed_sxtab16_ror8(xoff2, xv_);  \
        (xr_) += 4;                                                                       \
        ED_FC_WRITE64_INC(d, ed_sadd16(xe_, xe_), ed_sadd16(xo_, xo_));                 \
    } while (0)

/* `rows` input rows of n inputs at x into d: per four inputs and row the pairs 2 (x0, x2) + 2 offset and
 * 2 (x1, x3) + 2 offset. */
ED_ALWAYS_INLINE static inline void ed_fc_extend(const int8_t *x, int32_t rows, int32_t n, int32_t input_offset,
                                                 uint32_t *d)
{
    const uint32_t xoff2 = ed_dup16(input_offset);
    int32_t g, r;
    if (rows == 1) { /* one row: a plain walk */
        for (g = n >> 2; g != 0; --g) {
            ED_FC_EXT_WORD(x);
        }
        return;
    }
    if (rows >= ED_FC_PART_MIN) { /* ED_FC_PIX rows by six walking pointers (fewer: the last row repeated):
                                    * per input word one load, two extends, two doublings and one store */
        const size_t sn = (size_t)n, last = (size_t)rows - 1u;
        const int8_t *x0 = x, *x1 = x + sn, *x2 = x1 + sn, *x3 = x2 + sn;
        const int8_t *x4 = x + (last < 4u ? last : 4u) * sn, *x5 = x + last * sn;
        for (g = n >> 2; g != 0; --g) {
            ED_FC_EXT_WORD(x0);
            ED_FC_EXT_WORD(x1);
            ED_FC_EXT_WORD(x2);
            ED_FC_EXT_WORD(x3);
            ED_FC_EXT_WORD(x4);
            ED_FC_EXT_WORD(x5);
        }
        return;
    }
    for (g = 0; g < n; g += 4) {
        for (r = 0; r < rows; ++r) {
            const uint32_t xv = ed_read32(x + (size_t)r * (size_t)n + (size_t)g);
            const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
            d[0] = ed_sadd16(xe, xe);
            d[1] = ed_sadd16(xo, xo);
            d += 2;
        }
    }
}

/* The same out of line, for the pointwise passes (ed_fc_pw_s8): ed_fc_s8's own paths keep their inlined copies. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void ed_fc_extend_pw(const int8_t *x, int32_t rows, int32_t n, int32_t input_offset, uint32_t *d)
{
    ed_fc_extend(x, rows, n, input_offset, d);
}

/* Accumulator a2 (doubled, bias included) of the extended paths requantized with multiplier m and right shift e,
 * the rounding term and output offset in rnd; unclamped. */
static inline int32_t ed_fc_ext_div1(int32_t a2, int32_t m, int32_t e, int32_t rnd)
{
    const int32_t t = ed_smmulr(a2, m);
    return (t + rnd + (t >> 31)) >> e;
}

/* The same with output o's own multiplier and shift (per-channel). */
static inline int32_t ed_fc_ext_div(const ed_fc_pix_t *c, int32_t a2, int32_t o)
{
    const int32_t e = -c->shift[o];
    return ed_fc_ext_div1(a2, c->multiplier[o], e,
                          ((int32_t)1 << (e - 1)) + (int32_t)((uint32_t)c->output_offset << e));
}

/* Output o of accumulator a2 of the extended paths, clamped (a per-tensor shift of 0: SMMULR and the output
 * offset alone). */
static inline int8_t ed_fc_ext_out(const ed_fc_pix_t *c, int32_t a2, int32_t o)
{
    const int32_t q = c->per_channel ? o : 0;
    const int32_t e = -c->shift[q];
    int32_t v;
    if (e == 0) {
        v = ed_smmulr(a2, c->multiplier[q]) + c->output_offset;
    } else {
        v = ed_fc_ext_div1(a2, c->multiplier[q], e,
                           ((int32_t)1 << (e - 1)) + (int32_t)((uint32_t)c->output_offset << e));
    }
    return (int8_t)ed_clamp_s8(v, c->lo, c->hi);
}

/* Four inputs (one extended pair at xp) against the four rows of a block (two LDRD at w). On an Armv7E-M core
 * one fixed sequence of 19 instructions: GCC's own schedule of the C form hoisted the loads and spilled. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && !defined(__clang__)
#define ED_FC_ONE_STEP()                                                                                    \
    do {                                                                                                    \
        uint32_t xe_, xo_, wa_, wb_, t_;                                                                    \
        __asm__("ldrd %[xe], %[xo], [%[xp]], #8\n\t"                                                        \
                "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                         \
                "sxtb16 %[t], %[wa]\n\t"                                                                    \
                "smlad %[a0], %[xe], %[t], %[a0]\n\t"                                                       \
                "sxtb16 %[t], %[wa], ror #8\n\t"                                                            \
                "smlad %[a0], %[xo], %[t], %[a0]\n\t"                                                       \
                "sxtb16 %[t], %[wb]\n\t"                                                                    \
                "smlad %[a1], %[xe], %[t], %[a1]\n\t"                                                       \
                "sxtb16 %[t], %[wb], ror #8\n\t"                                                            \
                "smlad %[a1], %[xo], %[t], %[a1]\n\t"                                                       \
                "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                         \
                "sxtb16 %[t], %[wa]\n\t"                                                                    \
                "smlad %[a2], %[xe], %[t], %[a2]\n\t"                                                       \
                "sxtb16 %[t], %[wa], ror #8\n\t"                                                            \
                "smlad %[a2], %[xo], %[t], %[a2]\n\t"                                                       \
                "sxtb16 %[t], %[wb]\n\t"                                                                    \
                "smlad %[a3], %[xe], %[t], %[a3]\n\t"                                                       \
                "sxtb16 %[t], %[wb], ror #8\n\t"                                                            \
                "smlad %[a3], %[xo], %[t], %[a3]"                                                           \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp), [w] "+r"(w),   \
                  [xe] "=&r"(xe_), [xo] "=&r"(xo_), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [t] "=&r"(t_)         \
                :                                                                                           \
                : "memory");                                                                                \
    } while (0)
#else
#define ED_FC_ONE_STEP()                 \
    do {                                 \
        uint32_t xe1, xo1;               \
        ED_READ64_INC(xp, xe1, xo1);     \
        ED_FC_ROWS4_MAC(xe1, xo1);       \
    } while (0)
#endif

/*
 * One input row (batch 1, or the rows after the last six): extended once (the doubled pairs above), then the
 * four-row blocks of the layout with the weights by two LDRD per four inputs and no input extends in the loop:
 * 19 instructions per 16 MACs, four groups per loop turn; the requantization as in the six-row path.
 */
/* The four-row blocks [0, out4) of ed_fc_one against the extended row xb; `pc` (a constant in each instance):
 * per-channel multipliers and shifts, else m, e and rnd for every output; `e0` (a constant): that shift is 0,
 * rnd the output offset. Returns the weights after them. */
ED_ALWAYS_INLINE static inline const int8_t *ed_fc_one_blocks(const ed_fc_pix_t *c, const uint32_t *xb,
                                                             const int8_t *w, int8_t *y, int32_t out4, int32_t m,
                                                             int32_t e, int32_t rnd, const int pc, const int e0)
{
    const int full = c->lo == -128 && c->hi == 127;
    const int32_t *bias = c->bias;
    const int32_t groups = c->groups;
    int32_t o, g;
    for (o = 0; o < out4; o += 4, y += 4) {
        const uint32_t *xp = xb;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (bias != NULL) {
            a0 = 2 * bias[0], a1 = 2 * bias[1], a2 = 2 * bias[2], a3 = 2 * bias[3];
            bias += 4;
        }
        for (g = e0 ? 0 : groups >> 2; g != 0; --g) {
            ED_FC_ONE_STEP();
            ED_FC_ONE_STEP();
            ED_FC_ONE_STEP();
            ED_FC_ONE_STEP();
        }
        for (g = e0 ? groups : groups & 3; g != 0; --g) { /* the shift-0 instance: one step a turn (its code) */
            ED_FC_ONE_STEP();
        }
        if (pc) {
            a0 = ed_fc_ext_div(c, a0, o);
            a1 = ed_fc_ext_div(c, a1, o + 1);
            a2 = ed_fc_ext_div(c, a2, o + 2);
            a3 = ed_fc_ext_div(c, a3, o + 3);
        } else if (e0) {
            a0 = ed_smmulr(a0, m) + rnd, a1 = ed_smmulr(a1, m) + rnd;
            a2 = ed_smmulr(a2, m) + rnd, a3 = ed_smmulr(a3, m) + rnd;
        } else {
            a0 = ed_fc_ext_div1(a0, m, e, rnd);
            a1 = ed_fc_ext_div1(a1, m, e, rnd);
            a2 = ed_fc_ext_div1(a2, m, e, rnd);
            a3 = ed_fc_ext_div1(a3, m, e, rnd);
        }
        if (full) {
            y[0] = (int8_t)ed_clamp_s8(a0, -128, 127), y[1] = (int8_t)ed_clamp_s8(a1, -128, 127);
            y[2] = (int8_t)ed_clamp_s8(a2, -128, 127), y[3] = (int8_t)ed_clamp_s8(a3, -128, 127);
        } else {
            y[0] = (int8_t)ed_clamp_i32(a0, c->lo, c->hi), y[1] = (int8_t)ed_clamp_i32(a1, c->lo, c->hi);
            y[2] = (int8_t)ed_clamp_i32(a2, c->lo, c->hi), y[3] = (int8_t)ed_clamp_i32(a3, c->lo, c->hi);
        }
    }
    return w;
}

static void ed_fc_one(const ed_fc_params_t *p, const int8_t *x, int8_t *y)
{
    uint32_t xb[ED_FC_ONE_MAXK / 2];
    const int32_t n = p->in_depth, groups = n >> 2, out_depth = p->out_depth;
    const int32_t out4 = out_depth & ~3;
    const ed_fc_pix_t c = {p->bias,    p->multiplier, p->shift, p->per_channel,    p->output_offset,
                           p->act_min, p->act_max,    groups,   (size_t)out_depth};
    const int8_t *w;
    int32_t o, g;
    ed_fc_extend(x, 1, n, p->input_offset, xb);
    if (c.per_channel) {
        w = ed_fc_one_blocks(&c, xb, p->weights, y, out4, 0, 0, 0, 1, 0);
    } else if (c.shift[0] == 0) { /* one multiplier, no rounding divide */
        w = ed_fc_one_blocks(&c, xb, p->weights, y, out4, c.multiplier[0], 0, c.output_offset, 0, 1);
    } else { /* one multiplier and shift: read once per call */
        const int32_t e = -c.shift[0];
        const int32_t rnd = ((int32_t)1 << (e - 1)) + (int32_t)((uint32_t)c.output_offset << e);
        w = ed_fc_one_blocks(&c, xb, p->weights, y, out4, c.multiplier[0], e, rnd, 0, 0);
    }
    o = out4;
    for (; o < out_depth; ++o) { /* the last out % 4 rows, row-major */
        const uint32_t *xp = xb;
        int32_t a0 = c.bias != NULL ? 2 * c.bias[o] : 0;
        for (g = groups; g != 0; --g) {
            uint32_t xe, xo;
            const uint32_t wv = ed_read32(w);
            ED_READ64_INC(xp, xe, xo);
            a0 = ed_smlad(xe, ed_sxtb16(wv), a0);
            a0 = ed_smlad(xo, ed_sxtb16_ror8(wv), a0);
            w += 4;
        }
        y[o] = ed_fc_ext_out(&c, a0, o);
    }
}

/*
 * Three input rows (the rest after the six-row passes, as on a 3 x 3 map): extended once, then every output row
 * against the three, its weight word loaded and extended once for the three: per four inputs LDR, two SXTB16, one
 * LDM of the three rows' pairs and six SMLAD (10 instructions per 12 MACs, on an Armv7E-M core one fixed sequence
 * two groups a turn), against 19 per 16 MACs one row at a time; the requantization as in the one-row path. Taken
 * from ED_FC_TRI_MINK inputs on, where the dot products outweigh the row's three requantizations.
 */
#define ED_FC_TRI_MINK 48
#if ED_FC_DOT6_ASM
/* Four inputs of the three rows (r6..r11 by one LDM) against one row's weight word (r12 extended to r12, lr). */
#define ED_FC_G3_SEQ                  \
    "ldr r12, [r1], #16\n\t"          \
    "ldmia r0!, {r6, r7, r8, r9, r10, r11}\n\t" \
    "sxtb16 lr, r12, ror #8\n\t"      \
    "sxtb16 r12, r12\n\t"             \
    "smlad r3, r6, r12, r3\n\t"       \
    "smlad r3, r7, lr, r3\n\t"        \
    "smlad r4, r8, r12, r4\n\t"       \
    "smlad r4, r9, lr, r4\n\t"        \
    "smlad r5, r10, r12, r5\n\t"      \
    "smlad r5, r11, lr, r5\n\t"
#endif

/* The three accumulators of output row o (weights from w, `stride` bytes between its words) against xb. */
ED_ALWAYS_INLINE static inline void ed_fc_tri_row(const uint32_t *xb, const int8_t *w, int32_t groups, int32_t stride, int32_t b2,
                                 int32_t acc[3])
{
#if ED_FC_DOT6_ASM
    if (stride == 16) {
        register uint32_t r0_ __asm__("r0") = (uint32_t)(uintptr_t)xb;
        register uint32_t r1_ __asm__("r1") = (uint32_t)(uintptr_t)w;
        register uint32_t r2_ __asm__("r2") = (uint32_t)(uintptr_t)(xb + 6 * groups);
        register int32_t r3_ __asm__("r3") = b2;
        register int32_t r4_ __asm__("r4") = b2;
        register int32_t r5_ __asm__("r5") = groups;
        __asm__ volatile("lsls r5, r5, #31\n\t"
                         "mov r5, r4\n\t"
                         "bmi 2f\n"
                         "1:\n\t" ED_FC_G3_SEQ "2:\n\t" ED_FC_G3_SEQ "cmp r0, r2\n\t"
                         "bne 1b"
                         : "+r"(r0_), "+r"(r1_), "+r"(r3_), "+r"(r4_), "+r"(r5_)
                         : "r"(r2_)
                         : "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
        acc[0] = r3_, acc[1] = r4_, acc[2] = r5_;
        return;
    }
#endif
    {
        int32_t a0 = b2, a1 = b2, a2 = b2, g;
        for (g = groups; g != 0; --g) {
            const uint32_t wv = ed_read32(w);
            const uint32_t we = ed_sxtb16(wv), wo = ed_sxtb16_ror8(wv);
            w += stride;
            a0 = ed_smlad(xb[1], wo, ed_smlad(xb[0], we, a0));
            a1 = ed_smlad(xb[3], wo, ed_smlad(xb[2], we, a1));
            a2 = ed_smlad(xb[5], wo, ed_smlad(xb[4], we, a2));
            xb += 6;
        }
        acc[0] = a0, acc[1] = a1, acc[2] = a2;
    }
}

static void ed_fc_tri(const ed_fc_params_t *p, const int8_t *x, int8_t *y)
{
    uint32_t xb[3 * ED_FC_MAXK / 2];
    const int32_t n = p->in_depth, out_depth = p->out_depth, out4 = out_depth & ~3;
    const ed_fc_pix_t c = {p->bias,    p->multiplier, p->shift, p->per_channel,    p->output_offset,
                           p->act_min, p->act_max,    n >> 2,   (size_t)out_depth};
    int32_t o, acc[3];
    ed_fc_extend_pw(x, 3, n, p->input_offset, xb);
    for (o = 0; o < out_depth; ++o) { /* (every shift a right shift: ed_fc_ext_ok) */
        const int8_t *w = p->weights + (o < out4 ? (size_t)(o & ~3) * (size_t)n + (size_t)(o & 3) * 4u
                                                 : (size_t)o * (size_t)n);
        const int32_t q = c.per_channel ? o : 0, m = c.multiplier[q], e = -c.shift[q];
        const int32_t rnd = ((int32_t)1 << (e - 1)) + (int32_t)((uint32_t)c.output_offset << e);
        ed_fc_tri_row(xb, w, c.groups, o < out4 ? 16 : 4, c.bias != NULL ? 2 * c.bias[o] : 0, acc);
        y[o] = (int8_t)ed_clamp_s8(ed_fc_ext_div1(acc[0], m, e, rnd), c.lo, c.hi);
        y[c.step + (size_t)o] = (int8_t)ed_clamp_s8(ed_fc_ext_div1(acc[1], m, e, rnd), c.lo, c.hi);
        y[2 * c.step + (size_t)o] = (int8_t)ed_clamp_s8(ed_fc_ext_div1(acc[2], m, e, rnd), c.lo, c.hi);
    }
}

/* Whether the `rest` (< ED_FC_PIX) input rows after the last full pass take one pass of their own (ed_fc_pix_block
 * with rows = rest): from ED_FC_PART_MIN rows on it costs less than rest one-row passes (pointwise.py's cost model),
 * and its outputs fit in the extended block's buffer behind the extended rows (12 in_depth bytes). */
static int ed_fc_part_ok(const ed_fc_params_t *p, int32_t rest)
{
    return rest >= ED_FC_PART_MIN && 12 * p->in_depth + ED_FC_PIX * p->out_depth <= 2 * ED_FC_PIX * ED_FC_MAXK;
}

/* Input rows [b, b + rows) of the layer at x (rows <= ED_FC_PIX): extend them, then every output row. Fewer than
 * ED_FC_PIX rows (the last of the layer, ed_fc_part_ok) are padded with copies of the last one, their outputs
 * written behind the extended rows in xb and the rows' own copied to y at the end, so that nothing is written
 * beyond the layer's output and no input is read after an output (the output may trail the input). */
static void ed_fc_pix_block(const ed_fc_params_t *p, const int8_t *x, int8_t *y, int32_t rows)
{
    uint32_t xb[ED_FC_PIX * ED_FC_MAXK / 2];
    int8_t *yb = rows == ED_FC_PIX ? y : (int8_t *)(void *)(xb + 3 * p->in_depth);
    ed_fc_extend(x, rows, p->in_depth, p->input_offset, xb);
#if ED_FC_ROWS_FULL_ASM
    if (p->act_min == -128 && p->act_max == 127 && p->per_channel && p->bias != NULL && p->out_depth >= 4) {
        const int32_t out4 = p->out_depth & ~3;
        const ed_fc_pix_t c = {p->bias,    p->multiplier, p->shift,          p->per_channel,        p->output_offset,
                               p->act_min, p->act_max,    p->in_depth >> 2, (size_t)p->out_depth};
        int32_t o;
        ed_fc_rows_full(p, xb, yb, out4, p->output_offset == -128);
        for (o = out4; o < p->out_depth; ++o) { /* the last out % 4 rows, row-major */
            ed_fc_pix_row(&c, xb, p->weights + (size_t)o * (size_t)p->in_depth, o, yb + o, 4, 1, 0);
        }
    } else /* the general instances below serve the whole int8 range as well */
#else
    if (p->act_min == -128 && p->act_max == 127) {
        if (p->output_offset == -128) {
            ed_fc_pix_rows(p, xb, yb, 1, 1);
        } else {
            ed_fc_pix_rows(p, xb, yb, 1, 0);
        }
    } else
#endif
        if (p->act_min >= p->output_offset) {
        ed_fc_pix_rows(p, xb, yb, 0, 1);
    } else {
        ed_fc_pix_rows(p, xb, yb, 0, 0);
    }
    if (yb != y) {
        memcpy(y, yb, (size_t)rows * (size_t)p->out_depth);
    }
}
#endif

void ed_fc_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t n = p->in_depth;
    const int32_t n4 = n & ~3;
    const int32_t tail = n & 3;
    const int32_t out_depth = p->out_depth;
    const int32_t in_off = p->input_offset;
    const uint32_t xoff2 = ed_dup16(in_off);
    int32_t b = 0, o, t;
    int hoisted;
#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
    if (p->batches >= ED_FC_PIX && ed_fc_ext_ok(p, ED_FC_MAXK, 0)) {
        for (; b + ED_FC_PIX <= p->batches; b += ED_FC_PIX) {
            ed_fc_pix_block(p, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth, ED_FC_PIX);
        }
        if (ed_fc_part_ok(p, p->batches - b)) {
            ed_fc_pix_block(p, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth, p->batches - b);
            b = p->batches;
        }
    }
    if (b < p->batches && ed_fc_ext_ok(p, ED_FC_ONE_MAXK, 1)) {
        for (; b < p->batches; ++b) {
            ed_fc_one(p, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth);
        }
    }
#endif
    if (b == p->batches) {
        return;
    }
    hoisted = ed_fc_out_ok(p);
    const ed_fc_out_t q = {p->bias,           p->multiplier, p->shift,  p->per_channel,
                           p->output_offset, p->act_min,    p->act_max};
    for (; b < p->batches; ++b) {
        const int8_t *x_row = input + (size_t)b * (size_t)n;
        int8_t *y = output + (size_t)b * (size_t)out_depth;
        int32_t wsum = 0; /* weights_offset * sum(x + input_offset), 0 for int8 models */
        if (p->weights_offset != 0) {
            for (t = 0; t < n; ++t) {
                wsum += (int32_t)x_row[t] + in_off;
            }
            wsum *= p->weights_offset;
        }
        for (o = 0; o + 4 <= out_depth; o += 4) {
            const int8_t *w = p->weights + (size_t)o * (size_t)n;
            const int8_t *x = x_row;
            const int8_t *end4 = x_row + n4;
            int32_t a0 = wsum, a1 = wsum, a2 = wsum, a3 = wsum;
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
            {
                int32_t acc[4] = {0, 0, 0, 0};
                int32_t ws[4] = {0, 0, 0, 0};
                const int8_t *end16 = x_row + (n & ~15);
                w = ed_fc_mve16(x, end16, w, acc, ws);
                x = end16;
                a0 += acc[0] + in_off * ws[0];
                a1 += acc[1] + in_off * ws[1];
                a2 += acc[2] + in_off * ws[2];
                a3 += acc[3] + in_off * ws[3];
            }
#endif
            if ((((uintptr_t)w | (uintptr_t)n) & 3u) == 0u) {
                /* 4-byte aligned blocks (n % 4 == 0, as the export lays them out): eight inputs per step, the
                 * weights by post-indexed LDRD, a down-counter: 32 MACs per 46 instructions instead of 54 */
                int32_t k;
                for (k = (int32_t)((end4 - x) >> 3); k != 0; --k) {
                    ED_FC_ROWS4_STEP(ed_read32(x));
                    ED_FC_ROWS4_STEP(ed_read32(x + 4));
                    x += 8;
                }
            }
            while (x != end4) {
                const uint32_t xv = ed_read32(x);
                const uint32_t xe = ed_sxtab16(xoff2, xv), xo = ed_sxtab16_ror8(xoff2, xv);
                uint32_t wv = ed_read32(w);
                a0 = ed_smlad(xe, ed_sxtb16(wv), a0);
                a0 = ed_smlad(xo, ed_sxtb16_ror8(wv), a0);
                wv = ed_read32(w + 4);
                a1 = ed_smlad(xe, ed_sxtb16(wv), a1);
                a1 = ed_smlad(xo, ed_sxtb16_ror8(wv), a1);
                wv = ed_read32(w + 8);
                a2 = ed_smlad(xe, ed_sxtb16(wv), a2);
                a2 = ed_smlad(xo, ed_sxtb16_ror8(wv), a2);
                wv = ed_read32(w + 12);
                a3 = ed_smlad(xe, ed_sxtb16(wv), a3);
                a3 = ed_smlad(xo, ed_sxtb16_ror8(wv), a3);
                x += 4;
                w += 16;
            }
            for (t = 0; t < tail; ++t) {
                const int32_t xv = (int32_t)x[t] + in_off;
                a0 += xv * (int32_t)w[t];
                a1 += xv * (int32_t)w[tail + t];
                a2 += xv * (int32_t)w[2 * tail + t];
                a3 += xv * (int32_t)w[3 * tail + t];
            }
            if (hoisted) {
                ed_fc_out4(&q, o, a0, a1, a2, a3, y);
                continue;
            }
            y[o] = ED_FC_REQUANT(p, a0, o);
            y[o + 1] = ED_FC_REQUANT(p, a1, o + 1);
            y[o + 2] = ED_FC_REQUANT(p, a2, o + 2);
            y[o + 3] = ED_FC_REQUANT(p, a3, o + 3);
        }
        for (; o < out_depth; ++o) {
            const int8_t *w = p->weights + (size_t)o * (size_t)n;
            const int8_t *x = x_row;
            const int8_t *end4 = x_row + n4;
            int32_t a0 = wsum;
            while (x != end4) {
                const uint32_t xv = ed_read32(x), wv = ed_read32(w);
                a0 = ed_smlad(ed_sxtab16(xoff2, xv), ed_sxtb16(wv), a0);
                a0 = ed_smlad(ed_sxtab16_ror8(xoff2, xv), ed_sxtb16_ror8(wv), a0);
                x += 4;
                w += 4;
            }
            for (t = 0; t < tail; ++t) {
                a0 += ((int32_t)x[t] + in_off) * (int32_t)w[t];
            }
            y[o] = ED_FC_REQUANT(p, a0, o);
        }
    }
}

#if ED_FC_ROWS_FULL_ASM
/* Whether ed_fc_groups_full serves the layer: per-channel, a bias, the whole int8 range. */
static int ed_fc_full_ok(const ed_fc_params_t *p)
{
    return p->act_min == -128 && p->act_max == 127 && p->per_channel && p->bias != NULL && p->out_depth >= 4;
}

/* Input rows [b, b + rows) of the layer at x (rows: 3 or more times ED_FC_PIX, where ed_fc_full_ok): extended
 * group after group into xb (3 in_depth words a group), then every output row over the groups (ed_fc_groups_full,
 * its weights widened into `wide` unless NULL; the last out % 4 rows row-major, group by group). */
static void ed_fc_pw_groups(const ed_fc_params_t *p, const int8_t *x, int8_t *y, int32_t rows, uint32_t *xb,
                               uint32_t *wide)
{
    const int32_t n = p->in_depth, out4 = p->out_depth & ~3, groups = rows / ED_FC_PIX;
    const ed_fc_pix_t c = {p->bias,    p->multiplier, p->shift, p->per_channel,        p->output_offset,
                           p->act_min, p->act_max,    n >> 2,   (size_t)p->out_depth};
    int32_t o, g;
    for (g = 0; g < groups; ++g) {
        ed_fc_extend_pw(x + (size_t)(ED_FC_PIX * g) * (size_t)n, ED_FC_PIX, n, p->input_offset, xb + 3 * n * g);
    }
    ed_fc_groups_full(p, xb, groups, y, out4, p->output_offset == -128, wide);
    for (g = 0; g < groups; ++g) {
        for (o = out4; o < p->out_depth; ++o) {
            ed_fc_pix_row(&c, xb + 3 * n * g, p->weights + (size_t)o * (size_t)n, o,
                          y + (size_t)(ED_FC_PIX * g) * c.step + (size_t)o, 4, 1, 0);
        }
    }
}

/* Groups per pass from which a pass widens each four-row block's weights once for its groups (ed_fc_widen4, 16
 * instructions per 24 MACs after; passes/pointwise.py WIDE_MIN). */
#define ED_FC_WIDE_MIN 3

/* The input rows of the layer from 0 while 3 or more groups of ED_FC_PIX are left before `end`, at most `most` a
 * pass (ed_fc_pw_groups: the extended block at xb, the weights widened into `wide` unless NULL in passes of
 * ED_FC_WIDE_MIN groups or more); returns the rows done. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static int32_t ed_fc_pw_passes(const ed_fc_params_t *p, const int8_t *input, int8_t *output, int32_t end,
                               int32_t most, uint32_t *xb, uint32_t *wide)
{
    const size_t n = (size_t)p->in_depth, out_depth = (size_t)p->out_depth;
    int32_t b, rows;
    for (b = 0; end - b >= 3 * ED_FC_PIX; b += rows) {
        rows = (end - b) / ED_FC_PIX * ED_FC_PIX;
        rows = rows < most ? rows : most;
        ed_fc_pw_groups(p, input + (size_t)b * n, output + (size_t)b * out_depth, rows, xb,
                        rows >= ED_FC_WIDE_MIN * ED_FC_PIX ? wide : NULL);
    }
    return b;
}

/* The same with the extended block and the widened weights on the stack (most: up to ED_FC_MAXK / in_depth times
 * ED_FC_PIX, so rows of up to ED_FC_MAXK / 3 inputs). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static int32_t ed_fc_pw_passes_stack(const ed_fc_params_t *p, const int8_t *input, int8_t *output, int32_t end,
                                     int32_t most)
{
    uint32_t xb[ED_FC_PIX * ED_FC_MAXK / 2], wide[2 * (ED_FC_MAXK / 3)];
    return ed_fc_pw_passes(p, input, output, end, most, xb, wide);
}
#endif

#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
/*
 * Thin 1x1 layers (in_depth 4, 8, 12 or 16: ed_fc_thin_ok) on the DSP cores: a pixel's inputs stay in registers
 * as extended pairs (the input offset added by SXTAB16: (x0, x2), (x1, x3), ... in 2, 4, 6 or 8 registers) while
 * the output channels are walked; each channel's doubled bias, its weights as int16 pairs (doubled, in the pairs'
 * order), its multiplier, rounding term (with the output offset: see ED_FC_ROWS_FULL) and right shift lie in
 * ED_FC_THIN_S(n) consecutive words of a table on the stack, built once a call, which one to four LDM bring in
 * (ED_FC_THIN_SLOT*, ed_fc_thin.h). Per output at 8 inputs: one LDM, four SMLAD, SMMLAR, ASR, SSAT, STRB and a quarter of
 * the channel loop's test (four channels a turn, entered part-way; the last channel's shift word has bit 31 set,
 * which ASR ignores). Whole int8 range only (one SSAT), the outputs pixel after pixel as ed_fc_s8 writes them.
 */

/* Whether the thin path serves the layer (the extended paths' bounds, the whole int8 range, the table fits). */
static int ed_fc_thin_ok(const ed_fc_params_t *p)
{
    const int32_t n = p->in_depth;
    return n >= 4 && n <= 16 && p->act_min == -128 && p->act_max == 127 &&
           p->out_depth * ED_FC_THIN_S(n) <= ED_FC_THIN_WORDS && ed_fc_ext_ok(p, 16, 0);
}

/* The table of the layer's channels (see above) into t: the weights of a row of the four-row blocks (o < out4)
 * are words 16 bytes apart, the rest row-major. */
static void ed_fc_thin_table(const ed_fc_params_t *p, uint32_t *t)
{
    const int32_t n = p->in_depth, out4 = p->out_depth & ~3;
    const uint32_t c1 = 1u + 2u * (uint32_t)p->output_offset;
    int32_t o, q;
    for (o = 0; o < p->out_depth; ++o) {
        const int32_t k = p->per_channel ? o : 0, e = -p->shift[k];
        const int8_t *w = o < out4 ? p->weights + (size_t)(o & ~3) * (size_t)n + (size_t)(o & 3) * 4u
                                   : p->weights + (size_t)o * (size_t)n;
        const size_t step = o < out4 ? 16u : 4u;
        *t++ = 2u * (uint32_t)(p->bias != NULL ? p->bias[o] : 0);
        for (q = 0; q < n / 4; ++q, w += step) {
            *t++ = (uint32_t)(uint16_t)(2 * w[0]) | ((uint32_t)(uint16_t)(2 * w[2]) << 16);
            *t++ = (uint32_t)(uint16_t)(2 * w[1]) | ((uint32_t)(uint16_t)(2 * w[3]) << 16);
        }
        *t++ = (uint32_t)p->multiplier[k];
        *t++ = (uint32_t)((int32_t)(c1 << e) >> 1);
        *t++ = (uint32_t)e | (o == p->out_depth - 1 ? 0x80000000u : 0u);
    }
}

#if ED_FC_ROWS_FULL_ASM
/*
 * The whole call: the frame f (table, input, offsets' pair, entry slot, output's end, output) at r0 pushed as five
 * words (the entry slot made the address of slot 4 - out % 4: 20f plus that many slots, the Thumb bit set); per
 * pixel one LDM of the frame into T, X, F, E (PIX_: the pixel's inputs extended), BX into the channel loop, four
 * SLOT_ a turn until the flag register `flag` is negative, then the next pixel until lr reaches the end.
 */
#define ED_FC_THIN_CALL(T, X, F, E, PIX_, SLOT_, flag)                                                       \
    ED_FC_THIN_RUN("ldr lr, [r0, #20]\n\t"                                                                   \
                   "ldmia r0, {r1, r2, r3, r4, r5}\n\t"                                                      \
                   "adr.w r6, 20f\n\t"                                                                       \
                   "adr.w r7, 21f\n\t"                                                                       \
                   "sub r7, r7, r6\n\t"                                                                      \
                   "mla r4, r7, r4, r6\n\t"                                                                  \
                   "orr r4, r4, #1\n\t"                                                                      \
                   "push {r1, r2, r3, r4, r5}\n"                                                             \
                   "1:\n\t"                                                                                  \
                   "ldmia sp, {" T ", " X ", " F ", " E "}\n\t" PIX_ "str " X ", [sp, #4]\n\t"               \
                   "bx " E "\n"                                                                              \
                   "20:\n\t" SLOT_ "21:\n\t" SLOT_ SLOT_ SLOT_ "cmp " flag ", #0\n\t"                        \
                   "bpl 20b\n\t"                                                                             \
                   "ldr r0, [sp, #16]\n\t"                                                                   \
                   "cmp lr, r0\n\t"                                                                          \
                   "bne 1b\n\t"                                                                              \
                   "add sp, sp, #20")
#define ED_FC_THIN_ALL(OUT_)                                                                                \
    do {                                                                                                    \
        switch (n) {                                                                                        \
        case 4: ED_FC_THIN_CALL("r4", "r5", "r6", "r7", ED_FC_THIN_PIX4, ED_FC_THIN_SLOT4(OUT_, ED_FC_THIN_SAT_REG, ""), "r10"); break; \
        case 8: ED_FC_THIN_CALL("r4", "r5", "r6", "r7", ED_FC_THIN_PIX8, ED_FC_THIN_SLOT8(OUT_, ED_FC_THIN_SAT_REG, ""), "r12"); break; \
        case 12: ED_FC_THIN_CALL("r6", "r7", "r8", "r9", ED_FC_THIN_PIX12, ED_FC_THIN_SLOT12(OUT_, ED_FC_THIN_SAT_REG, ""), "r11"); break; \
        default: ED_FC_THIN_CALL("r8", "r9", "r10", "r11", ED_FC_THIN_PIX16, ED_FC_THIN_SLOT16(OUT_, ED_FC_THIN_SAT_REG, ""), "r11"); break; \
        }                                                                                                   \
    } while (0)
#endif

/* The layer (ed_fc_thin_ok) over its pixels: the table, then pixel after pixel (see above). */
static void ed_fc_thin(const ed_fc_params_t *p, const int8_t *x, int8_t *y)
{
    uint32_t t[ED_FC_THIN_WORDS];
    const int32_t n = p->in_depth, out_depth = p->out_depth;
    const uint32_t off2 = ((uint32_t)p->input_offset & 0xffffu) * 0x10001u;
    ed_fc_thin_table(p, t);
#if ED_FC_ROWS_FULL_ASM
    {
        const uint32_t f[6] = {(uint32_t)(uintptr_t)t, (uint32_t)(uintptr_t)x, off2,
                               (uint32_t)((4 - out_depth % 4) % 4),
                               (uint32_t)(uintptr_t)(y + (size_t)p->batches * (size_t)out_depth),
                               (uint32_t)(uintptr_t)y};
        if (p->output_offset == -128) {
            ED_FC_THIN_ALL(ED_FC_THIN_NOFIX);
        } else {
            ED_FC_THIN_ALL(ED_FC_THIN_FIX);
        }
    }
#else
    {
        const int nofix = p->output_offset == -128;
        int32_t b, o, q;
        uint32_t xe[8];
        for (b = 0; b < p->batches; ++b, x += n) {
            const uint32_t *c = t;
            for (q = 0; q < n / 4; ++q) {
                uint32_t v;
                memcpy(&v, x + 4 * q, 4);
                xe[2 * q] = ed_sxtab16(off2, v);
                xe[2 * q + 1] = ed_sxtab16_ror8(off2, v);
            }
            for (o = 0; o < out_depth; ++o, c += ED_FC_THIN_S(n)) {
                int32_t a = (int32_t)c[0], v;
                const int32_t m = (int32_t)c[n / 2 + 1], rnd = (int32_t)c[n / 2 + 2], e = (int32_t)(c[n / 2 + 3] & 31u);
                for (q = 0; q < n / 2; ++q) {
                    a = ed_smlad(xe[q], c[1 + q], a);
                }
                a = ed_smmulr(a, m);
                v = (a + rnd + (nofix ? 0 : (a >> 31))) >> e;
                *y++ = (int8_t)ed_clamp_s8(v, -128, 127);
            }
        }
    }
#endif
}
#endif

/*
 * A 1x1 convolution over its pixels (pointwise_s8, passes/pointwise.py; the DSP cores): ed_fc_s8, with passes over
 * several six-pixel groups, rows outer (ed_fc_pw_groups), where ed_fc_full_ok and three or more groups fit the
 * extended block and are left, and the last three pixels of a map in a pass of their own (ed_fc_tri) from
 * ED_FC_TRI_MINK inputs on; passes of ED_FC_WIDE_MIN groups or more widen the weights once (ed_fc_groups_full).
 * The extended block is s->buf where its s->bytes (arena bytes the planner gave the layer; s NULL: none) hold at
 * least the stack's groups and ED_FC_WIDE_MIN: 12 in_depth bytes a group, 8 in_depth bytes after them for the
 * widened weights. An entry of its own, so that
 * only the models with such layers link these paths (--gc-sections): fully-connected and im2col layers call
 * ed_fc_s8. The pixels in order, each pass reading its inputs before it writes its outputs, as ed_fc_s8.
 */
void ed_fc_pw_buf_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output, const ed_fc_scratch_t *s)
{
#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
    const int32_t n = p->in_depth, out_depth = p->out_depth;
    const int tri = p->batches % ED_FC_PIX == 3 && n >= ED_FC_TRI_MINK;
    int32_t most = ED_FC_PIX * (ED_FC_MAXK / n);
    ed_fc_params_t q = *p;
    int32_t b = 0;
#if ED_FC_ROWS_FULL_ASM
    uint32_t *xs = NULL, *wide = NULL;
    if (s != NULL && n > 0) {
        void *scratch = s->buf;
        const int32_t bytes = s->bytes;
        const int32_t gw = bytes >= 8 * n ? (bytes - 8 * n) / (12 * n) : 0;
        if (gw >= ED_FC_WIDE_MIN && ED_FC_PIX * gw >= most) { /* widened, at least the stack's groups */
            xs = (uint32_t *)scratch;
            wide = xs + 3 * n * gw;
            most = ED_FC_PIX * gw;
        }
    }
#else
    (void)s;
#endif
    if ((tri || (most >= 3 * ED_FC_PIX && p->batches >= 3 * ED_FC_PIX)) && ed_fc_ext_ok(p, ED_FC_MAXK, 0)) {
#if ED_FC_ROWS_FULL_ASM
        /* (the last group stays with rows after it that take a pass of their own in ed_fc_s8) */
        const int32_t end = p->batches - (ed_fc_part_ok(p, p->batches % ED_FC_PIX) ? ED_FC_PIX : 0);
        if (most >= 3 * ED_FC_PIX && end >= 3 * ED_FC_PIX && ed_fc_full_ok(p)) {
            b = xs != NULL ? ed_fc_pw_passes(p, input, output, end, most, xs, wide)
                           : ed_fc_pw_passes_stack(p, input, output, end, most);
        }
#endif
        if (tri) { /* the groups left one a pass, then the last three rows */
            for (; b + ED_FC_PIX <= p->batches; b += ED_FC_PIX) {
                ed_fc_pix_block(p, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth, ED_FC_PIX);
            }
            ed_fc_tri(p, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth);
            return;
        }
    }
    q.batches = p->batches - b;
    if (q.batches > 0) {
        ed_fc_s8(&q, input + (size_t)b * (size_t)n, output + (size_t)b * (size_t)out_depth);
    }
#else
    (void)s;
    ed_fc_s8(p, input, output);
#endif
}

/* The same with the extended block on the stack only. */
void ed_fc_pw_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
    ed_fc_pw_buf_s8(p, input, output, NULL);
}

/*
 * A thin 1x1 convolution (pointwise_s8 where passes/pointwise.py prices the thin path below the others: 4, 8, 12 or
 * 16 inputs, the whole int8 range): ed_fc_thin, a layer it does not serve ed_fc_pw_s8. An entry of its own, so that
 * only the models with such layers link it.
 */
void ed_fc_thin_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output)
{
#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
    if (ed_fc_thin_ok(p)) {
        ed_fc_thin(p, input, output);
        return;
    }
#endif
    ed_fc_pw_s8(p, input, output);
}

/*
 * A thin 1x1 convolution through its layer's own sequence (pointwise_s8 where passes/pointwise.py chose the per-layer
 * thin path: templates/c/thin_layer.c.j2): the table as ed_fc_thin's, then run(f) with the frame f (table, input,
 * offsets' pair, input's end, output); a layer the thin path does not serve, or without the fixed sequences,
 * ed_fc_thin_s8.
 */
void ed_fc_thin_layer_s8(const ed_fc_params_t *p, const int8_t *input, int8_t *output, void (*run)(const uint32_t *f))
{
#if ED_FC_THIN_ASM && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
    if (ed_fc_thin_ok(p)) {
        uint32_t t[ED_FC_THIN_WORDS];
        const uint32_t f[5] = {(uint32_t)(uintptr_t)t, (uint32_t)(uintptr_t)input,
                               ((uint32_t)p->input_offset & 0xffffu) * 0x10001u,
                               (uint32_t)(uintptr_t)(input + (size_t)p->batches * (size_t)p->in_depth),
                               (uint32_t)(uintptr_t)output};
        ed_fc_thin_table(p, t);
        run(f);
        return;
    }
#else
    (void)run;
#endif
    ed_fc_thin_s8(p, input, output);
}
