/*
 * timer.c - the edgesdk counter on ARMv7-M (see edgesdk_timer.h).
 *
 * DWT CYCCNT is used when it actually counts (real silicon): unit = core cycles, extended to 64 bits by the
 * SysTick interrupt sampling it more often than it wraps. When it does not (QEMU 7.2 reads DWT as 0), the
 * counter is SysTick itself, clocked by the core clock, counting down from 2^24-1 with its wraps counted in the
 * interrupt. Under QEMU `-icount shift=s` virtual time advances 2^s ns per instruction, so a SysTick delta
 * converts to executed instructions as ticks * 1e9 / f_cpu / 2^s; that is the unit reported there, labelled so.
 */
#include "cortexm.h"
#include "edgesdk_timer.h"

/* The clock the core really runs at, from the family's board.c. */
uint32_t edgesdk_core_clock_hz(void);

#define SYSTICK_RELOAD 0x00FFFFFFu

/* QEMU's -icount shift on an emulated board (firmware/edgesdk.mk passes the board file's): 2^shift ns of virtual
 * time per instruction. 0 off the emulator, where SysTick mode counts 1 ns per instruction by convention. */
#ifndef EDGESDK_ICOUNT_SHIFT
#define EDGESDK_ICOUNT_SHIFT 0
#endif

static volatile uint32_t g_wraps;     /* SysTick wraps (SysTick mode) */
static uint64_t g_base;               /* raw time at the last edgesdk_timer_sync (SysTick mode) */
static volatile uint32_t g_cyc_hi;    /* CYCCNT high word (DWT mode) */
static volatile uint32_t g_cyc_last;
static int g_use_dwt;

/* Armv6-M (Cortex-M0/M0+) has no DWT cycle counter: SysTick is the counter there. */
#if defined(__ARM_ARCH_6M__)
#define EDGESDK_HAS_DWT 0
#else
#define EDGESDK_HAS_DWT 1
#endif

static uint64_t dwt_read(void)
{
    uint32_t primask;
    uint32_t c;
    uint64_t v;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    c = DWT_CYCCNT;
    if (c < g_cyc_last) {
        g_cyc_hi++;
    }
    g_cyc_last = c;
    v = ((uint64_t)g_cyc_hi << 32) | c;
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return v;
}

void SysTick_Handler(void)
{
    if (g_use_dwt) {
        (void)dwt_read();
    } else {
        g_wraps++;
    }
}

void edgesdk_timer_init(void)
{
    uint32_t a;
    uint32_t b;
#if EDGESDK_HAS_DWT
    volatile int spin;
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;    /* CYCCNTENA */
    a = DWT_CYCCNT;
    for (spin = 0; spin < 64; spin++) {
    }
    b = DWT_CYCCNT;
#else
    a = b = 0;
#endif
#if defined(EDGESDK_EMULATED) || !EDGESDK_HAS_DWT
    g_use_dwt = 0;
    (void)a;
    (void)b;
#else
    g_use_dwt = (b != a);
#endif
    g_wraps = 0;
    SYST_RVR = SYSTICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* core clock, interrupt on wrap, enable */
    __asm__ volatile("cpsie i" ::: "memory");
}

uint64_t edgesdk_timer_raw(void)
{
    uint32_t w1;
    uint32_t w2;
    uint32_t v;
    if (g_use_dwt) {
        return dwt_read();
    }
    do {
        w1 = g_wraps;
        v = SYST_CVR;
        w2 = g_wraps;
    } while (w1 != w2);
    return g_base + (uint64_t)w1 * (SYSTICK_RELOAD + 1u) + (SYSTICK_RELOAD - v);
}

/*
 * SysTick mode: restart SysTick so that its tick grid is anchored to this instruction. Under -icount the time
 * of the next tick edge is then a fixed number of instructions away, and a measurement that starts right after
 * the returned edge quantises the same instruction count to the same number of ticks every time, whatever the
 * UART traffic before it. (Without this, the phase of the tick grid depends on when host bytes arrived, and
 * counts jitter by one tick: 6 instructions at 168 MHz, 40 at 25 MHz.) DWT mode counts every cycle: no-op.
 */
void edgesdk_timer_sync(void)
{
    uint64_t now;
    if (g_use_dwt) {
        return;
    }
    now = edgesdk_timer_raw();
    SYST_CSR = 0;
    SYST_CVR = 0; /* clears the counter; it reloads from RVR on the first edge after the restart */
    g_base = now;
    g_wraps = 0;
    SYST_CSR = 7u;
    while (SYST_CVR == 0u) {
    }
    __asm__ volatile("dsb\n\tisb" ::: "memory"); /* let a wrap interrupt raised by the reload run now */
    g_wraps = 0;
}

uint64_t edgesdk_timer_counts(uint64_t raw_delta)
{
    uint64_t f;
    uint64_t whole;
    uint64_t part;
    if (g_use_dwt) {
        return raw_delta;
    }
    /*
     * instructions = ticks * 1e9 / f_cpu / 2^shift, rounded: under -icount shift=s one instruction is 2^s ns of
     * virtual time. The board file picks s so that an instruction lasts at least two SysTick periods, so that the
     * rounded quotient of any tick delta is the exact instruction count (a tick delta is off by less than one
     * tick, less than half an instruction). Computed without overflowing 64 bits for deltas below ~2^34 s.
     */
    f = edgesdk_core_clock_hz();
    whole = (raw_delta / f) * 1000000000u;
    part = (raw_delta % f) * 1000000000u;
    return (whole >> EDGESDK_ICOUNT_SHIFT) +
           (((whole & ((1u << EDGESDK_ICOUNT_SHIFT) - 1u)) * f + part + (f << EDGESDK_ICOUNT_SHIFT) / 2u) /
            (f << EDGESDK_ICOUNT_SHIFT));
}

/*
 * Microseconds of the board clock: counts (cycles, or on an emulator executed instructions taken as one per
 * cycle) divided by the core clock. So the MLPerf Tiny runner's latency equals `edgesdk profile`'s figure; the
 * raw SysTick delta would be QEMU's virtual time (2^shift ns per instruction), not the board's cycles.
 */
uint64_t edgesdk_timer_us(uint64_t raw_delta)
{
    uint64_t f = edgesdk_core_clock_hz();
    uint64_t c = edgesdk_timer_counts(raw_delta);
    return (c / f) * 1000000u + ((c % f) * 1000000u) / f;
}

edgesdk_timer_unit_t edgesdk_timer_unit(void) { return g_use_dwt ? EDGESDK_TIMER_CYCLES : EDGESDK_TIMER_INSTRUCTIONS; }

uint32_t edgesdk_timer_clock_hz(void) { return edgesdk_core_clock_hz(); }
