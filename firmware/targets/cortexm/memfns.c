/*
 * memfns.c - memcpy and memset for every Cortex-M core, from one C source.
 *
 * The kernels and the generated model copy and clear arena bytes through memcpy/memset (input copy, padded
 * rows, in-place depthwise). The C library's versions are per-architecture multilib code: the Armv8-M build
 * that a Cortex-M33 links took 6 instructions more per in-place depthwise layer than the Armv7E-M one the M4
 * links, for the same kernel objects. Defining them here (the linker takes an object's definition before the
 * archive's) gives every core the same instructions for the same call, so the emulated per-core counts compare
 * kernels, not C libraries.
 *
 * Aligned blocks of 16 bytes go through LDM/STM on Thumb-2 cores. Words elsewhere where the core allows them:
 * Armv7-M and later load and store unaligned words (single LDR/STR); Armv6-M (M0/M0+) faults on them, so it
 * copies words only when both pointers are aligned.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Without this GCC turns the byte loops below back into calls to memcpy/memset. */
#define ED_MEMFN __attribute__((optimize("no-tree-loop-distribute-patterns")))

typedef uint32_t __attribute__((may_alias)) ed_word_t;
#if defined(__ARM_FEATURE_UNALIGNED)
typedef uint32_t __attribute__((may_alias, aligned(1))) ed_uword_t;
#endif
#define ED_ALIGNED(a, b) (((((uintptr_t)(a)) | ((uintptr_t)(b))) & 3u) == 0u)

ED_MEMFN void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB >= 2
    if (ED_ALIGNED(d, s) && n >= 16u) {
        /* 16 bytes a step in four instructions (GCC does not pair the loads into an LDM itself) */
        size_t blocks = n >> 4;
        __asm__ volatile("1:\n\t"
                         "ldmia %[s]!, {r3, r4, r5, r6}\n\t"
                         "stmia %[d]!, {r3, r4, r5, r6}\n\t"
                         "subs %[k], %[k], #1\n\t"
                         "bne 1b"
                         : [d] "+r"(d), [s] "+r"(s), [k] "+r"(blocks)
                         :
                         : "r3", "r4", "r5", "r6", "cc", "memory");
        n &= 15u;
    }
#endif
#if defined(__ARM_FEATURE_UNALIGNED)
    for (; n >= 4u; n -= 4u, d += 4, s += 4) {
        *(ed_uword_t *)d = *(const ed_uword_t *)s;
    }
#else
    if (ED_ALIGNED(d, s)) {
        for (; n >= 4u; n -= 4u, d += 4, s += 4) {
            *(ed_word_t *)d = *(const ed_word_t *)s;
        }
    }
#endif
    for (; n > 0u; n--) {
        *d++ = *s++;
    }
    return dst;
}

ED_MEMFN void *memset(void *dst, int value, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    uint32_t w = (uint8_t)value * 0x01010101u;
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB >= 2
    if (ED_ALIGNED(d, 0) && n >= 16u) {
        size_t blocks = n >> 4;
        __asm__ volatile("mov r3, %[w]\n\t"
                         "mov r4, %[w]\n\t"
                         "mov r5, %[w]\n\t"
                         "mov r6, %[w]\n"
                         "1:\n\t"
                         "stmia %[d]!, {r3, r4, r5, r6}\n\t"
                         "subs %[k], %[k], #1\n\t"
                         "bne 1b"
                         : [d] "+r"(d), [k] "+r"(blocks)
                         : [w] "r"(w)
                         : "r3", "r4", "r5", "r6", "cc", "memory");
        n &= 15u;
    }
#endif
#if defined(__ARM_FEATURE_UNALIGNED)
    for (; n >= 4u; n -= 4u, d += 4) {
        *(ed_uword_t *)d = w;
    }
#else
    if (ED_ALIGNED(d, 0)) {
        for (; n >= 4u; n -= 4u, d += 4) {
            *(ed_word_t *)d = w;
        }
    }
#endif
    for (; n > 0u; n--) {
        *d++ = (uint8_t)w;
    }
    return dst;
}
