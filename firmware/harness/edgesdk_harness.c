/*
 * edgesdk_harness.c - the binary protocol's command handlers, the timed inference loop and the per-layer hooks.
 */
#include "edgesdk_harness.h"

#include <string.h>

#include "edgesdk_board.h"
#include "edgesdk_proto.h"
#include "edgesdk_timer.h"
#include "edgesdk_uart.h"

/* Keep the compiler from moving work across a timer read. */
#define EDGESDK_BARRIER() __asm__ volatile("" ::: "memory")

int8_t edgesdk_input[EDGESDK_MAX_INPUT_BYTES];
int8_t edgesdk_output[EDGESDK_MAX_OUTPUT_BYTES];

static edgesdk_parser_t g_parser;
static uint8_t g_tx[EDGESDK_PROTO_MAX_PAYLOAD];
static uint64_t g_layer_raw[EDGESDK_MAX_LAYERS];
static int g_have_counts;
static const char *g_problem;

#ifdef EDGESDK_PROFILE
static uint64_t g_layer_start[EDGESDK_MAX_LAYERS];

void edgesdk_layer_begin(uint32_t layer)
{
    uint64_t now = edgesdk_timer_raw();
    if (layer < EDGESDK_MAX_LAYERS) {
        g_layer_start[layer] = now;
    }
}

void edgesdk_layer_end(uint32_t layer)
{
    uint64_t now = edgesdk_timer_raw();
    if (layer < EDGESDK_MAX_LAYERS) {
        g_layer_raw[layer] += now - g_layer_start[layer];
    }
}
#endif

const char *edgesdk_harness_problem(void) { return g_problem; }

static void setup_model(void)
{
    g_problem = 0;
    g_have_counts = 0;
    memset(edgesdk_input, 0, sizeof edgesdk_input);
    memset(edgesdk_output, 0, sizeof edgesdk_output);
    if (edgesdk_model.input_size > EDGESDK_MAX_INPUT_BYTES) {
        g_problem = "model input is larger than EDGESDK_MAX_INPUT_BYTES";
    } else if (edgesdk_model.output_size > EDGESDK_MAX_OUTPUT_BYTES) {
        g_problem = "model output is larger than EDGESDK_MAX_OUTPUT_BYTES";
    } else if (edgesdk_model.num_layers > EDGESDK_MAX_LAYERS) {
        g_problem = "model has more layers than EDGESDK_MAX_LAYERS";
    } else if (edgesdk_model.init() != EDGESDK_OK) {
        g_problem = "model init failed";
    }
}

int edgesdk_harness_run_once(uint64_t *raw)
{
    uint64_t t0;
    uint64_t t1;
    uint32_t i;
    int rc;
    if (g_problem) {
        return -1;
    }
    for (i = 0; i < edgesdk_model.num_layers; i++) {
        g_layer_raw[i] = 0;
    }
    edgesdk_timer_sync();
    EDGESDK_BARRIER();
    t0 = edgesdk_timer_raw();
    EDGESDK_BARRIER();
    rc = edgesdk_model.invoke(edgesdk_input, edgesdk_output);
    EDGESDK_BARRIER();
    t1 = edgesdk_timer_raw();
    EDGESDK_BARRIER();
    *raw = t1 - t0;
    g_have_counts = (rc == EDGESDK_OK);
    return rc;
}

/* --- text output --------------------------------------------------------------------------------------- */
void edgesdk_out_str(const char *s)
{
    while (*s) {
        edgesdk_uart_putc((uint8_t)*s++);
    }
}

void edgesdk_out_u64(uint64_t v)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        edgesdk_uart_putc((uint8_t)buf[--n]);
    }
}

void edgesdk_out_i64(int64_t v)
{
    if (v < 0) {
        edgesdk_uart_putc('-');
        edgesdk_out_u64((uint64_t)0 - (uint64_t)v);
    } else {
        edgesdk_out_u64((uint64_t)v);
    }
}

