/* Peak memory of lqmf_quantize_model, the path of `lqmf quantize`. A
 * generated llama (default 1024 wide, 12 layers, GQA 16/4, n_ff 2816, vocab
 * 8000: 152 M parameters, 290 MiB) is written as an F16 GGUF, the usual source;
 * then each type is quantized in its own process, which opens that file as
 * `lqmf quantize` does (a read-only mapping) and reports:
 *
 *   peak RSS    VmHWM of the process (what getrusage's ru_maxrss reports):
 *               anonymous memory plus the pages of the mapped source that
 *               are resident in the process
 *   peak anon   the largest RssAnon seen by a thread sampling
 *               /proc/self/status every millisecond (heap: the tensor's f32
 *               copy, its output, row permutations)
 *   peak file   the same for RssFile (source pages mapped in)
 *
 * beside the source file size and the largest tensor (its f32 copy), as
 * ratios. Quantizing streams one tensor at a time, so the peak must stay
 * near a few copies of the largest tensor (its f32 values, its source
 * pages, its output), never the whole model: the check is peak RSS <=
 * 3 x largest f32 + 64 MiB, about half the source by default.
 *
 *
 * NF4 and INT8 (bitsandbytes checkpoints, lqmf_hfq_write) read the same
 * model written as a Hugging Face folder (F16 model.safetensors and
 * config.json) and get the same check: their quantized tensors wait in a
 * spill file, not in memory.
 *
 * usage: bench_quant_memory [-d DIM] [-l LAYERS] [-v VOCAB] [-t THREADS] [-T Q4_K_M,Q8_0,NF4,...] */
#include "lqmf/engine.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/hf_config.h"
#include "lqmf/hfq.h"
#include "lqmf/quantize.h"
#include "lqmf/safetensors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    uint32_t dim, layers, vocab, threads;
    const char *types[16];
    int n_types;
} cfg;

/* A value of /proc/self/status ("VmHWM", "RssAnon", ...) in bytes, 0 when absent. */
static uint64_t status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = strtoull(line + n + 1, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return (uint64_t)kb * 1024;
}

typedef struct {
    atomic_bool stop;
    uint64_t anon, file; /* peaks */
} sampler;

static void *sample(void *arg) {
    sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        uint64_t a = status_bytes("RssAnon"), f = status_bytes("RssFile");
        s->anon = a > s->anon ? a : s->anon;
        s->file = f > s->file ? f : s->file;
        usleep(1000);
    }
    return NULL;
}

static const char *mib(uint64_t b, char *buf, size_t n) {
    snprintf(buf, n, "%.1f MiB", (double)b / (1 << 20));
    return buf;
}

/* The same model as an HF folder: config.json and model.safetensors (F16). */
static lqmf_status write_hf(const lqmf_model *m, const char *dir) {
    const lqmf_hparams *hp = &m->hp;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return lqmf_error(LQMF_E_IO, "%s: cannot write", path);
    fprintf(f,
            "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": %u, "
            "\"intermediate_size\": %u, \"num_attention_heads\": %u, \"num_key_value_heads\": %u, "
            "\"num_hidden_layers\": %u, \"vocab_size\": %u, \"max_position_embeddings\": %u, \"rms_norm_eps\": %g, "
            "\"rope_theta\": %g, \"tie_word_embeddings\": false, \"torch_dtype\": \"float16\"}\n",
            hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_layer, hp->n_vocab, hp->n_ctx_train,
            (double)hp->norm_eps, (double)hp->rope_theta);
    if (fclose(f) != 0) return lqmf_error(LQMF_E_IO, "%s: cannot write", path);
    lqmf_st_writer *w;
    lqmf_status st = lqmf_st_writer_new(&w);
    for (size_t i = 0; st == LQMF_OK && i < m->n_tensors; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        char name[256];
        uint64_t shape[2] = {t->ne[1], t->ne[0]}; /* torch order */
        if (!lqmf_hf_tensor_src_name(hp, t->name, "", name, sizeof name))
            st = lqmf_error(LQMF_E_INVALID, "%s: no HF name", t->name);
        else if (t->n_dims == 1)
            st = lqmf_st_writer_add(w, name, LQMF_ST_F16, 1, &shape[1], t->data, t->nbytes);
        else
            st = lqmf_st_writer_add(w, name, LQMF_ST_F16, 2, shape, t->data, t->nbytes);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st == LQMF_OK) st = lqmf_st_writer_write(w, path);
    lqmf_st_writer_free(w);
    return st;
}

/* The generated model as an F16 GGUF at path and an HF folder hf_dir;
 * *largest = the largest tensor's element count. */
static lqmf_status write_source(const cfg *c, const char *path, const char *hf_dir, uint64_t *largest) {
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
    lqmf_status st = lqmf_engine_random_model(&hp, LQMF_TYPE_F16, 1, &m);
    if (st != LQMF_OK) return st;
    *largest = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        *largest = n > *largest ? n : *largest;
    }
    st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = mkdir(hf_dir, 0777) == 0 ? write_hf(m, hf_dir) : lqmf_error(LQMF_E_IO, "%s", hf_dir);
    lqmf_model_close(m);
    return st;
}

