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

#endif /* EDGESDK_CORTEXM_H */
