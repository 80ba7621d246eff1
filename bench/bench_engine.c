/* Engine speed and memory: a generated llama (default 1024 wide, 8 layers,
 * GQA 16/4 heads, n_ff 2816, vocab 32000) in F32, F16 and BF16; prompt
 * processing and one-token decoding in tokens/s, single-threaded and on all
 * cores. Decode speed is set against the single-thread read bandwidth of
 * this machine measured in the same run (the bound is bandwidth / weight
 * bytes per token). Each type runs in its own process so peak RSS (VmHWM)
 * is that of one model: it is reported against W + K + 64 MiB.
 *
 * usage: bench_engine [-d DIM] [-l LAYERS] [-p PROMPT] [-n GEN] [-t THREADS] [-v VOCAB]
 *                     [-T F32,F16,BF16,Q8_0,Q4_K,...]  (weight types, default the first three) */
#include "lqmf/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    uint32_t dim, layers, prompt, gen, threads, vocab;
    lqmf_type types[16];
    int n_types;
} cfg;

/* Bytes/s one thread reads: memchr (libc's widest loads) through 512 MiB
 * for a byte that is not there. */
static double read_bandwidth(void) {
    const size_t n = 512u << 20;
    uint8_t *b = malloc(n);
    if (!b) return 0;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(0x30 + i % 7);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = lqmf_time_now();
        if (memchr(b, 1, n)) break;
        double bw = (double)n / (lqmf_time_now() - t0);
        best = bw > best ? bw : best;
    }
    free(b);
    return best;
}

static uint64_t peak_rss(void) { /* VmHWM, bytes */
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

static int32_t argmax(const float *x, uint32_t n) {
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++) b = x[i] > x[b] ? i : b;
    return (int32_t)b;
}

/* Prompt then greedy decode on one engine; tokens/s of both. */
static lqmf_status run_one(const lqmf_model *m, const cfg *c, uint32_t threads, float *logits, double *pp,
                           double *tg, lqmf_engine_info *info) {
    lqmf_engine *e;
    lqmf_engine_params p = {.n_ctx = 1024, .n_threads = threads, .n_batch = 32};
    lqmf_status st = lqmf_engine_new(m, &p, &e);
    if (st != LQMF_OK) return st;
    int32_t *tok = malloc(c->prompt * sizeof *tok);
    for (uint32_t i = 0; i < c->prompt; i++) tok[i] = (int32_t)((i * 7919u + 11) % c->vocab);
    double t0 = lqmf_time_now();
    st = lqmf_engine_eval(e, tok, c->prompt, 0, LQMF_LOGITS_LAST, logits);
    double t1 = lqmf_time_now();
    for (uint32_t i = 0; st == LQMF_OK && i < c->gen; i++) {
        int32_t t = argmax(logits, c->vocab);
        st = lqmf_engine_eval(e, &t, 1, c->prompt + i, LQMF_LOGITS_LAST, logits);
    }
    double t2 = lqmf_time_now();
    *pp = c->prompt / (t1 - t0);
    *tg = c->gen / (t2 - t1);
    lqmf_engine_get_info(e, info);
    free(tok);
    lqmf_engine_free(e);
    return st;
}

