/*
 * edgesdk_mlperf.c - the MLPerf Tiny (EEMBC) performance-mode ASCII protocol, so that the MLCommons benchmark
 * runner drives an edgesdk board unmodified.
 *
 * Behaviour follows the benchmark API of the mlcommons/tiny repository (api/internally_implemented.cpp):
 * commands end with '%', tokens are separated by spaces, every reply ends with "m-ready", errors are "e-[...]".
 *   name               m-name-dut-[<board>]
 *   profile            m-profile-[<firmware>]  m-model-[<ic01|ad01|kws01|vww01>]
 *   timestamp          m-lap-us-<microseconds of the board clock> (on an emulator: executed instructions at
 *                      the board's clock, the unit `edgesdk profile` reports in microseconds)
 *   db load N          m-[Expecting N bytes]
 *   db HHHH...         (hex bytes appended to the input)  m-load-done once N bytes arrived
 *   infer N [W]        m-warmup-start-W m-warmup-done m-infer-start-N m-lap-us-T m-lap-us-T m-infer-done
 *                      m-results-[...]   (N defaults to 1, W to 10, as in the reference)
 *   results            m-results-[f,f,...]  output dequantized with the model's output scale and zero point
 *   help               the command list
 * Boot: m-timestamp-mode-performance, m-lap-us-T, m-init-done, m-ready.
 * A firmware exported without an MLPerf mode (EDGESDK_MLPERF_MODEL "none") answers db and infer with an error.
 */
#include <string.h>

#include "edgesdk_harness.h"
#include "edgesdk_timer.h"
#include "edgesdk_uart.h"

#define CMD_SIZE 256u

static char g_line[CMD_SIZE + 1u];
static uint32_t g_line_len;
static uint32_t g_db_size;
static uint32_t g_db_pos;

static int input_offset(void)
{
#ifdef EDGESDK_MLPERF_INPUT_OFFSET
    return EDGESDK_MLPERF_INPUT_OFFSET;
#else
    if (strcmp(EDGESDK_MLPERF_MODEL, "ic01") == 0 || strcmp(EDGESDK_MLPERF_MODEL, "vww01") == 0) {
        return -128;
    }
    return 0;
#endif
}

static void line(const char *s)
{
    edgesdk_out_str(s);
    edgesdk_out_str("\r\n");
}

/* 1 (after an error line) when the firmware was exported without an MLPerf Tiny mode. */
static int no_mode(void)
{
    if (strcmp(EDGESDK_MLPERF_MODEL, "none") != 0) {
        return 0;
    }
    line("e-[no MLPerf Tiny benchmark: export the model with --mlperf ic01|kws01|vww01|ad01]");
    return 1;
}

static void timestamp(void)
{
    edgesdk_out_str("m-lap-us-");
    edgesdk_out_u64(edgesdk_timer_us(edgesdk_timer_raw()));
    edgesdk_out_str("\r\n");
}

void edgesdk_mlperf_banner(void)
{
    line("m-timestamp-mode-performance");
    timestamp();
    if (edgesdk_harness_problem()) {
        edgesdk_out_str("e-[");
        edgesdk_out_str(edgesdk_harness_problem());
        line("]");
    }
    line("m-init-done");
    line("m-ready");
}

void edgesdk_mlperf_discard(void) { g_line_len = 0; }

/* Split the next space-separated token off *s; returns 0 at the end of the line. */
static char *next_token(char **s)
{
    char *start = *s;
    while (*start == ' ') {
        start++;
    }
    if (*start == 0) {
        *s = start;
        return 0;
    }
    *s = start;
    while (**s && **s != ' ') {
        (*s)++;
    }
    if (**s) {
        **s = 0;
        (*s)++;
    }
    return start;
}

