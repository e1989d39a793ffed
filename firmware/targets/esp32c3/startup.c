/*
 * targets/esp32c3/startup.c - reset path of an ESP32-C3 RAM image. The boot ROM has already put every section at
 * its run address (the linker script's load_in_place: code in IRAM, constants and .data in DRAM), so only the
 * stack, the trap vector and a zeroed .bss remain before main(). Interrupts stay off; a trap (illegal instruction,
 * access fault) parks the core through edgesdk_board_exit(0x7F) instead of running on.
 */
#include <stdint.h>

#include "edgesdk_board.h"

extern uint32_t _sbss, _ebss, _estack;
extern int main(void);
void Reset_Handler(void);
void edgesdk_esp_start(void);
void edgesdk_esp_trap(void);

/* The image's entry (the ROM jumps here): plain assembly, since the ROM's stack is not ours to keep. */
__attribute__((naked, section(".isr_vector"), used)) void Reset_Handler(void)
{
    __asm__ volatile(
        "csrci mstatus, 8\n\t"
        ".option push\n\t"
        ".option norelax\n\t"
        "la sp, _estack\n\t"
        ".option pop\n\t"
        "la t0, edgesdk_esp_trap\n\t"
        "csrw mtvec, t0\n\t"
        "j edgesdk_esp_start\n\t");
}

void edgesdk_esp_start(void)
{
    for (uint32_t *p = &_sbss; p < &_ebss; p++) {
        *p = 0;
    }
    (void)main();
    edgesdk_board_exit(0);
}

/* mtvec in direct mode needs a 4-byte aligned handler; it never returns. */
__attribute__((aligned(4))) void edgesdk_esp_trap(void) { edgesdk_board_exit(0x7F); }
