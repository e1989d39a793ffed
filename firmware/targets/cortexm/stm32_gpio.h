/*
 * stm32_gpio.h - alternate-function pin setup shared by the STM32 families (F4, L4 and H7 share the GPIO
 * register layout: MODER +0x00, OSPEEDR +0x08, PUPDR +0x0C, AFRL +0x20, AFRH +0x24).
 */
#ifndef EDGESDK_STM32_GPIO_H
#define EDGESDK_STM32_GPIO_H

#include "cortexm.h"

static inline void edgesdk_stm32_pin_af(uint32_t gpio_base, uint32_t pin, uint32_t af)
{
    volatile uint32_t *afr = (volatile uint32_t *)(uintptr_t)(gpio_base + (pin < 8u ? 0x20u : 0x24u));
    uint32_t shift = (pin & 7u) * 4u;
    *afr = (*afr & ~(0xFu << shift)) | (af << shift);
    EDGESDK_REG(gpio_base + 0x08u) |= 2u << (pin * 2u); /* high speed */
    EDGESDK_REG(gpio_base + 0x0Cu) = (EDGESDK_REG(gpio_base + 0x0Cu) & ~(3u << (pin * 2u))) | (1u << (pin * 2u));
    EDGESDK_REG(gpio_base + 0x00u) = (EDGESDK_REG(gpio_base + 0x00u) & ~(3u << (pin * 2u))) | (2u << (pin * 2u));
}

#endif /* EDGESDK_STM32_GPIO_H */
