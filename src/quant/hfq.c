/* Hugging Face quantized checkpoints (bitsandbytes, GPTQ): the folder
 * writer and the decoder lqmf_model_open uses. Layouts in
 * include/lqmf/hfq.h; the GPTQ specifics are in hfq_gptq.c. */
#include "hfq_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUANT_STATE_MAX 65536u /* bytes of a quant_state JSON */

const char *lqmf_hfq_kind_name(lqmf_hfq_kind k) {
    static const char *const names[] = {"none", "NF4", "FP4", "INT8", "GPTQ-4bit", "GPTQ-8bit"};
    return (unsigned)k <= LQMF_HFQ_GPTQ_8BIT ? names[k] : "?";
}

bool lqmf_hfq_kind_from_name(const char *name, lqmf_hfq_kind *out) {
    if (!strcasecmp(name, "nf4")) *out = LQMF_HFQ_NF4;
    else if (!strcasecmp(name, "fp4")) *out = LQMF_HFQ_FP4;
    else if (!strcasecmp(name, "int8") || !strcasecmp(name, "llm.int8")) *out = LQMF_HFQ_INT8;
    else if (!strcasecmp(name, "gptq-4bit")) *out = LQMF_HFQ_GPTQ_4BIT;
    else if (!strcasecmp(name, "gptq-8bit")) *out = LQMF_HFQ_GPTQ_8BIT;
    else return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- writer: which tensors ----------------------------------------------- */

/* The block linears: "blk.N.<kind>.weight". */
static bool is_block_linear(const lqmf_tensor *t) {
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    unsigned layer;
    int end = 0;
    if (t->n_dims != 2 || !t->src_name || !ends_with(t->src_name, ".weight")) return false;
    if (sscanf(t->name, "blk.%u.%n", &layer, &end) != 1 || !end) return false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t k = strlen(kinds[i]);
        if (!strncmp(t->name + end, kinds[i], k) && !strcmp(t->name + end + k, ".weight")) return true;
    }
    return false;
}

/* The tensor as F32 [ne1][ne0] (out rows of in values), malloc'd. */
static lqmf_status to_f32(const lqmf_tensor *t, float **out) {
    uint64_t n = t->ne[0] * t->ne[1];
    float *w = malloc(n ? n * sizeof *w : 1);
    if (!w) return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", t->src_name);
    const uint8_t *p = t->data;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t h;
        switch (t->type) {
        case LQMF_TYPE_F32: memcpy(&w[i], p + i * 4, 4); break;
        case LQMF_TYPE_F16: memcpy(&h, p + i * 2, 2); w[i] = lqmf_fp16_to_f32(h); break;
        case LQMF_TYPE_BF16: memcpy(&h, p + i * 2, 2); w[i] = lqmf_bf16_to_f32(h); break;
        default:
            free(w);
            return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: type %s cannot be quantized (F32, F16, BF16)",
                              t->src_name, lqmf_type_name(t->type));
        }
    }
    *out = w;
    return LQMF_OK;
}

/* torch's dtype name of a float dtype. */
static const char *torch_dtype(lqmf_st_dtype d) {
    return d == LQMF_ST_F16 ? "float16" : d == LQMF_ST_BF16 ? "bfloat16" : "float32";
}

lqmf_status hfq_add_owned(hfq_out *o, const char *name, lqmf_st_dtype dt, uint32_t n_dims, const uint64_t *shape,
                          void *data, uint64_t nbytes) {
    lqmf_status st = LQMF_OK;
    if (n_dims > 4) st = lqmf_error(LQMF_E_INVALID, "tensor %s: %u dimensions", name, n_dims);
    if (st == LQMF_OK && o->n_sp == o->cap_sp) {
        size_t cap = o->cap_sp ? o->cap_sp * 2 : 64;
        hfq_spilled *g = realloc(o->sp, cap * sizeof *g);
        if (g) o->sp = g, o->cap_sp = cap;
        else st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    for (uint64_t done = 0; st == LQMF_OK && done < nbytes;) {
        ssize_t k = pwrite(o->spill, (const uint8_t *)data + done, nbytes - done, (off_t)(o->spill_bytes + done));
        if (k <= 0) st = lqmf_error(LQMF_E_IO, "tensor %s: spill file: %s", name, k < 0 ? strerror(errno) : "no space");
        else done += (uint64_t)k;
    }
    free(data);
    if (st != LQMF_OK) return st;
    hfq_spilled *e = &o->sp[o->n_sp];
    *e = (hfq_spilled){.name = strdup(name), .dt = dt, .n_dims = n_dims, .off = o->spill_bytes, .nbytes = nbytes};
    if (!e->name) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (n_dims) memcpy(e->shape, shape, n_dims * sizeof *shape);
    o->n_sp++;
    o->spill_bytes += nbytes;
    o->tensor_bytes += nbytes;
    o->n_tensors++;
    return LQMF_OK;
}

/* absmax[nb] as bitsandbytes' double quantization: P.weight.absmax U8,
 * nested_absmax, nested_quant_map; *offset = the mean subtracted first. */
static lqmf_status write_nested(hfq_out *o, const char *wname, float *absmax, uint64_t nb, float *offset) {
    double sum = 0;
    for (uint64_t b = 0; b < nb; b++) sum += absmax[b];
    *offset = nb ? (float)(sum / (double)nb) : 0.0f;
    for (uint64_t b = 0; b < nb; b++) absmax[b] -= *offset;
    uint64_t nn = lqmf_bnb_n_blocks(nb, LQMF_BNB_NESTED_BLOCKSIZE);
    uint8_t *q = malloc(nb + 1);
    float *scale = malloc(nn * sizeof *scale + 1), *map = malloc(256 * sizeof *map);
    lqmf_status st = q && scale && map ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    const float *code = lqmf_bnb_dynamic_code();
    if (st == LQMF_OK) {
        st = lqmf_bnb_quantize_8bit(code, absmax, nb, LQMF_BNB_NESTED_BLOCKSIZE, q, scale);
        memcpy(map, code, 256 * sizeof *map);
    }
    char name[600];
    const uint64_t s_q[1] = {nb}, s_scale[1] = {nn}, s_map[1] = {256};
    snprintf(name, sizeof name, "%s.absmax", wname);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_U8, 1, s_q, q, nb), q = NULL;
    snprintf(name, sizeof name, "%s.nested_absmax", wname);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_F32, 1, s_scale, scale, nn * 4), scale = NULL;
    snprintf(name, sizeof name, "%s.nested_quant_map", wname);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_F32, 1, s_map, map, 256 * 4), map = NULL;
    free(q);
    free(scale);
    free(map);
    return st;
}

