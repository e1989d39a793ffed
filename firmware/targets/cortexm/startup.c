/*
 * startup.c - Cortex-M reset path (Armv6-M, v7-M, v8-M) shared by every Cortex-M family: the vector table
 * (placed first in flash by the linker script's .isr_vector), .data copied from flash, .bss zeroed, the FPU (and
 * Helium on Armv8.1-M) enabled when the build uses it, then main(). Faults end an emulator run through semihosting (EDGESDK_SEMIHOSTING) so a crash is an exit
 * code, not a hang; on silicon they park the core.
 */
#include <stdint.h>
#include <string.h>

#include "cortexm.h"
#include "edgesdk_board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack, _stack_size;

/* Written over the whole stack at reset: the deepest word no longer holding it is the stack's high-water mark. */
#define EDGESDK_STACK_PAINT 0xA5C3A5C3u

static uint32_t *stack_bottom(void)
{
    return (uint32_t *)((uintptr_t)&_estack - (uintptr_t)&_stack_size);
}

/* Paint from the bottom of the stack up to a little below the current frame (the reset path's own). */
static void paint_stack(void)
{
    uint32_t *p = stack_bottom();
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    while (p < sp - 16) {
        *(volatile uint32_t *)p = EDGESDK_STACK_PAINT;
        p++;
    }
}

uint32_t edgesdk_stack_used(void)
{
    const uint32_t *p = stack_bottom();
    while (p < &_estack && *(volatile const uint32_t *)p == EDGESDK_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
extern int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    paint_stack();
#if defined(__ARM_FP) || defined(__VFP_FP__) && !defined(__SOFTFP__) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access (the FPU, and Helium/MVE on Armv8.1-M) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    (void)main();
    edgesdk_board_exit(0);
}

void Default_Handler(void) { edgesdk_board_exit(0x7E); }

void HardFault_Handler(void) { edgesdk_board_exit(0x7F); }

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*edgesdk_vector_t)(void);

__attribute__((section(".isr_vector"), used)) const edgesdk_vector_t edgesdk_vectors[16] = {
    (edgesdk_vector_t)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

void edgesdk_board_exit(int code)
{
#ifdef EDGESDK_SEMIHOSTING
    /* SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit: QEMU exits with `code`. */
    static uint32_t block[2];
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t r1 __asm__("r1") = (uint32_t)(uintptr_t)block;
    block[0] = 0x20026u;
    block[1] = (uint32_t)code;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
        __asm__ volatile("wfi");
    }
}
