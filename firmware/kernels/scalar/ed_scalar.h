/*
 * scalar/ed_scalar.h - the inner loop the kernels of cores without SIMD (Cortex-M0/M0+/M3, RV32IMC) share:
 * ED_SCALAR_ROWS dot products of one input vector with ED_SCALAR_ROWS weight rows at once.
 *
 * Each input byte is loaded and offset once for all the rows, so a multiply-accumulate costs a weight load and
 * a multiply-add (Cortex-M: LDRSB + MLA; RV32: LB, MUL, ADD). On RV32 (31 registers) eight rows and four inputs
 * per step, so the weight loads take immediate offsets and each row pointer moves once per step; on Thumb
 * (13 usable registers) four rows, one input per step.
 */
#ifndef ED_SCALAR_H
#define ED_SCALAR_H

#include <stdint.h>

#include "ed_fixedpoint.h"

#ifndef ED_SCALAR_ROWS
#if defined(__riscv)
#define ED_SCALAR_ROWS 8
#else
#define ED_SCALAR_ROWS 4
#endif
#endif
#ifndef ED_SCALAR_STEP
#if defined(__riscv)
#define ED_SCALAR_STEP 4
#else
#define ED_SCALAR_STEP 1
#endif
#endif
/* Output channels of the two-pixel blocks (ed_scalar_dot2): 2 x ED_SCALAR_PAIR_ROWS accumulators, the pointers
 * and the loaded values must stay in registers (RV32: 31, Thumb-2: 13). */
#ifndef ED_SCALAR_PAIR_ROWS
#if defined(__riscv)
#define ED_SCALAR_PAIR_ROWS 4
#else
#define ED_SCALAR_PAIR_ROWS 2
#endif
#endif

/* Output pixels per block of ed_conv_run: RV32 has the registers for three (4 channels x 3 pixels = 12
 * accumulators, each loaded weight used three times), Thumb-2 for two. */
#ifndef ED_SCALAR_PIX
#if defined(__riscv)
#define ED_SCALAR_PIX 3
#else
#define ED_SCALAR_PIX 2
#endif
#endif

/* The per-row loops have a constant count: unrolled, their accumulators and pointers live in registers. */
#if defined(__GNUC__)
#define ED_UNROLL _Pragma("GCC unroll 8")
#else
#define ED_UNROLL
#endif

/* GCC's pre-allocation scheduler would hoist all of a step's weight loads ahead of the multiplies and spill the
 * accumulators to the stack on RV32; the in-order cores these kernels are for gain nothing from that order. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__riscv)
#define ED_SCALAR_FN __attribute__((optimize("no-schedule-insns")))
#else
#define ED_SCALAR_FN
#endif

/* No load moves across it: keeps the compiler from hoisting a whole step's loads ahead of the multiplies (and
 * spilling the accumulators for it) on cores that gain nothing from that order. */
#if defined(__GNUC__)
#define ED_SCALAR_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define ED_SCALAR_BARRIER()
#endif

/* A helper inlined into its callers (an out-of-line call per channel group saved and restored every register). */
#if defined(__GNUC__)
#define ED_SCALAR_INLINE static inline __attribute__((always_inline))
#else
#define ED_SCALAR_INLINE static inline
#endif

/* A helper kept out of line (its registers its own) that a file including this header may leave unused. */
#if defined(__GNUC__)
#define ED_SCALAR_OUTLINE __attribute__((noinline, unused))
#else
#define ED_SCALAR_OUTLINE
#endif

/* acc[r] += sum over i < n of (x[i] + in_off) * w[r][i], for r < ED_SCALAR_ROWS; advances every w[r] by n. */
static inline void ed_scalar_dot_rows(const int8_t *x, int32_t n, int32_t in_off, const int8_t **w, int32_t *acc)
{
    int32_t i = 0;
    int32_t r;
#if ED_SCALAR_STEP == 4
    for (; i + 4 <= n; i += 4) {
        const int32_t x0 = (int32_t)x[i] + in_off;
        const int32_t x1 = (int32_t)x[i + 1] + in_off;
        const int32_t x2 = (int32_t)x[i + 2] + in_off;
        const int32_t x3 = (int32_t)x[i + 3] + in_off;
        ED_UNROLL
        for (r = 0; r < ED_SCALAR_ROWS; ++r) {
            const int8_t *wr = w[r];
            acc[r] += x0 * (int32_t)wr[0] + x1 * (int32_t)wr[1] + x2 * (int32_t)wr[2] + x3 * (int32_t)wr[3];
            w[r] = wr + 4;
        }
    }
#endif
    for (; i < n; ++i) {
        const int32_t xv = (int32_t)x[i] + in_off;
        ED_UNROLL
        for (r = 0; r < ED_SCALAR_ROWS; ++r) {
            acc[r] += xv * (int32_t)*w[r]++;
        }
    }
}

