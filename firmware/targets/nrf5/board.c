/*
 * targets/nrf5/board.c - Nordic nRF51 / nRF52 (QEMU microbit, nRF52840 boards): the core clock is fixed
 * (16 MHz on nRF51, 64 MHz on nRF52), the high-frequency crystal is started for an accurate baud rate, and the
 * UART is the "nrf_uart" peripheral both families share at 0x40002000 ("nrf_uart": TASKS_STARTRX +0x000,
 * TASKS_STARTTX +0x008, EVENTS_RXDRDY +0x108, EVENTS_TXDRDY +0x11C, EVENTS_ERROR +0x124, INTENSET +0x304,
 * INTENCLR +0x308, ERRORSRC +0x480, ENABLE +0x500 = 4, PSELTXD +0x50C, PSELRXD +0x514, RXD +0x518,
 * TXD +0x51C, BAUDRATE +0x524). Receive sleeps in WFI until the UART's interrupt (NVIC line 2, RXDRDY
 * enabled in INTENSET), see edgesdk_rx_sleep in cortexm.h.
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "edgesdk_uart.h"

#ifndef EDGESDK_UART_BASE
#define EDGESDK_UART_BASE 0x40002000u
#endif
#ifndef EDGESDK_UART_BAUD
#define EDGESDK_UART_BAUD 115200u
#endif
#ifndef EDGESDK_UART_IRQ
#define EDGESDK_UART_IRQ 2u /* UART0 on nRF51 and nRF52 */
#endif
/* micro:bit: TX P0.24, RX P0.25; an nRF52840 board file names its own pins (board [uart] tx_pin/rx_pin). */
#ifndef EDGESDK_UART_TX_PIN
#define EDGESDK_UART_TX_PIN 24u
#endif
#ifndef EDGESDK_UART_RX_PIN
#define EDGESDK_UART_RX_PIN 25u
#endif

#define CLOCK_TASKS_HFCLKSTART EDGESDK_REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED EDGESDK_REG(0x40000100u)

#define U_REG(off) EDGESDK_REG(EDGESDK_UART_BASE + (off))
#define U_STARTRX U_REG(0x000u)
#define U_STARTTX U_REG(0x008u)
#define U_RXDRDY U_REG(0x108u)
#define U_TXDRDY U_REG(0x11Cu)
#define U_ERROR U_REG(0x124u)
#define U_INTENSET U_REG(0x304u)
#define U_INTENCLR U_REG(0x308u)
#define U_ERRORSRC U_REG(0x480u)
#define U_ENABLE U_REG(0x500u)
#define U_PSELTXD U_REG(0x50Cu)
#define U_PSELRXD U_REG(0x514u)
#define U_RXD U_REG(0x518u)
#define U_TXD U_REG(0x51Cu)
#define U_BAUDRATE U_REG(0x524u)

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void) { return EDGESDK_CLOCK_HZ; }

void edgesdk_board_init(void)
{
#ifndef EDGESDK_EMULATED
    CLOCK_EVENTS_HFCLKSTARTED = 0;
    CLOCK_TASKS_HFCLKSTART = 1;
    (void)edgesdk_wait_set(&CLOCK_EVENTS_HFCLKSTARTED, 1u);
#endif
}

/* BAUDRATE register value: round(baud * 2^32 / 16 MHz), to the 4 KiHz steps Nordic documents. */
static uint32_t baud_register(uint32_t baud)
{
    uint64_t v = (((uint64_t)baud << 32) + 8000000u) / 16000000u;
    return (uint32_t)((v + 0x800u) & ~0xFFFu);
}

void edgesdk_uart_init(void)
{
    U_ENABLE = 0;
    U_PSELTXD = EDGESDK_UART_TX_PIN;
    U_PSELRXD = EDGESDK_UART_RX_PIN;
    U_BAUDRATE = baud_register(EDGESDK_UART_BAUD);
    U_ENABLE = 4u;
    U_TXDRDY = 0;
    U_RXDRDY = 0;
    U_STARTTX = 1;
    U_STARTRX = 1;
}

void edgesdk_uart_putc(uint8_t c)
{
    U_TXDRDY = 0;
    U_TXD = c;
    while (U_TXDRDY == 0u) {
    }
}

int edgesdk_uart_getc(void)
{
    int c = -1;
    edgesdk_rx_sleep_begin(EDGESDK_UART_IRQ);
    U_INTENSET = 1u << 2; /* RXDRDY */
    while (c < 0) {
        if (U_RXDRDY) {
            U_RXDRDY = 0; /* clear the event (and the interrupt line) before reading, as Nordic requires */
            c = (int)(U_RXD & 0xFFu);
        } else {
            if (U_ERROR) {
                U_ERROR = 0;
                U_ERRORSRC = U_ERRORSRC; /* write-one-to-clear overrun/framing flags */
            }
            edgesdk_rx_sleep();
        }
    }
    U_INTENCLR = 1u << 2;
    edgesdk_rx_sleep_end(EDGESDK_UART_IRQ);
    return c;
}

void edgesdk_uart_flush(void) {}
