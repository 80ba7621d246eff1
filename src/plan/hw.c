/* Hardware probe (sources in include/lqmf/hw.h). Parsers take text so tests
 * can feed canned /proc and nvidia-smi output. */
#include "lqmf/hw.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#define PROC_MAX_BYTES (8u << 20)

/* Feature names: x86 /proc/cpuinfo flag or arm64 Features word -> bit. */
static const struct {
    const char *flag, *label;
    uint32_t bit;
} k_features[] = {
    {"avx", "AVX", LQMF_CPU_AVX},
    {"avx2", "AVX2", LQMF_CPU_AVX2},
    {"fma", "FMA", LQMF_CPU_FMA},
    {"f16c", "F16C", LQMF_CPU_F16C},
    {"avx512f", "AVX-512F", LQMF_CPU_AVX512F},
    {"avx512bw", "AVX-512BW", LQMF_CPU_AVX512BW},
    {"avx512_vnni", "AVX-512VNNI", LQMF_CPU_AVX512VNNI},
    {"asimd", "NEON", LQMF_CPU_NEON},
    {"asimddp", "DOTPROD", LQMF_CPU_DOTPROD},
    {"sve", "SVE", LQMF_CPU_SVE},
};
#define N_FEATURES (sizeof k_features / sizeof k_features[0])

const char *lqmf_hw_feature_names(uint32_t features, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_FEATURES && o < n; i++)
        if (features & k_features[i].bit)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? " " : "", k_features[i].label);
    if (!o) snprintf(buf, n, "none");
    return buf;
}

/* ---- line helpers -------------------------------------------------------------- */

/* Next line of text[*pos..len) into [*s, *e) without the newline; false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **s, const char **e) {
    if (*pos >= len) return false;
    const char *p = text + *pos, *end = text + len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *s = p;
    *e = nl ? nl : end;
    *pos = (size_t)(*e - text) + (nl ? 1 : 0);
    return true;
}

static const char *skip_ws(const char *s, const char *e) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    return s;
}

static const char *trim_end(const char *s, const char *e) {
    while (e > s && isspace((unsigned char)e[-1])) e--;
    return e;
}

/* "key<ws>:<ws>value": true when the line's key is `key`; value span out. */
static bool key_value(const char *s, const char *e, const char *key, const char **vs, const char **ve) {
    size_t k = strlen(key);
    if ((size_t)(e - s) < k || strncmp(s, key, k) != 0) return false;
    const char *p = skip_ws(s + k, e);
    if (p >= e || *p != ':') return false;
    *vs = skip_ws(p + 1, e);
    *ve = trim_end(*vs, e);
    return true;
}

