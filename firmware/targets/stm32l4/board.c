/*
 * targets/stm32l4/board.c - STM32L4: clocks and pins of the UART named by the board file; the UART driver is
 * the shared stm32_usart_v2.
 *
 * The core runs at its reset clock (MSI 4 MHz on silicon): PLL setup for L4 is not implemented yet, so
 * edgesdk_core_clock_hz() reports 4 MHz on silicon whatever the board file says, and every count and
 * microsecond figure stays true. Emulated builds report EDGESDK_CLOCK_HZ.
 * UART pins by base: LPUART1 0x40008000 PG7/PG8 AF8 (Nucleo-144 L4R5ZI VCP; port G needs VDDIO2, enabled
 * here), USART2 0x40004400 PA2/PA3 AF7 (Nucleo-32/64 VCP).
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "stm32_gpio.h"

#define RCC_BASE 0x40021000u
#define RCC_AHB2ENR EDGESDK_REG(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 EDGESDK_REG(RCC_BASE + 0x58u)
#define RCC_APB1ENR2 EDGESDK_REG(RCC_BASE + 0x5Cu)
#define PWR_CR2 EDGESDK_REG(0x40007004u)
#define GPIO_BASE(port) (0x48000000u + 0x400u * (port))

void edgesdk_board_init(void) {}

uint32_t edgesdk_core_clock_hz(void)
{
#ifdef EDGESDK_EMULATED
    return EDGESDK_CLOCK_HZ;
#else
    return 4000000u;
#endif
}

uint32_t edgesdk_stm32_uart_clock_hz(void);
void edgesdk_stm32_uart_pins(void);

uint32_t edgesdk_stm32_uart_clock_hz(void) { return edgesdk_core_clock_hz(); }

void edgesdk_stm32_uart_pins(void)
{
#if EDGESDK_UART_BASE == 0x40008000u
    RCC_APB1ENR1 |= 1u << 28; /* PWREN */
    PWR_CR2 |= 1u << 9;       /* IOSV: VDDIO2 valid, port G usable */
    RCC_AHB2ENR |= 1u << 6;   /* GPIOG */
    RCC_APB1ENR2 |= 1u << 0;  /* LPUART1 */
    (void)RCC_APB1ENR2;
    edgesdk_stm32_pin_af(GPIO_BASE(6u), 7u, 8u);
    edgesdk_stm32_pin_af(GPIO_BASE(6u), 8u, 8u);
#elif EDGESDK_UART_BASE == 0x40004400u
    RCC_AHB2ENR |= 1u << 0;   /* GPIOA */
    RCC_APB1ENR1 |= 1u << 17; /* USART2 */
    (void)RCC_APB1ENR1;
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 2u, 7u);
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 3u, 7u);
#else
#error "unknown STM32L4 UART base: add its clock enable and pins here"
#endif
}
