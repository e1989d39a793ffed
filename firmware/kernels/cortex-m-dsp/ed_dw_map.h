/*
 * ed_dw_map.h - the small-map path of the Cortex-M DSP depthwise kernel. Part of cortex-m-dsp/ed_dwconv.c, which
 * includes it after the band path's helpers (ed_dw_fill, ed_dw_row, ed_dw_ch_t, the ED_DW_A_* Thumb-2 fragments,
 * ed_dw_clamp_row) that it shares.
 *
 * On a small map (MobileNet's 12x12, 6x6 and 3x3 layers with many channels) the band's ring costs more than its
 * taps: per group of four channels and input row a fill call and the ring's slot arithmetic, per output row and
 * channel the weights' rotation and the row's set-up, and per group the three rotations of every channel's weights.
 * Here each group's whole padded input goes once into a map on the stack, in the band's layout (per channel, rows
 * of words holding two neighbouring columns as int16 x + input_offset, zeros in the padding) but with every padded
 * row at a fixed offset (ED_DW_MAP_NW words a row), so that each channel runs all its output rows in one pass
 * (ed_dw_map_chan: the weights loaded into registers once per channel, eight instructions of set-up per output row;
 * the pair of output columns is the band path's: 3 LDRD and 12 multiply-accumulates for 18 MACs). The group's input
 * is read whole before any of its outputs is written, and the outputs touch only the group's channels: the layer
 * may be computed over its input (edgesdk.compiler.dw_inplace.SELF_ATTR), as on the band path.
 */
#ifndef ED_DW_MAP_H
#define ED_DW_MAP_H

#define ED_DW_MAP_NW 8    /* words of a map row (the Thumb-2 addresses the next two rows at #32 and #64) */
#define ED_DW_MAP_ROWS 16 /* padded rows of a map at most */
#define ED_DW_MAP_PLANE (ED_DW_MAP_ROWS * ED_DW_MAP_NW) /* words from a channel's map to the next channel's */

/* The fitted instruction models of this path and of the table path (edgesdk.passes.winograd_dw MAP_COST and COST's
 * table_* terms) in tenths of an instruction, for the one choice between paths that depends on more than the shape
 * fitting (tests/test_dwconv_variants.py checks these against the Python models): per four output columns at
 * stride 2, pair of output columns (the rest of a row, or every pair on a map narrower than four columns), output
 * column alone, channel row (by pairs; four columns a step), map row, map word, group, layer; per pixel and group,
 * run of columns and group of the table path, output of its channel tail. */
#define ED_DW_MAP_COST10 668, 368, 182, 41, 58, 230, 41, 5171, 10254
#define ED_DW_TABLE_COST10 1393, 440, 5067, 2169

/* Whether this path beats the table path on a stride-2 map both take (ed_dw3x3_table_ok), by the models above: the
 * table needs no map and wins on maps of a few pixels whose windows lie inside the input. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline)) /* once a layer, and only on small stride-2 maps */
#endif
static int ed_dw_map_beats_table(const ed_dwconv_params_t *p)
{
    static const int32_t mc[] = {ED_DW_MAP_COST10}, tc[] = {ED_DW_TABLE_COST10};
    const int32_t C = p->in_c, groups = (C + 3) / 4, oh = p->out_h, ow = p->out_w, nw = ow + 1;
    const int32_t rows = p->in_h < 2 * oh + 1 - p->pad_top ? p->in_h : 2 * oh + 1 - p->pad_top;
    const int32_t words = ((p->in_w < 2 * nw - p->pad_left ? p->in_w : 2 * nw - p->pad_left) + p->pad_left + 1) / 2;
    const int32_t run_end = (p->in_w - 3 + p->pad_left) / 2 + 1 < ow ? (p->in_w - 3 + p->pad_left) / 2 + 1 : ow;
    int32_t runs = 0, ox = 0;
    while (ox < ow) { /* ed_dw3x3_table_rows's runs of columns */
        const int32_t ix0 = 2 * ox - p->pad_left;
        ox += ed_dw_fit(ix0, p->in_w) == ix0 ? run_end - ox : 1;
        ++runs;
    }
    const int32_t quads = ow >= 4 ? ow / 4 : 0, pairs = (ow >= 4 ? ow % 4 : ow) / 2;
    return oh * quads * C * mc[0] + oh * pairs * C * mc[1] + oh * (ow % 2) * C * mc[2] +
               oh * C * (ow >= 4 ? mc[4] : mc[3]) + groups * rows * (mc[5] + 4 * words * mc[6]) + groups * mc[7] +
               mc[8] <
           C / 4 * (oh * ow * tc[0] + oh * runs * tc[1] + tc[2]) + oh * ow * (C % 4) * tc[3];
}

