/*
 * targets/esp32c3/board.c - ESP32-C3 (RV32IMC): watchdogs off, UART0 ("esp32_uart") and the end of a run.
 *
 * Watchdogs (ESP32-C3 TRM, "Watchdog Timers"): the boot ROM leaves the RTC watchdog, the timer groups' main
 * watchdogs and the super watchdog running, and a run outlasts them; each is unlocked with its write-protect key
 * and stopped. RTC_CNTL at 0x60008000: WDTCONFIG0 +0x90, WDTWPROTECT +0xA8 (key 0x50D83AA1), SWD_CONF +0xAC (bit
 * 31 SWD_AUTO_FEED_EN), SWD_WPROTECT +0xB0 (key 0x8F1D312A). TIMG0/TIMG1 at 0x6001F000/0x60020000: WDTCONFIG0
 * +0x48 (bit 31 WDT_EN, bit 22 WDT_CONF_UPDATE_EN), WDTWPROTECT +0x64 (key 0x50D83AA1).
 *
 * UART0 (TRM, "UART Controller"): the ROM sets it to 115200 8N1 for its boot log (U0TXD GPIO21, U0RXD GPIO20,
 * wired to the DevKitM-1's USB bridge) and the driver keeps that setting. FIFO +0x00 (one byte per access),
 * STATUS +0x1C with RXFIFO_CNT in bits 9:0 and TXFIFO_CNT in bits 25:16; both FIFOs hold 128 bytes.
 */
#include <stdint.h>

#include "edgesdk_board.h"
#include "edgesdk_uart.h"

#ifndef EDGESDK_UART_BASE
#define EDGESDK_UART_BASE 0x60000000u
#endif

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define UART_FIFO REG32(EDGESDK_UART_BASE + 0x00u)
#define UART_STATUS REG32(EDGESDK_UART_BASE + 0x1Cu)
#define UART_RXFIFO_CNT(s) ((s) & 0x3FFu)
#define UART_TXFIFO_CNT(s) (((s) >> 16) & 0x3FFu)
#define UART_FIFO_BYTES 128u

#define RTC_CNTL 0x60008000u
#define WDT_KEY 0x50D83AA1u
#define SWD_KEY 0x8F1D312Au
#define TIMG0 0x6001F000u
#define TIMG1 0x60020000u

static void timg_wdt_off(uint32_t timg)
{
    REG32(timg + 0x64u) = WDT_KEY;
    REG32(timg + 0x48u) = 1u << 22; /* all stages off, WDT_EN clear; CONF_UPDATE_EN latches the change */
    REG32(timg + 0x64u) = 0u;
}

void edgesdk_board_init(void)
{
    REG32(RTC_CNTL + 0xA8u) = WDT_KEY;
    REG32(RTC_CNTL + 0x90u) = 0u; /* RTC watchdog off */
    REG32(RTC_CNTL + 0xA8u) = 0u;
    REG32(RTC_CNTL + 0xB0u) = SWD_KEY;
    REG32(RTC_CNTL + 0xACu) |= 1u << 31; /* the super watchdog feeds itself */
    REG32(RTC_CNTL + 0xB0u) = 0u;
    timg_wdt_off(TIMG0);
    timg_wdt_off(TIMG1);
}

void edgesdk_board_exit(int code)
{
    (void)code; /* no debugger to report to: park the core */
    __asm__ volatile("csrci mstatus, 8");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void edgesdk_uart_init(void) {}

void edgesdk_uart_putc(uint8_t c)
{
    while (UART_TXFIFO_CNT(UART_STATUS) >= UART_FIFO_BYTES) {
    }
    UART_FIFO = c;
}

int edgesdk_uart_getc(void)
{
    while (UART_RXFIFO_CNT(UART_STATUS) == 0u) {
    }
    return (int)(UART_FIFO & 0xFFu);
}

void edgesdk_uart_flush(void)
{
    while (UART_TXFIFO_CNT(UART_STATUS) != 0u) {
    }
}
