/*
 * edgesdk_uart.h - the byte link between the harness and the host, one implementation per target family.
 *
 * Devices poll their UART (no interrupts, no buffers): the harness only ever waits for one byte at a time,
 * and the host side of both protocols tolerates the latency. The host target uses stdin/stdout.
 */
#ifndef EDGESDK_UART_H
#define EDGESDK_UART_H

#include <stdint.h>

/* Enable clocks/pins as needed and configure the UART for EDGESDK_UART_BAUD, 8N1. */
void edgesdk_uart_init(void);
/* Send one byte; blocks while the transmitter is full. */
void edgesdk_uart_putc(uint8_t c);
/* Receive one byte; blocks until one arrives. Returns 0..255, or -1 when the link has ended (host EOF). */
int edgesdk_uart_getc(void);
/* Push out anything buffered (host stdout); a no-op on devices. Called before every blocking read. */
void edgesdk_uart_flush(void);

#endif /* EDGESDK_UART_H */