/* acc[r] += sum over i of xa[i] * w[r][i] and acc[ED_SCALAR_PAIR_ROWS + r] += sum of xb[i] * w[r][i]: two output
 * pixels (inputs xa, xb) by ED_SCALAR_PAIR_ROWS channels, each loaded byte used two or more times; the input offset
 * is the caller's (folded into the accumulators' start). The inputs are `runs` runs of n bytes, `skip` bytes from
 * the end of one to the start of the next (a window's kernel rows); the weights one contiguous run per channel,
 * each w[r] advanced past it. Four inputs per step at fixed offsets (RV32 has no post-increment), each pointer
 * moving once per step. */
#if ED_SCALAR_PAIR_ROWS == 4
#define ED_SCALAR_PAIR_EACH(M) M(0) M(1) M(2) M(3)
#elif ED_SCALAR_PAIR_ROWS == 2
#define ED_SCALAR_PAIR_EACH(M) M(0) M(1)
#else
#error "ED_SCALAR_PAIR_ROWS must be 2 or 4"
#endif
/* The accumulators and row pointers as plain variables (an array indexed in an unrolled loop stayed on the stack). */
#define ED_SCALAR_PAIR_INIT(r) int32_t sa##r = acc[r], sb##r = acc[ED_SCALAR_PAIR_ROWS + r]; const int8_t *w##r = w[r];
#define ED_SCALAR_PAIR_MAC(r, j) { const int32_t wv = w##r[j]; sa##r += a * wv; sb##r += b * wv; }
#define ED_SCALAR_PAIR_MAC0(r) ED_SCALAR_PAIR_MAC(r, 0)
#define ED_SCALAR_PAIR_MAC1(r) ED_SCALAR_PAIR_MAC(r, 1)
#define ED_SCALAR_PAIR_MAC2(r) ED_SCALAR_PAIR_MAC(r, 2)
#define ED_SCALAR_PAIR_MAC3(r) ED_SCALAR_PAIR_MAC(r, 3)
#define ED_SCALAR_PAIR_MAC4(r) ED_SCALAR_PAIR_MAC(r, 4)
#define ED_SCALAR_PAIR_MAC5(r) ED_SCALAR_PAIR_MAC(r, 5)
#define ED_SCALAR_PAIR_MAC6(r) ED_SCALAR_PAIR_MAC(r, 6)
#define ED_SCALAR_PAIR_MAC7(r) ED_SCALAR_PAIR_MAC(r, 7)
#define ED_SCALAR_PAIR_STEP8(r) w##r += 8;
#define ED_SCALAR_PAIR_STEP(r) w##r += 4;
#define ED_SCALAR_PAIR_NEXT(r) ++w##r;
#define ED_SCALAR_PAIR_DONE(r) acc[r] = sa##r; acc[ED_SCALAR_PAIR_ROWS + r] = sb##r; w[r] = w##r;
#define ED_SCALAR_PAIR_TAP(j) { const int32_t a = xa[j], b = xb[j]; ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_MAC##j) } \
    ED_SCALAR_BARRIER();

ED_SCALAR_INLINE void ed_scalar_dot2(const int8_t *xa, const int8_t *xb, int32_t n,
                                                            int32_t runs, int32_t skip, const int8_t **w,
                                                            int32_t *acc)
{
    ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_INIT)
    for (; runs > 0; --runs, xa += skip, xb += skip) {
        const int8_t *const xend = xa + n;
#if !defined(__riscv)
        /* Thumb-2: eight inputs per step (the pointer updates and the loop test per 32 multiply-accumulates) */
        for (; xa + 8 <= xend; xa += 8, xb += 8) {
            ED_SCALAR_PAIR_TAP(0)
            ED_SCALAR_PAIR_TAP(1)
            ED_SCALAR_PAIR_TAP(2)
            ED_SCALAR_PAIR_TAP(3)
            ED_SCALAR_PAIR_TAP(4)
            ED_SCALAR_PAIR_TAP(5)
            ED_SCALAR_PAIR_TAP(6)
            ED_SCALAR_PAIR_TAP(7)
            ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_STEP8)
        }
#endif
        for (; xa + 4 <= xend; xa += 4, xb += 4) {
            ED_SCALAR_PAIR_TAP(0)
            ED_SCALAR_PAIR_TAP(1)
            ED_SCALAR_PAIR_TAP(2)
            ED_SCALAR_PAIR_TAP(3)
            ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_STEP)
        }
        for (; xa < xend; ++xa, ++xb) {
            ED_SCALAR_PAIR_TAP(0)
            ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_NEXT)
        }
    }
    ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_DONE)
}

