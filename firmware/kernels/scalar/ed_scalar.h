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

#endif /* ED_SCALAR_H */
