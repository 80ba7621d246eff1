/* Tokenizer speed: load time and encoding throughput (MB/s of UTF-8 input,
 * tokens/s, process CPU time) on the King James Bible, one thread, for each kind of tokenizer
 * the data folder holds. The baseline in the same run is the tokenizer's
 * own pre-tokenization alone (normalize + regex split, no merging), so the
 * ratio says how much the model step costs on top of splitting.
 *
 *   bench_tokenizer [TEXT]     (default $LQMF_DATA/text/kjv/kjv_verses.txt) */
#include "lqmf/tokenizer.h"
#include "tokenizer/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this process (the machine may be shared: wall time is noisy). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *data_root(void) {
    const char *r = getenv("LQMF_DATA");
    return r && *r ? r : "../shared/data";
}

/* Seconds for the normalize + pre-tokenize steps over the whole text. */
static double split_only(const lqmf_tokenizer *t, const char *text, size_t len, size_t *words) {
    tok_ctx c = {0};
    double t0 = cpu_now();
    tok_words *w = NULL;
    *words = 0;
    if (tok_normalize(t, text, len, &c.norm) == LQMF_OK &&
        tok_pretokenize(t, &c, (const char *)c.norm.data, c.norm.len, true, &w) == LQMF_OK)
        *words = w->n;
    double dt = cpu_now() - t0;
    tok_ctx_free(&c);
    return dt;
}

static void bench(const char *label, const char *rel, const char *text, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data_root(), rel);
    double t0 = lqmf_time_now(), c0 = cpu_now();
    lqmf_tokenizer *t;
    if (lqmf_tok_open(path, &t) != LQMF_OK) {
        printf("%-24s skipped: %s\n", label, lqmf_last_error());
        return;
    }
    double load = lqmf_time_now() - t0, load_cpu = cpu_now() - c0;
    lqmf_tok_ids ids = {0};
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        ids.n = 0;
        double s = cpu_now();
        if (lqmf_tok_encode(t, text, len, 0, &ids) != LQMF_OK) {
            printf("%-24s encode failed: %s\n", label, lqmf_last_error());
            break;
        }
        double dt = cpu_now() - s;
        if (dt < best) best = dt;
    }
    size_t words;
    double split = split_only(t, text, len, &words);
    double mb = (double)len / 1e6;
    printf("%-24s load %5.3f s (cpu %5.3f)  encode %7.2f MB/s %9.0f tok/s  (%zu tokens, %zu words)  "
           "split-only %7.2f MB/s, encode/split time %.2fx\n",
           label, load, load_cpu, mb / best, (double)ids.n / best, ids.n, words, mb / split, best / split);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(t);
}

int main(int argc, char **argv) {
    char path[1024];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "%s/text/kjv/kjv_verses.txt", data_root());
    char *text;
    size_t len;
    if (lqmf_read_file(path, 1ull << 31, &text, &len) != LQMF_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", lqmf_last_error());
        return 1;
    }
    printf("text: %s (%.2f MB), single thread, best of 3, CPU time\n", path, (double)len / 1e6);
    bench("gpt2 (tokenizer.json)", "models/tiny-gpt2/tokenizer.json", text, len);
    bench("llama3 (tokenizer.json)", "tokenizers/llama3/tokenizer.json", text, len);
    bench("llama2 (tokenizer.model)", "tokenizers/llama2/tokenizer.model", text, len);
    bench("tiny-llama (json, bf)", "models/tiny-llama/tokenizer.json", text, len);
    bench("gpt2 (GGUF)", "tokenizers/vocab-tests/ggml-vocab-gpt-2.gguf", text, len);
    free(text);
    return 0;
}