/* P.weight (4-bit) and its companions, for W [n_out][n_in]. */
static lqmf_status write_4bit(hfq_out *o, const char *wname, lqmf_bnb_4bit t, const float *w, uint64_t n_out,
                              uint64_t n_in, uint64_t bs, bool dq, lqmf_st_dtype src_dt) {
    uint64_t n = n_out * n_in, nb = lqmf_bnb_n_blocks(n, bs), np = (n + 1) / 2;
    uint8_t *packed = malloc(np ? np : 1);
    float *absmax = malloc(nb * sizeof *absmax + 1), *map = malloc(16 * sizeof *map), offset = 0;
    char *js = NULL, name[600];
    lqmf_status st = packed && absmax && map ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) {
        st = lqmf_bnb_quantize_4bit(t, w, n, bs, packed, absmax);
        if (st != LQMF_OK) lqmf_error_prefix(st, "tensor %s", wname);
        memcpy(map, lqmf_bnb_code(t), 16 * sizeof *map);
    }
    const uint64_t s_packed[2] = {np, 1}, s_absmax[1] = {nb}, s_map[1] = {16};
    if (st == LQMF_OK) st = hfq_add_owned(o, wname, LQMF_ST_U8, 2, s_packed, packed, np), packed = NULL;
    if (st == LQMF_OK && dq) st = write_nested(o, wname, absmax, nb, &offset);
    snprintf(name, sizeof name, "%s.absmax", wname);
    if (st == LQMF_OK && !dq) st = hfq_add_owned(o, name, LQMF_ST_F32, 1, s_absmax, absmax, nb * 4), absmax = NULL;
    snprintf(name, sizeof name, "%s.quant_map", wname);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_F32, 1, s_map, map, 64), map = NULL;
    int len = -1;
    if (st == LQMF_OK && dq)
        len = asprintf(&js,
                       "{\"quant_type\": \"%s\", \"blocksize\": %llu, \"dtype\": \"%s\", \"shape\": [%llu, %llu], "
                       "\"nested_blocksize\": %u, \"nested_dtype\": \"float32\", \"nested_offset\": %.9g}",
                       lqmf_bnb_name(t), (unsigned long long)bs, torch_dtype(src_dt), (unsigned long long)n_out,
                       (unsigned long long)n_in, LQMF_BNB_NESTED_BLOCKSIZE, (double)offset);
    else if (st == LQMF_OK)
        len = asprintf(&js, "{\"quant_type\": \"%s\", \"blocksize\": %llu, \"dtype\": \"%s\", \"shape\": [%llu, %llu]}",
                       lqmf_bnb_name(t), (unsigned long long)bs, torch_dtype(src_dt), (unsigned long long)n_out,
                       (unsigned long long)n_in);
    if (st == LQMF_OK && len < 0) js = NULL, st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    const uint64_t s_js[1] = {(uint64_t)(len > 0 ? len : 0)};
    snprintf(name, sizeof name, "%s.quant_state.bitsandbytes__%s", wname, lqmf_bnb_name(t));
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_U8, 1, s_js, js, (uint64_t)len), js = NULL;
    free(packed);
    free(absmax);
    free(map);
    free(js);
    return st;
}

