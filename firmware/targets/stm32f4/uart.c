/*
 * targets/stm32f4/uart.c - driver for the STM32F4 USART ("stm32_usart_v1": SR +0x00 with TXE bit 7 and
 * RXNE bit 5, DR +0x04, BRR +0x08, CR1 +0x0C = UE | TE | RE), 8N1, oversampling by 16.
 * Transmit polls; receive sleeps in WFI until the RXNE interrupt (see edgesdk_rx_sleep in cortexm.h).
 */
#include "cortexm.h"
#include "edgesdk_uart.h"
#include "stm32_uart.h"

#define U_SR EDGESDK_REG(EDGESDK_UART_BASE + 0x00u)
#define U_DR EDGESDK_REG(EDGESDK_UART_BASE + 0x04u)
#define U_BRR EDGESDK_REG(EDGESDK_UART_BASE + 0x08u)
#define U_CR1 EDGESDK_REG(EDGESDK_UART_BASE + 0x0Cu)

uint32_t edgesdk_stm32_uart_irq(void);

void edgesdk_uart_init(void)
{
    edgesdk_stm32_uart_pins();
    U_CR1 = 0;
    U_BRR = (edgesdk_stm32_uart_clock_hz() + EDGESDK_UART_BAUD / 2u) / EDGESDK_UART_BAUD;
    U_CR1 = (1u << 13) | (1u << 3) | (1u << 2);
}

void edgesdk_uart_putc(uint8_t c)
{
    while ((U_SR & (1u << 7)) == 0u) {
    }
    U_DR = c;
}

int edgesdk_uart_getc(void)
{
    int c = -1;
    uint32_t irq = edgesdk_stm32_uart_irq();
    edgesdk_rx_sleep_begin(irq);
    U_CR1 |= 1u << 5; /* RXNEIE (raised by RXNE and by overrun) */
    while (c < 0) {
        uint32_t sr = U_SR;
        if (sr & ((1u << 5) | (1u << 3))) { /* RXNE, or overrun: reading DR after SR clears ORE */
            uint32_t d = U_DR;
            if (sr & (1u << 5)) {
                c = (int)(d & 0xFFu);
            }
        } else {
            edgesdk_rx_sleep();
        }
    }
    U_CR1 &= ~(1u << 5);
    edgesdk_rx_sleep_end(irq);
    return c;
}

void edgesdk_uart_flush(void) {}