/* The same for three pixels (xa, xb, xc): acc[2 * ED_SCALAR_PAIR_ROWS + r] for the third. */
#define ED_SCALAR_TRIPLE_INIT(r) ED_SCALAR_PAIR_INIT(r) int32_t sc##r = acc[2 * ED_SCALAR_PAIR_ROWS + r];
#define ED_SCALAR_TRIPLE_MAC(r, j) { const int32_t wv = w##r[j]; sa##r += a * wv; sb##r += b * wv; sc##r += c * wv; }
#define ED_SCALAR_TRIPLE_MAC0(r) ED_SCALAR_TRIPLE_MAC(r, 0)
#define ED_SCALAR_TRIPLE_MAC1(r) ED_SCALAR_TRIPLE_MAC(r, 1)
#define ED_SCALAR_TRIPLE_MAC2(r) ED_SCALAR_TRIPLE_MAC(r, 2)
#define ED_SCALAR_TRIPLE_MAC3(r) ED_SCALAR_TRIPLE_MAC(r, 3)
#define ED_SCALAR_TRIPLE_DONE(r) ED_SCALAR_PAIR_DONE(r) acc[2 * ED_SCALAR_PAIR_ROWS + r] = sc##r;
#define ED_SCALAR_TRIPLE_TAP(j) { const int32_t a = xa[j], b = xb[j], c = xc[j]; \
    ED_SCALAR_PAIR_EACH(ED_SCALAR_TRIPLE_MAC##j) } ED_SCALAR_BARRIER();

ED_SCALAR_INLINE void ed_scalar_dot3(const int8_t *xa, const int8_t *xb, const int8_t *xc, int32_t n, int32_t runs,
                                     int32_t skip, const int8_t **w, int32_t *acc)
{
    ED_SCALAR_PAIR_EACH(ED_SCALAR_TRIPLE_INIT)
    for (; runs > 0; --runs, xa += skip, xb += skip, xc += skip) {
        const int8_t *const xend = xa + n;
        for (; xa + 4 <= xend; xa += 4, xb += 4, xc += 4) {
            ED_SCALAR_TRIPLE_TAP(0)
            ED_SCALAR_TRIPLE_TAP(1)
            ED_SCALAR_TRIPLE_TAP(2)
            ED_SCALAR_TRIPLE_TAP(3)
            ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_STEP)
        }
        for (; xa < xend; ++xa, ++xb, ++xc) {
            ED_SCALAR_TRIPLE_TAP(0)
            ED_SCALAR_PAIR_EACH(ED_SCALAR_PAIR_NEXT)
        }
    }
    ED_SCALAR_PAIR_EACH(ED_SCALAR_TRIPLE_DONE)
}

/* The outputs [*lo, *hi) along one axis whose window (k taps dil apart from o * stride - pad) lies inside [0, in). */
static inline void ed_scalar_interior(int32_t n_out, int32_t stride, int32_t pad, int32_t dil, int32_t k, int32_t in,
                                      int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = n_out;
    while (a < n_out && a * stride - pad < 0) {
        ++a;
    }
    while (b > a && (b - 1) * stride - pad + dil * (k - 1) >= in) {
        --b;
    }
    *lo = a;
    *hi = b;
}

/* One output channel's requantization, its shift split once per channel (ed_scalar_rq_init) instead of per
 * output: TFLite Micro's MultiplyByQuantizedMultiplier (double rounding) bit for bit. The multiplier is positive
 * (a Q0.31 in [2^30, 2^31), or 0), so the doubling high multiply never saturates: x * m + 2^30 shifted right by 31
 * (RV32: mul + mulh; Thumb-2: SMULL; the Cortex-M0, without a 32x32->64 multiply, calls libgcc). The rounding
 * division by 2^right: the remainder compared with half the divisor, plus one when the value is negative. */
typedef struct {
    int32_t multiplier, left, right, mask, half;
} ed_scalar_rq_t;

static inline ed_scalar_rq_t ed_scalar_rq_init(int32_t multiplier, int32_t shift)
{
    ed_scalar_rq_t q;
    q.multiplier = multiplier;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.mask = (int32_t)(((uint32_t)1 << q.right) - 1u);
    q.half = q.mask >> 1;
    return q;
}

/* acc (bias included) requantized. */
static inline int32_t ed_scalar_rq(int32_t acc, const ed_scalar_rq_t *q)
{
    const int32_t x = (int32_t)((uint32_t)acc << q->left);
    /* >> of a negative value is arithmetic on every compiler edgesdk supports. */
    const int32_t v = (int32_t)(((int64_t)x * (int64_t)q->multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t threshold = q->half + (int32_t)((uint32_t)v >> 31);
    return (v >> q->right) + ((v & q->mask) > threshold ? 1 : 0);
}

/* v clamped to int8: one SSAT where the core has it (Armv7-M and later, DSP extension or not). */
#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
#include <arm_acle.h>
#define ED_SCALAR_SAT8(v) __ssat((v), 8)
#else
#define ED_SCALAR_SAT8(v) ed_clamp_i32((v), -128, 127)
#endif

/* ed_scalar_rq for a right shift (q->right >= 1, so q->left == 0) without the remainder test: with v' = v - 1 for
 * v < 0, round half away from zero of v / 2^right is floor((v' + 2^(right-1)) / 2^right) = (t >> 1) + (t & 1),
 * t = v' >> (right - 1); no sum can overflow (|v| < 2^31). */
static inline int32_t ed_scalar_rq_right(int32_t acc, const ed_scalar_rq_t *q)
{
    const int32_t v = (int32_t)(((int64_t)acc * (int64_t)q->multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t t = (v + (v >> 31)) >> (q->right - 1);
    return (t >> 1) + (t & 1);
}

#endif /* ED_SCALAR_H */