/* P.weight int8 [n_out, n_in], P.SCB, P.weight_format. */
static lqmf_status write_int8(hfq_out *o, const char *wname, const float *w, uint64_t n_out, uint64_t n_in) {
    int8_t *q = malloc(n_out * n_in + 1);
    float *scb = malloc(n_out * sizeof *scb + 1);
    uint8_t *fmt = calloc(1, 1);
    lqmf_status st = q && scb && fmt ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK && (st = lqmf_bnb_quantize_int8(w, n_out, n_in, q, scb)) != LQMF_OK)
        lqmf_error_prefix(st, "tensor %s", wname);
    char prefix[512], name[600];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(wname) - strlen("weight")), wname);
    const uint64_t s_q[2] = {n_out, n_in}, s_scb[1] = {n_out};
    if (st == LQMF_OK) st = hfq_add_owned(o, wname, LQMF_ST_I8, 2, s_q, q, n_out * n_in), q = NULL;
    snprintf(name, sizeof name, "%sSCB", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_F32, 1, s_scb, scb, n_out * 4), scb = NULL;
    snprintf(name, sizeof name, "%sweight_format", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_U8, 0, NULL, fmt, 1), fmt = NULL;
    free(q);
    free(scb);
    free(fmt);
    return st;
}

/* ---- writer: files ----------------------------------------------------------- */

static lqmf_status write_bytes(const char *path, const void *p, size_t n) {
    lqmf_afile f;
    lqmf_status st = lqmf_afile_open(&f, path);
    if (st != LQMF_OK) return st;
    if ((st = lqmf_afile_write(&f, p, n)) != LQMF_OK) {
        lqmf_afile_abort(&f);
        return st;
    }
    return lqmf_afile_commit(&f);
}

/* A NUL-terminated text plus a newline. */
static lqmf_status write_text(const char *path, const char *text) {
    char *t = NULL;
    if (asprintf(&t, "%s\n", text) < 0) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    lqmf_status st = write_bytes(path, t, strlen(t));
    free(t);
    return st;
}

static json_t *bnb_config(lqmf_hfq_kind k, bool dq, const char *compute_dtype) {
    bool four = k != LQMF_HFQ_INT8;
    return json_pack("{s:b, s:b, s:s, s:s, s:s, s:b, s:b, s:b, s:n, s:f, s:b, s:b, s:s}", "_load_in_4bit", four,
                     "_load_in_8bit", !four, "bnb_4bit_compute_dtype", compute_dtype, "bnb_4bit_quant_storage",
                     "uint8", "bnb_4bit_quant_type", k == LQMF_HFQ_FP4 ? "fp4" : "nf4",
                     "bnb_4bit_use_double_quant", dq && four, "llm_int8_enable_fp32_cpu_offload", false,
                     "llm_int8_has_fp16_weight", false, "llm_int8_skip_modules", "llm_int8_threshold", 6.0,
                     "load_in_4bit", four, "load_in_8bit", !four, "quant_method", "bitsandbytes");
}

/* config.json of src_dir plus quantization_config into dir; GPTQ also
 * gets quantize_config.json with the same fields. */
static lqmf_status write_config(const char *src_dir, const char *dir, const lqmf_hfq_opts *o,
                                const char *compute_dtype) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", src_dir);
    json_error_t err;
    json_t *cfg = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!cfg || !json_is_object(cfg)) {
        json_decref(cfg);
        return lqmf_error(LQMF_E_FORMAT, "%s: %s", path, cfg ? "not a JSON object" : err.text);
    }
    bool gptq = o->kind == LQMF_HFQ_GPTQ_4BIT || o->kind == LQMF_HFQ_GPTQ_8BIT;
    json_t *q = gptq ? hfq_gptq_config(o) : bnb_config(o->kind, o->double_quant, compute_dtype);
    char *text = NULL, *qtext = NULL;
    if (q && gptq) qtext = json_dumps(q, JSON_INDENT(2));
    json_object_set_new(cfg, "torch_dtype", json_string(compute_dtype));
    if (q && json_object_set_new(cfg, "quantization_config", q) == 0) text = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    lqmf_status st = text && (qtext || !gptq) ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "config.json: out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (st == LQMF_OK) st = write_text(path, text);
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    if (st == LQMF_OK && gptq) st = write_text(path, qtext);
    free(text);
    free(qtext);
    return st;
}

/* Tokenizer and generation files of src_dir, copied into dir when present. */
static lqmf_status copy_side_files(const char *src_dir, const char *dir) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                        "special_tokens_map.json", "added_tokens.json", "vocab.json",
                                        "merges.txt", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/%s", src_dir, files[i]);
        if (access(src, F_OK) != 0) continue;
        lqmf_map map = {0};
        lqmf_status st = lqmf_map_open(src, &map);
        if (st != LQMF_OK) return st;
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        st = write_bytes(dst, map.data ? (const void *)map.data : "", (size_t)map.size);
        lqmf_map_close(&map);
        if (st != LQMF_OK) return st;
    }
    return LQMF_OK;
}

/* Move the finished folder tmp to dir: a plain rename, or an exchange with
 * an existing dir whose old contents are then removed. */
static lqmf_status publish(const char *tmp, const char *dir) {
    if (rename(tmp, dir) == 0) return LQMF_OK;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return lqmf_error(LQMF_E_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) != 0)
        return lqmf_error(LQMF_E_IO, "%s: cannot replace the existing folder: %s", dir, strerror(errno));
    lqmf_remove_tree(tmp); /* now the old folder; the new one is in place either way */
    return LQMF_OK;
}

/* The float dtype of the written model: F32 becomes F16 (see copy_rest). */
static lqmf_st_dtype stored_dtype(lqmf_st_dtype d) { return d == LQMF_ST_F32 ? LQMF_ST_F16 : d; }

