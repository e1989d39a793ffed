/*
 * stm32_uart.h - what the STM32 UART drivers (stm32f4/uart.c, cortexm/stm32_usart_v2.c) take from the board
 * file (the UART's base address and baud rate) and from the family's board.c (the UART's clock, its clock
 * enable and pins).
 */
#ifndef EDGESDK_STM32_UART_H
#define EDGESDK_STM32_UART_H

#include "cortexm.h"

#ifndef EDGESDK_UART_BASE
#error "EDGESDK_UART_BASE must be defined (board [uart] base)"
#endif
#ifndef EDGESDK_UART_BAUD
#define EDGESDK_UART_BAUD 115200u
#endif

uint32_t edgesdk_stm32_uart_clock_hz(void);
void edgesdk_stm32_uart_pins(void);

#endif /* EDGESDK_STM32_UART_H */
