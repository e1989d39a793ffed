/*
 * targets/riscv-virt/board.c - QEMU `virt` (RV32): the NS16550 UART ("ns16550": byte registers RBR/THR +0,
 * IER +1, LCR +3, LSR +5 with bit 0 data ready and bit 5 transmitter empty, divisor latch at +0/+1 while
 * LCR bit 7 is set), the SiFive test device at 0x100000 that ends QEMU with an exit code, and the PLIC through
 * which receive sleeps in WFI until the UART's interrupt (source 10) instead of polling.
 */
#include <stdint.h>

#include "edgesdk_board.h"
#include "edgesdk_uart.h"

#ifndef EDGESDK_UART_BASE
#define EDGESDK_UART_BASE 0x10000000u
#endif
#ifndef EDGESDK_UART_BAUD
#define EDGESDK_UART_BAUD 115200u
#endif
#ifndef EDGESDK_UART_IRQ
#define EDGESDK_UART_IRQ 10u /* the UART's PLIC source on virt */
#endif
#ifndef EDGESDK_UART_CLOCK_HZ
#define EDGESDK_UART_CLOCK_HZ 3686400u /* the 16550's input clock on virt */
#endif

#define REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))
#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define U_RBR REG8(EDGESDK_UART_BASE + 0u)
#define U_THR REG8(EDGESDK_UART_BASE + 0u)
#define U_DLL REG8(EDGESDK_UART_BASE + 0u)
#define U_IER REG8(EDGESDK_UART_BASE + 1u)
#define U_DLM REG8(EDGESDK_UART_BASE + 1u)
#define U_FCR REG8(EDGESDK_UART_BASE + 2u)
#define U_LCR REG8(EDGESDK_UART_BASE + 3u)
#define U_LSR REG8(EDGESDK_UART_BASE + 5u)

#define PLIC_BASE 0x0C000000u
#define PLIC_PRIORITY(src) REG32(PLIC_BASE + 4u * (src))
#define PLIC_ENABLE(src) REG32(PLIC_BASE + 0x2000u + 4u * ((src) / 32u)) /* hart 0, machine mode */
#define PLIC_THRESHOLD REG32(PLIC_BASE + 0x200000u)
#define PLIC_CLAIM REG32(PLIC_BASE + 0x200004u)
#define SIFIVE_TEST REG32(0x00100000u)

void edgesdk_board_init(void)
{
    PLIC_PRIORITY(EDGESDK_UART_IRQ) = 1u;
    PLIC_THRESHOLD = 0u;
    PLIC_ENABLE(EDGESDK_UART_IRQ) |= 1u << (EDGESDK_UART_IRQ % 32u);
    /* external interrupts may wake WFI (mie.MEIE) but are never taken (mstatus.MIE stays 0) */
    __asm__ volatile("csrs mie, %0" ::"r"(1u << 11));
}

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void) { return EDGESDK_CLOCK_HZ; }

void edgesdk_board_exit(int code)
{
    /* SiFive test device: 0x5555 = pass (exit 0), (code << 16) | 0x3333 = fail with `code` */
    SIFIVE_TEST = code == 0 ? 0x5555u : (((uint32_t)code & 0xFFFFu) << 16) | 0x3333u;
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void edgesdk_uart_init(void)
{
    uint32_t div = (EDGESDK_UART_CLOCK_HZ + 8u * EDGESDK_UART_BAUD) / (16u * EDGESDK_UART_BAUD);
    U_IER = 0;
    U_LCR = 0x80u; /* divisor latch access */
    U_DLL = (uint8_t)(div & 0xFFu);
    U_DLM = (uint8_t)(div >> 8);
    U_LCR = 0x03u; /* 8N1 */
    U_FCR = 0x07u; /* FIFOs on and cleared */
}

void edgesdk_uart_putc(uint8_t c)
{
    while ((U_LSR & 0x20u) == 0u) {
    }
    U_THR = c;
}

int edgesdk_uart_getc(void)
{
    while ((U_LSR & 0x01u) == 0u) {
        U_IER = 0x01u; /* received-data interrupt */
        if ((U_LSR & 0x01u) == 0u) {
            __asm__ volatile("wfi" ::: "memory");
        }
        uint32_t src = PLIC_CLAIM;
        if (src != 0u) {
            PLIC_CLAIM = src; /* complete, so the PLIC raises the next one */
        }
    }
    U_IER = 0;
    return (int)U_RBR;
}

void edgesdk_uart_flush(void) {}