/* Whether the small-map path runs a layer the 3x3 path takes (ed_dw3x3_fast_ok): the same stride both ways, an
 * output at least two columns wide, a padded row of at most ED_DW_MAP_NW words, at most ED_DW_MAP_ROWS padded rows,
 * and on a stride-2 map the table path takes, fewer instructions by the models (edgesdk.passes.winograd_dw.map_path
 * mirrors this). */
static int ed_dw_map_ok(const ed_dwconv_params_t *p)
{
    return p->stride_h == p->stride_w && p->out_w >= 2 && ((p->out_w - 1) * p->stride_w + 4) / 2 <= ED_DW_MAP_NW &&
           (p->out_h - 1) * p->stride_h + 3 <= ED_DW_MAP_ROWS && (!ed_dw3x3_table_ok(p) || ed_dw_map_beats_table(p));
}

/* A channel of the small-map path: its weight pairs per kernel row r, (2 w[r][0], 2 w[r][1]) and (2 w[r][1],
 * 2 w[r][2]), and requantization (written per group), then for the four-column pass (ED_DW_M_QUADS, which reads
 * them at fixed offsets) where the map pointer ends a row's four-column steps (written by the Thumb-2 per row), the
 * map bytes of a row's steps, whether a row ends in a pair and in a single column, the map bytes from a row's last
 * column to the next row, the channel's last output + C, its map (NULL: after the last channel) and first output. */
typedef struct {
    uint32_t w[6];
    ed_dw_ch_t q;
    const uint32_t *q_end;
    int32_t q_bytes, pair, single, p_step;
    int8_t *o_end;
    const uint32_t *map;
    int8_t *o;
} ed_dw_mrec_t;

/* The doubled weights of channels c..c+n-1 as the band's halfword pairs per kernel row r, (2 w[r][0], 2 w[r][1]) and
 * (2 w[r][1], 2 w[r][2]) (channel k's at r[k].w), and their requantization (ed_dw_requant2). Four channels from
 * one word a tap: SXTB16 (even and odd channels), SADD16 (doubled), PKHBT/PKHTB (a channel's two taps). */
static void ed_dw_map_params(const ed_dwconv_params_t *p, int32_t c, int32_t n, ed_dw_mrec_t *rq)
{
    const int32_t C = p->in_c;
    const int8_t *w = p->weights + c;
    int32_t r, k;
    for (r = 0; r < 3; ++r, w += 3 * C) {
        if (n == 4) {
            const uint32_t t0 = ed_read32(w), t1 = ed_read32(w + C), t2 = ed_read32(w + 2 * C);
            uint32_t e0 = ed_sxtb16(t0), e1 = ed_sxtb16(t1), e2 = ed_sxtb16(t2);
            uint32_t o0 = ed_sxtb16_ror8(t0), o1 = ed_sxtb16_ror8(t1), o2 = ed_sxtb16_ror8(t2);
            e0 = ed_sadd16(e0, e0), e1 = ed_sadd16(e1, e1), e2 = ed_sadd16(e2, e2);
            o0 = ed_sadd16(o0, o0), o1 = ed_sadd16(o1, o1), o2 = ed_sadd16(o2, o2);
            rq[0].w[2 * r] = ed_dw_pkhbt(e0, e1), rq[0].w[2 * r + 1] = ed_dw_pkhbt(e1, e2);
            rq[1].w[2 * r] = ed_dw_pkhbt(o0, o1), rq[1].w[2 * r + 1] = ed_dw_pkhbt(o1, o2);
            rq[2].w[2 * r] = ed_dw_pkhtb(e1, e0), rq[2].w[2 * r + 1] = ed_dw_pkhtb(e2, e1);
            rq[3].w[2 * r] = ed_dw_pkhtb(o1, o0), rq[3].w[2 * r + 1] = ed_dw_pkhtb(o2, o1);
            continue;
        }
        for (k = 0; k < n; ++k) {
            const int32_t w0 = 2 * w[k], w1 = 2 * w[C + k], w2 = 2 * w[2 * C + k];
            rq[k].w[2 * r] = ((uint32_t)w0 & 0xFFFFu) | ((uint32_t)w1 << 16);
            rq[k].w[2 * r + 1] = ((uint32_t)w1 & 0xFFFFu) | ((uint32_t)w2 << 16);
        }
    }
    for (k = 0; k < n; ++k) {
        const int32_t e = -p->shift[c + k];
        rq[k].q.bias2 = 2 * p->bias[c + k];
        rq[k].q.m = p->multiplier[c + k];
        rq[k].q.e = e;
        rq[k].q.round_off = ed_add_wrap((int32_t)1 << (e - 1), ed_shl_wrap(p->output_offset, e));
    }
}