/* Hidden sibling of dir: "<parent>/.<name>.tmp.<pid>". */
static void tmp_name(const char *dir, char *out, size_t n) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    const char *slash = memrchr(dir, '/', len);
    size_t base = slash ? (size_t)(slash - dir) + 1 : 0;
    snprintf(out, n, "%.*s.%.*s.tmp.%ld", (int)base, dir, (int)(len - base), dir + base, (long)getpid());
}

/* Quantize every block linear of m into o. */
static lqmf_status quantize_linears(const lqmf_model *m, const lqmf_safetensors *src, const lqmf_hfq_opts *opt,
                                    hfq_out *o, bool *done, lqmf_st_dtype *first_dt, lqmf_hfq_result *res) {
    lqmf_mapped *mapped = lqmf_mapped_scan(); /* a linear's source pages leave once it is read */
    uint32_t *n_q = &res->n_quantized;
    uint64_t bs = opt->blocksize ? opt->blocksize : LQMF_BNB_BLOCKSIZE;
    lqmf_hfq_progress pr = {0};
    for (size_t i = 0; i < m->n_tensors; i++)
        if (is_block_linear(&m->tensors[i])) pr.total++, pr.bytes_total += m->tensors[i].nbytes;
    double t0 = lqmf_time_now();
    bool gptq = opt->kind == LQMF_HFQ_GPTQ_4BIT || opt->kind == LQMF_HFQ_GPTQ_8BIT;
    hfq_gptq *g = NULL;
    lqmf_status st = gptq ? hfq_gptq_begin(m, opt, &g, &res->calib_tokens) : LQMF_OK;
    for (size_t i = 0; i < m->n_tensors && st == LQMF_OK; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        if (!is_block_linear(t)) continue;
        const lqmf_st_tensor *s = lqmf_st_find(src, t->src_name);
        if (!s) {
            st = lqmf_error(LQMF_E_NOT_FOUND, "%s: tensor %s is not in the source file", m->path, t->src_name);
            break;
        }
        done[s - lqmf_st_tensor_at(src, 0)] = true;
        if (!*n_q) *first_dt = stored_dtype(s->dtype);
        float *w = NULL;
        if ((st = to_f32(t, &w)) != LQMF_OK) break;
        lqmf_mapped_release(mapped, t->data, t->nbytes);
        uint64_t n_in = t->ne[0], n_out = t->ne[1];
        if (gptq) st = hfq_gptq_linear(g, t, w, o);
        else if (opt->kind == LQMF_HFQ_INT8) st = write_int8(o, t->src_name, w, n_out, n_in);
        else
            st = write_4bit(o, t->src_name, opt->kind == LQMF_HFQ_FP4 ? LQMF_BNB_FP4 : LQMF_BNB_NF4, w, n_out, n_in,
                            bs, opt->double_quant, stored_dtype(s->dtype));
        free(w);
        if (st != LQMF_OK) break;
        (*n_q)++;
        pr.done++;
        pr.bytes_done += t->nbytes;
        pr.elapsed_s = lqmf_time_now() - t0;
        pr.tensor = t->src_name;
        if (opt->progress && !opt->progress(opt->user, &pr))
            st = lqmf_error(LQMF_E_INTERRUPTED, "interrupted after %s", t->src_name);
    }
    hfq_gptq_end(g);
    lqmf_mapped_free(mapped);
    return st;
}

/* s (F32) as F16, the way transformers stores a bitsandbytes or GPTQ
 * model's other parameters (torch_dtype float16). */
static lqmf_status add_as_f16(hfq_out *o, const lqmf_st_tensor *s) {
    uint64_t n = s->nbytes / 4;
    uint16_t *h = malloc(n * 2 + 1);
    if (!h) return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", s->name);
    for (uint64_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, (const unsigned char *)s->data + i * 4, 4);
        h[i] = lqmf_f32_to_fp16(f);
    }
    return hfq_add_owned(o, s->name, LQMF_ST_F16, s->n_dims, s->shape, h, n * 2);
}

/* Every source tensor not quantized: F32 ones as F16, others unchanged. */
static lqmf_status copy_rest(const lqmf_safetensors *src, const bool *done, hfq_out *o, uint64_t *src_bytes) {
    for (size_t i = 0; i < lqmf_st_n_tensors(src); i++) {
        const lqmf_st_tensor *s = lqmf_st_tensor_at(src, i);
        *src_bytes += s->nbytes;
        if (done[i]) continue;
        if (s->dtype == LQMF_ST_F32) {
            lqmf_status st = add_as_f16(o, s);
            if (st != LQMF_OK) return st;
            continue;
        }
        lqmf_status st = lqmf_st_writer_add(o->w, s->name, s->dtype, s->n_dims, s->shape, s->data, s->nbytes);
        if (st != LQMF_OK) return st;
        o->tensor_bytes += s->nbytes;
        o->n_tensors++;
    }
    return LQMF_OK;
}

/* The spilled tensors into the writer, read back from the spill file. */
static lqmf_status add_spilled(const hfq_out *o) {
    for (size_t i = 0; i < o->n_sp; i++) {
        const hfq_spilled *e = &o->sp[i];
        lqmf_status st = lqmf_st_writer_add_file(o->w, e->name, e->dt, e->n_dims, e->shape, o->spill, e->off, e->nbytes);
        if (st != LQMF_OK) return st;
    }
    return LQMF_OK;
}

