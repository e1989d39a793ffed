/*
 * targets/stm32h7/board.c - STM32H7: clocks and pins of the UART named by the board file; the UART driver is
 * the shared stm32_usart_v2.
 *
 * The core runs at its reset clock (HSI 64 MHz on silicon): PLL setup for H7 is not implemented yet, so
 * edgesdk_core_clock_hz() reports 64 MHz on silicon whatever the board file says. Emulated builds report
 * EDGESDK_CLOCK_HZ. UART pins by base: USART3 0x40004800 PD8/PD9 AF7 (Nucleo-144 H743ZI VCP),
 * USART1 0x40011000 PA9/PA10 AF7.
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "stm32_gpio.h"

#define RCC_BASE 0x58024400u
#define RCC_AHB4ENR EDGESDK_REG(RCC_BASE + 0xE0u)
#define RCC_APB1LENR EDGESDK_REG(RCC_BASE + 0xE8u)
#define RCC_APB2ENR EDGESDK_REG(RCC_BASE + 0xF0u)
#define GPIO_BASE(port) (0x58020000u + 0x400u * (port))

void edgesdk_board_init(void) {}

uint32_t edgesdk_core_clock_hz(void)
{
#ifdef EDGESDK_EMULATED
    return EDGESDK_CLOCK_HZ;
#else
    return 64000000u;
#endif
}

uint32_t edgesdk_stm32_uart_clock_hz(void);
void edgesdk_stm32_uart_pins(void);

uint32_t edgesdk_stm32_uart_clock_hz(void) { return edgesdk_core_clock_hz(); }

void edgesdk_stm32_uart_pins(void)
{
#if EDGESDK_UART_BASE == 0x40004800u
    RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
    RCC_APB1LENR |= 1u << 18; /* USART3 */
    (void)RCC_APB1LENR;
    edgesdk_stm32_pin_af(GPIO_BASE(3u), 8u, 7u);
    edgesdk_stm32_pin_af(GPIO_BASE(3u), 9u, 7u);
#elif EDGESDK_UART_BASE == 0x40011000u
    RCC_AHB4ENR |= 1u << 0;  /* GPIOA */
    RCC_APB2ENR |= 1u << 4;  /* USART1 */
    (void)RCC_APB2ENR;
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 9u, 7u);
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 10u, 7u);
#else
#error "unknown STM32H7 UART base: add its clock enable and pins here"
#endif
}
