/*
 * ed_simd.h - the few Armv7E-M DSP (SIMD within a register) operations the Cortex-M DSP kernels use.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33 with DSP) they are the ACLE
 * intrinsics of arm_acle.h, one instruction each. Elsewhere (the host, where the kernel tables run under
 * ASan/UBSan) they are plain C99 with the same bit-level results, so the very same kernel source is tested on
 * the host and, with the real instructions, on the emulated Cortex-M4.
 *
 *   ed_sxtb16(x)        bytes 0 and 2 of x sign-extended into two halfwords        (SXTB16)
 *   ed_sxtb16_ror8(x)   bytes 1 and 3 of x sign-extended into two halfwords        (SXTB16 x, ROR #8)
 *   ed_sxtab16(a, x)    halfwords of a plus bytes 0 and 2 of x, sign-extended       (SXTAB16)
 *   ed_sxtab16_ror8(a, x) the same with bytes 1 and 3                               (SXTAB16 x, ROR #8)
 *   ed_smlad(x, y, acc) acc + x.lo * y.lo + x.hi * y.hi (halfwords, wrapping)        (SMLAD)
 *   ed_sadd16(x, y), ed_ssub16(x, y)  halfword-wise sum / difference, wrapping           (SADD16, SSUB16)
 *   ed_smlabb(x, y, acc) acc + x.lo * y.lo;  ed_smlatt(x, y, acc) acc + x.hi * y.hi     (SMLABB, SMLATT)
 *   ed_smlabt(x, y, acc) acc + x.lo * y.hi;  ed_smlatb(x, y, acc) acc + x.hi * y.lo     (SMLABT, SMLATB)
 *   ed_smmulr(a, b)     floor((a * b + 2^31) / 2^32);  ed_smmlar(a, b, c) c plus that, wrapping (SMMULR, SMMLAR)
 *   ed_read32(p)        four bytes from any address as one word (unaligned LDR)
 *   ED_READ64(p, off, lo, hi), ED_READ64_INC(p, lo, hi)  two words from a 4-byte aligned address (LDRD; the
 *                       second form advances p by 8 bytes)
 */
#ifndef ED_SIMD_H
#define ED_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ed_fixedpoint.h"
#include "edgesdk_kernels.h" /* ED_ROUNDING_SINGLE */

/* -ffreestanding builds do not treat memcpy/memset as builtins: name the builtins so a small copy stays one
 * (unaligned) LDR and a small fill a few stores. */
#if defined(__GNUC__) || defined(__clang__)
#define ED_MEMCPY_ __builtin_memcpy
#define ED_MEMSET_ __builtin_memset
#define ED_TRAP_() __builtin_trap()
#define ED_ALWAYS_INLINE __attribute__((always_inline))
#else
#define ED_MEMCPY_ memcpy
#define ED_MEMSET_ memset
#define ED_TRAP_() ((void)0)
#define ED_ALWAYS_INLINE
#endif

static inline uint32_t ed_read32(const int8_t *p)
{
    uint32_t v;
    ED_MEMCPY_(&v, p, sizeof v);
    return v;
}

/* One word to any address (STR). */
static inline void ed_write32(void *p, uint32_t v) { ED_MEMCPY_(p, &v, sizeof v); }

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

/* ED_READ64(p, off, lo, hi): the two words at byte offset `off` (a literal) of 4-byte aligned `p` in one LDRD
 * (GCC splits 64-bit loads into two LDR on Cortex-M). */
#define ED_READ64(p, off, lo, hi)                                                                   \
    __asm__("ldrd %0, %1, [%2, #" #off "]"                                                         \
            : "=r"(lo), "=r"(hi)                                                                    \
            : "r"(p), "m"(*(const uint32_t(*)[2])(const void *)((const char *)(p) + (off))))

/* ED_READ64_INC(p, lo, hi): the two words at 4-byte aligned `p` in one LDRD, then p += 8 (post-indexed). */
#define ED_READ64_INC(p, lo, hi)                                                                     \
    __asm__("ldrd %0, %1, [%2], #8"                                                                 \
            : "=r"(lo), "=r"(hi), "+r"(p)                                                            \
            : "m"(*(const uint32_t(*)[2])(const void *)(p)))