static lqmf_status write_folder(const lqmf_model *m, const lqmf_safetensors *src, const char *tmp,
                                const lqmf_hfq_opts *opt, lqmf_hfq_result *res) {
    hfq_out o = {.spill = -1};
    char path[4200];
    snprintf(path, sizeof path, "%s/.spill", tmp);
    o.spill = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (o.spill >= 0) unlink(path); /* gone with the descriptor, whatever happens */
    bool *done = calloc(lqmf_st_n_tensors(src) + 1, 1);
    lqmf_st_dtype first_dt = LQMF_ST_F32;
    lqmf_status st = o.spill < 0 ? lqmf_error(LQMF_E_IO, "%s: %s", path, strerror(errno))
                     : done     ? lqmf_st_writer_new(&o.w)
                                : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = quantize_linears(m, src, opt, &o, done, &first_dt, res);
    if (st == LQMF_OK && !res->n_quantized)
        st = lqmf_error(LQMF_E_INVALID, "%s: no linear weight to quantize", m->path);
    if (st == LQMF_OK) st = copy_rest(src, done, &o, &res->src_bytes);
    if (st == LQMF_OK) st = add_spilled(&o);
    if (st == LQMF_OK) st = lqmf_st_writer_set_metadata(o.w, "format", "pt");
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    if (st == LQMF_OK) st = lqmf_st_writer_write(o.w, path);
    if (st == LQMF_OK) st = write_config(m->path, tmp, opt, torch_dtype(first_dt));
    if (st == LQMF_OK) st = copy_side_files(m->path, tmp);
    struct stat sb;
    if (st == LQMF_OK && stat(path, &sb) == 0) res->out_bytes = (uint64_t)sb.st_size;
    res->tensor_bytes = o.tensor_bytes;
    res->n_tensors = o.n_tensors;
    lqmf_st_writer_free(o.w);
    for (size_t i = 0; i < o.n_sp; i++) free(o.sp[i].name);
    free(o.sp);
    if (o.spill >= 0) close(o.spill);
    free(done);
    return st;
}

lqmf_status lqmf_hfq_write(const lqmf_model *m, const char *out_dir, const lqmf_hfq_opts *opt, lqmf_hfq_result *res) {
    lqmf_hfq_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    double t0 = lqmf_time_now();
    if (opt->kind <= LQMF_HFQ_NONE || opt->kind > LQMF_HFQ_GPTQ_8BIT)
        return lqmf_error(LQMF_E_INVALID, "hfq: unknown quantization kind %d", (int)opt->kind);
    if (opt->blocksize && !lqmf_bnb_blocksize_valid(opt->blocksize))
        return lqmf_error(LQMF_E_INVALID, "hfq: blocksize %u (want a power of two in 32..4096)", opt->blocksize);
    if (m->format != LQMF_FORMAT_HF || !m->path)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: quantized checkpoints are written from a Hugging Face folder (config.json + "
                          "safetensors), not a %s file",
                          m->path ? m->path : "model", m->format == LQMF_FORMAT_GGUF ? "GGUF" : "llama2.c");
    lqmf_safetensors *src;
    lqmf_status st = lqmf_st_open(m->path, &src);
    if (st != LQMF_OK) return st;
    char tmp[4200];
    tmp_name(out_dir, tmp, sizeof tmp);
    st = lqmf_remove_tree(tmp); /* a leftover of an earlier run of this pid */
    if (st == LQMF_OK && mkdir(tmp, 0777) != 0) st = lqmf_error(LQMF_E_IO, "%s: cannot create folder: %s", tmp, strerror(errno));
    int slot = st == LQMF_OK ? lqmf_cleanup_dir_add(tmp) : -1; /* gone on Ctrl-C too */
    if (st == LQMF_OK) st = write_folder(m, src, tmp, opt, res);
    if (st == LQMF_OK) st = publish(tmp, out_dir);
    if (st != LQMF_OK) lqmf_remove_tree(tmp);
    lqmf_cleanup_dir_remove(slot);
    lqmf_st_close(src);
    res->n_params = lqmf_model_n_params(m);
    res->bpw = res->n_params ? (double)res->tensor_bytes * 8 / (double)res->n_params : 0;
    res->seconds = lqmf_time_now() - t0;
    return st;
}

/* ---- reader ---------------------------------------------------------------- */

/* quant_method "gptq": bits, and the v1 layout this reader decodes. */
static lqmf_status gptq_config(json_t *q, const char *label, lqmf_hfq_config *out) {
    json_t *b = json_object_get(q, "bits");
    json_int_t bits = json_is_integer(b) ? json_integer_value(b) : 0;
    const char *fmt = json_string_value(json_object_get(q, "checkpoint_format"));
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: quantization_config.bits is not 2, 3, 4 or 8", label);
    if (fmt && strcmp(fmt, "gptq") != 0)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: quantization_config.checkpoint_format \"%.20s\" is not supported (gptq)", label, fmt);
    if (json_is_true(json_object_get(q, "is_marlin_format")))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: quantization_config.is_marlin_format is not supported", label);
    out->kind = bits == 8 ? LQMF_HFQ_GPTQ_8BIT : LQMF_HFQ_GPTQ_4BIT;
    out->bits = (unsigned)bits;
    return LQMF_OK;
}