static int bench_type(const cfg *c, lqmf_type type, double bw) {
    lqmf_hparams hp = {.arch = LQMF_ARCH_LLAMA,
                       .n_vocab = c->vocab,
                       .n_ctx_train = 4096,
                       .n_embd = c->dim,
                       .n_layer = c->layers,
                       .n_head = c->dim / 64,
                       .n_head_kv = c->dim / 256 ? c->dim / 256 : 1,
                       .head_dim = 64,
                       .n_ff = c->dim * 11 / 4 / 256 * 256,
                       .norm_eps = 1e-5f,
                       .rope_theta = 10000,
                       .bos_id = 1,
                       .eos_id = -1};
    lqmf_model *m;
    lqmf_status st = lqmf_engine_random_model(&hp, type, 1, &m);
    float *logits = malloc(c->vocab * sizeof *logits);
    uint32_t th[2] = {1, c->threads};
    lqmf_engine_info info = {0};
    for (int i = 0; st == LQMF_OK && i < (c->threads > 1 ? 2 : 1); i++) {
        double pp, tg;
        if ((st = run_one(m, c, th[i], logits, &pp, &tg, &info)) != LQMF_OK) break;
        double gbs = tg * (double)info.weight_bytes / 1e9;
        printf("%-5s %7u %12.1f %12.2f %10.2f %9.0f%%   %s\n", lqmf_type_name(type), th[i], pp, tg, gbs,
               100 * gbs * 1e9 / bw, info.isa);
    }
    if (st != LQMF_OK) {
        fprintf(stderr, "bench_engine: %s: %s\n", lqmf_status_name(st), lqmf_last_error());
        return 1;
    }
    const uint64_t rss = peak_rss(), limit = info.weight_bytes + info.kv_bytes + (64u << 20);
    char a[32], b[32], k[32], l[32];
    printf("      peak RSS %s: W %s + K %s + 64 MiB = %s -> %s\n", lqmf_fmt_bytes(rss, a, sizeof a),
           lqmf_fmt_bytes(info.weight_bytes, b, sizeof b), lqmf_fmt_bytes(info.kv_bytes, k, sizeof k),
           lqmf_fmt_bytes(limit, l, sizeof l), rss <= limit ? "within" : "OVER");
    free(logits);
    lqmf_model_close(m);
    return rss <= limit ? 0 : 1;
}

int main(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg c = {1024,
             8,
             128,
             32,
             ncpu > 0 ? (uint32_t)ncpu : 1,
             32000,
             {LQMF_TYPE_F32, LQMF_TYPE_F16, LQMF_TYPE_BF16},
             3};
    bool bad = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "-d"))
            c.dim = v;
        else if (!strcmp(argv[i], "-l"))
            c.layers = v;
        else if (!strcmp(argv[i], "-p"))
            c.prompt = v;
        else if (!strcmp(argv[i], "-n"))
            c.gen = v;
        else if (!strcmp(argv[i], "-t"))
            c.threads = v;
        else if (!strcmp(argv[i], "-v"))
            c.vocab = v;
        else if (!strcmp(argv[i], "-T")) {
            c.n_types = 0;
            char *list = argv[i + 1];
            for (char *tk = strtok(list, ","); tk && !bad; tk = strtok(NULL, ","))
                bad = c.n_types == 16 || !lqmf_type_from_name(tk, &c.types[c.n_types++]);
        } else
            bad = true;
    }
    if (bad || !c.n_types || c.dim < 256 || c.dim % 256 || !c.layers || !c.prompt || !c.gen || !c.threads ||
        c.vocab < 2 || c.prompt + c.gen > 1024) {
        fprintf(stderr, "usage: bench_engine [-d DIM (multiple of 256)] [-l LAYERS] [-p PROMPT] "
                        "[-n GEN] [-t THREADS] [-v VOCAB] [-T TYPE,...]  (PROMPT + GEN <= 1024)\n");
        return 2;
    }
    const double bw = read_bandwidth();
    printf("llama d=%u layers=%u heads=%u/%u n_ff=%u vocab=%u; prompt %u tokens, decode %u; "
           "read bandwidth (1 thread) %.1f GB/s\n",
           c.dim, c.layers, c.dim / 64, c.dim / 256, c.dim * 11 / 4 / 256 * 256, c.vocab, c.prompt, c.gen,
           bw / 1e9);
    printf("type  threads prompt tok/s decode tok/s decode GB/s  of 1-thr bw   kernels\n");
    fflush(stdout);
    int rc = 0;
    for (int i = 0; i < c.n_types; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int r = bench_type(&c, c.types[i], bw);
            fflush(stdout);
            _exit(r);
        }
        int status = 1;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) rc = 1;
    }
    return rc;
}