/* The frame of the pass by pairs (ED_DW_M_GROUP, on a map two or three columns wide). */
typedef struct {
    ed_dw_ch_t q;                    /* the channel's bias2, m, round_off, e (m and round_off read by one LDRD) */
    const ed_dw_ch_t *q_next;        /* the next channel's requantization, */
    const uint32_t *w_next;          /* weight pairs (six words; both in ed_dw_mrec_t, 72 bytes apart), */
    const uint32_t *p_next;          /* map (ED_DW_MAP_PLANE words on: the Thumb-2 adds #512) */
    int8_t *o_next, *o_stop;         /* and first output; channel n's */
    int32_t pair_bytes, p_step;      /* output bytes of a row's pairs; band bytes from a row's end to the next */
    int8_t *o_end, *pair_end;        /* the channel's last output + C (+ 1 a channel); the row's pairs' end */
} ed_dw_map_frame_t;

#if ED_DW_ASM
/* The group's channels over the whole map in one piece of Thumb-2: per channel its six weight pairs loaded into
 * registers and its requantization copied into the frame, the band pointer at the channel's padded row 0 (the next
 * two rows at #32 and #64), the output pointer and stride, two accumulators and three temporaries: the 14 registers.
 * The requantization, the next channel's tables and the loops' ends are in the caller's frame (f, addressed from
 * the stack pointer; the Thumb-2 advances its pointers). Per output row: the end of its pairs, the pairs, the odd
 * last column (ODD, or nothing), the step to the next row. */
/* A pair's first kernel row: the second accumulator starts from the first one's bias (no copy) */
#define ED_DW_M_ROWF(ld, wp, wq)                                                                            \
    "ldrd %[a], %[b], " ld "\n\tsmlatb %[s1], %[a], %[" wp "], %[s0]\n\tsmlad %[s0], %[a], %[" wp "], %[s0]\n\t" \
    "smlabt %[s0], %[b], %[" wq "], %[s0]\n\tsmlad %[s1], %[b], %[" wq "], %[s1]\n\t"
#define ED_DW_M_ROW2F(ld, ld3, wp, wq)                                                                      \
    "ldrd %[a], %[b], " ld "\n\tsmlad %[s1], %[b], %[" wp "], %[s0]\n\tsmlad %[s0], %[a], %[" wp "], %[s0]\n\t" \
    "smlabt %[s0], %[b], %[" wq "], %[s0]\n\tldr %[a], " ld3 "\n\tsmlabt %[s1], %[a], %[" wq "], %[s1]\n\t"
#define ED_DW_M_ONE \
    ED_DW_A_ONE("[%[p], #32]", "w2", "w3") ED_DW_A_ONE("[%[p], #64]", "w4", "w5") ED_DW_A_ONE("[%[p]], #4", "w0", "w1")
#define ED_DW_M_PAIR1                                                                                             \
    ED_DW_M_ROWF("[%[p], #32]", "w2", "w3") ED_DW_A_ROW("[%[p], #64]", "w4", "w5") ED_DW_A_ROW("[%[p]], #4", "w0", "w1")
#define ED_DW_M_PAIR2                                                                                       \
    ED_DW_M_ROW2F("[%[p], #32]", "[%[p], #40]", "w2", "w3") ED_DW_A_ROW2("[%[p], #64]", "[%[p], #72]", "w4", "w5") \
    ED_DW_A_ROW2("[%[p]], #8", "[%[p]]", "w0", "w1")