lqmf_status lqmf_hfq_config_parse(const char *json, size_t len, const char *label, lqmf_hfq_config *out) {
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) return lqmf_error(LQMF_E_FORMAT, "%s: line %d: %s", label, err.line, err.text);
    lqmf_status st = LQMF_OK;
    json_t *q = json_is_object(root) ? json_object_get(root, "quantization_config") : NULL;
    if (!q || json_is_null(q)) goto done;
    if (!json_is_object(q)) {
        st = lqmf_error(LQMF_E_FORMAT, "%s: quantization_config is not an object", label);
        goto done;
    }
    const char *method = json_string_value(json_object_get(q, "quant_method"));
    if (method && !strcmp(method, "gptq")) {
        st = gptq_config(q, label, out);
        goto done;
    }
    if (!method || strcmp(method, "bitsandbytes") != 0) {
        st = lqmf_error(LQMF_E_UNSUPPORTED,
                        "%s: quantization_config.quant_method \"%.40s\" is not supported (bitsandbytes, gptq)",
                        label, method ? method : "(missing)");
        goto done;
    }
    bool four = json_is_true(json_object_get(q, "load_in_4bit")) || json_is_true(json_object_get(q, "_load_in_4bit"));
    bool eight = json_is_true(json_object_get(q, "load_in_8bit")) || json_is_true(json_object_get(q, "_load_in_8bit"));
    if (four == eight) {
        st = lqmf_error(LQMF_E_UNSUPPORTED, "%s: quantization_config: load_in_4bit and load_in_8bit are %s", label,
                        four ? "both true" : "both false or absent");
        goto done;
    }
    if (eight) out->kind = LQMF_HFQ_INT8;
    else {
        const char *qt = json_string_value(json_object_get(q, "bnb_4bit_quant_type"));
        lqmf_bnb_4bit t = LQMF_BNB_FP4; /* transformers' default */
        if (qt && !lqmf_bnb_from_name(qt, &t)) {
            st = lqmf_error(LQMF_E_UNSUPPORTED, "%s: quantization_config.bnb_4bit_quant_type \"%.20s\" (nf4, fp4)",
                            label, qt);
            goto done;
        }
        out->kind = t == LQMF_BNB_NF4 ? LQMF_HFQ_NF4 : LQMF_HFQ_FP4;
    }
    const char *cd = json_string_value(json_object_get(q, "bnb_4bit_compute_dtype"));
    if (cd) snprintf(out->compute_dtype, sizeof out->compute_dtype, "%s", cd);
done:
    json_decref(root);
    return st;
}

bool lqmf_hfq_is_companion(const char *name) {
    static const char *const suffixes[] = {".weight.absmax", ".weight.quant_map", ".weight.nested_absmax",
                                           ".weight.nested_quant_map", ".SCB", ".weight_format",
                                           ".qzeros", ".scales", ".g_idx"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (ends_with(name, suffixes[i])) return true;
    return strstr(name, ".weight.quant_state.") != NULL;
}

/* "<weight_name><suffix>" in st, NULL when absent. */
static const lqmf_st_tensor *companion(const lqmf_safetensors *st, const char *weight_name, const char *suffix) {
    char name[600];
    snprintf(name, sizeof name, "%s%s", weight_name, suffix);
    return lqmf_st_find(st, name);
}

/* The SCB of "P.weight" is "P.SCB". */
static const lqmf_st_tensor *find_scb(const lqmf_safetensors *st, const char *weight_name) {
    if (!ends_with(weight_name, ".weight")) return NULL;
    char name[600];
    snprintf(name, sizeof name, "%.*sSCB", (int)(strlen(weight_name) - strlen("weight")), weight_name);
    return lqmf_st_find(st, name);
}

bool lqmf_hfq_is_quantized(const lqmf_safetensors *st, const char *name, char *weight, size_t n) {
    size_t len = strlen(name);
    bool gptq = ends_with(name, ".qweight"), bnb = !gptq && (companion(st, name, ".quant_state.bitsandbytes__nf4") ||
                                                             companion(st, name, ".quant_state.bitsandbytes__fp4") ||
                                                             find_scb(st, name));
    if (weight && gptq) snprintf(weight, n, "%.*sweight", (int)(len - strlen("qweight")), name);
    else if (weight && bnb) snprintf(weight, n, "%s", name);
    return gptq || bnb;
}

/* A companion of dtype dt and n elements, or an error naming it. */
lqmf_status hfq_need(const lqmf_st_tensor *t, const char *weight_name, const char *suffix, lqmf_st_dtype dt,
                     uint64_t n) {
    if (!t) return lqmf_error(LQMF_E_NOT_FOUND, "tensor %s%s: missing", weight_name, suffix);
    if (t->dtype != dt)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: dtype %s, expected %s", t->name, lqmf_st_dtype_name(t->dtype),
                          lqmf_st_dtype_name(dt));
    if (t->n_elems != n)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: %llu elements, expected %llu", t->name,
                          (unsigned long long)t->n_elems, (unsigned long long)n);
    return LQMF_OK;
}

