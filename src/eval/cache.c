/* The baseline logits cache: file header and key (see eval_priv.h). The
 * rows themselves are written and mapped by quality.c. */
#include "eval_priv.h"
#include "lqmf/sha256.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void lqmf_eval_cache_hdr_encode(const lqmf_eval_cache_hdr *h, uint8_t out[LQMF_EVAL_CACHE_HDR]) {
    memcpy(out, LQMF_EVAL_CACHE_MAGIC, 8);
    const uint32_t f[6] = {LQMF_EVAL_CACHE_VERSION, h->n_vocab, h->n_ctx, h->n_windows,
                           h->score_first,          h->bos};
    for (int i = 0; i < 6; i++) put_u32(out + 8 + 4 * i, f[i]);
    memcpy(out + 32, h->key, 32);
}

lqmf_status lqmf_eval_cache_hdr_parse(const uint8_t *bytes, uint64_t size, const char *label,
                                      lqmf_eval_cache_hdr *out) {
    if (size < LQMF_EVAL_CACHE_HDR || memcmp(bytes, LQMF_EVAL_CACHE_MAGIC, 8) != 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: not an lqmf logits cache (magic)", label);
    uint32_t version = get_u32(bytes + 8);
    if (version != LQMF_EVAL_CACHE_VERSION)
        return lqmf_error(LQMF_E_FORMAT, "%s: cache version %u (expected %u)", label, version,
                          LQMF_EVAL_CACHE_VERSION);
    lqmf_eval_cache_hdr h;
    h.n_vocab = get_u32(bytes + 12);
    h.n_ctx = get_u32(bytes + 16);
    h.n_windows = get_u32(bytes + 20);
    h.score_first = get_u32(bytes + 24);
    h.bos = get_u32(bytes + 28);
    memcpy(h.key, bytes + 32, 32);
    if (h.n_vocab == 0 || h.n_ctx < 2 || h.n_windows == 0 || h.score_first >= h.n_ctx ||
        h.bos > LQMF_EVAL_BOS_REPLACE)
        return lqmf_error(
            LQMF_E_FORMAT,
            "%s: cache header out of range (n_vocab %u, n_ctx %u, windows %u, score_first %u, bos %u)", label,
            h.n_vocab, h.n_ctx, h.n_windows, h.score_first, h.bos);
    uint64_t rows, want;
    if (!lqmf_mul_u64(h.n_windows, h.n_ctx - h.score_first, &rows) || !lqmf_mul_u64(rows, h.n_vocab, &want) ||
        !lqmf_mul_u64(want, 4, &want) || !lqmf_add_u64(want, LQMF_EVAL_CACHE_HDR, &want) || want != size)
        return lqmf_error(LQMF_E_FORMAT, "%s: %llu bytes, the header describes %s%llu", label,
                          (unsigned long long)size, want == size ? "an overflowing size " : "",
                          (unsigned long long)want);
    *out = h;
    return LQMF_OK;
}

/* Hash a file's identity: name, size, modification time (ns). */
static lqmf_status hash_file(lqmf_sha256_ctx *c, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return lqmf_error(LQMF_E_IO, "cache key: cannot stat %s", path);
    char line[4400];
    int n = snprintf(line, sizeof line, "%s %lld %lld.%09ld\n", path, (long long)sb.st_size,
                     (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
    lqmf_sha256_update(c, line, (size_t)n);
    return LQMF_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file of a folder (sorted), or the file itself. */
static lqmf_status hash_model(lqmf_sha256_ctx *c, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return lqmf_error(LQMF_E_IO, "cache key: cannot stat %s", path);
    if (!S_ISDIR(sb.st_mode)) return hash_file(c, path);
    DIR *d = opendir(path);
    if (!d) return lqmf_error(LQMF_E_IO, "cache key: cannot read folder %s", path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    lqmf_status st = LQMF_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = lqmf_error(LQMF_E_NOMEM, "cache key: out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = malloc(strlen(path) + strlen(e->d_name) + 2))) {
            st = lqmf_error(LQMF_E_NOMEM, "cache key: out of memory");
            break;
        }
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (st == LQMF_OK) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (st == LQMF_OK && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) st = hash_file(c, names[i]);
        free(names[i]);
    }
    free(names);
    return st;
}

lqmf_status lqmf_eval_cache_key(const char *baseline_path, const lqmf_eval_windows *w, uint32_t n_vocab,
                                uint8_t key[32]) {
    lqmf_sha256_ctx c;
    lqmf_sha256_init(&c);
    char line[256];
    int n =
        snprintf(line, sizeof line, "lqmf logits cache %d\nn_vocab %u n_ctx %u windows %u first %u bos %d\n",
                 LQMF_EVAL_CACHE_VERSION, n_vocab, w->n_ctx, w->n_windows, w->score_first, (int)w->bos);
    lqmf_sha256_update(&c, line, (size_t)n);
    char *abs = realpath(baseline_path, NULL);
    lqmf_status st = hash_model(&c, abs ? abs : baseline_path);
    free(abs);
    TRY(st);
    /* the token ids of the windows as they lie in memory (the cache is a local file) */
    lqmf_sha256_update(&c, w->tokens, (size_t)w->n_windows * w->n_ctx * sizeof(int32_t));
    lqmf_sha256_final(&c, key);
    return LQMF_OK;
}
