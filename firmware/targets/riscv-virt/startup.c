/*
 * targets/riscv-virt/startup.c - RV32 machine-mode reset path for QEMU's `virt` board (and any RV32 part whose
 * boot code jumps to the start of the image): stack pointer, trap vector, .data copied from its load address,
 * .bss zeroed, then main(). A trap (illegal instruction, misaligned or faulting access) ends the run with exit
 * code 0x7F, as a HardFault does on Cortex-M, instead of hanging.
 */
#include <stdint.h>

#include "edgesdk_board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
void Reset_Handler(void);
void edgesdk_reset_c(void);
void edgesdk_trap(void);

/* First code of the image (the linker script puts .isr_vector first): no stack exists yet, so plain assembly. */
__attribute__((naked, section(".isr_vector"), used)) void Reset_Handler(void)
{
    __asm__ volatile(
        ".option push\n\t"
        ".option norelax\n\t"
        "la sp, _estack\n\t"
        ".option pop\n\t"
        "la t0, edgesdk_trap\n\t"
        "csrw mtvec, t0\n\t"
        "j edgesdk_reset_c\n\t");
}

void edgesdk_reset_c(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    (void)main();
    edgesdk_board_exit(0);
}

/* mtvec needs 4-byte alignment; the handler never returns. */
__attribute__((aligned(4))) void edgesdk_trap(void) { edgesdk_board_exit(0x7F); }
