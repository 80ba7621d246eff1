/* Discovery of the models in a quantized-models folder, read from the files
 * themselves (GGUF metadata and tensor table; config.json and safetensors
 * headers), name resolution and the provenance an artifact records. */
#include "eval_priv.h"
#include "lqmf/gguf.h"
#include "lqmf/safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CONFIG_MAX (1u << 20) /* bytes of a config.json we read */

/* llama.cpp's llama_ftype names (general.file_type); NULL for unused ids. */
static const char *ftype_name(uint32_t ft) {
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",       [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",      [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M",    [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS",    [21] = "Q2_K_S", [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL",    [26] = "IQ3_S",  [27] = "IQ3_M",
        [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS",    [31] = "IQ1_M",  [32] = "BF16",
        [36] = "TQ1_0",   [37] = "TQ2_0",   [38] = "MXFP4_MOE",
    };
    return ft < sizeof names / sizeof names[0] ? names[ft] : NULL;
}

void lqmf_eval_found_free(lqmf_eval_found *f) {
    if (!f) return;
    free(f->name);
    free(f->path);
    free(f->format);
    free(f->method);
    free(f->architecture);
    free(f->error);
    memset(f, 0, sizeof *f);
}

void lqmf_eval_found_list_free(lqmf_eval_found_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) lqmf_eval_found_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool set_str(char **dst, const char *s) {
    free(*dst);
    *dst = lqmf_eval_strdup(s);
    return *dst != NULL;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

/* Names in dir (not starting with '.'), sorted; NULL-free array of n. */
static lqmf_status list_dir(const char *dir, char ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return lqmf_error(LQMF_E_IO, "cannot read folder %s", dir);
    char **v = NULL;
    size_t n = 0, cap = 0;
    lqmf_status st = LQMF_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", dir);
                break;
            }
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) {
            st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != LQMF_OK) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: folders are small */
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n_out = n;
    return LQMF_OK;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---- GGUF ------------------------------------------------------------------------ */
static lqmf_status describe_gguf(const char *path, lqmf_eval_found *f) {
    lqmf_gguf *g;
    TRY(lqmf_gguf_open(path, &g));
    lqmf_gguf_str arch = {0};
    char archbuf[128] = "?";
    if (lqmf_gguf_get_str(g, "general.architecture", &arch) == LQMF_OK)
        snprintf(archbuf, sizeof archbuf, "%.*s", (int)(arch.len < 100 ? arch.len : 100), arch.ptr);
    lqmf_clear_error();
    uint64_t params = 0, bytes = 0, per_type[LQMF_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; /* the reader checked the product */
        params += n;
        bytes += t->nbytes;
        if (t->n_dims >= 2 && (unsigned)t->type < LQMF_TYPE_COUNT) per_type[t->type] += n;
    }
    uint32_t ft;
    const char *method = NULL;
    if (lqmf_gguf_get_u32(g, "general.file_type", &ft) == LQMF_OK) method = ftype_name(ft);
    lqmf_clear_error();
    if (!method) { /* no or unknown file type: the type holding most 2-D weights */
        unsigned best = 0;
        for (unsigned t = 1; t < LQMF_TYPE_COUNT; t++)
            if (per_type[t] > per_type[best]) best = t;
        method = lqmf_type_name(best);
    }
    bool ok =
        set_str(&f->format, "gguf") && set_str(&f->method, method) && set_str(&f->architecture, archbuf);
    f->n_params = params;
    f->bits = params ? (double)bytes * 8.0 / (double)params : 0;
    f->size_bytes = lqmf_gguf_file_size(g);
    f->n_files = 1;
    lqmf_gguf_close(g);
    return ok ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
}

/* ---- Hugging Face folder ------------------------------------------------------------ */
static void folder_size(const char *dir, uint64_t *bytes, uint32_t *n_files) {
    char **names;
    size_t n;
    *bytes = 0;
    *n_files = 0;
    if (list_dir(dir, &names, &n) != LQMF_OK) {
        lqmf_clear_error();
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *p = join(dir, names[i]);
        struct stat sb;
        if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            *bytes += (uint64_t)sb.st_size;
            ++*n_files;
        }
        free(p);
    }
    free_names(names, n);
}

/* Method and bits from config.json's quantization_config; false when absent. */
static bool hf_quant(json_t *cfg, char *method, size_t cap, double *bits) {
    json_t *q = json_object_get(cfg, "quantization_config");
    if (!json_is_object(q)) return false;
    const char *qm = json_string_value(json_object_get(q, "quant_method"));
    json_t *b = json_object_get(q, "bits");
    *bits = json_is_integer(b) ? (double)json_integer_value(b) : 0;
    if (qm && !strcmp(qm, "bitsandbytes")) {
        if (json_is_true(json_object_get(q, "load_in_4bit"))) {
            const char *t = json_string_value(json_object_get(q, "bnb_4bit_quant_type"));
            snprintf(method, cap, "%s", t ? t : "bnb-4bit");
            *bits = 4;
        } else {
            snprintf(method, cap, "int8");
            *bits = 8;
        }
    } else {
        snprintf(method, cap, "%s", qm ? qm : "quantized");
    }
    return true;
}

static lqmf_status describe_hf(const char *dir, lqmf_eval_found *f) {
    char *cpath = join(dir, "config.json"), *text = NULL;
    size_t len;
    if (!cpath) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", dir);
    lqmf_status st = lqmf_read_file(cpath, CONFIG_MAX, &text, &len);
    json_error_t jerr;
    json_t *cfg = st == LQMF_OK ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (st == LQMF_OK && !json_is_object(cfg))
        st = lqmf_error(LQMF_E_FORMAT, "%s: not a JSON object (%s, line %d)", cpath, cfg ? "" : jerr.text,
                        cfg ? 0 : jerr.line);
    free(text);
    if (st != LQMF_OK) {
        json_decref(cfg);
        free(cpath);
        return st;
    }
    json_t *archs = json_object_get(cfg, "architectures");
    const char *arch = json_string_value(json_array_get(archs, 0));
    if (!arch) arch = json_string_value(json_object_get(cfg, "model_type"));
    char method[64] = "";
    double bits = 0;
    bool quant = hf_quant(cfg, method, sizeof method, &bits);

    lqmf_safetensors *sf = NULL;
    uint64_t params = 0, bytes = 0, per_dtype[LQMF_ST_DTYPE_COUNT] = {0};
    lqmf_status sst = lqmf_st_open(dir, &sf);
    if (sst == LQMF_OK) {
        for (size_t i = 0; i < lqmf_st_n_tensors(sf); i++) {
            const lqmf_st_tensor *t = lqmf_st_tensor_at(sf, i);
            params += t->n_elems;
            bytes += t->nbytes;
            if (t->n_dims >= 2) per_dtype[t->dtype] += t->n_elems;
        }
        lqmf_st_close(sf);
    }
    if (!quant && sst == LQMF_OK) {
        unsigned best = 0;
        for (unsigned d = 1; d < LQMF_ST_DTYPE_COUNT; d++)
            if (per_dtype[d] > per_dtype[best]) best = d;
        snprintf(method, sizeof method, "%s", lqmf_st_dtype_name((lqmf_st_dtype)best));
        bits = params ? (double)bytes * 8.0 / (double)params : 0;
        f->n_params = params;
    }
    bool ok = set_str(&f->format, "hf") && set_str(&f->method, method[0] ? method : "?") &&
              set_str(&f->architecture, arch ? arch : "?");
    if (ok && sst != LQMF_OK && !quant) ok = set_str(&f->error, lqmf_last_error());
    lqmf_clear_error();
    f->bits = bits;
    folder_size(dir, &f->size_bytes, &f->n_files);
    json_decref(cfg);
    free(cpath);
    return ok ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "%s: out of memory", dir);
}

