/*
 * main.c - firmware entry: bring up the board, the UART and the timer, then serve the host forever.
 */
#include <stdint.h>

#include "edgesdk_board.h"
#include "edgesdk_harness.h"
#include "edgesdk_timer.h"
#include "edgesdk_uart.h"

int main(void)
{
    int c;
    edgesdk_board_init();
    edgesdk_uart_init();
    edgesdk_timer_init();
    edgesdk_harness_init();
    for (;;) {
        edgesdk_uart_flush();
        c = edgesdk_uart_getc();
        if (c < 0) {
            break;
        }
        edgesdk_harness_byte((uint8_t)c);
    }
    edgesdk_board_exit(0);
    return 0;
}
