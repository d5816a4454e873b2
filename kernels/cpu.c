/* Run-time choice of the kernel set: cpuid + xgetbv on x86-64 (the OS must
 * save the wide registers too), getauxval on aarch64. */
#include "kernels/kernels.h"
#include "kernels/simd_internal.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static bool x86_has(kern_isa isa)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    bool osxsave = c & bit_OSXSAVE, fma = c & bit_FMA, f16c = c & bit_F16C;
    if (!osxsave || !fma || !f16c)
        return false;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) /* SSE and AVX state */
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX2))
        return false;
    if (isa == KERN_ISA_AVX2)
        return true;
    /* opmask, upper 256 bits of zmm0-15 and zmm16-31 */
    if ((xcr0 & 0xe0) != 0xe0)
        return false;
    return (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (c & bit_AVX512VNNI);
}

/* The BF16 dot product (cpuid leaf 7 sub-leaf 1, eax bit 5), on top of
 * the AVX-512 set. */
static bool x86_has_bf16(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
}

/* AVX-VNNI, the 256-bit VEX dot products (cpuid leaf 7 sub-leaf 1, eax
 * bit 4), on top of the AVX2 set: Intel's cores since Alder Lake, with or
 * without AVX-512, and AMD's since Zen 5. */
static bool x86_has_avxvnni(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}

/* AMX-TILE and AMX-INT8 (cpuid leaf 7, edx bits 24 and 25) with the OS
 * saving the tile state (XCR0 bits 17 and 18). Linux hands the tile data
 * to a process only once asked (arch_prctl ARCH_REQ_XCOMP_PERM for
 * XFEATURE_XTILEDATA, 0x1023 and 18 in its uapi headers); until then the
 * first tile instruction faults. The permission is the process's, for all
 * its threads, and asking again is harmless. */