/* The frame's fields the Thumb-2 advances are memory inputs (with the "memory" clobber): f is not read after it. */
#define ED_DW_M_GROUP(PAIR, ODD)                                                                                  \
    __asm__ volatile(                                                                                            \
        "9:\n\tldr %[t], %[wn]\n\tldrd %[w0], %[w1], [%[t]]\n\tldrd %[w2], %[w3], [%[t], #8]\n\t"                 \
        "ldrd %[w4], %[w5], [%[t], #16]\n\tadd %[t], %[t], #72\n\tstr %[t], %[wn]\n\t"                            \
        "ldr %[t], %[qn]\n\tldrd %[a], %[b], [%[t]]\n\tstrd %[a], %[b], %[q01]\n\tldrd %[a], %[b], [%[t], #8]\n\t" \
        "strd %[a], %[b], %[q23]\n\tadd %[t], %[t], #72\n\tstr %[t], %[qn]\n\t"                                  \
        "ldr %[p], %[pn]\n\tadd %[a], %[p], #512\n\tstr %[a], %[pn]\n\t"                                         \
        "ldr %[o], %[on]\n\tadd %[a], %[o], #1\n\tstr %[a], %[on]\n\t"                                           \
        "ldr %[a], %[oend]\n\tadd %[a], %[a], #1\n\tstr %[a], %[oend]\n"                                         \
        "0:\n\tldr %[a], %[pb]\n\tadd %[a], %[o], %[a]\n\tstr %[a], %[endp]\n"                                    \
        "1:\n\tldr %[s0], %[bias]\n\t" PAIR ED_DW_A_RQ0                                                          \
        "smmlar %[t], %[s1], %[a], %[b]\n\tadd %[t], %[t], %[s1], asr #31\n\tasr %[t], %[t], %[s0]\n\t"          \
        "ssat %[t], #8, %[t]\n\tstrb %[t], [%[o], %[C]]\n\tadd %[o], %[o], %[C], lsl #1\n\t"                      \
        "ldr %[a], %[endp]\n\tcmp %[o], %[a]\n\tbne 1b\n\t" ODD                                                   \
        "ldr %[a], %[step]\n\tadd %[p], %[p], %[a]\n\tldr %[a], %[oend]\n\tcmp %[o], %[a]\n\tbne 0b\n\t"          \
        "ldr %[a], %[on]\n\tldr %[b], %[ostop]\n\tcmp %[a], %[b]\n\tbne 9b\n\t"                                    \
        : [p] "=&r"(bp), [o] "=&r"(o), [t] "=&r"(t), [s0] "=&r"(s0), [s1] "=&r"(s1), [a] "=&r"(a), [b] "=&r"(b), \
          [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [w4] "=&r"(w4), [w5] "=&r"(w5),        \
          [endp] "=m"(fp->pair_end)                                                                               \
        : [C] "r"(C), [bias] "m"(fp->q.bias2), [mro] "m"(*(const int32_t(*)[2])(const void *)&fp->q.m),             \
          [e] "m"(fp->q.e), [q01] "m"(*(int32_t(*)[2])(void *)&fp->q.bias2),                                        \
          [q23] "m"(*(int32_t(*)[2])(void *)&fp->q.round_off), [pb] "m"(fp->pair_bytes), [step] "m"(fp->p_step),      \
          [oend] "m"(fp->o_end), [wn] "m"(fp->w_next), [qn] "m"(fp->q_next), [pn] "m"(fp->p_next), [on] "m"(fp->o_next),  \
          [ostop] "m"(fp->o_stop)                                                                                 \
        : "cc", "memory")
#define ED_DW_M_ODD "ldr %[s0], %[bias]\n\t" ED_DW_M_ONE ED_DW_A_RQ0 "add %[o], %[o], %[C]\n\t"

typedef char ed_dw_mrec_offsets_ok[sizeof(ed_dw_mrec_t) == 72 ? 1 : -1]; /* the assembly's offsets */
/* On a map at least four columns wide: the band path's four-column step (ED_DW_A_QUAD1/2 at the map's row offsets,
 * 59 instructions per four outputs at stride 1, 62 at stride 2), then a pair and a single column where the row has
 * them, channel after channel over all their rows, in one piece of Thumb-2 with the band path's registers: map
 * pointer, output pointer and stride, the record pointer (ed_dw_mrec_t rq: the channel's weights, requantization,
 * the row's four-column end and the layer's steps), four accumulators, two weight pairs, two map words and the
 * channel's multiplier and rounding term (loaded once per channel). */
#define ED_DW_M_QUADS(QUAD, PAIR, SINGLE)                                                                          \
    do {                                                                                                           \
        const uint32_t *p_;                                                                                        \
        int8_t *o_;                                                                                                \
        const ed_dw_mrec_t *wp_ = rq;                                                                              \
        uint32_t s0, s1, s2, s3, a, b, w0, w1, m, ro;                                                              \
        __asm__ volatile(                                                                                          \
            "9:\n\tldrd %[p], %[o], [%[wp], #64]\n\tcmp %[p], #0\n\tbeq 8f\n\tldrd %[m], %[ro], [%[wp], #28]\n"    \
            "0:\n\tldr %[a], [%[wp], #44]\n\tadd %[a], %[p], %[a]\n\tstr %[a], [%[wp], #40]\n"                     \
            "1:\n\tldr %[s0], [%[wp], #24]\n\t" QUAD "ldrd %[w0], %[w1], [%[wp], #36]\n\t" ED_DW_A_RQ2              \
            ED_DW_A_RQ("s2", "[%[o]]") ED_DW_A_RQ("s3", "[%[o], %[C]]") "add %[o], %[o], %[C], lsl #1\n\t"          \
            "cmp %[p], %[w1]\n\tbne 1b\n\t"                                                                        \
            "ldrd %[s2], %[s3], [%[wp], #48]\n\tcmp %[s2], #0\n\tbeq 3f\n\t"                                        \
            "ldr %[s0], [%[wp], #24]\n\t" PAIR "ldr %[w0], [%[wp], #36]\n\t" ED_DW_A_RQ2                           \
            "3:\n\tcmp %[s3], #0\n\tbeq 4f\n\t"                                                                     \
            "ldr %[s0], [%[wp], #24]\n\t" SINGLE "ldr %[w0], [%[wp], #36]\n\t" ED_DW_A_RQ("s0", "[%[o]]")          \
            "add %[o], %[o], %[C]\n"                                                                               \
            "4:\n\tldrd %[a], %[b], [%[wp], #56]\n\tadd %[p], %[p], %[a]\n\tcmp %[o], %[b]\n\tbne 0b\n\t"           \
            "add %[wp], %[wp], #72\n\tb 9b\n"                                                                      \
            "8:\n\t"                                                                                               \
            : [p] "=&r"(p_), [o] "=&r"(o_), [wp] "+r"(wp_), [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2),         \
              [s3] "=&r"(s3), [a] "=&r"(a), [b] "=&r"(b), [w0] "=&r"(w0), [w1] "=&r"(w1), [m] "=&r"(m),            \
              [ro] "=&r"(ro)                                                                                       \
            : [C] "r"(C)                                                                                           \
            : "cc", "memory");                                                                                     \
    } while (0)

/* On a map two or three columns wide: channels c..c+n-1 from their maps (channel k's at map + k * ED_DW_MAP_PLANE)
 * by pairs of columns, in one piece of Thumb-2, then ReLU6's clamp over the group's outputs. The layer's part of the
 * frame is set once (ed_dw_map_frame). */
static inline ED_ALWAYS_INLINE void ed_dw_map_pairs(const ed_dwconv_params_t *p, const ed_dw_map_frame_t *layer,
                                                    const uint32_t *map, int8_t *output, int32_t c, int32_t n,
                                                    const ed_dw_mrec_t *rq)
{
    const int32_t C = p->in_c, s = p->stride_w;
    const uint32_t *bp;
    int8_t *o;
    uint32_t t, s0, s1, a, b, w0, w1, w2, w3, w4, w5;
    ed_dw_map_frame_t f, *const fp = &f;
    f.q_next = &rq[0].q, f.w_next = rq[0].w, f.p_next = map, f.o_next = output + c, f.o_stop = output + c + n;
    f.pair_bytes = layer->pair_bytes, f.p_step = layer->p_step, f.o_end = layer->o_end + c;
    if (s == 1 && (p->out_w & 1)) {
        ED_DW_M_GROUP(ED_DW_M_PAIR1, ED_DW_M_ODD);
    } else if (s == 1) {
        ED_DW_M_GROUP(ED_DW_M_PAIR1, "");
    } else if (p->out_w & 1) {
        ED_DW_M_GROUP(ED_DW_M_PAIR2, ED_DW_M_ODD);
    } else {
        ED_DW_M_GROUP(ED_DW_M_PAIR2, "");
    }
    if (p->act_min != -128 || p->act_max != 127) {
        ed_dw_clamp_row(output + c, n, C, p->out_h * p->out_w, p->act_min, p->act_max);
    }
}

/* On a map at least four columns wide: channels c..c+n-1 from their maps (rq[k].map) by four columns a step, in
 * one piece of Thumb-2, then ReLU6's clamp over the group's outputs. */
static inline ED_ALWAYS_INLINE void ed_dw_map_quads(const ed_dwconv_params_t *p, int8_t *output, int32_t c, int32_t n,
                                                    ed_dw_mrec_t *rq)
{
    const int32_t C = p->in_c;
    const size_t len = (size_t)p->out_h * (size_t)p->out_w * (size_t)C;
    int32_t k;
    for (k = 0; k < n; ++k) {
        rq[k].o = output + c + k, rq[k].o_end = rq[k].o + len;
    }
    rq[n].map = NULL; /* the group's end (n < 4: the last group) */
    if (p->stride_w == 1) {
        ED_DW_M_QUADS(ED_DW_A_QUAD1_AT("32", "40", "64", "72"), ED_DW_A_PAIR1_AT("32", "64"),
                      ED_DW_A_SINGLE_AT("32", "64"));
    } else {
        ED_DW_M_QUADS(ED_DW_A_QUAD2_AT("32", "40", "48", "64", "72", "80"), ED_DW_A_PAIR2_AT("32", "40", "64", "72"),
                      ED_DW_A_SINGLE_AT("32", "64"));
    }
    if (p->act_min != -128 || p->act_max != 127) {
        ed_dw_clamp_row(output + c, n, C, p->out_h * p->out_w, p->act_min, p->act_max);
    }
}

/* Channels c..c+n-1 of a group from their maps: four columns a step, or by pairs on a narrower map. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline))
#endif
static void ed_dw_map_run(const ed_dwconv_params_t *p, const ed_dw_map_frame_t *layer, const uint32_t *map,
                          int8_t *output, int32_t c, int32_t n, ed_dw_mrec_t *rq)
{
    if (p->out_w < 4) {
        ed_dw_map_pairs(p, layer, map, output, c, n, rq);
    } else {
        ed_dw_map_quads(p, output, c, n, rq);
    }
}
#else
/* Portable C (the host): each channel's output rows through the band path's row (ed_dw_row). */
static void ed_dw_map_run(const ed_dwconv_params_t *p, const ed_dw_map_frame_t *layer, const uint32_t *map,
                          int8_t *output, int32_t c, int32_t n, ed_dw_mrec_t *rq)
{
    const int32_t C = p->in_c, s = p->stride_w;
    const int full = p->act_min == -128 && p->act_max == 127;
    int32_t k, oy;
    (void)layer, (void)map;
    for (k = 0; k < n; ++k) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const uint32_t *r0 = rq[k].map + oy * s * ED_DW_MAP_NW;
            ed_dw_row(r0, r0 + ED_DW_MAP_NW, r0 + 2 * ED_DW_MAP_NW, rq[k].w, &rq[k].q,
                      output + (size_t)oy * (size_t)p->out_w * (size_t)C + (size_t)(c + k), C, p->out_w, s, full,
                      p->act_min, p->act_max);
        }
    }
}
#endif

