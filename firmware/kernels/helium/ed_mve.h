/*
 * ed_mve.h - the Helium (M-profile Vector Extension, Armv8.1-M: Cortex-M55/M85) operations the Helium kernels
 * use, and one requantization built from them.
 *
 * On a core with MVE (__ARM_FEATURE_MVE bit 0: integer MVE) these are the ACLE intrinsics of arm_mve.h, one
 * instruction each. Elsewhere (the host, where the kernel tables run under ASan/UBSan) the same names are plain
 * C99 over small structs with the same lane-by-lane results (wrapping, saturating and rounding exactly as the
 * instructions do), so the very same kernel source is tested on the host and, with the real instructions, on the
 * emulated Cortex-M55. Predicated loads read (and predicated stores write) only their active lanes, as the
 * hardware does, so the sanitizers check every byte the kernels touch.
 *
 * The subset: 16 x int8, 4 x int32 vectors; tail predicates (VCTP); contiguous and widening loads (VLDRB,
 * VLDRW), narrowing stores (VSTRB.32); VMLADAVA (int8 dot product into a scalar), VADDVA; lane-wise add,
 * multiply, shifts, saturating add, rounding doubling high multiply (VQRDMULH), min and max; for pooling, byte
 * lanes' max and min and halfword sums of widened bytes.
 */
#ifndef ED_MVE_H
#define ED_MVE_H

#include <stdint.h>

#include "ed_fixedpoint.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define ED_MVE_NATIVE 1
#else
#define ED_MVE_NATIVE 0

typedef struct {
    int8_t v[16];
} int8x16_t;
typedef struct {
    int32_t v[4];
} int32x4_t;
typedef struct {
    uint32_t v[4];
} uint32x4_t;
typedef uint16_t mve_pred16_t; /* one bit per byte lane, as the VPR's P0 field */

/* Lanes [0, n) active (n >= lanes: all). */
static inline mve_pred16_t vctp8q(uint32_t n) { return (mve_pred16_t)(n >= 16u ? 0xFFFFu : ((1u << n) - 1u)); }
static inline mve_pred16_t vctp32q(uint32_t n)
{
    return (mve_pred16_t)(n >= 4u ? 0xFFFFu : ((1u << (4u * n)) - 1u));
}

/*
 * An operation that builds a vector lane by lane: `r.v[i] = ...` for each lane i of the `lanes` (ED_MVE_MAKE,
 * returning r), or that stores a vector lane by lane (ED_MVE_STORE).
 */
#define ED_MVE_MAKE(vec_t, name, params, lanes, lane)                                                               \
    static inline vec_t name params                                                                                 \
    {                                                                                                               \
        vec_t r;                                                                                                    \
        int i;                                                                                                      \
        for (i = 0; i < (lanes); ++i) {                                                                             \
            lane;                                                                                                   \
        }                                                                                                           \
        return r;                                                                                                   \
    }
#define ED_MVE_STORE(name, params, lanes, lane)                                                                     \
    static inline void name params                                                                                  \
    {                                                                                                               \
        int i;                                                                                                      \
        for (i = 0; i < (lanes); ++i) {                                                                             \
            lane;                                                                                                   \
        }                                                                                                           \
    }
/* Lane i of a predicate (one bit per byte lane) for lanes of 1 or 4 bytes. */
#define ED_MVE_ACTIVE8(pred, i) (((pred) >> (i)) & 1u)
#define ED_MVE_ACTIVE32(pred, i) (((pred) >> (4 * (i))) & 1u)

/* Loads: contiguous (VLDRB, VLDRW), widening (VLDRB.S32), and predicated (inactive lanes read as 0). */
ED_MVE_MAKE(int8x16_t, vldrbq_s8, (const int8_t *p), 16, r.v[i] = p[i])
ED_MVE_MAKE(int8x16_t, vldrbq_z_s8, (const int8_t *p, mve_pred16_t pred), 16,
            r.v[i] = ED_MVE_ACTIVE8(pred, i) ? p[i] : 0)