/* Decimal integer with an optional sign; *ok = 0 unless the whole token is a number in [-1e9, 1e9]. */
static long parse_long(const char *t, int *ok)
{
    long v = 0;
    int neg = 0;
    *ok = 0;
    if (*t == '-' || *t == '+') {
        neg = (*t == '-');
        t++;
    }
    if (*t == 0) {
        return 0;
    }
    while (*t) {
        if (*t < '0' || *t > '9' || v > 100000000L) {
            return 0;
        }
        v = v * 10 + (*t - '0');
        t++;
    }
    *ok = 1;
    return neg ? -v : v;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void results(void)
{
    uint32_t i;
    edgesdk_out_str("m-results-[");
    for (i = 0; i < edgesdk_model.output_size && i < EDGESDK_MAX_OUTPUT_BYTES; i++) {
        float v = ((float)edgesdk_output[i] - (float)edgesdk_model.output_zero_point) * edgesdk_model.output_scale;
        if (i) {
            edgesdk_uart_putc(',');
        }
        edgesdk_out_fixed3(v);
    }
    line("]");
}

static void db(char **rest)
{
    char *t = next_token(rest);
    int ok;
    long n;
    size_t i;
    size_t len;
    int offset = input_offset();
    if (!t) {
        line("e-[Command 'db' requires a subcommand]");
        return;
    }
    if (strcmp(t, "load") == 0) {
        t = next_token(rest);
        if (!t) {
            line("e-[Command 'db load' requires the # of bytes]");
            return;
        }
        n = parse_long(t, &ok);
        if (!ok || n <= 0) {
            line("e-[Command 'db load' must be >0 bytes]");
            return;
        }
        if ((unsigned long)n > EDGESDK_MAX_INPUT_BYTES || (unsigned long)n > edgesdk_model.input_size) {
            edgesdk_out_str("e-[Supplied buffer size ");
            edgesdk_out_u64((uint64_t)n);
            edgesdk_out_str(" exceeds maximum of ");
            edgesdk_out_u64(edgesdk_model.input_size < EDGESDK_MAX_INPUT_BYTES ? edgesdk_model.input_size
                                                                                : EDGESDK_MAX_INPUT_BYTES);
            line("]");
            return;
        }
        g_db_size = (uint32_t)n;
        g_db_pos = 0;
        edgesdk_out_str("m-[Expecting ");
        edgesdk_out_u64((uint64_t)n);
        line(" bytes]");
        return;
    }
    len = strlen(t);
    if (len & 1u) {
        line("e-[Insufficent number of hex digits]");
        return;
    }
    for (i = 0; i < len; i += 2u) {
        int hi = hex_value(t[i]);
        int lo = hex_value(t[i + 1u]);
        if (hi < 0 || lo < 0) {
            line("e-[Invalid hex digit]");
            return;
        }
        if (g_db_pos >= g_db_size) {
            line("e-[No 'db load' pending]");
            return;
        }
        edgesdk_input[g_db_pos++] = (int8_t)(uint8_t)(((hi << 4) | lo) + offset);
        if (g_db_pos == g_db_size) {
            line("m-load-done");
            return;
        }
    }
}

static void infer(char **rest)
{
    long n = 1;
    long w = 10;
    int ok;
    char *t = next_token(rest);
    uint64_t raw;
    int rc = 0;
    if (t) {
        n = parse_long(t, &ok);
        if (!ok || n <= 0) {
            line("e-[Inference iterations must be >0]");
            return;
        }
        t = next_token(rest);
        if (t) {
            w = parse_long(t, &ok);
            if (!ok || w < 0) {
                line("e-[Inference warmup must be >=0]");
                return;
            }
        }
    }
    if (edgesdk_harness_problem()) {
        edgesdk_out_str("e-[");
        edgesdk_out_str(edgesdk_harness_problem());
        line("]");
        return;
    }
    if (g_db_pos != edgesdk_model.input_size) {
        edgesdk_out_str("e-[Input db has ");
        edgesdk_out_u64(g_db_pos);
        edgesdk_out_str(" bytes, expected ");
        edgesdk_out_u64(edgesdk_model.input_size);
        line("]");
        return;
    }
    edgesdk_out_str("m-warmup-start-");
    edgesdk_out_u64((uint64_t)w);
    line("");
    while (w-- > 0 && rc == 0) {
        rc = edgesdk_harness_run_once(&raw);
    }
    line("m-warmup-done");
    edgesdk_out_str("m-infer-start-");
    edgesdk_out_u64((uint64_t)n);
    line("");
    timestamp();
    while (n-- > 0 && rc == 0) {
        rc = edgesdk_harness_run_once(&raw);
    }
    timestamp();
    if (rc != 0) {
        edgesdk_out_str("e-[Inference failed with status ");
        edgesdk_out_i64(rc);
        line("]");
        return;
    }
    line("m-infer-done");
    results();
}

static void help(void)
{
    line(EDGESDK_FW_VERSION);
    line("");
    line("help         : Print this information");
    line("name         : Print the name of the device");
    line("timestamp    : Generate a timestamp");
    line("db SUBCMD    : Manipulate a generic byte buffer");
    line("  load N     : Allocate N bytes and set load counter");
    line("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes");
    line("infer N [W=10]: Load input, execute N inferences after W warmup loops");
    line("results      : Return the result fp32 vector");
}

static void command(char *s)
{
    char *rest = s;
    char *t = next_token(&rest);
    if (!t) {
        /* an empty command still gets its m-ready, as in the reference */
    } else if (strcmp(t, "name") == 0) {
        edgesdk_out_str("m-name-dut-[");
        edgesdk_out_str(EDGESDK_BOARD_NAME);
        line("]");
    } else if (strcmp(t, "timestamp") == 0) {
        timestamp();
    } else if (strcmp(t, "profile") == 0) {
        edgesdk_out_str("m-profile-[");
        edgesdk_out_str(EDGESDK_FW_VERSION);
        line("]");
        edgesdk_out_str("m-model-[");
        edgesdk_out_str(EDGESDK_MLPERF_MODEL);
        line("]");
    } else if (strcmp(t, "help") == 0) {
        help();
    } else if (strcmp(t, "db") == 0) {
        if (!no_mode()) {
            db(&rest);
        }
    } else if (strcmp(t, "infer") == 0) {
        if (!no_mode()) {
            infer(&rest);
        }
    } else if (strcmp(t, "results") == 0) {
        results();
    } else {
        edgesdk_out_str("e-[Unknown command: ");
        edgesdk_out_str(t);
        line("]");
    }
    line("m-ready");
}

void edgesdk_mlperf_byte(uint8_t byte)
{
    if (byte == '%') {
        g_line[g_line_len] = 0;
        g_line_len = 0;
        command(g_line);
        return;
    }
    if (byte < 0x20u || byte > 0x7Eu) {
        return; /* CR/LF and other control or non-ASCII bytes are not part of a command */
    }
    if (g_line_len < CMD_SIZE) {
        g_line[g_line_len++] = (char)byte;
    }
}
