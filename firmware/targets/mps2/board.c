/*
 * targets/mps2/board.c - Arm MPS2/MPS3 FPGA images (QEMU mps2-an385/an386/an500, and the TrustZone images
 * mps2-an505 and mps3-an547 run in secure state): fixed clock (the board file's clock_hz: 25, 20 and 32 MHz
 * under QEMU), and the CMSDK APB UART ("cmsdk_uart": DATA +0x00, STATE +0x04 with bit 0 TX full and bit 1 RX
 * full, CTRL +0x08 = TX|RX enable, BAUDDIV +0x10). UART0 is at 0x40004000 (AN505: 0x50200000, AN547:
 * 0x59303000, their secure aliases). Receive sleeps in WFI until the UART's RX interrupt (CTRL bit 3;
 * INTSTATUS/INTCLEAR +0x0C bit 1; NVIC line EDGESDK_UART_IRQ from the board file: 0 for UART0 on
 * AN385/AN386/AN500, the combined UART0 line 42 on AN505 and 43 on AN547), see edgesdk_rx_sleep in cortexm.h.
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "edgesdk_uart.h"

#ifndef EDGESDK_UART_BASE
#define EDGESDK_UART_BASE 0x40004000u
#endif
#ifndef EDGESDK_UART_BAUD
#define EDGESDK_UART_BAUD 115200u
#endif

#define U_DATA EDGESDK_REG(EDGESDK_UART_BASE + 0x00u)
#define U_STATE EDGESDK_REG(EDGESDK_UART_BASE + 0x04u)
#define U_CTRL EDGESDK_REG(EDGESDK_UART_BASE + 0x08u)
#define U_INTCLEAR EDGESDK_REG(EDGESDK_UART_BASE + 0x0Cu)
#define U_BAUDDIV EDGESDK_REG(EDGESDK_UART_BASE + 0x10u)
#ifndef EDGESDK_UART_IRQ
#define EDGESDK_UART_IRQ 0u /* UART0 RX (UART1 RX is 2, UART2 RX 4) */
#endif

void edgesdk_board_init(void) {}

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void) { return EDGESDK_CLOCK_HZ; }

void edgesdk_uart_init(void)
{
    U_BAUDDIV = EDGESDK_CLOCK_HZ / EDGESDK_UART_BAUD;
    U_CTRL = 3u;
    (void)U_DATA; /* one read after enabling RX, or QEMU stalls the first received byte (TOOLCHAIN.md) */
}

void edgesdk_uart_putc(uint8_t c)
{
    while (U_STATE & 1u) {
    }
    U_DATA = c;
}

int edgesdk_uart_getc(void)
{
    int c = -1;
    edgesdk_rx_sleep_begin(EDGESDK_UART_IRQ);
    U_CTRL = 3u | (1u << 3); /* + RX interrupt enable */
    while (c < 0) {
        uint32_t st = U_STATE;
        if (st & 2u) {
            c = (int)(U_DATA & 0xFFu);
        } else {
            if (st & 0xCu) {
                U_STATE = 0xCu; /* clear overrun flags */
            }
            edgesdk_rx_sleep();
        }
        U_INTCLEAR = 2u; /* the RX interrupt stays raised until cleared */
    }
    U_CTRL = 3u;
    edgesdk_rx_sleep_end(EDGESDK_UART_IRQ);
    return c;
}

void edgesdk_uart_flush(void) {}
