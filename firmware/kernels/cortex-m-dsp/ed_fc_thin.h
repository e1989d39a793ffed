/*
 * The thin 1x1 path's fixed sequences (cortex-m-dsp/ed_fc.c ed_fc_thin, and the per-layer sequences of
 * templates/c/thin_layer.c.j2): a pixel's inputs in registers as extended pairs, each channel's table words (doubled
 * bias, int16 weight pairs, multiplier, rounding term, shift: ED_FC_THIN_S words) brought in by LDM.
 */
#ifndef ED_FC_THIN_H
#define ED_FC_THIN_H

#include <stdint.h>

#define ED_FC_THIN_S(n_) ((n_) / 2 + 4) /* words per channel: bias, n / 2 weight pairs, multiplier, rounding, shift */
#define ED_FC_THIN_WORDS 768            /* the table's words (3 KB, as ed_fc_pw_groups's extended block) */

/* The fixed sequences need optimization (fourteen named registers, r7 among them). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define ED_FC_THIN_ASM 1
/* One channel's requantization of accumulator a_ with multiplier m_ and rounding term r_ (the forms of
 * ED_FC_ASM_OUT_NOFIX / _FIX); then SAT_: its right shift (by register e_, or the immediate form s_: ", asr #n" or
 * "" for none) and saturation; stored at lr, lr += 1. */
#define ED_FC_THIN_NOFIX(a_, m_, r_) "smmlar " a_ ", " a_ ", " m_ ", " r_ "\n\t"
#define ED_FC_THIN_FIX(a_, m_, r_) \
    "smmulr " a_ ", " a_ ", " m_ "\n\tadd " a_ ", " a_ ", " a_ ", asr #31\n\tadd " a_ ", " a_ ", " r_ "\n\t"
#define ED_FC_THIN_SAT_REG(a_, e_, s_) "asr " a_ ", " a_ ", " e_ "\n\tssat " a_ ", #8, " a_ "\n\t"
#define ED_FC_THIN_SAT_IMM(a_, e_, s_) "ssat " a_ ", #8, " a_ s_ "\n\t"
#define ED_FC_THIN_OUT(OUT_, SAT_, s_, a_, m_, r_, e_) \
    OUT_(a_, m_, r_) SAT_(a_, e_, s_) "strb " a_ ", [lr], #1\n\t"
#define ED_FC_THIN_MAC(a_, x_, w_) "smlad " a_ ", " x_ ", " w_ ", " a_ "\n\t"
/* A channel's table words from T (r4, r4, r6, r8 for 4, 8, 12, 16 inputs); the shift ends in the flag register. */
#define ED_FC_THIN_SLOT4(OUT_, SAT_, s_)                                                                      \
    "ldmia r4!, {r5, r6, r7, r8, r9, r10}\n\t" ED_FC_THIN_MAC("r5", "r0", "r6") ED_FC_THIN_MAC("r5", "r1", "r7") \
    ED_FC_THIN_OUT(OUT_, SAT_, s_, "r5", "r8", "r9", "r10")
#define ED_FC_THIN_SLOT8(OUT_, SAT_, s_)                                                                      \
    "ldmia r4!, {r5, r6, r7, r8, r9, r10, r11, r12}\n\t" ED_FC_THIN_MAC("r5", "r0", "r6")                      \
    ED_FC_THIN_MAC("r5", "r1", "r7") ED_FC_THIN_MAC("r5", "r2", "r8") ED_FC_THIN_MAC("r5", "r3", "r9")          \
    ED_FC_THIN_OUT(OUT_, SAT_, s_, "r5", "r10", "r11", "r12")
#define ED_FC_THIN_SLOT12(OUT_, SAT_, s_)                                                                     \
    "ldmia r6!, {r7, r8, r9, r10, r11, r12}\n\t" ED_FC_THIN_MAC("r7", "r0", "r8")                              \
    ED_FC_THIN_MAC("r7", "r1", "r9") ED_FC_THIN_MAC("r7", "r2", "r10") ED_FC_THIN_MAC("r7", "r3", "r11")        \
    ED_FC_THIN_MAC("r7", "r4", "r12") "ldmia r6!, {r8, r9, r10, r11}\n\t" ED_FC_THIN_MAC("r7", "r5", "r8")     \
    ED_FC_THIN_OUT(OUT_, SAT_, s_, "r7", "r9", "r10", "r11")
