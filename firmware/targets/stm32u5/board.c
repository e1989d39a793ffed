/*
 * targets/stm32u5/board.c - STM32U5 (TrustZone disabled): the reset clock and the UART named by the board file,
 * described for the bring-up the STM32 families share (cortexm/stm32_board.h); the UART driver is the shared
 * stm32_usart_v2 (the U5's USART has the L4/H7 register layout).
 *
 * The core runs at its reset clock (MSIS 4 MHz): PLL setup (voltage range 1, EPOD booster, flash wait states)
 * is not implemented yet, so edgesdk_core_clock_hz() reports 4 MHz on silicon whatever the board file says;
 * the USART is clocked from PCLK2 = 4 MHz, which gives 115200 baud within 0.2 %. UART pins by base: USART1
 * 0x40013800 PA9/PA10 AF7 (the B-U585I-IOT02A's ST-LINK VCP).
 */
#define RCC_BASE 0x46020C00u
#define RCC_AHB2ENR1 (RCC_BASE + 0x8Cu)
#define RCC_APB2ENR (RCC_BASE + 0xA4u)
#define GPIO_BASE(port) (0x42020000u + 0x400u * (port))

#define STM32_RESET_CLOCK_HZ 4000000u
#if EDGESDK_UART_BASE == 0x40013800u
#define STM32_UART_ENABLES {{RCC_AHB2ENR1, 0u /* GPIOA */}, {RCC_APB2ENR, 14u /* USART1 */}}
#define STM32_UART_GPIO GPIO_BASE(0u)
#define STM32_UART_TX 9u
#define STM32_UART_RX 10u
#define STM32_UART_AF 7u
#else
#error "unknown STM32U5 UART base: add its clock enable and pins here"
#endif

#include "stm32_board.h"