static inline uint32_t ed_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }
static inline uint32_t ed_sxtab16(uint32_t a, uint32_t x) { return (uint32_t)__sxtab16((int32_t)a, (int32_t)x); }
/* ACLE has no rotated form and GCC does not fold a rotate into SXTB16: one instruction by inline assembly. */
static inline uint32_t ed_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t ed_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
static inline int32_t ed_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    return __smlad((int16x2_t)x, (int16x2_t)y, acc);
}

/* v clamped to [lo, hi]; the full int8 range (no activation, or ReLU with zero point -128) is one SSAT. */
static inline int32_t ed_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return lo == -128 && hi == 127 ? __ssat(v, 8) : ed_clamp_i32(v, lo, hi);
}

static inline uint32_t ed_sadd16(uint32_t x, uint32_t y) { return (uint32_t)__sadd16((int16x2_t)x, (int16x2_t)y); }
static inline uint32_t ed_ssub16(uint32_t x, uint32_t y) { return (uint32_t)__ssub16((int16x2_t)x, (int16x2_t)y); }

static inline int32_t ed_smlabb(uint32_t x, uint32_t y, int32_t acc) { return __smlabb((int32_t)x, (int32_t)y, acc); }
static inline int32_t ed_smlatt(uint32_t x, uint32_t y, int32_t acc) { return __smlatt((int32_t)x, (int32_t)y, acc); }
static inline int32_t ed_smlabt(uint32_t x, uint32_t y, int32_t acc) { return __smlabt((int32_t)x, (int32_t)y, acc); }
static inline int32_t ed_smlatb(uint32_t x, uint32_t y, int32_t acc) { return __smlatb((int32_t)x, (int32_t)y, acc); }

/* floor((a * b + 2^31) / 2^32): SMMULR. */
static inline int32_t ed_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t ed_smmlar(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

#else /* portable C with the same results */

/* LDRD faults on a misaligned address: the portable form traps too, so the host tests catch it. */
#define ED_READ64(p, off, lo, hi)                                           \
    do {                                                                    \
        if (((uintptr_t)(const void *)(p) & 3u) != 0u) {                    \
            ED_TRAP_();                                                     \
        }                                                                   \
        ED_MEMCPY_(&(lo), (const char *)(p) + (off), sizeof(uint32_t));     \
        ED_MEMCPY_(&(hi), (const char *)(p) + (off) + 4, sizeof(uint32_t)); \
    } while (0)

#define ED_READ64_INC(p, lo, hi)      \
    do {                              \
        ED_READ64(p, 0, lo, hi);      \
        (p) += 8 / sizeof(*(p));      \
    } while (0)

static inline uint32_t ed_pack16_(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | (((uint32_t)hi & 0xFFFFu) << 16);
}
static inline int32_t ed_byte_(uint32_t x, int k) { return (int32_t)(int8_t)(uint8_t)(x >> (8 * k)); }
static inline int32_t ed_half_(uint32_t x, int k) { return (int32_t)(int16_t)(uint16_t)(x >> (16 * k)); }

static inline uint32_t ed_sxtb16(uint32_t x) { return ed_pack16_(ed_byte_(x, 0), ed_byte_(x, 2)); }
static inline uint32_t ed_sxtb16_ror8(uint32_t x) { return ed_pack16_(ed_byte_(x, 1), ed_byte_(x, 3)); }
static inline uint32_t ed_sxtab16(uint32_t a, uint32_t x)
{
    return ed_pack16_(ed_half_(a, 0) + ed_byte_(x, 0), ed_half_(a, 1) + ed_byte_(x, 2));
}
static inline uint32_t ed_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return ed_pack16_(ed_half_(a, 0) + ed_byte_(x, 1), ed_half_(a, 1) + ed_byte_(x, 3));
}
static inline int32_t ed_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    const uint32_t lo = (uint32_t)(ed_half_(x, 0) * ed_half_(y, 0));
    const uint32_t hi = (uint32_t)(ed_half_(x, 1) * ed_half_(y, 1));
    return (int32_t)((uint32_t)acc + lo + hi);
}

static inline int32_t ed_clamp_s8(int32_t v, int32_t lo, int32_t hi) { return ed_clamp_i32(v, lo, hi); }

