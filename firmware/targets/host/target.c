/*
 * targets/host/target.c - the harness as a host process: the "UART" is stdin/stdout and the timer is
 * CLOCK_MONOTONIC, so both protocols run (and are tested and fuzzed) without a board.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "edgesdk_board.h"
#include "edgesdk_timer.h"
#include "edgesdk_uart.h"

void edgesdk_board_init(void) {}

void edgesdk_board_exit(int code)
{
    fflush(stdout);
    exit(code);
}

void edgesdk_uart_init(void)
{
    static char out_buf[8192];
    setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
}

void edgesdk_uart_putc(uint8_t c) { putchar(c); }

int edgesdk_uart_getc(void)
{
    int c = getchar();
    return c == EOF ? -1 : c;
}

void edgesdk_uart_flush(void) { fflush(stdout); }

static uint64_t g_t0;

void edgesdk_timer_init(void) { g_t0 = edgesdk_timer_raw(); }

uint64_t edgesdk_timer_raw(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - g_t0;
}

void edgesdk_timer_sync(void) {}

uint64_t edgesdk_timer_counts(uint64_t raw_delta) { return raw_delta; }

uint64_t edgesdk_timer_us(uint64_t raw_delta) { return raw_delta / 1000u; }

edgesdk_timer_unit_t edgesdk_timer_unit(void) { return EDGESDK_TIMER_NANOSECONDS; }

uint32_t edgesdk_timer_clock_hz(void)
{
#ifdef EDGESDK_CLOCK_HZ
    return EDGESDK_CLOCK_HZ;
#else
    return 1000000000u;
#endif
}
