/*
 * ed_dw_dsp.h - the Armv7E-M operations of the Cortex-M DSP depthwise kernel (cortex-m-dsp/ed_dwconv.c) that
 * ed_simd.h lacks (SMLABT/SMLATB and SMMLAR are there), one instruction each on a core with the DSP extension and
 * plain C99 with the same bit-level results elsewhere (the host, where the kernel tables run under ASan/UBSan):
 *
 *   ed_dw_ssat8(v)             v saturated to [-128, 127]                                    (SSAT #8)
 *   ed_dw_pkhbt(a, b)          bottom(a) | bottom(b) << 16                                   (PKHBT ..., LSL #16)
 *   ed_dw_pkhtb(a, b)          top(a) << 16 | top(b)                                         (PKHTB ..., ASR #16)
 *   ED_DW_LDRD_INC4(p, lo, hi) words p[0] and p[1], then p += 1 word                          (LDRD post-indexed)
 *   ED_DW_LDRD(p, off, lo, hi) two words of an 8-byte aligned table                          (LDRD)
 *   ED_DW_STRB(p, off, v)      one byte, never merged with its neighbours                     (STRB)
 *
 * and the requantization built from them (ed_dw_requant2).
 */
#ifndef ED_DW_DSP_H
#define ED_DW_DSP_H

#include <stdint.h>

#include "ed_fixedpoint.h"
#include "ed_simd.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP

static inline int32_t ed_dw_ssat8(int32_t v) { return __ssat(v, 8); }

static inline uint32_t ed_dw_pkhbt(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t ed_dw_pkhtb(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* ED_DW_LDRD_INC4(p, lo, hi): p[0] and p[1] of word-aligned uint32_t *p in one LDRD, p advanced by one word. */
#define ED_DW_LDRD_INC4(p, lo, hi)                                                         \
    __asm__("ldrd %0, %1, [%2], #4"                                                        \
            : "=r"(lo), "=r"(hi), "+r"(p)                                                   \
            : "m"(*(const uint32_t(*)[2])(const void *)(p)))

/* ED_DW_LDRD(p, off, lo, hi): the two words at byte offset off (a literal) of 8-byte aligned p in one LDRD. No
 * memory operand (ED_READ64's makes GCC compute each tap's address): only for a table the caller filled, read
 * in a function that is not inlined. */
#define ED_DW_LDRD(p, off, lo, hi) __asm__("ldrd %0, %1, [%2, #" #off "]" : "=r"(lo), "=r"(hi) : "r"(p))

/* ED_DW_STRB(p, off, v): one byte store (GCC would merge four into a word with BFI or shifts and masks). */
#define ED_DW_STRB(p, off, v) __asm__("strb %1, %0" : "=m"((p)[off]) : "r"(v))

#else /* portable C with the same results */

static inline int32_t ed_dw_ssat8(int32_t v) { return ed_clamp_i32(v, -128, 127); }

static inline uint32_t ed_dw_pkhbt(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t ed_dw_pkhtb(uint32_t a, uint32_t b) { return (a & 0xFFFF0000u) | (b >> 16); }

#define ED_DW_LDRD_INC4(p, lo, hi) ((lo) = (p)[0], (hi) = (p)[1], ++(p))
#define ED_DW_LDRD(p, off, lo, hi) ED_READ64(p, off, lo, hi)
#define ED_DW_STRB(p, off, v) ((p)[off] = (int8_t)(v))

#endif

/*
 * TFLite Micro's requantization with double rounding plus the output offset, from a doubled accumulator:
 * acc2 = 2 * acc with |acc| < 2^30, multiplier m >= 0, right shift e in [1, 22] and round_off = 2^(e-1) +
 * output_offset * 2^e. SMMLAR(acc2, m, round_off) is SaturatingRoundingDoublingHighMul(acc, m) + round_off
 * (ed_srdhm_small); the rounding right shift adds -1 for a negative product before the shift (ed_rdbpot_pos),
 * and the product is negative only where acc is (where it is zero the -1 does not change the quotient), so the
 * sign comes from acc2. Adding output_offset * 2^e before the shift is exact; |sum| < 2^31 for e <= 22.
 */
static inline int32_t ed_dw_requant2(int32_t acc2, int32_t m, int32_t round_off, int32_t e)
{
    return (ed_smmlar(acc2, m, round_off) + (acc2 >> 31)) >> e;
}

#endif /* ED_DW_DSP_H */
