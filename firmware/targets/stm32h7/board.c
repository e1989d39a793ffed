/*
 * targets/stm32h7/board.c - STM32H7: the reset clock and the UART named by the board file, described for the
 * bring-up the STM32 families share (cortexm/stm32_board.h); the UART driver is the shared stm32_usart_v2.
 *
 * The core runs at its reset clock (HSI 64 MHz on silicon): PLL setup for H7 is not implemented yet, so
 * edgesdk_core_clock_hz() reports 64 MHz on silicon whatever the board file says. Emulated builds report
 * EDGESDK_CLOCK_HZ. UART pins by base: USART3 0x40004800 PD8/PD9 AF7 (Nucleo-144 H743ZI VCP),
 * USART1 0x40011000 PA9/PA10 AF7.
 */
#define RCC_BASE 0x58024400u
#define RCC_AHB4ENR (RCC_BASE + 0xE0u)
#define RCC_APB1LENR (RCC_BASE + 0xE8u)
#define RCC_APB2ENR (RCC_BASE + 0xF0u)
#define GPIO_BASE(port) (0x58020000u + 0x400u * (port))

#define STM32_RESET_CLOCK_HZ 64000000u
#if EDGESDK_UART_BASE == 0x40004800u
#define STM32_UART_ENABLES {{RCC_AHB4ENR, 3u /* GPIOD */}, {RCC_APB1LENR, 18u /* USART3 */}}
#define STM32_UART_GPIO GPIO_BASE(3u)
#define STM32_UART_TX 8u
#define STM32_UART_RX 9u
#define STM32_UART_AF 7u
#elif EDGESDK_UART_BASE == 0x40011000u
#define STM32_UART_ENABLES {{RCC_AHB4ENR, 0u /* GPIOA */}, {RCC_APB2ENR, 4u /* USART1 */}}
#define STM32_UART_GPIO GPIO_BASE(0u)
#define STM32_UART_TX 9u
#define STM32_UART_RX 10u
#define STM32_UART_AF 7u
#else
#error "unknown STM32H7 UART base: add its clock enable and pins here"
#endif

#include "stm32_board.h"
