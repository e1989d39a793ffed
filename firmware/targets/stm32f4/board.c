/*
 * targets/stm32f4/board.c - STM32F4: core clock, and the clocks and pins of the UART named by the board file.
 *
 * On silicon (not EDGESDK_EMULATED) the PLL is run from the 16 MHz HSI up to EDGESDK_CLOCK_HZ (PLLM 8, PLLN
 * f/1 MHz, PLLP 2) with the flash wait states, voltage scale and (above 168 MHz, F42x/F446) over-drive it needs;
 * APB1 is kept <= 45 MHz and APB2 <= 90 MHz. QEMU does not model RCC (its ready flags read 0), so emulated
 * builds skip all of it. Every wait on a ready flag is bounded.
 *
 * UART pins and NVIC interrupt (which wakes the core from WFI) by base address (override with
 * EDGESDK_UART_GPIO_PORT/_TX_PIN/_RX_PIN/_AF/_APB/_RCC_BIT/_IRQ):
 *   USART1 0x40011000 PA9/PA10 AF7 (APB2), USART2 0x40004400 PA2/PA3 AF7 (APB1, Nucleo-64 VCP),
 *   USART3 0x40004800 PD8/PD9 AF7 (APB1, Nucleo-144 VCP), USART6 0x40011400 PC6/PC7 AF8 (APB2).
 */
#include "cortexm.h"
#include "edgesdk_board.h"
#include "stm32_gpio.h"
#include "stm32_uart.h"

#define RCC_BASE 0x40023800u
#define RCC_CR EDGESDK_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR EDGESDK_REG(RCC_BASE + 0x04u)
#define RCC_CFGR EDGESDK_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR EDGESDK_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR EDGESDK_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR EDGESDK_REG(RCC_BASE + 0x44u)
#define FLASH_ACR EDGESDK_REG(0x40023C00u)
#define PWR_CR EDGESDK_REG(0x40007000u)
#define PWR_CSR EDGESDK_REG(0x40007004u)

#if EDGESDK_UART_BASE == 0x40011000u
#define UART_IRQ 37u
#define UART_APB 2u
#define UART_RCC_BIT 4u
#define UART_GPIO 0u
#define UART_TX 9u
#define UART_RX 10u
#define UART_AF 7u
#elif EDGESDK_UART_BASE == 0x40004400u
#define UART_IRQ 38u
#define UART_APB 1u
#define UART_RCC_BIT 17u
#define UART_GPIO 0u
#define UART_TX 2u
#define UART_RX 3u
#define UART_AF 7u
#elif EDGESDK_UART_BASE == 0x40004800u
#define UART_IRQ 39u
#define UART_APB 1u
#define UART_RCC_BIT 18u
#define UART_GPIO 3u
#define UART_TX 8u
#define UART_RX 9u
#define UART_AF 7u
#elif EDGESDK_UART_BASE == 0x40011400u
#define UART_IRQ 71u
#define UART_APB 2u
#define UART_RCC_BIT 5u
#define UART_GPIO 2u
#define UART_TX 6u
#define UART_RX 7u
#define UART_AF 8u
#elif !defined(EDGESDK_UART_GPIO_PORT)
#error "unknown STM32F4 UART base: define EDGESDK_UART_GPIO_PORT/_TX_PIN/_RX_PIN/_AF/_APB/_RCC_BIT/_IRQ"
#endif
#ifdef EDGESDK_UART_GPIO_PORT
#define UART_GPIO EDGESDK_UART_GPIO_PORT /* 0 = GPIOA, 1 = GPIOB, ... */
#define UART_TX EDGESDK_UART_TX_PIN
#define UART_RX EDGESDK_UART_RX_PIN
#define UART_AF EDGESDK_UART_AF
#define UART_APB EDGESDK_UART_APB
#define UART_RCC_BIT EDGESDK_UART_RCC_BIT
#define UART_IRQ EDGESDK_UART_IRQ
#endif

#define HSI_HZ 16000000u
#define CORE_HZ EDGESDK_CLOCK_HZ
#if CORE_HZ > 90000000u
#define APB1_DIV 4u
#define APB2_DIV 2u
#elif CORE_HZ > 45000000u
#define APB1_DIV 2u
#define APB2_DIV 1u
#else
#define APB1_DIV 1u
#define APB2_DIV 1u
#endif

#define PPRE_BITS(div) ((div) == 1u ? 0u : (div) == 2u ? 4u : (div) == 4u ? 5u : 6u)

void edgesdk_board_init(void)
{
#if !defined(EDGESDK_EMULATED) && CORE_HZ != HSI_HZ
    uint32_t vco = CORE_HZ * 2u;
    RCC_APB1ENR |= 1u << 28; /* PWREN */
    PWR_CR |= (CORE_HZ > 168000000u ? 3u : 1u) << 14; /* voltage scale 1 */
    FLASH_ACR = (1u << 8) | (1u << 9) | (1u << 10) | ((CORE_HZ - 1u) / 30000000u);
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | (PPRE_BITS(APB1_DIV) << 10) | (PPRE_BITS(APB2_DIV) << 13);
    RCC_PLLCFGR = 8u | ((CORE_HZ / 1000000u) << 6) | (0u << 16) | (((vco / 48000000u) + 1u) << 24) | (2u << 28);
    RCC_CR |= 1u << 24; /* PLLON */
    (void)edgesdk_wait_set(&RCC_CR, 1u << 25);
    if (CORE_HZ > 168000000u) {
        PWR_CR |= 1u << 16; /* ODEN */
        (void)edgesdk_wait_set(&PWR_CSR, 1u << 16);
        PWR_CR |= 1u << 17; /* ODSWEN */
        (void)edgesdk_wait_set(&PWR_CSR, 1u << 17);
    }
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SYSCLK = PLL */
    (void)edgesdk_wait_set(&RCC_CFGR, 2u << 2);
#endif
}

uint32_t edgesdk_stm32_uart_irq(void);
uint32_t edgesdk_stm32_uart_irq(void) { return UART_IRQ; }

uint32_t edgesdk_stm32_uart_clock_hz(void) { return CORE_HZ / (UART_APB == 1u ? APB1_DIV : APB2_DIV); }

void edgesdk_stm32_uart_pins(void)
{
    RCC_AHB1ENR |= 1u << UART_GPIO;
    if (UART_APB == 1u) {
        RCC_APB1ENR |= 1u << UART_RCC_BIT;
    } else {
        RCC_APB2ENR |= 1u << UART_RCC_BIT;
    }
    (void)RCC_AHB1ENR; /* read back: the enable takes effect before the peripheral is touched */
    edgesdk_stm32_pin_af(0x40020000u + 0x400u * UART_GPIO, UART_TX, UART_AF);
    edgesdk_stm32_pin_af(0x40020000u + 0x400u * UART_GPIO, UART_RX, UART_AF);
}

uint32_t edgesdk_core_clock_hz(void);
uint32_t edgesdk_core_clock_hz(void) { return CORE_HZ; }
