/*
 * targets/stm32l4/board.c - STM32L4: the reset clock and the UART named by the board file, described for the
 * bring-up the STM32 families share (cortexm/stm32_board.h); the UART driver is the shared stm32_usart_v2.
 *
 * The core runs at its reset clock (MSI 4 MHz on silicon): PLL setup for L4 is not implemented yet, so
 * edgesdk_core_clock_hz() reports 4 MHz on silicon whatever the board file says, and every count and
 * microsecond figure stays true. Emulated builds report EDGESDK_CLOCK_HZ.
 * UART pins by base: LPUART1 0x40008000 PG7/PG8 AF8 (Nucleo-144 L4R5ZI VCP; port G needs VDDIO2, enabled
 * here), USART2 0x40004400 PA2/PA3 AF7 (Nucleo-32/64 VCP).
 */
#define RCC_BASE 0x40021000u
#define RCC_AHB2ENR (RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 (RCC_BASE + 0x58u)
#define RCC_APB1ENR2 (RCC_BASE + 0x5Cu)
#define PWR_CR2 0x40007004u
#define GPIO_BASE(port) (0x48000000u + 0x400u * (port))

#define STM32_RESET_CLOCK_HZ 4000000u
#if EDGESDK_UART_BASE == 0x40008000u
/* PWREN, then IOSV (VDDIO2 valid: port G usable), GPIOG, LPUART1 */
#define STM32_UART_ENABLES {{RCC_APB1ENR1, 28u}, {PWR_CR2, 9u}, {RCC_AHB2ENR, 6u}, {RCC_APB1ENR2, 0u}}
#define STM32_UART_GPIO GPIO_BASE(6u)
#define STM32_UART_TX 7u
#define STM32_UART_RX 8u
#define STM32_UART_AF 8u
#elif EDGESDK_UART_BASE == 0x40004400u
#define STM32_UART_ENABLES {{RCC_AHB2ENR, 0u /* GPIOA */}, {RCC_APB1ENR1, 17u /* USART2 */}}
#define STM32_UART_GPIO GPIO_BASE(0u)
#define STM32_UART_TX 2u
#define STM32_UART_RX 3u
#define STM32_UART_AF 7u
#else
#error "unknown STM32L4 UART base: add its clock enable and pins here"
#endif

#include "stm32_board.h"
