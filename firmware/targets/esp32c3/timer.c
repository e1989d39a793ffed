/*
 * targets/esp32c3/timer.c - the edgesdk counter on the ESP32-C3 (see edgesdk_timer.h): core clock cycles from the
 * CPU's performance counter (custom CSRs, ESP32-C3 TRM "Performance Counter": mpcer 0x7E0 selects the event, 1 =
 * cycles; mpcmr 0x7E1 bit 0 counts; mpccr 0x7E2 the 32-bit count). The core has no standard cycle/mcycle CSR.
 * The count is widened to 64 bits in software: each read that sees it lower than the last adds 2^32, so reads
 * must come at least once per 2^32 cycles (107 s at 40 MHz), as the harness's per-inference reads do.
 *
 * The clock: the boot ROM chooses the CPU clock, so edgesdk_timer_init measures it against the system timer
 * (SYSTIMER at 0x60023000, unit 0 counting at a fixed 16 MHz: UNIT0_OP +0x04 with bit 30 UPDATE and bit 29
 * VALUE_VALID, UNIT0_VALUE_LO +0x44) over 1 ms and rounds it to a whole MHz; if the system timer does not move, the
 * board file's clock_hz stands.
 */
#include "edgesdk_timer.h"

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define SYSTIMER 0x60023000u
#define SYSTIMER_HZ 16000000u

static uint32_t last_count;
static uint32_t wraps;
static uint32_t clock_hz = EDGESDK_CLOCK_HZ;

static uint32_t cycles32(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0x7E2" : "=r"(v));
    return v;
}

static uint32_t systimer_lo(void)
{
    REG32(SYSTIMER + 0x04u) = 1u << 30;
    for (uint32_t i = 0; i < 1000u && (REG32(SYSTIMER + 0x04u) & (1u << 29)) == 0u; i++) {
    }
    return REG32(SYSTIMER + 0x44u);
}

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void) { return clock_hz; }

void edgesdk_timer_init(void)
{
    __asm__ volatile("csrw 0x7E0, %0" ::"r"(1u)); /* count cycles */
    __asm__ volatile("csrw 0x7E1, %0" ::"r"(1u)); /* counting on */
    uint32_t t0 = systimer_lo();
    uint32_t c0 = cycles32();
    uint32_t t = t0;
    for (uint32_t spins = 0; t - t0 < SYSTIMER_HZ / 1000u && spins < 10000000u; spins++) {
        t = systimer_lo();
    }
    uint32_t cycles = cycles32() - c0;
    if (t - t0 >= SYSTIMER_HZ / 1000u) {
        uint64_t hz = (uint64_t)cycles * SYSTIMER_HZ / (t - t0);
        clock_hz = (uint32_t)((hz + 500000u) / 1000000u) * 1000000u;
    }
    last_count = cycles32();
}

uint64_t edgesdk_timer_raw(void)
{
    uint32_t now = cycles32();
    if (now < last_count) {
        wraps++;
    }
    last_count = now;
    return ((uint64_t)wraps << 32) | now;
}

void edgesdk_timer_sync(void) {}

uint64_t edgesdk_timer_counts(uint64_t raw_delta) { return raw_delta; }

uint64_t edgesdk_timer_us(uint64_t raw_delta)
{
    uint64_t f = clock_hz;
    return (raw_delta / f) * 1000000u + ((raw_delta % f) * 1000000u) / f;
}

edgesdk_timer_unit_t edgesdk_timer_unit(void) { return EDGESDK_TIMER_CYCLES; }

uint32_t edgesdk_timer_clock_hz(void) { return clock_hz; }
