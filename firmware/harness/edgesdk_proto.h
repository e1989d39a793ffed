/*
 * edgesdk_proto.h - edgesdk's binary serial protocol, version 1: framing, CRC and the byte-wise parser.
 *
 * Frame (both directions, little-endian):
 *   off 0  0xA5   sync 0 (not printable ASCII, so one UART can also carry the MLPerf Tiny text protocol)
 *   off 1  0x5A   sync 1
 *   off 2  ver    protocol version (EDGESDK_PROTO_VERSION)
 *   off 3  cmd    request command; a reply carries cmd | 0x80, a NAK carries EDGESDK_CMD_NAK
 *   off 4  seq    sequence number chosen by the host, echoed in the reply
 *   off 5  len    payload length, uint16 (at most EDGESDK_PROTO_MAX_PAYLOAD)
 *   off 7  payload
 *   then   crc    CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over ver..payload, uint16
 * Every reply payload starts with a status byte (EDGESDK_ST_*).
 *
 * The parser hunts for the sync pair, so garbage before a frame is skipped; a frame with a bad CRC or an
 * impossible length is answered with a NAK and the parser hunts again. Bytes seen while hunting that are not
 * a sync byte are handed back to the caller (they belong to the ASCII protocol).
 */
#ifndef EDGESDK_PROTO_H
#define EDGESDK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define EDGESDK_PROTO_SYNC0 0xA5u
#define EDGESDK_PROTO_SYNC1 0x5Au
#define EDGESDK_PROTO_VERSION 1u
#define EDGESDK_PROTO_HEADER 7u
#define EDGESDK_PROTO_MAX_PAYLOAD 1024u
#define EDGESDK_PROTO_MAX_FRAME (EDGESDK_PROTO_HEADER + EDGESDK_PROTO_MAX_PAYLOAD + 2u)

/* commands */
#define EDGESDK_CMD_INFO 0x01u         /* -> info record */
#define EDGESDK_CMD_LAYER_NAME 0x02u   /* u16 index -> name bytes */
#define EDGESDK_CMD_LOAD_INPUT 0x03u   /* u32 offset, bytes -> () */
#define EDGESDK_CMD_RUN 0x04u          /* u16 n -> u16 n, n x u64 counts */
#define EDGESDK_CMD_READ_OUTPUT 0x05u  /* u32 offset, u16 len -> bytes */
#define EDGESDK_CMD_LAYER_COUNTS 0x06u /* u16 first, u16 count -> u16 count, count x u64 */
#define EDGESDK_CMD_RESET 0x07u        /* () -> (), model re-initialised, buffers and counts cleared */
#define EDGESDK_CMD_ECHO 0x08u         /* bytes -> the same bytes (link test, round-trip timing) */
#define EDGESDK_CMD_STACK 0x09u        /* () -> u32 bytes of stack used since reset (painted high-water mark) */
#define EDGESDK_CMD_REPLY 0x80u
#define EDGESDK_CMD_NAK 0xFFu          /* payload: status (BAD_CRC or TOO_LONG) */

/* status byte, first byte of every reply payload */
#define EDGESDK_ST_OK 0u
#define EDGESDK_ST_BAD_CRC 1u
#define EDGESDK_ST_BAD_VERSION 2u
#define EDGESDK_ST_UNKNOWN_CMD 3u
#define EDGESDK_ST_BAD_ARG 4u
#define EDGESDK_ST_MODEL_ERROR 5u /* followed by the model's int32 return code */
#define EDGESDK_ST_TOO_LONG 6u
#define EDGESDK_ST_NO_DATA 7u     /* nothing measured yet, or built without EDGESDK_PROFILE */

#define EDGESDK_MAX_RUN 100u      /* inferences per RUN frame (fits a reply) */
#define EDGESDK_MAX_COUNTS 100u   /* layer counts per LAYER_COUNTS frame */

uint16_t edgesdk_crc16(uint16_t crc, const uint8_t *data, size_t n);

typedef enum {
    EDGESDK_PARSE_NONE = 0,  /* byte consumed, nothing to do */
    EDGESDK_PARSE_ASCII = 1, /* byte is not part of a binary frame: give it to the ASCII protocol */
    EDGESDK_PARSE_FRAME = 2, /* a complete frame with a good CRC is in the parser */
    EDGESDK_PARSE_BAD = 3    /* a frame was dropped (bad CRC or too long): send a NAK with parser.error */
} edgesdk_parse_event_t;

typedef struct {
    uint8_t state;
    uint8_t version;
    uint8_t cmd;
    uint8_t seq;
    uint8_t error;
    uint16_t len;
    uint16_t pos;
    uint16_t crc_rx;
    uint8_t payload[EDGESDK_PROTO_MAX_PAYLOAD];
} edgesdk_parser_t;

void edgesdk_parser_reset(edgesdk_parser_t *p);
edgesdk_parse_event_t edgesdk_parser_feed(edgesdk_parser_t *p, uint8_t byte);

/* Write one frame through putc. */
void edgesdk_frame_write(void (*put)(uint8_t), uint8_t cmd, uint8_t seq, const uint8_t *payload, uint16_t len);

#endif /* EDGESDK_PROTO_H */