static bool x86_has_amx(void)
{
    unsigned a, b, c, d;
    if (!x86_has(KERN_ISA_AVX512) || !x86_has_bf16() || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    if (!(d & (1u << 24)) || !(d & (1u << 25)) || (xgetbv0() & 0x60000) != 0x60000)
        return false;
#if defined(__linux__)
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
}

/* Whether a lone token's products should ask for the weights ahead (the
 * sets' -prefetch tables). On an Intel core (an Emerald Rapids Xeon) the
 * hardware's own prefetchers left the memory idle part of the time:
 * llama-1b decoded at 0.53-0.55 (q4_0), 0.70 (q4_k) and 0.62 (q8_0) of
 * the bandwidth limit with the plain AVX2 tables, 0.76-0.83, 0.77-0.79
 * and 0.82-0.92 asking ahead; AVX-512 0.64, 0.74 and 0.75-0.81 against
 * 0.94-0.95, 0.90-0.94 and 0.97-0.98. On an AMD EPYC of family 0x1A (Zen
 * 5) the AVX-512 tables' q4_k decoded at 0.655 and 0.727 plain, 0.757
 * and 0.853 asking ahead (runs in turn), one-token Q4_K products took
 * 0.72 of the time, and q4_0 and q8_0 (and the AVX2 tables) read the
 * same either way. On an earlier AMD EPYC asking lost 2.5-14%, so older
 * AMD families and other vendors keep the plain tables. */
static bool x86_prefetch_wins(void)
{
    unsigned a, b, c, d;
    char vendor[13] = {0};
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return false;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    if (strcmp(vendor, "GenuineIntel") == 0)
        return true;
    if (strcmp(vendor, "AuthenticAMD") != 0 || !__get_cpuid(1, &a, &b, &c, &d))
        return false;
    /* the base family, plus the extended one where the base is 0xf */
    unsigned family = (a >> 8) & 0xf;
    if (family == 0xf)
        family += (a >> 20) & 0xff;
    return family >= 0x1a;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>

/* The dot product instructions (sdot), where the CPU has them. */
static bool arm_has_dotprod(void)
{
#ifdef HWCAP_ASIMDDP
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return (getauxval(AT_HWCAP) & (1ul << 20)) != 0;
#endif
}
#endif

bool kern_cpu_has(kern_isa isa)
{
    switch (isa) {
    case KERN_ISA_PORTABLE:
        return true;
#if defined(__x86_64__)
    case KERN_ISA_AVX2:
    case KERN_ISA_AVX512:
        return x86_has(isa);
    case KERN_ISA_AMX:
        return x86_has_amx();
#elif defined(__aarch64__)
    case KERN_ISA_NEON:
        return true; /* Advanced SIMD is part of the aarch64 base */
#endif
    default:
        return false;
    }
}

#if defined(__x86_64__)
/* t[n], t[n + 1]: a table that asks ahead and its plain twin, the one
 * this CPU wants first (x86_prefetch_wins: pf); n + 2. */
static size_t add_pair(const struct kern_ops **t, size_t n, bool pf, const struct kern_ops *ahead,
                       const struct kern_ops *plain)
{
    t[n] = pf ? ahead : plain;
    t[n + 1] = pf ? plain : ahead;
    return n + 2;
}
#endif

/* The tables of set isa this CPU runs (the caller checks isa), the one it
 * uses first; 0 for the portable set (no table). */
static size_t tables_of(kern_isa isa, const struct kern_ops **t)
{
    size_t n = 0;
#if defined(__x86_64__)
    const bool pf = x86_prefetch_wins();
    switch (isa) {
    case KERN_ISA_AVX2:
        if (x86_has_avxvnni())
            n = add_pair(t, n, pf, &kern_ops_avx2_vnni_prefetch, &kern_ops_avx2_vnni);
        n = add_pair(t, n, pf, &kern_ops_avx2_prefetch, &kern_ops_avx2);
        break;
    case KERN_ISA_AVX512:
        if (x86_has_bf16())
            n = add_pair(t, n, pf, &kern_ops_avx512_bf16_prefetch, &kern_ops_avx512_bf16);
        n = add_pair(t, n, pf, &kern_ops_avx512_prefetch, &kern_ops_avx512);
        break;
    case KERN_ISA_AMX: t[n++] = &kern_ops_amx; break;
    default: break;
    }
#elif defined(__aarch64__)
    if (isa == KERN_ISA_NEON) {
        if (arm_has_dotprod())
            t[n++] = &kern_ops_neon_dotprod;
        t[n++] = &kern_ops_neon;
    }
#else
    (void)isa;
    (void)t;
#endif
    return n;
}

/* Family names, indexed by kern_isa. */
static const char *const isa_names[] = {"portable", "avx2", "avx512", "neon", "amx"};
#define N_ISA (sizeof isa_names / sizeof isa_names[0])

int kern_cpu_select(kern_cpu *cpu, kern_isa isa, char *err, size_t errlen)
{
    if (!kern_cpu_has(isa)) {
        if (err && errlen) {
            size_t at = (size_t)snprintf(err, errlen, "kernel set %s is not available on this CPU or in this build (",
                                         (unsigned)isa < N_ISA ? isa_names[isa] : "?");
            for (unsigned i = 0, n = 0; i < N_ISA && at < errlen; i++)
                if (kern_cpu_has((kern_isa)i))
                    at += (size_t)snprintf(err + at, errlen - at, "%s%s", n++ ? ", " : "available: ", isa_names[i]);
            if (at < errlen)
                snprintf(err + at, errlen - at, ")");
        }
        return KERN_ETYPE;
    }
    const struct kern_ops *t[KERN_MAX_TABLES];
    cpu->isa = isa;
    cpu->ops = tables_of(isa, t) ? t[0] : NULL;
    return KERN_OK;
}

int kern_cpu_select_name(kern_cpu *cpu, const char *name, char *err, size_t errlen)
{
    for (unsigned i = 0; i < N_ISA; i++)
        if (strcmp(name, isa_names[i]) == 0)
            return kern_cpu_select(cpu, (kern_isa)i, err, errlen);
    /* a table by its own name, as --version --verbose prints it */
    kern_cpu t[N_ISA * KERN_MAX_TABLES];
    size_t n = 0;
    for (unsigned i = 0; i < N_ISA; i++)
        n += kern_cpu_tables((kern_isa)i, t + n, KERN_MAX_TABLES);
    for (size_t k = 0; k < n; k++)
        if (strcmp(name, kern_cpu_name(&t[k])) == 0) {
            *cpu = t[k];
            return KERN_OK;
        }
    if (err && errlen) {
        size_t at = (size_t)snprintf(err, errlen, "unknown kernel set '%s' (portable, avx2, avx512, neon, amx", name);
        for (size_t k = 0; k < n && at < errlen; k++)
            at += (size_t)snprintf(err + at, errlen - at, "%s%s", k ? ", " : "; or a table of this CPU: ",
                                   kern_cpu_name(&t[k]));
        if (at < errlen)
            snprintf(err + at, errlen - at, ")");
    }
    return KERN_ETYPE;
}

size_t kern_cpu_tables(kern_isa isa, kern_cpu *out, size_t max)
{
    const struct kern_ops *t[KERN_MAX_TABLES];
    size_t n = kern_cpu_has(isa) ? tables_of(isa, t) : 0;
    for (size_t k = 0; k < n && k < max; k++)
        out[k] = (kern_cpu){isa, t[k]};
    return n < max ? n : max;
}

bool kern_cpu_same_packing(const kern_cpu *a, const kern_cpu *b)
{
    return a->ops && b->ops && a->ops->pack && a->ops->pack == b->ops->pack;
}

void kern_cpu_detect(kern_cpu *cpu)
{
    static const kern_isa best_first[] = {KERN_ISA_AMX, KERN_ISA_AVX512, KERN_ISA_AVX2, KERN_ISA_NEON};
    for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++)
        if (kern_cpu_select(cpu, best_first[i], NULL, 0) == KERN_OK)
            return;
    kern_cpu_select(cpu, KERN_ISA_PORTABLE, NULL, 0);
}

const char *kern_cpu_name(const kern_cpu *cpu)
{
    return cpu->ops ? cpu->ops->name : "portable";
}
