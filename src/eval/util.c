/* Small helpers of the evaluation module: strings, paths, statistics and
 * figures of this process (peak resident memory, CPU time). */
#include "eval_priv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

char *lqmf_eval_strdup(const char *s) { return strdup(s ? s : ""); }

char *lqmf_eval_basename(const char *path, bool strip_ext) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t end = len;
    if (strip_ext) {
        for (size_t i = len; i > start + 1; i--)
            if (path[i - 1] == '.') {
                end = i - 1;
                break;
            }
    }
    return strndup(path + start, end - start);
}

lqmf_status lqmf_eval_mkdirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return lqmf_error(LQMF_E_NOMEM, "mkdir %s: out of memory", dir);
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                lqmf_status st = lqmf_error(LQMF_E_IO, "mkdir %s: %s", p, strerror(errno));
                free(p);
                return st;
            }
            if (end) break;
            *s = '/';
        }
    }
    free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return lqmf_error(LQMF_E_IO, "%s: not a folder", dir);
    return LQMF_OK;
}

/* ---- statistics ----------------------------------------------------------------- */
double lqmf_eval_mean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

double lqmf_eval_stddev(const double *x, size_t n) {
    if (n == 0) return NAN;
    if (n < 2) return 0;
    double m = lqmf_eval_mean(x, n), s = 0;
    for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)(n - 1));
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lqmf_eval_quantile(const double *x, size_t n, double q) {
    if (n == 0 || !(q >= 0 && q <= 1)) return NAN;
    double *s = malloc(n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    double frac = pos - (double)lo, r = s[lo];
    if (lo + 1 < n) r += frac * (s[lo + 1] - s[lo]);
    free(s);
    return r;
}

/* ---- process figures --------------------------------------------------------------- */
uint64_t lqmf_eval_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kb = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
        fclose(f);
        if (kb) return (uint64_t)kb * 1024;
    }
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

bool lqmf_eval_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

double lqmf_eval_cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}