/* The layer's part of the frame of ed_dw_map_pairs: group 0's last output + C - 1 (the Thumb-2 adds 1 a channel),
 * the output bytes of a row's pairs, the map bytes from a row's end to the next. */
static void ed_dw_map_frame(const ed_dwconv_params_t *p, ed_dw_map_frame_t *fp, int8_t *output)
{
    const int32_t C = p->in_c, s = p->stride_w;
    const int32_t used = s == 1 ? (p->out_w + 1) / 2 : p->out_w; /* words a row's pass moves the map pointer */
    fp->o_end = output + (size_t)p->out_h * (size_t)p->out_w * (size_t)C - 1;
    fp->pair_bytes = (p->out_w & ~1) * C;
    fp->p_step = 4 * (s * ED_DW_MAP_NW - used);
}

/* Input rows 0..rows-1 of four channels (x: channel 0 of column 0 of row 0) into the map from d (input row 0's map
 * row): per row pad_left padding columns (0 or 1), `cols` columns (the rows' other columns, `skip` bytes, are not
 * read), the padding halves 0. An input row's columns follow the previous row's: one pointer walks them all. */
static void ed_dw_map_fill4(const int8_t *x, uint32_t *d, int32_t rows, int32_t C, int32_t pad_left, int32_t cols,
                            int32_t skip, uint32_t off2)
{
    const int32_t pairs = (cols - pad_left) / 2, tail = (cols - pad_left) & 1;
    for (; rows > 0; --rows, d += ED_DW_MAP_NW, x += skip) {
        uint32_t *dd = d;
        int32_t j;
        if (pad_left) { /* the padding column, then column 0 */
            const uint32_t b = ed_read32(x);
            ed_dw_pack4(dd++, ED_DW_MAP_PLANE, 0u, 0u, ed_sxtab16(off2, b), ed_sxtab16_ror8(off2, b));
            x += C;
        }
        for (j = pairs; j > 0; --j, x += 2 * C) {
            const uint32_t a = ed_read32(x), b = ed_read32(x + C);
            ed_dw_pack4(dd++, ED_DW_MAP_PLANE, ed_sxtab16(off2, a), ed_sxtab16_ror8(off2, a), ed_sxtab16(off2, b),
                        ed_sxtab16_ror8(off2, b));
        }
        if (tail) { /* the last column, then padding */
            const uint32_t a = ed_read32(x);
            ed_dw_pack4(dd, ED_DW_MAP_PLANE, ed_sxtab16(off2, a), ed_sxtab16_ror8(off2, a), 0u, 0u);
            x += C;
        }
    }
}