/* A decimal unsigned integer filling [s, e) exactly. */
static bool parse_u64(const char *s, const char *e, uint64_t *out) {
    if (s >= e) return false;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (!isdigit((unsigned char)*s) || !lqmf_mul_u64(v, 10, &v) ||
            !lqmf_add_u64(v, (uint64_t)(*s - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

/* ---- /proc/meminfo ------------------------------------------------------------------ */

lqmf_status lqmf_hw_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available) {
    static const char *const keys[] = {"MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached"};
    uint64_t v[5] = {0};
    bool seen[5] = {false};
    size_t pos = 0;
    const char *s, *e;
    while (next_line(text, len, &pos, &s, &e)) {
        for (size_t k = 0; k < 5; k++) {
            const char *vs, *ve;
            if (!key_value(s, e, keys[k], &vs, &ve)) continue;
            if (ve - vs > 3 && strncmp(ve - 3, " kB", 3) == 0) ve -= 3;
            uint64_t kb;
            if (!parse_u64(vs, ve, &kb) || !lqmf_mul_u64(kb, 1024, &v[k]))
                return lqmf_error(LQMF_E_FORMAT, "meminfo: %s: bad value \"%.*s\"", keys[k], (int)(e - vs),
                                  vs);
            seen[k] = true;
        }
    }
    if (!seen[0]) return lqmf_error(LQMF_E_FORMAT, "meminfo: no MemTotal line");
    *total = v[0];
    *available = seen[1] ? v[1] : v[2] + v[3] + v[4];
    if (*available > *total) *available = *total;
    return LQMF_OK;
}

/* ---- nvidia-smi ------------------------------------------------------------------------ */

/* A memory field in MiB, or "[N/A]"-like text (0: unknown). */
static bool mib_field(const char *s, const char *e, uint64_t *bytes) {
    s = skip_ws(s, e);
    e = trim_end(s, e);
    if (s < e && *s == '[') {
        *bytes = 0;
        return e[-1] == ']';
    }
    uint64_t mib;
    return parse_u64(s, e, &mib) && lqmf_mul_u64(mib, 1u << 20, bytes);
}

lqmf_status lqmf_hw_parse_nvidia_smi(const char *text, size_t len, lqmf_gpu *gpus, size_t max, size_t *n) {
    *n = 0;
    size_t pos = 0, line = 0;
    const char *s, *e;
    while (next_line(text, len, &pos, &s, &e)) {
        line++;
        e = trim_end(s, e);
        if (skip_ws(s, e) == e) continue;
        /* the name may hold commas: the last two fields are the numbers */
        const char *c2 = NULL, *c1 = NULL;
        for (const char *p = e; p > s; p--)
            if (p[-1] == ',') {
                if (!c2)
                    c2 = p - 1;
                else {
                    c1 = p - 1;
                    break;
                }
            }
        lqmf_gpu g = {.vendor = LQMF_GPU_NVIDIA};
        if (!c1 || !mib_field(c1 + 1, c2, &g.mem_total) || !mib_field(c2 + 1, e, &g.mem_used))
            return lqmf_error(LQMF_E_FORMAT,
                              "nvidia-smi line %zu: expected \"name, MiB total, MiB used\", got \"%.*s\"",
                              line, (int)(e - s > 120 ? 120 : e - s), s);
        const char *ns = skip_ws(s, c1), *ne = trim_end(ns, c1);
        if (ns == ne) return lqmf_error(LQMF_E_FORMAT, "nvidia-smi line %zu: empty GPU name", line);
        for (const char *p = ns; p < ne; p++)
            if ((unsigned char)*p < 0x20)
                return lqmf_error(LQMF_E_FORMAT, "nvidia-smi line %zu: control byte 0x%02x in the GPU name",
                                  line, (unsigned char)*p);
        snprintf(g.name, sizeof g.name, "%.*s", (int)(ne - ns), ns);
        if (*n < max) gpus[(*n)++] = g;
    }
    return LQMF_OK;
}

/* ---- /proc/cpuinfo ---------------------------------------------------------------------- */

static uint32_t feature_bits(const char *s, const char *e) {
    uint32_t bits = 0;
    while (s < e) {
        s = skip_ws(s, e);
        const char *w = s;
        while (s < e && *s != ' ' && *s != '\t') s++;
        for (size_t i = 0; i < N_FEATURES; i++)
            if ((size_t)(s - w) == strlen(k_features[i].flag) &&
                strncmp(w, k_features[i].flag, (size_t)(s - w)) == 0)
                bits |= k_features[i].bit;
    }
    return bits;
}

void lqmf_hw_parse_cpuinfo(const char *text, size_t len, char *model, size_t model_len, uint32_t *features,
                           unsigned *n_cpus) {
    static const char *const model_keys[] = {"model name", "Hardware", "cpu model", "Model"};
    model[0] = 0;
    *features = 0;
    *n_cpus = 0;
    bool have_flags = false;
    size_t model_rank = 4;
    size_t pos = 0;
    const char *s, *e, *vs, *ve;
    while (next_line(text, len, &pos, &s, &e)) {
        if (key_value(s, e, "processor", &vs, &ve)) (*n_cpus)++;
        for (size_t k = 0; k < model_rank; k++)
            if (key_value(s, e, model_keys[k], &vs, &ve) && vs < ve) {
                snprintf(model, model_len, "%.*s", (int)(ve - vs), vs);
                model_rank = k;
                break;
            }
        if (!have_flags && (key_value(s, e, "flags", &vs, &ve) || key_value(s, e, "Features", &vs, &ve))) {
            *features = feature_bits(vs, ve);
            have_flags = true;
        }
    }
}

/* ---- live probes -------------------------------------------------------------------------- */

static uint32_t live_features(void) {
    uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx")) f |= LQMF_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) f |= LQMF_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= LQMF_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= LQMF_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= LQMF_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vnni")) f |= LQMF_CPU_AVX512VNNI;
    unsigned a, b, c, d; /* F16C: cpuid leaf 1, ecx bit 29 (no __builtin name in older compilers) */
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if ((c >> 29) & 1 && (f & LQMF_CPU_AVX)) f |= LQMF_CPU_F16C;
#elif defined(__aarch64__)
    unsigned long hw = getauxval(AT_HWCAP);
    if (hw & HWCAP_ASIMD) f |= LQMF_CPU_NEON;
#ifdef HWCAP_ASIMDDP
    if (hw & HWCAP_ASIMDDP) f |= LQMF_CPU_DOTPROD;
#endif
#ifdef HWCAP_SVE
    if (hw & HWCAP_SVE) f |= LQMF_CPU_SVE;
#endif
#endif
    return f;
}

static lqmf_status read_text(const char *root, const char *rel, char **text, size_t *len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", root, rel);
    return lqmf_read_file(path, PROC_MAX_BYTES, text, len);
}

/* A program on PATH, as an absolute path into buf; false when absent. */
static bool find_in_path(const char *prog, char *buf, size_t n) {
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len) {
            snprintf(buf, n, "%.*s/%s", (int)len, path, prog);
            if (access(buf, X_OK) == 0) return true;
        }
        path += len + (colon ? 1 : 0);
    }
    return false;
}