ED_MVE_MAKE(int32x4_t, vldrbq_s32, (const int8_t *p), 4, r.v[i] = p[i])
ED_MVE_MAKE(int32x4_t, vldrbq_z_s32, (const int8_t *p, mve_pred16_t pred), 4,
            r.v[i] = ED_MVE_ACTIVE32(pred, i) ? p[i] : 0)
ED_MVE_MAKE(int32x4_t, vldrwq_s32, (const int32_t *p), 4, r.v[i] = p[i])
ED_MVE_MAKE(uint32x4_t, vldrwq_u32, (const uint32_t *p), 4, r.v[i] = p[i])

/* Stores of the active lanes: narrowing (VSTRB.32), bytes (VSTRB.8), the low byte of each lane at base +
 * offset[lane] (VSTRB.32 scatter), words (VSTRW.32). */
ED_MVE_STORE(vstrbq_p_s32, (int8_t *p, int32x4_t a, mve_pred16_t pred), 4,
             if (ED_MVE_ACTIVE32(pred, i)) p[i] = (int8_t)a.v[i])
static inline void vstrbq_s32(int8_t *p, int32x4_t a) { vstrbq_p_s32(p, a, 0xFFFFu); }
ED_MVE_STORE(vstrbq_p_s8, (int8_t *p, int8x16_t a, mve_pred16_t pred), 16, if (ED_MVE_ACTIVE8(pred, i)) p[i] = a.v[i])
ED_MVE_STORE(vstrbq_scatter_offset_p_s32, (int8_t *base, uint32x4_t offset, int32x4_t a, mve_pred16_t pred), 4,
             if (ED_MVE_ACTIVE32(pred, i)) base[offset.v[i]] = (int8_t)a.v[i])
static inline void vstrbq_scatter_offset_s32(int8_t *base, uint32x4_t offset, int32x4_t a)
{
    vstrbq_scatter_offset_p_s32(base, offset, a, 0xFFFFu);
}
ED_MVE_STORE(vstrwq_s32, (int32_t *p, int32x4_t a), 4, p[i] = a.v[i])

/* acc + sum of a[i] * b[i] (VMLADAVA.S8; the 32-bit accumulator wraps). */
static inline int32_t vmladavaq_s8(int32_t acc, int8x16_t a, int8x16_t b)
{
    int i;
    for (i = 0; i < 16; ++i) {
        acc = ed_add_wrap(acc, (int32_t)a.v[i] * (int32_t)b.v[i]);
    }
    return acc;
}
/* acc + sum of a[i] (VADDVA.S8). */
static inline int32_t vaddvaq_s8(int32_t acc, int8x16_t a)
{
    int i;
    for (i = 0; i < 16; ++i) {
        acc = ed_add_wrap(acc, a.v[i]);
    }
    return acc;
}

/* Every lane x (VDUP). */
ED_MVE_MAKE(int8x16_t, vdupq_n_s8, (int8_t x), 16, r.v[i] = x)
ED_MVE_MAKE(int32x4_t, vdupq_n_s32, (int32_t x), 4, r.v[i] = x)

/* The saturating sum of two int32 (one lane of VQADD.S32). */
static inline int32_t ed_mve_qadd1(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > ED_INT32_MAX_ ? ED_INT32_MAX_ : s < ED_INT32_MIN_ ? ED_INT32_MIN_ : (int32_t)s;
}

/* Lane-wise: wrapping add and multiply, and, max, min, saturating add (VQADD.S32), saturating rounding doubling
 * multiply returning the high half (VQRDMULH.S32: gemmlowp's SaturatingRoundingDoublingHighMul). */
