/*
 * targets/rp2040/board.c - Raspberry Pi RP2040 (Cortex-M0+), as a RAM-only image: the UF2 the board's USB drive
 * takes (RPI-RP2, BOOTSEL held at reset) is written to SRAM at 0x20000000 and entered there by the boot ROM,
 * so the image needs no second-stage flash bootloader. Its first code (section .text.entry, before the vector
 * table) points VTOR at the vector table and enters Reset_Handler with the table's stack pointer.
 *
 * Clocks: the 12 MHz crystal oscillator drives clk_ref, clk_sys and clk_peri (the PLLs are not set up, so the
 * core runs at 12 MHz whatever the board file says). UART0 (PL011, "pl011": DR +0x00, FR +0x18 with RXFE bit 4
 * and TXFF bit 5, IBRD +0x24, FBRD +0x28, LCR_H +0x2C, CR +0x30, IMSC +0x38, ICR +0x44) on GPIO0 (TX) and GPIO1
 * (RX), the Pico's default; receive sleeps in WFI until the UART's interrupt (NVIC line 20).
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "edgesdk_uart.h"

#ifndef EDGESDK_UART_BASE
#define EDGESDK_UART_BASE 0x40034000u
#endif
#ifndef EDGESDK_UART_BAUD
#define EDGESDK_UART_BAUD 115200u
#endif
#ifndef EDGESDK_UART_IRQ
#define EDGESDK_UART_IRQ 20u
#endif
#ifndef EDGESDK_UART_TX_PIN
#define EDGESDK_UART_TX_PIN 0u
#endif
#ifndef EDGESDK_UART_RX_PIN
#define EDGESDK_UART_RX_PIN 1u
#endif

#define XOSC_HZ 12000000u
#define XOSC_CTRL EDGESDK_REG(0x40024000u)
#define XOSC_STATUS EDGESDK_REG(0x40024004u)
#define XOSC_STARTUP EDGESDK_REG(0x4002400Cu)
#define CLK_REF_CTRL EDGESDK_REG(0x40008030u)
#define CLK_REF_SELECTED EDGESDK_REG(0x40008038u)
#define CLK_SYS_CTRL EDGESDK_REG(0x4000803Cu)
#define CLK_SYS_SELECTED EDGESDK_REG(0x40008044u)
#define CLK_PERI_CTRL EDGESDK_REG(0x40008048u)
#define RESETS_RESET EDGESDK_REG(0x4000C000u)
#define RESETS_DONE EDGESDK_REG(0x4000C008u)
#define IO_GPIO_CTRL(pin) EDGESDK_REG(0x40014004u + 8u * (pin))

#define U_REG(off) EDGESDK_REG(EDGESDK_UART_BASE + (off))
#define U_DR U_REG(0x00u)
#define U_FR U_REG(0x18u)
#define U_IBRD U_REG(0x24u)
#define U_FBRD U_REG(0x28u)
#define U_LCR_H U_REG(0x2Cu)
#define U_CR U_REG(0x30u)
#define U_IMSC U_REG(0x38u)
#define U_ICR U_REG(0x44u)

void edgesdk_rp2040_entry(void);

/* The boot ROM enters a RAM image at its first byte, as code: VTOR, stack pointer, then Reset_Handler. */
__attribute__((naked, section(".text.entry"), used)) void edgesdk_rp2040_entry(void)
{
    __asm__ volatile(
        "ldr r0, =edgesdk_vectors\n\t"
        "ldr r1, =0xE000ED08\n\t"
        "str r0, [r1]\n\t"
        "ldr r1, [r0]\n\t"
        "msr msp, r1\n\t"
        "ldr r1, [r0, #4]\n\t"
        "bx r1\n\t"
        ".ltorg\n\t");
}

void edgesdk_board_init(void)
{
#ifndef EDGESDK_EMULATED
    XOSC_STARTUP = (XOSC_HZ / 1000u + 255u) / 256u; /* ~1 ms */
    XOSC_CTRL = (0xFABu << 12) | 0xAA0u;            /* enable, 1-15 MHz range */
    (void)edgesdk_wait_set(&XOSC_STATUS, 1u << 31);  /* STABLE */
    CLK_REF_CTRL = 2u;                               /* clk_ref <- xosc */
    (void)edgesdk_wait_set(&CLK_REF_SELECTED, 1u << 2);
    CLK_SYS_CTRL = 0u; /* clk_sys <- clk_ref */
    (void)edgesdk_wait_set(&CLK_SYS_SELECTED, 1u << 0);
    CLK_PERI_CTRL = 1u << 11; /* enabled, from clk_sys */
#endif
}

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void)
{
#ifdef EDGESDK_EMULATED
    return EDGESDK_CLOCK_HZ;
#else
    return XOSC_HZ;
#endif
}

void edgesdk_uart_init(void)
{
    const uint32_t need = (1u << 5) | (1u << 8) | (1u << 22); /* IO_BANK0, PADS_BANK0, UART0 */
    /* 64 * clk / (16 * baud), rounded: IBRD is its integer part / 64, FBRD its 6-bit fraction */
    const uint32_t div64 = (4u * edgesdk_core_clock_hz() + EDGESDK_UART_BAUD / 2u) / EDGESDK_UART_BAUD;
    RESETS_RESET &= ~need;
    (void)edgesdk_wait_set(&RESETS_DONE, need);
    U_CR = 0;
    U_IBRD = div64 >> 6;
    U_FBRD = div64 & 63u;
    U_LCR_H = 3u << 5; /* 8 bits, no FIFO: one interrupt per received byte */
    U_CR = (1u << 9) | (1u << 8) | 1u; /* RXE | TXE | UARTEN */
    IO_GPIO_CTRL(EDGESDK_UART_TX_PIN) = 2u; /* FUNCSEL UART */
    IO_GPIO_CTRL(EDGESDK_UART_RX_PIN) = 2u;
}

void edgesdk_uart_putc(uint8_t c)
{
    while (U_FR & (1u << 5)) {
    }
    U_DR = c;
}

int edgesdk_uart_getc(void)
{
    int c = -1;
    edgesdk_rx_sleep_begin(EDGESDK_UART_IRQ);
    U_IMSC = 1u << 4; /* RXIM */
    while (c < 0) {
        if ((U_FR & (1u << 4)) == 0u) {
            c = (int)(U_DR & 0xFFu); /* reading DR clears the receive interrupt */
        } else {
            edgesdk_rx_sleep();
        }
    }
    U_IMSC = 0;
    U_ICR = 0x7FFu;
    edgesdk_rx_sleep_end(EDGESDK_UART_IRQ);
    return c;
}

void edgesdk_uart_flush(void) {}