/* Run `prog --query-gpu=...`; false when it is absent, fails or prints nothing useful. */
static bool probe_nvidia_smi(const char *prog, lqmf_hw *hw) {
    char found[PATH_MAX], cmd[PATH_MAX + 160];
    if (!prog && !find_in_path("nvidia-smi", found, sizeof found)) return false;
    if (prog && !*prog) return false;
    const char *p = prog ? prog : found;
    if (strchr(p, '\'')) return false;
    snprintf(cmd, sizeof cmd,
             "'%s' --query-gpu=name,memory.total,memory.used --format=csv,noheader,nounits 2>/dev/null", p);
    FILE *f = popen(cmd, "r");
    if (!f) return false;
    lqmf_buf b;
    lqmf_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20)) lqmf_buf_append(&b, chunk, n);
    int rc = pclose(f);
    bool ok = rc == 0 && !b.failed &&
              lqmf_hw_parse_nvidia_smi((const char *)b.data, b.len, hw->gpus, LQMF_HW_MAX_GPUS,
                                       &hw->n_gpus) == LQMF_OK &&
              hw->n_gpus > 0;
    lqmf_buf_free(&b);
    if (!ok) hw->n_gpus = 0;
    lqmf_clear_error();
    return ok;
}

/* /proc/driver/nvidia/gpus/<bus>/information: "Model:  NVIDIA ..." (no memory). */
static bool probe_proc_nvidia(const char *root, lqmf_hw *hw) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/proc/driver/nvidia/gpus", root);
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    while ((de = readdir(d)) && hw->n_gpus < LQMF_HW_MAX_GPUS) {
        if (de->d_name[0] == '.') continue;
        char rel[PATH_MAX], *text;
        size_t len;
        snprintf(rel, sizeof rel, "/proc/driver/nvidia/gpus/%.200s/information", de->d_name);
        if (read_text(root, rel, &text, &len) != LQMF_OK) continue;
        lqmf_gpu *g = &hw->gpus[hw->n_gpus];
        memset(g, 0, sizeof *g);
        size_t pos = 0;
        const char *s, *e, *vs, *ve;
        while (next_line(text, len, &pos, &s, &e))
            if (key_value(s, e, "Model", &vs, &ve))
                snprintf(g->name, sizeof g->name, "%.*s", (int)(ve - vs), vs);
        free(text);
        if (g->name[0]) hw->n_gpus++;
    }
    closedir(d);
    lqmf_clear_error();
    return hw->n_gpus > 0;
}

static bool read_u64_file(const char *root, const char *rel, uint64_t *v) {
    char *text;
    size_t len;
    if (read_text(root, rel, &text, &len) != LQMF_OK) return false;
    const char *e = trim_end(text, text + len);
    bool ok = parse_u64(text, e, v);
    free(text);
    return ok;
}

