/*
 * cortexm.h - the few ARMv7-M system registers the edgesdk firmware touches (no CMSIS package exists in the
 * registries this project builds from, see TOOLCHAIN.md).
 */
#ifndef EDGESDK_CORTEXM_H
#define EDGESDK_CORTEXM_H

#include <stdint.h>

#define EDGESDK_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define SCB_CPACR EDGESDK_REG(0xE000ED88u)
#define SCB_ICSR EDGESDK_REG(0xE000ED04u)
#define SCB_VTOR EDGESDK_REG(0xE000ED08u)
#define SYST_CSR EDGESDK_REG(0xE000E010u)
#define SYST_RVR EDGESDK_REG(0xE000E014u)
#define SYST_CVR EDGESDK_REG(0xE000E018u)
#define DEMCR EDGESDK_REG(0xE000EDFCu)
#define DWT_CTRL EDGESDK_REG(0xE0001000u)
#define DWT_CYCCNT EDGESDK_REG(0xE0001004u)
#define DWT_LAR EDGESDK_REG(0xE0001FB0u)
#define NVIC_ISER(n) EDGESDK_REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) EDGESDK_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) EDGESDK_REG(0xE000E280u + 4u * (n))

#ifndef EDGESDK_CLOCK_HZ
#error "EDGESDK_CLOCK_HZ (the core clock in Hz) must be defined for Cortex-M targets"
#endif

/* Bounded busy-wait for a hardware ready flag; returns 0 on timeout instead of hanging. */
static inline int edgesdk_wait_set(volatile uint32_t *reg, uint32_t mask)
{
    uint32_t n;
    for (n = 0; n < 1000000u; n++) {
        if ((*reg & mask) == mask) {
            return 1;
        }
    }
    return 0;
}

/*
 * Sleep until the UART has a byte, instead of polling, so that an idle emulated board costs the host no CPU.
 * A driver's getc: edgesdk_rx_sleep_begin(irq); enable the UART's receive interrupt; loop { if a byte is there,
 * read it (which drops the interrupt line) and leave; edgesdk_rx_sleep(); } disable the receive interrupt;
 * edgesdk_rx_sleep_end(irq).
 * Interrupts are masked (PRIMASK) meanwhile: a pending, NVIC-enabled interrupt still wakes the core from WFI
 * but is never taken, so no vector beyond SysTick is needed: it is enabled in the NVIC only while masked. A
 * SysTick wrap (the timer) pending meanwhile would wake WFI at once, again and again: it is cleared and its
 * handler called right there, so no wrap is lost and the core sleeps on.
 */
void SysTick_Handler(void);

static inline void edgesdk_rx_sleep_begin(uint32_t irq)
{
    __asm__ volatile("cpsid i" ::: "memory");
    NVIC_ICPR(irq / 32u) = 1u << (irq % 32u);
    NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

static inline void edgesdk_rx_sleep(void)
{
    __asm__ volatile("dsb\n\twfi" ::: "memory");
    if (SCB_ICSR & (1u << 26)) { /* PENDSTSET */
        SCB_ICSR = 1u << 25;     /* PENDSTCLR */
        SysTick_Handler();
    }
}

static inline void edgesdk_rx_sleep_end(uint32_t irq)
{
    NVIC_ICER(irq / 32u) = 1u << (irq % 32u);
    NVIC_ICPR(irq / 32u) = 1u << (irq % 32u);
    __asm__ volatile("dsb\n\tisb\n\tcpsie i" ::: "memory");
}

#endif /* EDGESDK_CORTEXM_H */
