/*
 * edgesdk_timer.h - the counter that measures inferences and layers, one implementation per target family.
 *
 * The raw counter is read cheaply inside timed regions; deltas are converted to the reported unit afterwards,
 * so that the conversion never lands inside a measurement.
 *   - Cortex-M with a running DWT CYCCNT (real silicon): unit = core clock cycles.
 *   - Cortex-M without one (QEMU reads DWT as 0): SysTick at the core clock extended to 64 bits by counting
 *     wraps in its interrupt. Under QEMU's `-icount shift=0` one instruction is one nanosecond of virtual time,
 *     so ticks * 1e9 / f_cpu = executed instructions, which is the unit reported (not cycles).
 *   - Host: CLOCK_MONOTONIC nanoseconds.
 */
#ifndef EDGESDK_TIMER_H
#define EDGESDK_TIMER_H

#include <stdint.h>

typedef enum {
    EDGESDK_TIMER_CYCLES = 0,       /* core clock cycles (DWT CYCCNT) */
    EDGESDK_TIMER_INSTRUCTIONS = 1, /* executed instructions (emulator, SysTick under -icount shift=0) */
    EDGESDK_TIMER_NANOSECONDS = 2   /* wall-clock nanoseconds (host process) */
} edgesdk_timer_unit_t;

void edgesdk_timer_init(void);
/* Raw monotonic 64-bit counter; cheap, safe to call from thread mode at any time. */
uint64_t edgesdk_timer_raw(void);
/* Align the counter before a measurement so that equal work gives equal counts (see timer.c); may wait a
 * few instructions. Monotonicity of edgesdk_timer_raw is kept. */
void edgesdk_timer_sync(void);
/* A raw delta in the reported unit (see edgesdk_timer_unit). */
uint64_t edgesdk_timer_counts(uint64_t raw_delta);
/* A raw delta in microseconds of the board's own clock. */
uint64_t edgesdk_timer_us(uint64_t raw_delta);
edgesdk_timer_unit_t edgesdk_timer_unit(void);
/* The core clock the target runs at, in Hz. */
uint32_t edgesdk_timer_clock_hz(void);

#endif /* EDGESDK_TIMER_H */