/* A small layer: the map zeroed once (its padding rows and columns stay zero), then per group of four channels (and
 * a tail of one to three) the group's input rows into the map and its channels' passes. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns"))) /* no memset: newlib-nano's is a byte loop */
#endif
static void ed_dw_map_s8(const ed_dwconv_params_t *p, const int8_t *input, int8_t *output)
{
    uint64_t map64[4 * ED_DW_MAP_PLANE / 2]; /* uint64_t for LDRD's alignment */
    uint32_t *const map = (uint32_t *)(void *)map64;
    ed_dw_mrec_t rq[5]; /* the group's channels, then a NULL map */
    ed_dw_map_frame_t f;
    const int32_t C = p->in_c, in_row = p->in_w * C, rows = (p->out_h - 1) * p->stride_h + 3;
    const int32_t nw = ((p->out_w - 1) * p->stride_w + 4) / 2;
    const int32_t in_rows = p->pad_top + p->in_h < rows ? p->in_h : rows - p->pad_top; /* input rows it reads */
    const int32_t cols = (int32_t)(ed_dw_fill_end(p, input, nw, C) - input) / C + 1; /* columns of a row it holds */
    const int32_t s = p->stride_w, quads = p->out_w / 4, step = s == 1 ? 8 : 16; /* map bytes per four columns */
    const int32_t advance = quads * step + (p->out_w & 2) * step / 4; /* map bytes a row's steps and pair move */
    int32_t c, u;
    for (c = 0; c < 4; ++c) {
        for (u = 0; u < rows * ED_DW_MAP_NW / 2; ++u) {
            map64[c * ED_DW_MAP_PLANE / 2 + u] = 0u;
        }
        rq[c].q_bytes = quads * step, rq[c].pair = p->out_w & 2, rq[c].single = p->out_w & 1;
        rq[c].p_step = 4 * s * ED_DW_MAP_NW - advance;
        rq[c].map = map + c * ED_DW_MAP_PLANE;
    }
    rq[4].map = NULL;
    ed_dw_map_frame(p, &f, output);
    for (c = 0; c < C; c += 4) {
        const int32_t n = C - c < 4 ? C - c : 4;
        uint32_t *const d = map + p->pad_top * ED_DW_MAP_NW;
        if (n == 4) {
            ed_dw_map_fill4(input + c, d, in_rows, C, p->pad_left, cols, (p->in_w - cols) * C,
                            ed_dup16(p->input_offset));
        } else {
            for (u = 0; u < in_rows; ++u) {
                ed_dw_fill_few(p, input + (size_t)u * (size_t)in_row + (size_t)c, d + u * ED_DW_MAP_NW,
                               ED_DW_MAP_PLANE, nw, n, C);
            }
        }
        ed_dw_map_params(p, c, n, rq);
        ed_dw_map_run(p, &f, map, output, c, n, rq);
    }
}

#endif /* ED_DW_MAP_H */
