/*
 * edgesdk_proto.c - framing and CRC of edgesdk's binary protocol (see edgesdk_proto.h for the layout).
 */
#include "edgesdk_proto.h"

enum { ST_HUNT = 0, ST_SYNC1, ST_VER, ST_CMD, ST_SEQ, ST_LEN0, ST_LEN1, ST_PAYLOAD, ST_CRC0, ST_CRC1 };

uint16_t edgesdk_crc16(uint16_t crc, const uint8_t *data, size_t n)
{
    size_t i;
    int b;
    for (i = 0; i < n; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

void edgesdk_parser_reset(edgesdk_parser_t *p)
{
    p->state = ST_HUNT;
    p->len = 0;
    p->pos = 0;
    p->error = 0;
}

static uint16_t frame_crc(const edgesdk_parser_t *p)
{
    uint8_t head[5];
    uint16_t crc;
    head[0] = p->version;
    head[1] = p->cmd;
    head[2] = p->seq;
    head[3] = (uint8_t)(p->len & 0xFFu);
    head[4] = (uint8_t)(p->len >> 8);
    crc = edgesdk_crc16(0xFFFFu, head, sizeof head);
    return edgesdk_crc16(crc, p->payload, p->len);
}

edgesdk_parse_event_t edgesdk_parser_feed(edgesdk_parser_t *p, uint8_t byte)
{
    switch (p->state) {
    case ST_HUNT:
        if (byte == EDGESDK_PROTO_SYNC0) {
            p->state = ST_SYNC1;
            return EDGESDK_PARSE_NONE;
        }
        return EDGESDK_PARSE_ASCII;
    case ST_SYNC1:
        if (byte == EDGESDK_PROTO_SYNC1) {
            p->state = ST_VER;
        } else if (byte != EDGESDK_PROTO_SYNC0) {
            p->state = ST_HUNT;
            return EDGESDK_PARSE_ASCII;
        }
        return EDGESDK_PARSE_NONE;
    case ST_VER:
        p->version = byte;
        p->state = ST_CMD;
        return EDGESDK_PARSE_NONE;
    case ST_CMD:
        p->cmd = byte;
        p->state = ST_SEQ;
        return EDGESDK_PARSE_NONE;
    case ST_SEQ:
        p->seq = byte;
        p->state = ST_LEN0;
        return EDGESDK_PARSE_NONE;
    case ST_LEN0:
        p->len = byte;
        p->state = ST_LEN1;
        return EDGESDK_PARSE_NONE;
    case ST_LEN1:
        p->len = (uint16_t)(p->len | ((uint16_t)byte << 8));
        p->pos = 0;
        if (p->len > EDGESDK_PROTO_MAX_PAYLOAD) {
            p->error = EDGESDK_ST_TOO_LONG;
            p->state = ST_HUNT;
            return EDGESDK_PARSE_BAD;
        }
        p->state = (p->len == 0) ? ST_CRC0 : ST_PAYLOAD;
        return EDGESDK_PARSE_NONE;
    case ST_PAYLOAD:
        p->payload[p->pos++] = byte;
        if (p->pos >= p->len) {
            p->state = ST_CRC0;
        }
        return EDGESDK_PARSE_NONE;
    case ST_CRC0:
        p->crc_rx = byte;
        p->state = ST_CRC1;
        return EDGESDK_PARSE_NONE;
    case ST_CRC1:
    default:
        p->crc_rx = (uint16_t)(p->crc_rx | ((uint16_t)byte << 8));
        p->state = ST_HUNT;
        if (p->crc_rx != frame_crc(p)) {
            p->error = EDGESDK_ST_BAD_CRC;
            return EDGESDK_PARSE_BAD;
        }
        p->error = 0;
        return EDGESDK_PARSE_FRAME;
    }
}

void edgesdk_frame_write(void (*put)(uint8_t), uint8_t cmd, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    uint8_t head[EDGESDK_PROTO_HEADER];
    uint16_t crc;
    uint16_t i;
    head[0] = EDGESDK_PROTO_SYNC0;
    head[1] = EDGESDK_PROTO_SYNC1;
    head[2] = EDGESDK_PROTO_VERSION;
    head[3] = cmd;
    head[4] = seq;
    head[5] = (uint8_t)(len & 0xFFu);
    head[6] = (uint8_t)(len >> 8);
    crc = edgesdk_crc16(0xFFFFu, head + 2, EDGESDK_PROTO_HEADER - 2u);
    crc = edgesdk_crc16(crc, payload, len);
    for (i = 0; i < EDGESDK_PROTO_HEADER; i++) {
        put(head[i]);
    }
    for (i = 0; i < len; i++) {
        put(payload[i]);
    }
    put((uint8_t)(crc & 0xFFu));
    put((uint8_t)(crc >> 8));
}