/* AMD (and other DRM drivers exposing mem_info_vram_total) through sysfs. */
static bool probe_sysfs_drm(const char *root, lqmf_hw *hw) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/sys/class/drm", root);
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    while ((de = readdir(d)) && hw->n_gpus < LQMF_HW_MAX_GPUS) {
        unsigned idx;
        char tail;
        if (sscanf(de->d_name, "card%u%c", &idx, &tail) != 1) continue; /* skip card0-DP-1 connectors */
        char rel[PATH_MAX];
        lqmf_gpu *g = &hw->gpus[hw->n_gpus];
        memset(g, 0, sizeof *g);
        snprintf(rel, sizeof rel, "/sys/class/drm/card%u/device/mem_info_vram_total", idx);
        if (!read_u64_file(root, rel, &g->mem_total)) continue;
        snprintf(rel, sizeof rel, "/sys/class/drm/card%u/device/mem_info_vram_used", idx);
        read_u64_file(root, rel, &g->mem_used);
        char *text = NULL, *vendor = NULL;
        size_t len;
        snprintf(rel, sizeof rel, "/sys/class/drm/card%u/device/vendor", idx);
        if (read_text(root, rel, &vendor, &len) == LQMF_OK)
            g->vendor = strncmp(vendor, "0x1002", 6) == 0 ? LQMF_GPU_AMD : LQMF_GPU_OTHER;
        else
            g->vendor = LQMF_GPU_OTHER;
        free(vendor);
        snprintf(rel, sizeof rel, "/sys/class/drm/card%u/device/product_name", idx);
        if (read_text(root, rel, &text, &len) == LQMF_OK && len)
            snprintf(g->name, sizeof g->name, "%.*s", (int)(trim_end(text, text + len) - text), text);
        else
            snprintf(g->name, sizeof g->name, "%s GPU (card%u)", g->vendor == LQMF_GPU_AMD ? "AMD" : "DRM",
                     idx);
        free(text);
        hw->n_gpus++;
    }
    closedir(d);
    lqmf_clear_error();
    return hw->n_gpus > 0;
}

/* cgroup v2 memory.max / memory.current of this process's group (the root group's files). */
static void apply_cgroup_limit(const char *root, lqmf_hw *hw) {
    uint64_t limit, current = 0;
    if (!read_u64_file(root, "/sys/fs/cgroup/memory.max", &limit)) return; /* absent or "max" */
    read_u64_file(root, "/sys/fs/cgroup/memory.current", &current);
    lqmf_clear_error();
    if (limit >= hw->ram_total) return;
    hw->ram_cgroup_limited = true;
    hw->ram_total = limit;
    uint64_t left = current < limit ? limit - current : 0;
    if (left < hw->ram_available) hw->ram_available = left;
}

lqmf_status lqmf_hw_probe(const lqmf_hw_opts *opts, lqmf_hw *out) {
    memset(out, 0, sizeof *out);
    const char *root = opts && opts->root ? opts->root : "";
    bool live = !*root;
    char *text;
    size_t len;
    lqmf_status st = read_text(root, "/proc/meminfo", &text, &len);
    if (st != LQMF_OK) return st;
    st = lqmf_hw_parse_meminfo(text, len, &out->ram_total, &out->ram_available);
    free(text);
    if (st != LQMF_OK) return st;
    apply_cgroup_limit(root, out);
    if (read_text(root, "/proc/cpuinfo", &text, &len) == LQMF_OK) {
        lqmf_hw_parse_cpuinfo(text, len, out->cpu_model, sizeof out->cpu_model, &out->cpu_features,
                              &out->n_cpus);
        free(text);
    }
    lqmf_clear_error();
    if (live) {
        out->cpu_features = live_features();
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0) out->n_cpus = (unsigned)CPU_COUNT(&set);
        if (!out->n_cpus) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            out->n_cpus = n > 0 ? (unsigned)n : 1;
        }
    }
    if (!out->cpu_model[0]) snprintf(out->cpu_model, sizeof out->cpu_model, "unknown CPU");
    if (probe_nvidia_smi(opts ? opts->nvidia_smi : NULL, out))
        out->gpu_source = "nvidia-smi";
    else if (probe_proc_nvidia(root, out))
        out->gpu_source = "/proc/driver/nvidia";
    else if (probe_sysfs_drm(root, out))
        out->gpu_source = "sysfs";
    else
        out->gpu_source = "none";
    return LQMF_OK;
}

lqmf_status lqmf_hw_disk_free(const char *path, uint64_t *free_bytes, uint64_t *total_bytes) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", *path ? path : ".") >= (int)sizeof p)
        return lqmf_error(LQMF_E_INVALID, "path too long: %.64s...", path);
    struct statvfs vfs;
    while (statvfs(p, &vfs) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return lqmf_error(LQMF_E_IO, "%s: statvfs: %s", p, strerror(errno));
        char *slash = strrchr(p, '/');
        if (!slash)
            snprintf(p, sizeof p, ".");
        else if (slash == p)
            p[1] = 0;
        else
            *slash = 0;
    }
    *free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (total_bytes) *total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    return LQMF_OK;
}
