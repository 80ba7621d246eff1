/* Test runner: runs every registered test (or those whose name contains one
 * of the arguments) and ends with "N passed, N failed, N skipped". */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *name, *file;
    lqmf_test_fn fn;
} test_entry;

static test_entry *g_tests;
static size_t g_n, g_cap;
static bool g_failed, g_skipped;
static char g_skip_msg[512];
static char g_tmp_root[256];
static char g_tmpdir[320];
static unsigned g_tmp_seq;

void lqmf_test_register(const char *name, const char *file, lqmf_test_fn fn) {
    if (g_n == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 64;
        g_tests = realloc(g_tests, g_cap * sizeof *g_tests);
        if (!g_tests) abort();
    }
    g_tests[g_n++] = (test_entry){ name, file, fn };
}

void lqmf_test_fail(const char *file, int line, const char *fmt, ...) {
    g_failed = true;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

void lqmf_test_skip(const char *fmt, ...) {
    g_skipped = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_skip_msg, sizeof g_skip_msg, fmt, ap);
    va_end(ap);
}

bool lqmf_test_failed(void) { return g_failed; }

const char *lqmf_test_data(const char *rel) {
    static char bufs[8][1024];
    static unsigned slot;
    const char *root = getenv("LQMF_DATA");
    if (!root || !*root) root = "../shared/data";
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    if (access(b, R_OK) != 0) {
        lqmf_test_skip("test data missing: %s (set LQMF_DATA to the shared data folder)", b);
        return NULL;
    }
    return b;
}

const char *lqmf_test_tmpdir(void) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/t%u", g_tmp_root, g_tmp_seq++);
    if (mkdir(g_tmpdir, 0700) != 0) {
        perror(g_tmpdir);
        abort();
    }
    return g_tmpdir;
}

const char *lqmf_test_cli_path(void) {
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 8);
    if (n <= 0) return "lqmf";
    path[n] = '\0';
    strcpy(strrchr(path, '/') + 1, "lqmf");
    return path;
}

uint64_t lqmf_test_rss_file(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return (uint64_t)kb * 1024;
}

int lqmf_test_cli(const char *args, const char *in, char **out) {
    *out = NULL;
    size_t len = strlen(args) + 8192;
    char *cmd = malloc(len);
    if (!cmd) return -1;
    snprintf(cmd, len, "'%s' %s <'%s' 2>/dev/null", lqmf_test_cli_path(), args, in ? in : "/dev/null");
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0)
        if ((n += got) + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) free(buf);
            buf = grown;
        }
    int status = pclose(p);
    if (!buf) return -1;
    buf[n] = '\0';
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmp_entry(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    qsort(g_tests, g_n, sizeof *g_tests, cmp_entry);
    snprintf(g_tmp_root, sizeof g_tmp_root, "/tmp/lqmf-tests.XXXXXX");
    if (!mkdtemp(g_tmp_root)) {
        perror("mkdtemp");
        return 2;
    }
    const char *label = getenv("LQMF_TEST_LABEL");
    size_t passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < g_n; i++) {
        bool run = argc < 2;
        for (int a = 1; a < argc && !run; a++) run = strstr(g_tests[i].name, argv[a]) != NULL;
        if (!run) continue;
        g_failed = g_skipped = false;
        fprintf(stdout, "  %-48s ", g_tests[i].name);
        fflush(stdout);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        g_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (g_failed) {
            failed++;
            fprintf(stdout, "  %-48s FAIL (%s)\n", g_tests[i].name, g_tests[i].file);
        } else if (g_skipped) {
            skipped++;
            fprintf(stdout, "SKIP: %s\n", g_skip_msg);
        } else {
            passed++;
            if (secs >= 1.0) fprintf(stdout, "ok (%.1f s)\n", secs); /* slow tests stand out */
            else fprintf(stdout, "ok\n");
        }
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmp_root);
    if (label) fprintf(stdout, "%s: ", label);
    fprintf(stdout, "%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    free(g_tests);
    return failed ? 1 : 0;
}
