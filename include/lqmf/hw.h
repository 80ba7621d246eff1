/* Hardware probe: memory, CPU, GPUs and free disk space, for planning.
 *
 * Sources, in order: RAM from /proc/meminfo (MemAvailable, or MemFree +
 * Buffers + Cached on old kernels), capped by a cgroup v2 memory.max; CPUs
 * from the affinity mask (else /proc/cpuinfo); CPU model from
 * /proc/cpuinfo; features from cpuid (x86) or getauxval (arm64) on the live
 * system, from /proc/cpuinfo flags otherwise. GPUs from
 *   `nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader,nounits`
 * when it runs, else /proc/driver/nvidia/gpus/<bus>/information (names
 * only), else sysfs DRM (/sys/class/drm/cardN/device/mem_info_vram_total,
 * AMD); no GPU is an empty list, not an error. */
#ifndef LQMF_HW_H
#define LQMF_HW_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU feature bits */
enum {
    LQMF_CPU_AVX = 1u << 0,
    LQMF_CPU_AVX2 = 1u << 1,
    LQMF_CPU_FMA = 1u << 2,
    LQMF_CPU_F16C = 1u << 3,
    LQMF_CPU_AVX512F = 1u << 4,
    LQMF_CPU_AVX512BW = 1u << 5,
    LQMF_CPU_AVX512VNNI = 1u << 6,
    LQMF_CPU_NEON = 1u << 7,    /* arm64 asimd */
    LQMF_CPU_DOTPROD = 1u << 8, /* arm64 asimddp */
    LQMF_CPU_SVE = 1u << 9,
};

typedef enum { LQMF_GPU_NVIDIA = 0, LQMF_GPU_AMD, LQMF_GPU_OTHER } lqmf_gpu_vendor;

typedef struct {
    char name[128];
    lqmf_gpu_vendor vendor;
    uint64_t mem_total; /* bytes; 0 when unknown */
    uint64_t mem_used;  /* bytes; 0 when unknown */
} lqmf_gpu;

#define LQMF_HW_MAX_GPUS 16
typedef struct {
    uint64_t ram_total, ram_available; /* bytes */
    bool ram_cgroup_limited;           /* a cgroup limit is lower than the machine's RAM */
    unsigned n_cpus;                   /* logical CPUs this process may use */
    char cpu_model[128];
    uint32_t cpu_features; /* LQMF_CPU_* */
    lqmf_gpu gpus[LQMF_HW_MAX_GPUS];
    size_t n_gpus;
    const char *gpu_source; /* "nvidia-smi", "/proc/driver/nvidia", "sysfs", "none" (static) */
} lqmf_hw;

typedef struct {
    const char *root;       /* NULL or "": the live system; else a folder with proc/ and sys/ inside */
    const char *nvidia_smi; /* NULL: nvidia-smi from PATH; "": do not run it; else the program to run */
} lqmf_hw_opts;

/* Probe the machine (opts may be NULL). Fails only when /proc/meminfo
 * cannot be read or parsed; every other part degrades to "unknown". */
lqmf_status lqmf_hw_probe(const lqmf_hw_opts *opts, lqmf_hw *out);

/* ---- parsers (exposed for tests and fuzzing) -------------------------------- */
/* /proc/meminfo text -> bytes. Fails without MemTotal. */
lqmf_status lqmf_hw_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available);
/* nvidia-smi CSV (noheader, nounits: "name, MiB total, MiB used" per line)
 * -> up to max GPUs. "[N/A]" memory is 0. Fails on a malformed line, naming it. */
lqmf_status lqmf_hw_parse_nvidia_smi(const char *text, size_t len, lqmf_gpu *gpus, size_t max, size_t *n);
/* /proc/cpuinfo text -> model name, feature bits from the flags/Features
 * line, and the number of "processor" entries. */
void lqmf_hw_parse_cpuinfo(const char *text, size_t len, char *model, size_t model_len, uint32_t *features,
                           unsigned *n_cpus);

/* Free and total bytes of the file system holding path (for a path that does
 * not exist yet, its nearest existing parent). */
lqmf_status lqmf_hw_disk_free(const char *path, uint64_t *free_bytes, uint64_t *total_bytes);

/* "AVX2 FMA F16C AVX-512F" into buf (n bytes); "none" when 0. Returns buf. */
const char *lqmf_hw_feature_names(uint32_t features, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
