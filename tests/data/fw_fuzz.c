/*
 * fw_fuzz.c - bounded fuzzing of the harness's input side (binary frame parser, command handlers, MLPerf text
 * parser) on the host under ASan/UBSan. A seeded xorshift PRNG builds inputs from valid frames of every
 * command with random arguments, then mutates them (bit flips, truncation, inserted garbage, wrong lengths,
 * stray sync bytes, text commands). Every byte the harness sends back is re-parsed: each frame it emits must
 * carry a good CRC. Usage: fw_fuzz ITERATIONS SEED. Prints "frames=N bad=0 naks=N" and exits 0 when clean.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgesdk_board.h"
#include "edgesdk_harness.h"
#include "edgesdk_proto.h"
#include "edgesdk_timer.h"
#include "edgesdk_uart.h"

static uint64_t g_rng;
static edgesdk_parser_t g_out_parser;
static unsigned long g_frames, g_bad, g_naks;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

/* The fuzz "UART": everything the harness sends is checked by a second parser. */
void edgesdk_uart_init(void) {}
void edgesdk_uart_flush(void) {}
int edgesdk_uart_getc(void) { return -1; }
void edgesdk_uart_putc(uint8_t c)
{
    switch (edgesdk_parser_feed(&g_out_parser, c)) {
    case EDGESDK_PARSE_FRAME:
        g_frames++;
        if (g_out_parser.cmd == EDGESDK_CMD_NAK) {
            g_naks++;
        }
        break;
    case EDGESDK_PARSE_BAD:
        g_bad++;
        break;
    default:
        break;
    }
}

/* A deterministic fake counter: one count per read. */
static uint64_t g_ticks;
void edgesdk_timer_init(void) { g_ticks = 0; }
void edgesdk_timer_sync(void) {}
uint64_t edgesdk_timer_raw(void) { return ++g_ticks; }
uint64_t edgesdk_timer_counts(uint64_t raw_delta) { return raw_delta; }
uint64_t edgesdk_timer_us(uint64_t raw_delta) { return raw_delta; }
edgesdk_timer_unit_t edgesdk_timer_unit(void) { return EDGESDK_TIMER_CYCLES; }
uint32_t edgesdk_timer_clock_hz(void) { return 1000000u; }

static uint8_t g_buf[3 * EDGESDK_PROTO_MAX_FRAME];

static size_t make_frame(uint8_t *out)
{
    static const uint8_t cmds[] = {1, 2, 3, 4, 5, 6, 7, 8, 0x42};
    uint8_t payload[EDGESDK_PROTO_MAX_PAYLOAD];
    uint16_t len = 0;
    uint8_t cmd = cmds[rnd() % sizeof cmds];
    size_t n = 0;
    uint16_t crc;
    uint16_t i;
    switch (cmd) {
    case 2:
        len = 2;
        payload[0] = (uint8_t)(rnd() % 4u);
        payload[1] = (uint8_t)(rnd() % 8u == 0 ? rnd() : 0);
        break;
    case 3: {
        uint32_t off = rnd() % 8u == 0 ? rnd() : rnd() % 1600u;
        len = (uint16_t)(4u + rnd() % (EDGESDK_PROTO_MAX_PAYLOAD - 3u));
        memcpy(payload, &off, 4);
        for (i = 4; i < len; i++) {
            payload[i] = (uint8_t)rnd();
        }
        break;
    }
    case 4: /* keep runs short: the model really runs */
        len = 2;
        payload[0] = (uint8_t)(rnd() % 4u);
        payload[1] = (uint8_t)(rnd() % 64u == 0 ? rnd() : 0);
        break;
    case 5:
    case 6:
        len = (uint16_t)(rnd() % 8u == 0 ? rnd() % 9u : (cmd == 5 ? 6u : 4u));
        for (i = 0; i < len; i++) {
            payload[i] = (uint8_t)(rnd() % 3u == 0 ? rnd() : rnd() % 4u);
        }
        break;
    default:
        len = (uint16_t)(rnd() % 16u);
        for (i = 0; i < len; i++) {
            payload[i] = (uint8_t)rnd();
        }
        break;
    }
    out[n++] = EDGESDK_PROTO_SYNC0;
    out[n++] = EDGESDK_PROTO_SYNC1;
    out[n++] = rnd() % 16u == 0 ? (uint8_t)rnd() : EDGESDK_PROTO_VERSION;
    out[n++] = cmd;
    out[n++] = (uint8_t)rnd();
    out[n++] = (uint8_t)(len & 0xFFu);
    out[n++] = (uint8_t)(len >> 8);
    memcpy(out + n, payload, len);
    n += len;
    crc = edgesdk_crc16(0xFFFFu, out + 2, (size_t)(n - 2u));
    out[n++] = (uint8_t)(crc & 0xFFu);
    out[n++] = (uint8_t)(crc >> 8);
    return n;
}