#define ED_FC_THIN_SLOT16(OUT_, SAT_, s_)                                                                     \
    "ldmia r8!, {r9, r10, r11, r12}\n\t" ED_FC_THIN_MAC("r9", "r0", "r10") ED_FC_THIN_MAC("r9", "r1", "r11")   \
    ED_FC_THIN_MAC("r9", "r2", "r12") "ldmia r8!, {r10, r11, r12}\n\t" ED_FC_THIN_MAC("r9", "r3", "r10")       \
    ED_FC_THIN_MAC("r9", "r4", "r11") ED_FC_THIN_MAC("r9", "r5", "r12") "ldmia r8!, {r10, r11, r12}\n\t"       \
    ED_FC_THIN_MAC("r9", "r6", "r10") ED_FC_THIN_MAC("r9", "r7", "r11") "ldmia r8!, {r10, r11}\n\t"            \
    ED_FC_THIN_OUT(OUT_, SAT_, s_, "r9", "r12", "r10", "r11")
/* Four input bytes at X (post-incremented) into the pairs d0_, d1_ with the offsets f_ added (t_ clobbered). */
#define ED_FC_THIN_EXT(d0_, d1_, x_, f_, t_) \
    "ldr " t_ ", [" x_ "], #4\n\tsxtab16 " d0_ ", " f_ ", " t_ "\n\tsxtab16 " d1_ ", " f_ ", " t_ ", ror #8\n\t"
/* A pixel's inputs extended (table, input and offsets' pair in T, X, F: r4 r5 r6, r4 r5 r6, r6 r7 r8, r8 r9 r10;
 * ED_FC_THIN_REGS*: those and a register the extension leaves alone, E). */
#define ED_FC_THIN_PIX4 ED_FC_THIN_EXT("r0", "r1", "r5", "r6", "r8")
#define ED_FC_THIN_PIX8 ED_FC_THIN_PIX4 ED_FC_THIN_EXT("r2", "r3", "r5", "r6", "r8")
#define ED_FC_THIN_PIX12                                                                                   \
    ED_FC_THIN_EXT("r0", "r1", "r7", "r8", "r10") ED_FC_THIN_EXT("r2", "r3", "r7", "r8", "r10")            \
    ED_FC_THIN_EXT("r4", "r5", "r7", "r8", "r10")
#define ED_FC_THIN_PIX16                                                                                   \
    ED_FC_THIN_EXT("r0", "r1", "r9", "r10", "r12") ED_FC_THIN_EXT("r2", "r3", "r9", "r10", "r12")          \
    ED_FC_THIN_EXT("r4", "r5", "r9", "r10", "r12") ED_FC_THIN_EXT("r6", "r7", "r9", "r10", "r12")
#define ED_FC_THIN_REGS4 "r4", "r5", "r6", "r7"
#define ED_FC_THIN_REGS8 "r4", "r5", "r6", "r7"
#define ED_FC_THIN_REGS12 "r6", "r7", "r8", "r9"
#define ED_FC_THIN_REGS16 "r8", "r9", "r10", "r11"
/* The assembly CODE_ with the frame f at r0 (every other register but sp and pc its own). */
#define ED_FC_THIN_RUN(CODE_)                                                                                \
    do {                                                                                                     \
        register uint32_t r0_ __asm__("r0") = (uint32_t)(uintptr_t)f;                                        \
        __asm__ volatile(CODE_                                                                               \
                         : "+r"(r0_)                                                                         \
                         :                                                                                   \
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", \
                           "cc", "memory");                                                                  \
    } while (0)
/*
 * A layer's own sequence (ed_fc_thin_layer_s8's run): the frame f (table, input, offsets' pair, input's end,
 * output) at r0, four words pushed; per pixel one LDM of the frame into T, X, F, E, PIX_ (its inputs extended), X
 * compared with E (no instruction of SEQ_ changes the flags), SEQ_ (every channel's SLOT in turn, the shifts as
 * immediates), until X has reached the end.
 */
#define ED_FC_THIN_LAYER_(T, X, F, E, PIX_, SEQ_)                                                            \
    ED_FC_THIN_RUN("ldr lr, [r0, #16]\n\t"                                                                   \
                   "ldmia r0, {r1, r2, r3, r4}\n\t"                                                          \
                   "push {r1, r2, r3, r4}\n"                                                                 \
                   "1:\n\t"                                                                                  \
                   "ldmia sp, {" T ", " X ", " F ", " E "}\n\t" PIX_ "str " X ", [sp, #4]\n\t"               \
                   "cmp " X ", " E "\n\t" SEQ_ "bne 1b\n\t"                                                  \
                   "add sp, sp, #16")
#define ED_FC_THIN_LAYER(REGS_, PIX_, SEQ_) ED_FC_THIN_LAYER_X_(REGS_, PIX_, SEQ_)
#define ED_FC_THIN_LAYER_X_(...) ED_FC_THIN_LAYER_(__VA_ARGS__)
#else
#define ED_FC_THIN_ASM 0
#endif

#endif /* ED_FC_THIN_H */
