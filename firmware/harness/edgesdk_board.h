/*
 * edgesdk_board.h - what each target family provides besides the UART and the timer.
 */
#ifndef EDGESDK_BOARD_H
#define EDGESDK_BOARD_H

#include <stdint.h>

/* Clocks, flash wait states and anything else needed before the UART and the timer start. */
void edgesdk_board_init(void);
/* End the firmware: semihosting exit on an emulator built with EDGESDK_SEMIHOSTING, exit() on the host,
 * otherwise park the core. Never returns. */
void edgesdk_board_exit(int code);
/* Bytes of stack used since reset: the Cortex-M reset path paints the stack with a pattern, this finds the deepest
 * word overwritten. Optional: the harness's weak default returns 0 (not measured), as on the host. */
uint32_t edgesdk_stack_used(void);

#endif /* EDGESDK_BOARD_H */
