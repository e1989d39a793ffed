/*
 * stm32_usart_v2.c - UART driver for the STM32 USART/LPUART of L4 and H7 parts ("stm32_usart_v2":
 * CR1 +0x00, BRR +0x0C, ISR +0x1C, ICR +0x20, RDR +0x24, TDR +0x28). Clocks and pins are set up by the
 * family's board.c through edgesdk_stm32_uart_clock_hz().
 */
#include "cortexm.h"
#include "edgesdk_uart.h"
#include "stm32_uart.h"

#define U_CR1 EDGESDK_REG(EDGESDK_UART_BASE + 0x00u)
#define U_BRR EDGESDK_REG(EDGESDK_UART_BASE + 0x0Cu)
#define U_ISR EDGESDK_REG(EDGESDK_UART_BASE + 0x1Cu)
#define U_ICR EDGESDK_REG(EDGESDK_UART_BASE + 0x20u)
#define U_RDR EDGESDK_REG(EDGESDK_UART_BASE + 0x24u)
#define U_TDR EDGESDK_REG(EDGESDK_UART_BASE + 0x28u)

void edgesdk_uart_init(void)
{
    uint32_t clk;
    edgesdk_stm32_uart_pins();
    clk = edgesdk_stm32_uart_clock_hz();
    U_CR1 = 0;
#if EDGESDK_UART_BASE == 0x40008000u || EDGESDK_UART_BASE == 0x58000C00u
    /* LPUART: BRR = 256 * f_ck / baud */
    U_BRR = (uint32_t)((((uint64_t)clk << 8) + EDGESDK_UART_BAUD / 2u) / EDGESDK_UART_BAUD);
#else
    U_BRR = (clk + EDGESDK_UART_BAUD / 2u) / EDGESDK_UART_BAUD;
#endif
    U_CR1 = (1u << 3) | (1u << 2) | 1u; /* TE | RE | UE */
}

void edgesdk_uart_putc(uint8_t c)
{
    while ((U_ISR & (1u << 7)) == 0u) {
    }
    U_TDR = c;
}

int edgesdk_uart_getc(void)
{
    for (;;) {
        uint32_t isr = U_ISR;
        if (isr & (1u << 5)) {
            return (int)(U_RDR & 0xFFu);
        }
        if (isr & (1u << 3)) {
            U_ICR = 1u << 3; /* clear overrun, or reception stops */
        }
    }
}

void edgesdk_uart_flush(void) {}