#define ED_MVE_LANEWISE(name, op) ED_MVE_MAKE(int32x4_t, name, (int32x4_t a, int32x4_t b), 4, r.v[i] = op)
ED_MVE_LANEWISE(vaddq_s32, ed_add_wrap(a.v[i], b.v[i]))
ED_MVE_LANEWISE(vmulq_s32, (int32_t)((uint32_t)a.v[i] * (uint32_t)b.v[i]))
ED_MVE_LANEWISE(vandq_s32, (int32_t)((uint32_t)a.v[i] & (uint32_t)b.v[i]))
ED_MVE_LANEWISE(vmaxq_s32, ed_max_i32(a.v[i], b.v[i]))
ED_MVE_LANEWISE(vminq_s32, ed_min_i32(a.v[i], b.v[i]))
ED_MVE_LANEWISE(vqaddq_s32, ed_mve_qadd1(a.v[i], b.v[i]))
ED_MVE_LANEWISE(vqrdmulhq_s32, ed_srdhm(a.v[i], b.v[i]))
static inline int32x4_t vaddq_n_s32(int32x4_t a, int32_t b) { return vaddq_s32(a, vdupq_n_s32(b)); }
static inline int32x4_t vmulq_n_s32(int32x4_t a, int32_t b) { return vmulq_s32(a, vdupq_n_s32(b)); }
/* VQRDMULH by a scalar. */
static inline int32x4_t vqrdmulhq_n_s32(int32x4_t a, int32_t b) { return vqrdmulhq_s32(a, vdupq_n_s32(b)); }

/* Arithmetic shift right by an immediate 1..32 (VSHR.S32); >> of a negative value is arithmetic. */
ED_MVE_MAKE(int32x4_t, vshrq_n_s32, (int32x4_t a, int n), 4, r.v[i] = n >= 32 ? (a.v[i] < 0 ? -1 : 0) : a.v[i] >> n)
/* Shift by the signed bottom byte of each lane of b: left (wrapping) when positive, right (truncating) when
 * negative (VSHL.S32 by register). */
static inline int32_t ed_mve_shl1(int32_t a, int32_t s)
{
    return s >= 32 ? 0 : s >= 0 ? ed_shl_wrap(a, s) : s <= -32 ? (a < 0 ? -1 : 0) : a >> -s;
}
/* The same with rounding: a right shift by n adds 2^(n-1) first, in wider precision (VRSHL.S32). */
static inline int32_t ed_mve_rshl1(int32_t a, int32_t s)
{
    const int32_t n = s < -32 ? 32 : -s;
    if (s >= 0) {
        return s >= 32 ? 0 : ed_shl_wrap(a, s);
    }
    return (int32_t)(((int64_t)a + ((int64_t)1 << (n - 1))) >> n);
}
ED_MVE_LANEWISE(vshlq_s32, ed_mve_shl1(a.v[i], (int8_t)b.v[i]))
ED_MVE_LANEWISE(vrshlq_s32, ed_mve_rshl1(a.v[i], (int8_t)b.v[i]))
/* Every lane shifted by the same register: left (wrapping) when positive, right (truncating) when negative
 * (VSHL.S32 by a scalar). */
static inline int32x4_t vshlq_r_s32(int32x4_t a, int32_t s) { return vshlq_s32(a, vdupq_n_s32(s)); }
/* The same with rounding (VRSHL.S32 by a scalar). */
static inline int32x4_t vrshlq_n_s32(int32x4_t a, int32_t s) { return vrshlq_s32(a, vdupq_n_s32(s)); }
/* Pooling: 16 x int8 lane-wise max and min (VMAX.S8, VMIN.S8), 8 x int16 sums of widened bytes (VLDRB.S16
 * predicated, VADD.I16 wrapping, VSTRH.16). */
typedef struct {
    int16_t v[8];
} int16x8_t;
static inline mve_pred16_t vctp16q(uint32_t n)
{
    return (mve_pred16_t)(n >= 8u ? 0xFFFFu : ((1u << (2u * n)) - 1u));
}
#define ED_MVE_ACTIVE16(pred, i) (((pred) >> (2 * (i))) & 1u)
ED_MVE_MAKE(int8x16_t, vmaxq_s8, (int8x16_t a, int8x16_t b), 16, r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i])
ED_MVE_MAKE(int8x16_t, vminq_s8, (int8x16_t a, int8x16_t b), 16, r.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i])
ED_MVE_MAKE(int16x8_t, vdupq_n_s16, (int16_t x), 8, r.v[i] = x)
ED_MVE_MAKE(int16x8_t, vldrbq_z_s16, (const int8_t *p, mve_pred16_t pred), 8,
            r.v[i] = ED_MVE_ACTIVE16(pred, i) ? p[i] : 0)