static inline uint32_t ed_sadd16(uint32_t x, uint32_t y)
{
    return ed_pack16_(ed_half_(x, 0) + ed_half_(y, 0), ed_half_(x, 1) + ed_half_(y, 1));
}
static inline uint32_t ed_ssub16(uint32_t x, uint32_t y)
{
    return ed_pack16_(ed_half_(x, 0) - ed_half_(y, 0), ed_half_(x, 1) - ed_half_(y, 1));
}

static inline int32_t ed_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ed_half_(x, 0) * ed_half_(y, 0)));
}
static inline int32_t ed_smlatt(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ed_half_(x, 1) * ed_half_(y, 1)));
}
static inline int32_t ed_smlabt(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ed_half_(x, 0) * ed_half_(y, 1)));
}
static inline int32_t ed_smlatb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ed_half_(x, 1) * ed_half_(y, 0)));
}

static inline int32_t ed_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
}
static inline int32_t ed_smmlar(int32_t a, int32_t b, int32_t c) { return ed_add_wrap(c, ed_smmulr(a, b)); }

#endif

/*
 * Requantization in a handful of instructions, bit-exact with TFLite Micro's double rounding where it applies.
 *
 * gemmlowp's SaturatingRoundingDoublingHighMul(a, b) = floor((a*b + 2^30) / 2^31) (see ed_srdhm); when
 * |a| < 2^30, 2a does not overflow and that equals floor((2a*b + 2^31) / 2^32) = SMMULR(2a, b): one instruction.
 * RoundingDivideByPOT(x, e) for e >= 1 is (x + 2^(e-1) - [x < 0]) >> e, exact in 32 bits when |x| < 2^30.
 */
static inline int32_t ed_srdhm_small(int32_t a, int32_t b) { return ed_smmulr((int32_t)((uint32_t)a << 1), b); }

static inline int32_t ed_rdbpot_pos(int32_t x, int32_t e)
{
    return (x + ((int32_t)1 << (e - 1)) + (x >> 31)) >> e;
}

/* ed_mbqm out of line: the rare case of ed_mbqm_fast, kept out of the kernels' hot loops (inlined, its 64-bit
 * multiply and branches would take registers from the loop around it). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline, unused))
#endif
static int32_t ed_mbqm_slow(int32_t x, int32_t multiplier, int32_t shift)
{
    return ed_mbqm(x, multiplier, shift);
}

/* |x| < 2^30 (x in [-2^30, 2^30)): ed_srdhm_small's doubling cannot overflow. */
static inline int ed_small30(int32_t x) { return (uint32_t)x + 0x40000000u < 0x80000000u; }

/* ed_mbqm(x, multiplier, shift) for any x; the fast form when shift < 0 and |x| < 2^30 (the common case). */
static inline int32_t ed_mbqm_fast(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift < 0 && ed_small30(x)) {
        return ed_rdbpot_pos(ed_srdhm_small(x, multiplier), -shift);
    }
    return ed_mbqm_slow(x, multiplier, shift);
}

/*
 * The output stage of a fully-connected row: bias, requantization (single rounding where the layer asks for it,
 * else TFLite Micro's double rounding through ed_mbqm_fast), output offset, clamp. ED_FC_REQUANT(p, acc, o) takes
 * the fields from any FC parameter struct (ed_fc_params_t, ed_fc_w16_params_t).
 */
static inline int8_t ed_fc_requant_fast(int32_t acc, int32_t o, const int32_t *bias, const int32_t *multiplier,
                                        const int32_t *shift, int32_t per_channel, int32_t rounding,
                                        int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t q = per_channel ? o : 0;
    if (bias != NULL) {
        acc += bias[o];
    }
    acc = rounding == ED_ROUNDING_SINGLE ? ed_mbqm_single(acc, multiplier[q], shift[q])
                                         : ed_mbqm_fast(acc, multiplier[q], shift[q]);
    return (int8_t)ed_clamp_s8(acc + output_offset, act_min, act_max);
}
#define ED_FC_REQUANT(p, acc, o)                                                                           \
    ed_fc_requant_fast((acc), (o), (p)->bias, (p)->multiplier, (p)->shift, (p)->per_channel, (p)->rounding, \
                       (p)->output_offset, (p)->act_min, (p)->act_max)

/* Two copies of a 16-bit value, one per halfword (an offset for ed_sxtab16). */
static inline uint32_t ed_dup16(int32_t v) { return ((uint32_t)v & 0xFFFFu) * 0x00010001u; }

#endif /* ED_SIMD_H */