/* One type in this process: open, quantize, print. */
static int run_case(const cfg *c, const char *src, const char *hf_src, const char *type, uint64_t src_bytes,
                    uint64_t largest_f32, const char *dir) {
    char out[4096];
    lqmf_hfq_kind kind = LQMF_HFQ_NONE;
    bool hf = lqmf_hfq_kind_from_name(type, &kind);
    snprintf(out, sizeof out, "%s/out-%s%s", dir, type, hf ? "" : ".gguf");
    sampler s = {.anon = 0, .file = 0};
    atomic_init(&s.stop, false);
    pthread_t th;
    bool sampling = pthread_create(&th, NULL, sample, &s) == 0;
    lqmf_model *m = NULL;
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = type;
    o.n_threads = c->threads;
    lqmf_quantize_result r = {0};
    lqmf_hfq_result hr = {0};
    lqmf_hfq_opts ho = {.kind = kind, .n_threads = c->threads};
    double t0 = lqmf_time_now();
    lqmf_status st = lqmf_model_open(hf ? hf_src : src, &m);
    if (st == LQMF_OK) st = hf ? lqmf_hfq_write(m, out, &ho, &hr) : lqmf_quantize_model(m, out, &o, &r);
    double secs = lqmf_time_now() - t0;
    lqmf_model_close(m);
    const uint64_t hwm = status_bytes("VmHWM");
    atomic_store(&s.stop, true);
    if (sampling) pthread_join(th, NULL);
    if (hf) {
        r.out_bytes = hr.out_bytes;
        lqmf_remove_tree(out);
    } else {
        unlink(out);
    }
    if (st != LQMF_OK) {
        fprintf(stderr, "bench_quant_memory: %s: %s: %s\n", type, lqmf_status_name(st), lqmf_last_error());
        return 1;
    }
    const uint64_t limit = 3 * largest_f32 + (64u << 20);
    char a[32], b[32], d[32], e[32];
    printf("%-7s %9s %9s %9s %9s %8.2f %8.2f %6.1f s  %s\n", type, mib(r.out_bytes, a, sizeof a),
           mib(hwm, b, sizeof b), mib(s.anon, d, sizeof d), mib(s.file, e, sizeof e),
           (double)hwm / (double)src_bytes, (double)hwm / (double)largest_f32, secs,
           hwm <= limit ? "within" : "OVER");
    return hwm <= limit ? 0 : 1;
}

int main(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg c = {1024, 12, 8000, ncpu > 0 ? (uint32_t)ncpu : 1, {"Q4_K_M", "Q8_0", "NF4", "INT8"}, 4};
    bool bad = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "-d"))
            c.dim = v;
        else if (!strcmp(argv[i], "-l"))
            c.layers = v;
        else if (!strcmp(argv[i], "-v"))
            c.vocab = v;
        else if (!strcmp(argv[i], "-t"))
            c.threads = v;
        else if (!strcmp(argv[i], "-T")) {
            c.n_types = 0;
            for (char *tk = strtok(argv[i + 1], ","); tk && !bad; tk = strtok(NULL, ","))
                if (!(bad = c.n_types == 16)) c.types[c.n_types++] = tk;
        } else
            bad = true;
    }
    if (bad || argc % 2 == 0 || !c.n_types || c.dim < 256 || c.dim % 256 || !c.layers || c.vocab < 2 ||
        !c.threads) {
        fprintf(stderr, "usage: bench_quant_memory [-d DIM (multiple of 256)] [-l LAYERS] [-v VOCAB] "
                        "[-t THREADS] [-T TYPE,...]\n");
        return 2;
    }
    char dir[] = "/tmp/lqmf-bench-qmem.XXXXXX", src[64], hf_src[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(src, sizeof src, "%s/source-F16.gguf", dir);
    snprintf(hf_src, sizeof hf_src, "%s/source-hf", dir);
    uint64_t largest = 0;
    lqmf_status st = write_source(&c, src, hf_src, &largest);
    struct stat sb;
    if (st != LQMF_OK || stat(src, &sb) != 0) {
        fprintf(stderr, "bench_quant_memory: source: %s\n", st ? lqmf_last_error() : "not written");
        lqmf_remove_tree(dir);
        return 1;
    }
    const uint64_t src_bytes = (uint64_t)sb.st_size, largest_f32 = 4 * largest;
    char a[32], b[32], d[32];
    printf("llama d=%u layers=%u n_ff=%u vocab=%u, %u threads; source F16 GGUF %s, largest tensor %.1f M "
           "values (%s as f32, %s as F16)\n",
           c.dim, c.layers, c.dim * 11 / 4 / 256 * 256, c.vocab, c.threads, mib(src_bytes, a, sizeof a),
           (double)largest / 1e6, mib(largest_f32, b, sizeof b), mib(2 * largest, d, sizeof d));
    printf("type         out  peak RSS peak anon peak file  /source /largest f32   time  "
           "(limit 3 x largest f32 + 64 MiB)\n");
    fflush(stdout);
    int rc = 0;
    for (int i = 0; i < c.n_types; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int r = run_case(&c, src, hf_src, c.types[i], src_bytes, largest_f32, dir);
            fflush(stdout);
            _exit(r);
        }
        int status = 1;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) rc = 1;
    }
    lqmf_remove_tree(dir);
    return rc;
}