/* GGUF files directly in dir (sorted). */
static lqmf_status gguf_files(const char *dir, char ***out, size_t *n_out) {
    char **names;
    size_t n, k = 0;
    *out = NULL;
    *n_out = 0;
    TRY(list_dir(dir, &names, &n));
    for (size_t i = 0; i < n; i++) {
        char *p = join(dir, names[i]);
        bool keep = p && has_suffix(names[i], ".gguf") && is_file(p);
        free(p);
        if (keep)
            names[k++] = names[i];
        else
            free(names[i]);
    }
    *out = names;
    *n_out = k;
    return LQMF_OK;
}

lqmf_status lqmf_eval_describe(const char *path, lqmf_eval_found *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st;
    char *cfg = is_dir(path) ? join(path, "config.json") : NULL;
    if (is_dir(path) && !cfg) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    if (cfg && is_file(cfg)) {
        st = describe_hf(path, out);
        if (st == LQMF_OK && !(out->path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    } else if (cfg) { /* a folder of GGUF files: exactly one */
        char **names;
        size_t n;
        st = gguf_files(path, &names, &n);
        if (st == LQMF_OK && n != 1) {
            lqmf_buf b;
            lqmf_buf_init(&b);
            for (size_t i = 0; i < n; i++) lqmf_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
            lqmf_buf_append(&b, "", 1);
            st = n == 0 ? lqmf_error(LQMF_E_NOT_FOUND, "%s: no config.json and no .gguf file", path)
                        : lqmf_error(LQMF_E_INVALID, "%s holds %zu GGUF files (%s): name one", path, n,
                                     b.data ? (const char *)b.data : "");
            lqmf_buf_free(&b);
        }
        if (st == LQMF_OK) {
            out->path = join(path, names[0]);
            st = out->path ? describe_gguf(out->path, out) : lqmf_error(LQMF_E_NOMEM, "out of memory");
        }
        free_names(names, n);
    } else {
        st = describe_gguf(path, out);
        if (st == LQMF_OK && !(out->path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    free(cfg);
    if (st == LQMF_OK && !(out->name = lqmf_eval_basename(path, !is_dir(path))))
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st != LQMF_OK) lqmf_eval_found_free(out);
    return st;
}

/* ---- discovery ------------------------------------------------------------------------ */
static lqmf_status push(lqmf_eval_found_list *l, const char *name, const char *path, bool gguf) {
    lqmf_eval_found *items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (!items) return lqmf_error(LQMF_E_NOMEM, "discovery: out of memory");
    l->items = items;
    lqmf_eval_found *f = &items[l->n];
    memset(f, 0, sizeof *f);
    lqmf_status st = gguf ? describe_gguf(path, f) : describe_hf(path, f);
    if (st != LQMF_OK) { /* listed with its error */
        lqmf_eval_found_free(f);
        if (!set_str(&f->error, lqmf_last_error()) || !set_str(&f->format, gguf ? "gguf" : "hf") ||
            !set_str(&f->method, "?") || !set_str(&f->architecture, "?"))
            return lqmf_error(LQMF_E_NOMEM, "discovery: out of memory");
        lqmf_clear_error();
    }
    if (!set_str(&f->name, name) || !set_str(&f->path, path)) {
        lqmf_eval_found_free(f);
        return lqmf_error(LQMF_E_NOMEM, "discovery: out of memory");
    }
    l->n++;
    return LQMF_OK;
}

static lqmf_status discover_entry(lqmf_eval_found_list *l, const char *dir, const char *entry) {
    char *p = join(dir, entry), *cfg = NULL, *name = NULL;
    if (!p) return lqmf_error(LQMF_E_NOMEM, "discovery: out of memory");
    lqmf_status st = LQMF_OK;
    if (is_file(p) && has_suffix(entry, ".gguf")) {
        if ((name = lqmf_eval_basename(p, true))) st = push(l, name, p, true);
    } else if (is_dir(p) && (cfg = join(p, "config.json"))) {
        if (is_file(cfg)) {
            st = push(l, entry, p, false);
        } else {
            char **names;
            size_t n;
            st = gguf_files(p, &names, &n);
            for (size_t i = 0; st == LQMF_OK && i < n; i++) {
                char *fp = join(p, names[i]), *base = lqmf_eval_basename(names[i], true);
                char *nm = n == 1 ? strdup(entry) : join(entry, base ? base : "");
                st = fp && nm && base ? push(l, nm, fp, true) : lqmf_error(LQMF_E_NOMEM, "out of memory");
                free(fp);
                free(base);
                free(nm);
            }
            free_names(names, n);
        }
    }
    free(name);
    free(cfg);
    free(p);
    return st;
}

lqmf_status lqmf_eval_discover(const char *dir, lqmf_eval_found_list *out) {
    memset(out, 0, sizeof *out);
    if (!is_dir(dir)) return LQMF_OK;
    char **names;
    size_t n;
    TRY(list_dir(dir, &names, &n));
    lqmf_status st = LQMF_OK;
    for (size_t i = 0; i < n && st == LQMF_OK; i++) st = discover_entry(out, dir, names[i]);
    free_names(names, n);
    if (st != LQMF_OK) lqmf_eval_found_list_free(out);
    return st;
}

/* ---- resolution ------------------------------------------------------------------------ */
static lqmf_status name_list(const lqmf_eval_found_list *l, const bool *pick, lqmf_buf *b) {
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!pick || pick[i]) lqmf_buf_printf(b, "%s%s", k++ ? ", " : "", l->items[i].name);
    lqmf_buf_append(b, "", 1);
    return b->failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : LQMF_OK;
}

static lqmf_status pick(const char *path, const char *name, char **path_out, char **name_out) {
    *path_out = strdup(path);
    if (name_out) *name_out = strdup(name);
    if (*path_out && (!name_out || *name_out)) return LQMF_OK;
    free(*path_out);
    *path_out = NULL;
    if (name_out) {
        free(*name_out);
        *name_out = NULL;
    }
    return lqmf_error(LQMF_E_NOMEM, "out of memory");
}

lqmf_status lqmf_eval_resolve(const lqmf_eval_found_list *l, const char *query, char **path_out,
                              char **name_out) {
    *path_out = NULL;
    if (name_out) *name_out = NULL;
    if (!query || !*query) return lqmf_error(LQMF_E_INVALID, "no model name given");
    struct stat sb;
    if (stat(query, &sb) == 0) { /* a path */
        lqmf_eval_found f;
        TRY(lqmf_eval_describe(query, &f));
        lqmf_status st = pick(f.path, f.name, path_out, name_out);
        lqmf_eval_found_free(&f);
        return st;
    }
    for (int pass = 0; pass < 2; pass++) /* exact, then exact ignoring case */
        for (size_t i = 0; i < l->n; i++)
            if (pass ? !strcasecmp(l->items[i].name, query) : !strcmp(l->items[i].name, query))
                return pick(l->items[i].path, l->items[i].name, path_out, name_out);
    bool *hit = calloc(l->n ? l->n : 1, sizeof *hit);
    if (!hit) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    size_t n = 0, last = 0;
    for (size_t i = 0; i < l->n; i++)
        if (strcasestr(l->items[i].name, query)) {
            hit[i] = true;
            n++;
            last = i;
        }
    lqmf_status st;
    if (n == 1) {
        st = pick(l->items[last].path, l->items[last].name, path_out, name_out);
    } else {
        lqmf_buf b;
        lqmf_buf_init(&b);
        st = name_list(l, n ? hit : NULL, &b);
        if (st == LQMF_OK && n > 1)
            st = lqmf_error(LQMF_E_INVALID, "'%s' matches %zu models: %s", query, n, (const char *)b.data);
        else if (st == LQMF_OK)
            st = lqmf_error(LQMF_E_NOT_FOUND, "no model matches '%s' (%s%s)", query,
                            l->n ? "available: " : "no models found", l->n ? (const char *)b.data : "");
        lqmf_buf_free(&b);
    }
    free(hit);
    return st;
}

/* ---- provenance ------------------------------------------------------------------------- */
void lqmf_eval_provenance_free(lqmf_eval_provenance *p) {
    if (!p) return;
    free(p->name);
    free(p->source_url);
    free(p->source_repo);
    free(p->quantized_by);
    memset(p, 0, sizeof *p);
}

static bool gguf_str(const lqmf_gguf *g, const char *key, char **out) {
    lqmf_gguf_str s;
    if (lqmf_gguf_get_str(g, key, &s) != LQMF_OK) {
        lqmf_clear_error();
        return true;
    }
    *out = strndup(s.ptr, s.len);
    return *out != NULL;
}

lqmf_status lqmf_eval_provenance_read(const char *path, lqmf_eval_provenance *out) {
    memset(out, 0, sizeof *out);
    lqmf_eval_found f;
    TRY(lqmf_eval_describe(path, &f)); /* a folder of one GGUF resolves to the file */
    lqmf_status st = LQMF_OK;
    if (!strcmp(f.format, "gguf")) {
        lqmf_gguf *g;
        st = lqmf_gguf_open(f.path, &g);
        if (st == LQMF_OK) {
            if (!gguf_str(g, "general.name", &out->name) ||
                !gguf_str(g, "general.source.url", &out->source_url) ||
                !gguf_str(g, "general.source.huggingface.repository", &out->source_repo) ||
                !gguf_str(g, "general.quantized_by", &out->quantized_by))
                st = lqmf_error(LQMF_E_NOMEM, "out of memory");
            lqmf_gguf_close(g);
        }
    } else {
        char *cpath = join(f.path, "config.json"), *text = NULL;
        size_t len;
        if (cpath && lqmf_read_file(cpath, CONFIG_MAX, &text, &len) == LQMF_OK) {
            json_t *cfg = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
            const char *src = json_string_value(json_object_get(cfg, "_name_or_path"));
            if (src && *src && !(out->source_repo = strdup(src)))
                st = lqmf_error(LQMF_E_NOMEM, "out of memory");
            json_decref(cfg);
        }
        lqmf_clear_error();
        free(text);
        free(cpath);
    }
    lqmf_eval_found_free(&f);
    if (st != LQMF_OK) lqmf_eval_provenance_free(out);
    return st;
}
