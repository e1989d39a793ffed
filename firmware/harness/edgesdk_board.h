/*
 * edgesdk_board.h - what each target family provides besides the UART and the timer.
 */
#ifndef EDGESDK_BOARD_H
#define EDGESDK_BOARD_H

/* Clocks, flash wait states and anything else needed before the UART and the timer start. */
void edgesdk_board_init(void);
/* End the firmware: semihosting exit on an emulator built with EDGESDK_SEMIHOSTING, exit() on the host,
 * otherwise park the core. Never returns. */
void edgesdk_board_exit(int code);

#endif /* EDGESDK_BOARD_H */