/* n F32 values of t (unaligned), all finite, into a malloc'd array. */
static lqmf_status read_f32(const lqmf_st_tensor *t, const char *field, float **out) {
    float *v = malloc(t->n_elems * sizeof *v + 1);
    if (!v) return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", t->name);
    memcpy(v, t->data, t->n_elems * sizeof *v);
    for (uint64_t i = 0; i < t->n_elems; i++)
        if (!isfinite(v[i])) {
            double bad = v[i];
            free(v);
            return lqmf_error(LQMF_E_FORMAT, "tensor %s: %s[%llu] is %g (not finite)", t->name, field,
                              (unsigned long long)i, bad);
        }
    *out = v;
    return LQMF_OK;
}

typedef struct {
    uint64_t bs, n_out, n_in;
    bool nested;
    double offset; /* nested_offset */
} quant_state;

static bool json_dim(json_t *v) {
    return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= (1ll << 31);
}

/* quant_state JSON: quant_type, blocksize, shape [out, in]; nested_blocksize
 * (256), nested_offset when double-quantized. */
static lqmf_status parse_quant_state(const lqmf_st_tensor *qs, lqmf_bnb_4bit want, quant_state *q) {
    if (qs->dtype != LQMF_ST_U8 || qs->n_elems > QUANT_STATE_MAX)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: want U8 JSON of at most %u bytes, got %s of %llu", qs->name,
                          QUANT_STATE_MAX, lqmf_st_dtype_name(qs->dtype), (unsigned long long)qs->n_elems);
    json_error_t err;
    json_t *js = json_loadb(qs->data, (size_t)qs->n_elems, JSON_REJECT_DUPLICATES, &err);
    if (!js) return lqmf_error(LQMF_E_FORMAT, "tensor %s: bad JSON: %s", qs->name, err.text);
    lqmf_status st = LQMF_OK;
    const char *qt = json_string_value(json_object_get(js, "quant_type"));
    json_t *jbs = json_object_get(js, "blocksize"), *shape = json_object_get(js, "shape"),
           *nbs = json_object_get(js, "nested_blocksize"), *noff = json_object_get(js, "nested_offset");
    lqmf_bnb_4bit t;
    q->nested = nbs || noff;
    if (!qt || !lqmf_bnb_from_name(qt, &t) || t != want)
        st = lqmf_error(LQMF_E_FORMAT, "tensor %s: quant_type \"%.20s\", expected \"%s\"", qs->name,
                        qt ? qt : "(missing)", lqmf_bnb_name(want));
    else if (!json_is_integer(jbs) || json_integer_value(jbs) < 0 ||
             !lqmf_bnb_blocksize_valid((uint64_t)json_integer_value(jbs)))
        st = lqmf_error(LQMF_E_FORMAT, "tensor %s: blocksize is not a power of two in 32..4096", qs->name);
    else if (q->nested && (!json_is_integer(nbs) || json_integer_value(nbs) != LQMF_BNB_NESTED_BLOCKSIZE))
        st = lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: nested_blocksize is not %u", qs->name,
                        LQMF_BNB_NESTED_BLOCKSIZE);
    else if (q->nested && (!json_is_number(noff) || !isfinite(json_number_value(noff))))
        st = lqmf_error(LQMF_E_FORMAT, "tensor %s: nested_offset is not a finite number", qs->name);
    else if (!json_is_array(shape) || json_array_size(shape) != 2 || !json_dim(json_array_get(shape, 0)) ||
             !json_dim(json_array_get(shape, 1)))
        st = lqmf_error(LQMF_E_FORMAT, "tensor %s: shape is not [out, in] of positive integers up to 2^31", qs->name);
    else {
        q->bs = (uint64_t)json_integer_value(jbs);
        q->n_out = (uint64_t)json_integer_value(json_array_get(shape, 0));
        q->n_in = (uint64_t)json_integer_value(json_array_get(shape, 1));
        q->offset = q->nested ? json_number_value(noff) : 0;
    }
    json_decref(js);
    return st;
}

/* The fp32 absmax of P.weight: stored, or decoded from the nested 8-bit form. */
static lqmf_status read_absmax(const lqmf_safetensors *st, const char *wn, const quant_state *q, uint64_t nb,
                               float **out) {
    lqmf_status s;
    if (!q->nested) {
        if ((s = hfq_need(companion(st, wn, ".absmax"), wn, ".absmax", LQMF_ST_F32, nb)) != LQMF_OK) return s;
        return read_f32(companion(st, wn, ".absmax"), "absmax", out);
    }
    uint64_t nn = lqmf_bnb_n_blocks(nb, LQMF_BNB_NESTED_BLOCKSIZE);
    const lqmf_st_tensor *a8 = companion(st, wn, ".absmax");
    if ((s = hfq_need(a8, wn, ".absmax", LQMF_ST_U8, nb)) != LQMF_OK ||
        (s = hfq_need(companion(st, wn, ".nested_absmax"), wn, ".nested_absmax", LQMF_ST_F32, nn)) != LQMF_OK ||
        (s = hfq_need(companion(st, wn, ".nested_quant_map"), wn, ".nested_quant_map", LQMF_ST_F32, 256)) != LQMF_OK)
        return s;
    float *scale = NULL, *map = NULL, *am = malloc(nb * sizeof *am + 1);
    s = am ? read_f32(companion(st, wn, ".nested_absmax"), "nested_absmax", &scale)
           : lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", wn);
    if (s == LQMF_OK) s = read_f32(companion(st, wn, ".nested_quant_map"), "nested_quant_map", &map);
    if (s == LQMF_OK) {
        lqmf_bnb_dequantize_8bit(map, a8->data, scale, nb, LQMF_BNB_NESTED_BLOCKSIZE, am);
        for (uint64_t b = 0; b < nb; b++) am[b] += (float)q->offset;
    }
    free(scale);
    free(map);
    if (s != LQMF_OK) free(am);
    else *out = am;
    return s;
}

