/*
 * targets/stm32u5/board.c - STM32U5 (TrustZone disabled): clocks and pins of the UART named by the board file;
 * the UART driver is the shared stm32_usart_v2 (the U5's USART has the L4/H7 register layout).
 *
 * The core runs at its reset clock (MSIS 4 MHz): PLL setup (voltage range 1, EPOD booster, flash wait states)
 * is not implemented yet, so edgesdk_core_clock_hz() reports 4 MHz on silicon whatever the board file says;
 * the USART is clocked from PCLK2 = 4 MHz, which gives 115200 baud within 0.2 %. UART pins by base: USART1
 * 0x40013800 PA9/PA10 AF7 (the B-U585I-IOT02A's ST-LINK VCP).
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "stm32_gpio.h"

#define RCC_BASE 0x46020C00u
#define RCC_AHB2ENR1 EDGESDK_REG(RCC_BASE + 0x8Cu)
#define RCC_APB2ENR EDGESDK_REG(RCC_BASE + 0xA4u)
#define GPIO_BASE(port) (0x42020000u + 0x400u * (port))

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
#if EDGESDK_UART_BASE == 0x40013800u
    RCC_AHB2ENR1 |= 1u << 0; /* GPIOA */
    RCC_APB2ENR |= 1u << 14; /* USART1 */
    (void)RCC_APB2ENR;
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 9u, 7u);
    edgesdk_stm32_pin_af(GPIO_BASE(0u), 10u, 7u);
#else
#error "unknown STM32U5 UART base: add its clock enable and pins here"
#endif
}
