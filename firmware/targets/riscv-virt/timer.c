/*
 * targets/riscv-virt/timer.c - the edgesdk counter on RV32 (see edgesdk_timer.h): the `instret` CSR, 64 bits
 * read as instreth/instret/instreth. It counts retired instructions exactly, on QEMU and on silicon alike, so
 * the unit is instructions and no tick grid needs aligning.
 */
#include "edgesdk_timer.h"

uint32_t edgesdk_core_clock_hz(void);

void edgesdk_timer_init(void) {}

uint64_t edgesdk_timer_raw(void)
{
    uint32_t hi;
    uint32_t lo;
    uint32_t hi2;
    do {
        __asm__ volatile("csrr %0, instreth" : "=r"(hi));
        __asm__ volatile("csrr %0, instret" : "=r"(lo));
        __asm__ volatile("csrr %0, instreth" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

void edgesdk_timer_sync(void) {}

uint64_t edgesdk_timer_counts(uint64_t raw_delta) { return raw_delta; }

uint64_t edgesdk_timer_us(uint64_t raw_delta)
{
    uint64_t f = edgesdk_core_clock_hz();
    return (raw_delta / f) * 1000000u + ((raw_delta % f) * 1000000u) / f;
}

edgesdk_timer_unit_t edgesdk_timer_unit(void) { return EDGESDK_TIMER_INSTRUCTIONS; }

uint32_t edgesdk_timer_clock_hz(void) { return edgesdk_core_clock_hz(); }