/* Like printf("%0.3f", v) for the values a model produces (|v| < 1.8e16). */
void edgesdk_out_fixed3(float v)
{
    double d = (double)v;
    uint64_t milli;
    char frac[4];
    if (d != d) {
        edgesdk_out_str("nan");
        return;
    }
    if (d < 0.0) {
        edgesdk_uart_putc('-');
        d = -d;
    }
    if (d > 1.8e16) {
        edgesdk_out_str("inf");
        return;
    }
    milli = (uint64_t)(d * 1000.0 + 0.5);
    edgesdk_out_u64(milli / 1000u);
    milli %= 1000u;
    frac[0] = (char)('0' + (int)(milli / 100u));
    frac[1] = (char)('0' + (int)((milli / 10u) % 10u));
    frac[2] = (char)('0' + (int)(milli % 10u));
    frac[3] = 0;
    edgesdk_uart_putc('.');
    edgesdk_out_str(frac);
}

/* --- binary protocol ----------------------------------------------------------------------------------- */
static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, v & 0xFFFFu);
    put_u16(p + 2, v >> 16);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_u32(p, u);
}

static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static uint32_t get_u32(const uint8_t *p) { return get_u16(p) | (get_u16(p + 2) << 16); }

static uint16_t put_string(uint8_t *p, uint16_t at, const char *s)
{
    size_t n = s ? strlen(s) : 0u;
    if (n > 64u) {
        n = 64u;
    }
    p[at] = (uint8_t)n;
    if (n) {
        memcpy(p + at + 1, s, n);
    }
    return (uint16_t)(at + 1u + n);
}

static void reply(uint8_t cmd, uint8_t seq, uint16_t len)
{
    edgesdk_frame_write(edgesdk_uart_putc, (uint8_t)(cmd | EDGESDK_CMD_REPLY), seq, g_tx, len);
}

static void reply_status(uint8_t cmd, uint8_t seq, uint8_t status)
{
    g_tx[0] = status;
    reply(cmd, seq, 1);
}

static void cmd_info(uint8_t seq)
{
    uint16_t n = 0;
    uint8_t flags = 0;
#ifdef EDGESDK_PROFILE
    flags |= 1u;
#endif
    if (g_problem) {
        flags |= 2u;
    }
    g_tx[n++] = EDGESDK_ST_OK;
    g_tx[n++] = EDGESDK_PROTO_VERSION;
    g_tx[n++] = (uint8_t)edgesdk_timer_unit();
    g_tx[n++] = flags;
    g_tx[n++] = 0;
    put_u32(g_tx + n, edgesdk_timer_clock_hz());
    n += 4;
    put_u32(g_tx + n, edgesdk_model.input_size);
    n += 4;
    put_u32(g_tx + n, edgesdk_model.output_size);
    n += 4;
    put_f32(g_tx + n, edgesdk_model.input_scale);
    n += 4;
    put_u32(g_tx + n, (uint32_t)edgesdk_model.input_zero_point);
    n += 4;
    put_f32(g_tx + n, edgesdk_model.output_scale);
    n += 4;
    put_u32(g_tx + n, (uint32_t)edgesdk_model.output_zero_point);
    n += 4;
    put_u32(g_tx + n, edgesdk_model.arena_bytes);
    n += 4;
    put_u32(g_tx + n, edgesdk_model.num_layers);
    n += 4;
    put_u16(g_tx + n, EDGESDK_PROTO_MAX_PAYLOAD);
    n += 2;
    put_u16(g_tx + n, EDGESDK_MAX_RUN);
    n += 2;
    put_u32(g_tx + n, EDGESDK_MAX_INPUT_BYTES);
    n += 4;
    put_u32(g_tx + n, EDGESDK_MAX_OUTPUT_BYTES);
    n += 4;
    n = put_string(g_tx, n, edgesdk_model.name);
    n = put_string(g_tx, n, edgesdk_model.sha256);
    n = put_string(g_tx, n, EDGESDK_BOARD_NAME);
    n = put_string(g_tx, n, EDGESDK_FW_VERSION);
    n = put_string(g_tx, n, EDGESDK_MLPERF_MODEL);
    n = put_string(g_tx, n, g_problem);
    reply(EDGESDK_CMD_INFO, seq, n);
}

