/*
 * edgesdk_harness.h - the device-side harness: runs the model behind `edgesdk_model` and serves two protocols
 * on one byte stream, dispatching on each byte: binary frames (edgesdk_proto.h, sync byte 0xA5) and the
 * MLPerf Tiny / EEMBC performance-mode ASCII protocol (commands ending with '%').
 *
 * Build-time settings (all optional):
 *   EDGESDK_BOARD_NAME       string literal, e.g. "netduinoplus2"             (default "unknown")
 *   EDGESDK_MLPERF_MODEL     string literal: "ic01", "ad01", "kws01", "vww01", or "none" (the default): the
 *                            MLPerf Tiny benchmark announced; "none" refuses MLPerf uploads and inferences
 *   EDGESDK_MLPERF_INPUT_OFFSET  added to each byte of an MLPerf `db` upload (`edgesdk export` sets it from
 *                            the mode, see sdk/edgesdk/mlperf_modes.py; default -128 for ic01/vww01, whose
 *                            runner sends uint8 pixels for an int8 input with zero point -128; else 0)
 *   EDGESDK_MAX_INPUT_BYTES  input buffer (default 4096), EDGESDK_MAX_OUTPUT_BYTES (default 1024),
 *   EDGESDK_MAX_LAYERS       per-layer counters (default 256)
 *   EDGESDK_PROFILE          per-layer counts through the model's EDGESDK_LAYER_BEGIN/END hooks
 */
#ifndef EDGESDK_HARNESS_H
#define EDGESDK_HARNESS_H

#include <stdint.h>

#include "edgesdk_model.h"

#ifndef EDGESDK_BOARD_NAME
#define EDGESDK_BOARD_NAME "unknown"
#endif
#ifndef EDGESDK_MLPERF_MODEL
#define EDGESDK_MLPERF_MODEL "none"
#endif
#ifndef EDGESDK_MAX_INPUT_BYTES
#define EDGESDK_MAX_INPUT_BYTES 4096u
#endif
#ifndef EDGESDK_MAX_OUTPUT_BYTES
#define EDGESDK_MAX_OUTPUT_BYTES 1024u
#endif
#ifndef EDGESDK_MAX_LAYERS
#define EDGESDK_MAX_LAYERS 256u
#endif
#define EDGESDK_FW_VERSION "edgesdk-harness 0.1.0"

/* Initialise the model and print the MLPerf boot banner. */
void edgesdk_harness_init(void);
/* Handle one byte received from the host. */
void edgesdk_harness_byte(uint8_t byte);

/* --- shared between the two protocol front ends ------------------------------------------------------ */
extern int8_t edgesdk_input[EDGESDK_MAX_INPUT_BYTES];
extern int8_t edgesdk_output[EDGESDK_MAX_OUTPUT_BYTES];
/* 0 when the model fits the buffers and initialised; otherwise a reason printed/reported to the host. */
const char *edgesdk_harness_problem(void);
/* Run one inference; *raw receives its duration in raw timer counts. Returns the model's status code. */
int edgesdk_harness_run_once(uint64_t *raw);

void edgesdk_out_str(const char *s);
void edgesdk_out_u64(uint64_t v);
void edgesdk_out_i64(int64_t v);
void edgesdk_out_fixed3(float v);

/* MLPerf Tiny front end (edgesdk_mlperf.c) */
void edgesdk_mlperf_banner(void);
void edgesdk_mlperf_byte(uint8_t byte);
void edgesdk_mlperf_discard(void);

#endif /* EDGESDK_HARNESS_H */
