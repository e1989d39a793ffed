/*
 * stm32_board.h - the board bring-up of the STM32 families whose UART is stm32_usart_v2 (L4, H7, U5), included
 * once, by the family's board.c, after it has described its part:
 *   STM32_RESET_CLOCK_HZ   the core clock on silicon: the reset clock (PLL setup is not implemented for these
 *                          families, so every count and microsecond figure stays true whatever the board file
 *                          says); emulated builds report EDGESDK_CLOCK_HZ. The UART is clocked from it.
 *   STM32_UART_ENABLES     the UART's clock enables as {register address, bit}, set in this order; the last
 *                          one is read back, so that it takes effect before the peripheral is touched.
 *   STM32_UART_GPIO, STM32_UART_TX, STM32_UART_RX, STM32_UART_AF   its port's base address, its TX and RX pins
 *                          and their alternate function.
 */
#ifndef EDGESDK_STM32_BOARD_H
#define EDGESDK_STM32_BOARD_H

#include "cortexm.h"
#include "edgesdk_board.h"
#include "stm32_gpio.h"
#include "stm32_uart.h"

void edgesdk_board_init(void) {}

uint32_t edgesdk_core_clock_hz(void)
{
#ifdef EDGESDK_EMULATED
    return EDGESDK_CLOCK_HZ;
#else
    return STM32_RESET_CLOCK_HZ;
#endif
}

uint32_t edgesdk_stm32_uart_clock_hz(void) { return edgesdk_core_clock_hz(); }

void edgesdk_stm32_uart_pins(void)
{
    static const uint32_t enables[][2] = STM32_UART_ENABLES;
    const uint32_t n = (uint32_t)(sizeof enables / sizeof enables[0]);
    uint32_t i;
    for (i = 0; i < n; i++) {
        EDGESDK_REG(enables[i][0]) |= 1u << enables[i][1];
    }
    (void)EDGESDK_REG(enables[n - 1u][0]);
    edgesdk_stm32_pin_af(STM32_UART_GPIO, STM32_UART_TX, STM32_UART_AF);
    edgesdk_stm32_pin_af(STM32_UART_GPIO, STM32_UART_RX, STM32_UART_AF);
}

#endif /* EDGESDK_STM32_BOARD_H */