ED_MVE_MAKE(int16x8_t, vaddq_s16, (int16x8_t a, int16x8_t b), 8,
            r.v[i] = (int16_t)(uint16_t)((uint32_t)(uint16_t)a.v[i] + (uint32_t)(uint16_t)b.v[i]))
ED_MVE_STORE(vstrhq_s16, (int16_t *p, int16x8_t a), 8, p[i] = a.v[i])
#endif /* MVE */

/*
 * TFLite Micro's requantization (ed_mbqm: x * 2^left, SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT, ties away from zero) on four lanes (ed_mve_mbqm), and with the output offset and the
 * activation clamp (ed_mve_requant). neg_right
 * holds minus the right shift (0 or negative): ANDed with a negative lane it sets the sign bit, so the
 * arithmetic shift by 31 gives -1 exactly where the lane is negative and a right shift follows; adding that
 * (saturating) before VRSHL's round-half-up turns it into round-half-away-from-zero (the gemmlowp NEON idiom).
 */
static inline int32x4_t ed_mve_mbqm(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right)
{
    acc = vqrdmulhq_s32(vshlq_s32(acc, left), mult);
    return vrshlq_s32(vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, neg_right), 31)), neg_right);
}

static inline int32x4_t ed_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t neg_right,
                                       int32_t out_off, int32_t lo, int32_t hi)
{
    acc = vaddq_n_s32(ed_mve_mbqm(acc, mult, left, neg_right), out_off);
    return vminq_s32(vmaxq_s32(acc, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

/*
 * Per-output-channel requantization parameters of up to ED_MVE_CHUNK channels, laid out for four-lane loads:
 * the bias (plus, where the caller folds it in, the input offset times the filter's weight sum), the multiplier,
 * the left shift and minus the right shift. Filled once per chunk of channels on the stack (1 KB).
 */
#define ED_MVE_CHUNK 64
typedef struct {
    int32_t bias[ED_MVE_CHUNK];
    int32_t mult[ED_MVE_CHUNK];
    int32_t left[ED_MVE_CHUNK];
    int32_t neg_right[ED_MVE_CHUNK];
} ed_mve_quant_t;

/* Channels [c0, c0 + n) of a layer's (per-channel or per-tensor) parameters into q; bias may be NULL. */
static inline void ed_mve_quant_fill(ed_mve_quant_t *q, int32_t c0, int32_t n, const int32_t *bias,
                                     const int32_t *multiplier, const int32_t *shift, int32_t per_channel)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t c = per_channel ? c0 + i : 0;
        q->bias[i] = bias != NULL ? bias[c0 + i] : 0;
        q->mult[i] = multiplier[c];
        q->left[i] = shift[c] > 0 ? shift[c] : 0;
        q->neg_right[i] = shift[c] > 0 ? 0 : shift[c];
    }
    for (; i < ED_MVE_CHUNK && (i & 3) != 0; ++i) { /* the lanes of the last vector that store nothing */
        q->bias[i] = q->mult[i] = q->left[i] = q->neg_right[i] = 0;
    }
}

/* Four accumulators (channels i..i+3 of the chunk) requantized and stored as four bytes (the first n). */
static inline void ed_mve_store4(int8_t *out, int32x4_t acc, const ed_mve_quant_t *q, int32_t i, int32_t out_off,
                                 int32_t lo, int32_t hi, int32_t n)
{
    acc = ed_mve_requant(acc, vldrwq_s32(q->mult + i), vldrwq_s32(q->left + i), vldrwq_s32(q->neg_right + i),
                         out_off, lo, hi);
    if (n >= 4) {
        vstrbq_s32(out, acc);
    } else {
        vstrbq_p_s32(out, acc, vctp32q((uint32_t)n));
    }
}

#endif /* ED_MVE_H */