static lqmf_status dequant_4bit(const lqmf_safetensors *st, const lqmf_st_tensor *wt, const lqmf_st_tensor *qs,
                                lqmf_bnb_4bit t, float **w, uint64_t *n_out, uint64_t *n_in) {
    quant_state q = {0};
    uint64_t n;
    lqmf_status s = parse_quant_state(qs, t, &q);
    if (s != LQMF_OK) return s;
    *n_out = q.n_out;
    *n_in = q.n_in;
    if (!lqmf_mul_u64(q.n_out, q.n_in, &n) || n > (1ull << 40))
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: shape too large", qs->name);
    const char *wn = wt->name;
    if ((s = hfq_need(wt, wn, "", LQMF_ST_U8, (n + 1) / 2)) != LQMF_OK ||
        (s = hfq_need(companion(st, wn, ".quant_map"), wn, ".quant_map", LQMF_ST_F32, 16)) != LQMF_OK)
        return s;
    float *absmax = NULL, *map = NULL, *out = NULL;
    s = read_absmax(st, wn, &q, lqmf_bnb_n_blocks(n, q.bs), &absmax);
    if (s == LQMF_OK) s = read_f32(companion(st, wn, ".quant_map"), "quant_map", &map);
    if (s == LQMF_OK && !(out = malloc(n * sizeof *out)))
        s = lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", wn);
    if (s == LQMF_OK) lqmf_bnb_dequantize_4bit(map, wt->data, absmax, n, q.bs, out);
    free(absmax);
    free(map);
    *w = out;
    return s;
}

static lqmf_status dequant_int8(const lqmf_safetensors *st, const lqmf_st_tensor *wt, const lqmf_st_tensor *scb,
                                float **w, uint64_t *n_out, uint64_t *n_in) {
    if (wt->dtype != LQMF_ST_I8 || wt->n_dims != 2 || !wt->shape[0] || !wt->shape[1])
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: want I8 [out, in], got %s with %u dims", wt->name,
                          lqmf_st_dtype_name(wt->dtype), wt->n_dims);
    *n_out = wt->shape[0];
    *n_in = wt->shape[1];
    lqmf_status s = hfq_need(scb, wt->name, " SCB", LQMF_ST_F32, *n_out);
    if (s != LQMF_OK) return s;
    char fmt_name[600];
    snprintf(fmt_name, sizeof fmt_name, "%s_format", wt->name);
    const lqmf_st_tensor *fmt = lqmf_st_find(st, fmt_name);
    if (fmt && (fmt->dtype != LQMF_ST_U8 || fmt->n_elems != 1 || *(const uint8_t *)fmt->data != 0))
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: only weight_format 0 (row) is supported", fmt_name);
    float *sc = NULL, *out = NULL;
    s = read_f32(scb, "SCB", &sc);
    if (s == LQMF_OK && !(out = malloc(wt->n_elems * sizeof *out)))
        s = lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", wt->name);
    if (s == LQMF_OK) lqmf_bnb_dequantize_int8(wt->data, sc, *n_out, *n_in, out);
    free(sc);
    *w = out;
    return s;
}

lqmf_status lqmf_hfq_dequantize(const lqmf_safetensors *st, const char *weight_name, float **w, uint64_t *n_out,
                                uint64_t *n_in) {
    *w = NULL;
    const lqmf_st_tensor *wt = lqmf_st_find(st, weight_name);
    if (!wt) return lqmf_error(LQMF_E_NOT_FOUND, "tensor %s: missing", weight_name);
    if (ends_with(weight_name, ".qweight")) return hfq_gptq_dequantize(st, wt, w, n_out, n_in);
    const lqmf_st_tensor *nf4 = companion(st, weight_name, ".quant_state.bitsandbytes__nf4"),
                         *fp4 = companion(st, weight_name, ".quant_state.bitsandbytes__fp4"),
                         *scb = find_scb(st, weight_name);
    if (!!nf4 + !!fp4 + !!scb != 1)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: %s", weight_name,
                          nf4 || fp4 || scb ? "more than one quantization state (nf4, fp4, SCB)"
                                            : "no quant_state or SCB companion");
    if (scb) return dequant_int8(st, wt, scb, w, n_out, n_in);
    return dequant_4bit(st, wt, nf4 ? nf4 : fp4, nf4 ? LQMF_BNB_NF4 : LQMF_BNB_FP4, w, n_out, n_in);
}
