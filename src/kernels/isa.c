/* Runtime choice of the instruction set for the kernels. */
#include "lqmf/quant.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LQMF_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

static _Atomic int g_isa = -1; /* lqmf_isa, -1 before the first choice */

static const char *const k_names[LQMF_ISA_COUNT] = { "ref", "avx2", "avx512", "neon" };
static const char *const k_needs[LQMF_ISA_COUNT] = {
    "", "an x86-64 CPU with AVX2, FMA and F16C", "an x86-64 CPU with AVX-512 F, BW, DQ and VL",
#ifdef __ARM_FEATURE_DOTPROD
    "an AArch64 CPU with the dotprod extension"
#else
    "an AArch64 CPU"
#endif
};

#ifdef LQMF_X86
/* __builtin_cpu_supports also checks that the OS saves the AVX state; F16C
 * (which not every compiler names there) is CPUID leaf 1, ECX bit 29. */
static bool cpu_has_avx2(void) {
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

/* Advanced SIMD is part of every AArch64 CPU; the SDOT kernels also need
 * the dotprod extension, which the kernel reports in HWCAP_ASIMDDP. */
#if defined(__aarch64__)
static bool cpu_has_neon(void) {
#ifdef __ARM_FEATURE_DOTPROD
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return true;
#endif
}
#endif

static bool cpu_supports(lqmf_isa isa) {
    switch (isa) {
    case LQMF_ISA_REF: return true;
#ifdef LQMF_X86
    case LQMF_ISA_AVX2: return cpu_has_avx2();
    case LQMF_ISA_AVX512:
        return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
#elif defined(__aarch64__)
    case LQMF_ISA_NEON: return cpu_has_neon();
#endif
    default: return false;
    }
}

/* Cached per ISA (0 unknown, 1 no, 2 yes): the traits lookups of every
 * matmul ask, and CPUID costs far more than the lookup. */
static _Atomic int g_avail[LQMF_ISA_COUNT];

bool lqmf_kernel_isa_available(lqmf_isa isa) {
    if ((unsigned)isa >= LQMF_ISA_COUNT) return false;
    int v = atomic_load_explicit(&g_avail[isa], memory_order_relaxed);
    if (!v) atomic_store_explicit(&g_avail[isa], v = cpu_supports(isa) ? 2 : 1, memory_order_relaxed);
    return v == 2;
}

const char *lqmf_kernel_isa_name(lqmf_isa isa) {
    return (unsigned)isa < LQMF_ISA_COUNT ? k_names[isa] : "?";
}

static lqmf_isa best_isa(void) {
    for (int i = LQMF_ISA_COUNT - 1; i > 0; i--)
        if (lqmf_kernel_isa_available((lqmf_isa)i)) return (lqmf_isa)i;
    return LQMF_ISA_REF;
}

lqmf_status lqmf_kernel_select(lqmf_isa isa) {
    if ((unsigned)isa >= LQMF_ISA_COUNT)
        return lqmf_error(LQMF_E_INVALID, "instruction set %d: no such ISA", (int)isa);
    if (!lqmf_kernel_isa_available(isa))
        return lqmf_error(LQMF_E_UNSUPPORTED, "instruction set %s: not supported by this CPU (needs %s)",
                          k_names[isa], k_needs[isa]);
    atomic_store(&g_isa, (int)isa);
    return LQMF_OK;
}

/* The ISA an LQMF_ISA value names ("scalar" is "ref"), or -1. */
static int isa_by_name(const char *name) {
    if (strcmp(name, "scalar") == 0) return LQMF_ISA_REF;
    for (int i = 0; i < LQMF_ISA_COUNT; i++)
        if (strcmp(name, k_names[i]) == 0) return i;
    return -1;
}

lqmf_status lqmf_kernel_init(void) {
    const char *env = getenv("LQMF_ISA");
    if (!env || !*env) return lqmf_kernel_select(best_isa());
    int i = isa_by_name(env);
    if (i < 0)
        return lqmf_error(LQMF_E_INVALID,
                          "LQMF_ISA=%s: unknown instruction set (expected ref, scalar, avx2, avx512 or neon)",
                          env);
    lqmf_status st = lqmf_kernel_select((lqmf_isa)i);
    return st ? lqmf_error_prefix(st, "LQMF_ISA=%s", env) : LQMF_OK;
}

lqmf_isa lqmf_kernel_isa(void) {
    int isa = atomic_load(&g_isa);
    if (isa >= 0) return (lqmf_isa)isa;
    /* first use without lqmf_kernel_init: honour a valid LQMF_ISA, else the best */
    const char *env = getenv("LQMF_ISA");
    int want = best_isa(), named = env ? isa_by_name(env) : -1;
    if (named >= 0 && lqmf_kernel_isa_available((lqmf_isa)named)) want = named;
    int expected = -1;
    atomic_compare_exchange_strong(&g_isa, &expected, want);
    return (lqmf_isa)atomic_load(&g_isa);
}