static void cmd_layer_name(uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint32_t index;
    const char *name;
    size_t n;
    if (len != 2u || (index = get_u16(in)) >= edgesdk_model.num_layers || edgesdk_model.layer_names == 0) {
        reply_status(EDGESDK_CMD_LAYER_NAME, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    name = edgesdk_model.layer_names[index];
    n = name ? strlen(name) : 0u;
    if (n > EDGESDK_PROTO_MAX_PAYLOAD - 1u) {
        n = EDGESDK_PROTO_MAX_PAYLOAD - 1u;
    }
    g_tx[0] = EDGESDK_ST_OK;
    if (n) {
        memcpy(g_tx + 1, name, n);
    }
    reply(EDGESDK_CMD_LAYER_NAME, seq, (uint16_t)(1u + n));
}

static void cmd_load_input(uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint32_t offset;
    uint32_t n;
    if (len < 4u) {
        reply_status(EDGESDK_CMD_LOAD_INPUT, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    offset = get_u32(in);
    n = (uint32_t)len - 4u;
    if (offset > edgesdk_model.input_size || n > edgesdk_model.input_size - offset ||
        offset + n > EDGESDK_MAX_INPUT_BYTES) {
        reply_status(EDGESDK_CMD_LOAD_INPUT, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    memcpy(edgesdk_input + offset, in + 4, n);
    reply_status(EDGESDK_CMD_LOAD_INPUT, seq, EDGESDK_ST_OK);
}

static void model_error(uint8_t cmd, uint8_t seq, int rc)
{
    g_tx[0] = EDGESDK_ST_MODEL_ERROR;
    put_u32(g_tx + 1, (uint32_t)rc);
    reply(cmd, seq, 5);
}

static void cmd_run(uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint32_t n;
    uint32_t i;
    uint64_t raw;
    int rc;
    if (len != 2u || (n = get_u16(in)) == 0u || n > EDGESDK_MAX_RUN) {
        reply_status(EDGESDK_CMD_RUN, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    g_tx[0] = EDGESDK_ST_OK;
    put_u16(g_tx + 1, n);
    for (i = 0; i < n; i++) {
        rc = edgesdk_harness_run_once(&raw);
        if (rc != EDGESDK_OK) {
            model_error(EDGESDK_CMD_RUN, seq, rc);
            return;
        }
        put_u64(g_tx + 3 + 8u * i, edgesdk_timer_counts(raw));
    }
    reply(EDGESDK_CMD_RUN, seq, (uint16_t)(3u + 8u * n));
}

static void cmd_read_output(uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint32_t offset;
    uint32_t n;
    if (len != 6u) {
        reply_status(EDGESDK_CMD_READ_OUTPUT, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    offset = get_u32(in);
    n = get_u16(in + 4);
    if (offset > edgesdk_model.output_size || n > edgesdk_model.output_size - offset ||
        n > EDGESDK_PROTO_MAX_PAYLOAD - 1u || offset + n > EDGESDK_MAX_OUTPUT_BYTES) {
        reply_status(EDGESDK_CMD_READ_OUTPUT, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    g_tx[0] = EDGESDK_ST_OK;
    memcpy(g_tx + 1, edgesdk_output + offset, n);
    reply(EDGESDK_CMD_READ_OUTPUT, seq, (uint16_t)(1u + n));
}

static void cmd_layer_counts(uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint32_t first;
    uint32_t count;
    if (len != 4u) {
        reply_status(EDGESDK_CMD_LAYER_COUNTS, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    first = get_u16(in);
    count = get_u16(in + 2);
    if (first > edgesdk_model.num_layers || count > edgesdk_model.num_layers - first || count > EDGESDK_MAX_COUNTS) {
        reply_status(EDGESDK_CMD_LAYER_COUNTS, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
#ifndef EDGESDK_PROFILE
    reply_status(EDGESDK_CMD_LAYER_COUNTS, seq, EDGESDK_ST_NO_DATA);
    return;
#else
    uint32_t i;
    if (!g_have_counts) {
        reply_status(EDGESDK_CMD_LAYER_COUNTS, seq, EDGESDK_ST_NO_DATA);
        return;
    }
    g_tx[0] = EDGESDK_ST_OK;
    put_u16(g_tx + 1, count);
    for (i = 0; i < count; i++) {
        put_u64(g_tx + 3 + 8u * i, edgesdk_timer_counts(g_layer_raw[first + i]));
    }
    reply(EDGESDK_CMD_LAYER_COUNTS, seq, (uint16_t)(3u + 8u * count));
#endif
}

static void cmd_echo(uint8_t seq, const uint8_t *in, uint16_t len)
{
    if (len > EDGESDK_PROTO_MAX_PAYLOAD - 1u) {
        reply_status(EDGESDK_CMD_ECHO, seq, EDGESDK_ST_BAD_ARG);
        return;
    }
    g_tx[0] = EDGESDK_ST_OK;
    if (len) {
        memcpy(g_tx + 1, in, len);
    }
    reply(EDGESDK_CMD_ECHO, seq, (uint16_t)(1u + len));
}

/* Targets that paint the stack (the Cortex-M reset path) override this; elsewhere nothing is measured. */
__attribute__((weak)) uint32_t edgesdk_stack_used(void) { return 0u; }

static void cmd_stack(uint8_t seq)
{
    uint32_t used = edgesdk_stack_used();
    if (used == 0u) {
        reply_status(EDGESDK_CMD_STACK, seq, EDGESDK_ST_NO_DATA);
        return;
    }
    g_tx[0] = EDGESDK_ST_OK;
    put_u32(g_tx + 1, used);
    reply(EDGESDK_CMD_STACK, seq, 5);
}

static void handle_frame(const edgesdk_parser_t *p)
{
    if (p->version != EDGESDK_PROTO_VERSION) {
        g_tx[0] = EDGESDK_ST_BAD_VERSION;
        g_tx[1] = EDGESDK_PROTO_VERSION;
        reply(p->cmd, p->seq, 2);
        return;
    }
    switch (p->cmd) {
    case EDGESDK_CMD_INFO:
        cmd_info(p->seq);
        break;
    case EDGESDK_CMD_LAYER_NAME:
        cmd_layer_name(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_LOAD_INPUT:
        cmd_load_input(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_RUN:
        cmd_run(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_READ_OUTPUT:
        cmd_read_output(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_LAYER_COUNTS:
        cmd_layer_counts(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_RESET:
        setup_model();
        reply_status(EDGESDK_CMD_RESET, p->seq, g_problem ? EDGESDK_ST_MODEL_ERROR : EDGESDK_ST_OK);
        break;
    case EDGESDK_CMD_ECHO:
        cmd_echo(p->seq, p->payload, p->len);
        break;
    case EDGESDK_CMD_STACK:
        cmd_stack(p->seq);
        break;
    default:
        reply_status(p->cmd, p->seq, EDGESDK_ST_UNKNOWN_CMD);
        break;
    }
}

void edgesdk_harness_init(void)
{
    edgesdk_parser_reset(&g_parser);
    setup_model();
    edgesdk_mlperf_banner();
}

void edgesdk_harness_byte(uint8_t byte)
{
    switch (edgesdk_parser_feed(&g_parser, byte)) {
    case EDGESDK_PARSE_ASCII:
        edgesdk_mlperf_byte(byte);
        break;
    case EDGESDK_PARSE_FRAME:
        edgesdk_mlperf_discard(); /* text before a binary frame is noise */
        handle_frame(&g_parser);
        break;
    case EDGESDK_PARSE_BAD:
        g_tx[0] = g_parser.error;
        edgesdk_frame_write(edgesdk_uart_putc, EDGESDK_CMD_NAK, g_parser.seq, g_tx, 1);
        break;
    case EDGESDK_PARSE_NONE:
    default:
        break;
    }
}