static size_t make_text(uint8_t *out)
{
    static const char *const cmds[] = {"name%", "profile%", "timestamp%", "help%", "results%", "db load 1500%",
                                       "db load 0%", "db load 99999999999%", "db 0a0b0c%", "db zz%", "db 123%",
                                       "infer 1 0%", "infer 0%", "infer -5 2%", "infer 2 1%", "db%", "bogus%",
                                       "db load%", "%", "infer 1 x%"};
    const char *c = cmds[rnd() % (sizeof cmds / sizeof cmds[0])];
    size_t n = strlen(c);
    memcpy(out, c, n);
    return n;
}

static void feed(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        edgesdk_harness_byte(p[i]);
    }
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], 0, 10) : 100000ul;
    unsigned long it;
    g_rng = argc > 2 ? strtoull(argv[2], 0, 10) * 2654435761u + 1u : 88172645463325252ull;
    edgesdk_parser_reset(&g_out_parser);
    edgesdk_timer_init();
    edgesdk_harness_init();
    for (it = 0; it < iters; it++) {
        size_t n;
        uint32_t kind = rnd() % 10u;
        if (kind < 2u) {
            n = make_text(g_buf);
        } else {
            n = make_frame(g_buf);
        }
        switch (rnd() % 8u) {
        case 0: /* flip bits */
        {
            uint32_t k = 1u + rnd() % 4u;
            while (k--) {
                g_buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8u));
            }
            break;
        }
        case 1: /* truncate */
            n = rnd() % (n + 1u);
            break;
        case 2: /* garbage before */
        {
            size_t g = rnd() % 64u;
            size_t i;
            memmove(g_buf + g, g_buf, n);
            for (i = 0; i < g; i++) {
                g_buf[i] = (uint8_t)(rnd() % 4u == 0 ? EDGESDK_PROTO_SYNC0 : rnd());
            }
            n += g;
            break;
        }
        case 3: /* random length field */
            if (n > 6u && g_buf[0] == EDGESDK_PROTO_SYNC0) {
                g_buf[5] = (uint8_t)rnd();
                g_buf[6] = (uint8_t)(rnd() % 8u);
            }
            break;
        case 4: /* pure noise */
        {
            size_t i;
            n = rnd() % 200u;
            for (i = 0; i < n; i++) {
                g_buf[i] = (uint8_t)rnd();
            }
            break;
        }
        default:
            break;
        }
        feed(g_buf, n);
        if (rnd() % 64u == 0) { /* flush a stuck frame as the host does after a timeout */
            memset(g_buf, 0, EDGESDK_PROTO_MAX_FRAME);
            feed(g_buf, EDGESDK_PROTO_MAX_FRAME);
        }
    }
    printf("frames=%lu bad=%lu naks=%lu\n", g_frames, g_bad, g_naks);
    return g_bad == 0 && g_frames > 0 ? 0 : 1;
}
