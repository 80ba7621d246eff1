/* Memory estimates per scheme, and the choice of a plan (the formulas are in
 * include/lqmf/plan.h). */
#include "plan_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GIB (1024.0 * 1024.0 * 1024.0)
#define BATCH 512u            /* tokens per batch for the compute scratch */
#define BALANCED_GATE_PCT 1.0 /* "balanced": within 1 % PPL of FP16 */
#define FASTEST_GATE_PCT 5.0  /* "fastest": within 5 % PPL of FP16 */
#define MARGIN_FRACTION 0.10  /* of device memory kept free */
#define MARGIN_MIN (256ull << 20)

/* Runtime base per device, bytes. */
static const uint64_t k_base_bytes[] = {
    [LQMF_DEVICE_ANY] = 128ull << 20,
    [LQMF_DEVICE_CPU] = 128ull << 20, /* process, tokenizer, file metadata */
    [LQMF_DEVICE_GPU] = 512ull << 20, /* CUDA context, cuBLAS workspace, allocator slack */
};

static const char *const k_methods[] = {"any", "gguf", "gptq", "awq", "bnb"};
static const char *const k_devices[] = {"any", "cpu", "gpu"};
static const char *const k_prefs[] = {"balanced", "quality", "fastest", "smallest"};
static const char *const k_fits[] = {"fits", "memory", "budget", "size", "disk"};

const char *lqmf_method_name(lqmf_method m) { return (unsigned)m < 5 ? k_methods[m] : "?"; }
const char *lqmf_device_name(lqmf_device d) { return (unsigned)d < 3 ? k_devices[d] : "?"; }
const char *lqmf_pref_name(lqmf_pref p) { return (unsigned)p < 4 ? k_prefs[p] : "?"; }
const char *lqmf_fit_name(lqmf_fit f) { return (unsigned)f < 5 ? k_fits[f] : "?"; }

/* ---- schemes ------------------------------------------------------------ */

size_t lqmf_plan_scheme_count(void) { return lqmf_scheme_defs_count; }

const lqmf_scheme *lqmf_plan_scheme_at(size_t i) {
    return i < lqmf_scheme_defs_count ? &lqmf_scheme_defs[i].pub : NULL;
}

static const struct {
    const char *alias, *name;
} k_scheme_aliases[] = {
    {"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"},    {"Q5_K", "Q5_K_M"},  {"FP16", "F16"},
    {"BF16", "F16"},    {"GPTQ", "GPTQ-4bit"}, {"AWQ", "AWQ-4bit"}, {"LLM.INT8", "INT8"},
};

const lqmf_scheme *lqmf_plan_scheme_find(const char *name) {
    for (size_t i = 0; i < sizeof k_scheme_aliases / sizeof k_scheme_aliases[0]; i++)
        if (strcasecmp(name, k_scheme_aliases[i].alias) == 0) name = k_scheme_aliases[i].name;
    for (size_t i = 0; i < lqmf_scheme_defs_count; i++)
        if (strcasecmp(name, lqmf_scheme_defs[i].pub.name) == 0) return &lqmf_scheme_defs[i].pub;
    return NULL;
}

/* ---- weights -------------------------------------------------------------- */

static bool mix_applies(lqmf_mix_when w, uint32_t i, uint32_t n, const lqmf_model_meta *m) {
    switch (w) {
    case LQMF_MIX_ALL: return true;
    case LQMF_MIX_MORE_BITS: return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    case LQMF_MIX_FIRST_8TH: return i < n / 8;
    case LQMF_MIX_FIRST_16TH: return i < n / 16;
    case LQMF_MIX_FIRST_4: return i < 4;
    case LQMF_MIX_FIRST_2: return i < 2;
    case LQMF_MIX_GQA4: return m->n_head && m->n_head / m->n_head_kv >= 4;
    }
    return false;
}

lqmf_type lqmf_plan_fallback_type(lqmf_type t, uint64_t ne0, bool *fell_back) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    if (ne0 % tr->block_size == 0) return t;
    *fell_back = true;
    switch (t) {
    case LQMF_TYPE_Q2_K:
    case LQMF_TYPE_Q3_K: t = LQMF_TYPE_IQ4_NL; break;
    case LQMF_TYPE_Q4_K: t = LQMF_TYPE_Q5_0; break;
    case LQMF_TYPE_Q5_K: t = LQMF_TYPE_Q5_1; break;
    case LQMF_TYPE_Q6_K: t = LQMF_TYPE_Q8_0; break;
    case LQMF_TYPE_IQ4_XS: t = LQMF_TYPE_IQ4_NL; break;
    default: break;
    }
    return ne0 % lqmf_type_get(t)->block_size ? LQMF_TYPE_F16 : t;
}

lqmf_type lqmf_plan_gguf_type(const lqmf_scheme *s, const lqmf_model_meta *m, lqmf_tensor_class cls,
                             uint32_t i, uint32_t n, bool has_output) {
    const lqmf_scheme_def *d = lqmf_scheme_def_of(s);
    switch (cls) {
    case LQMF_TC_VECTOR: return LQMF_TYPE_F32;
    case LQMF_TC_POS_EMBD: return LQMF_TYPE_F16; /* llama-quantize leaves it as converted */
    case LQMF_TC_OUTPUT: return d->output;
    case LQMF_TC_EMBD: return has_output ? d->base : d->output; /* tied: treated as the output */
    default: break;
    }
    for (const lqmf_mix_rule *r = d->rules; r->type != LQMF_TYPE_F32; r++)
        if (r->cls == cls && mix_applies(r->when, i, n, m)) return r->type;
    return d->base;
}

static bool is_block_linear(lqmf_tensor_class c) { return c >= LQMF_TC_ATTN_Q && c <= LQMF_TC_FFN_DOWN; }

/* Bytes of group g under scheme d; per-type element counts into by_type
 * (LQMF_TYPE_COUNT entries, may be NULL; non-GGUF linear layers are
 * counted under their scheme as LQMF_TYPE_COUNT - 1 is never used). */
typedef struct {
    uint64_t bytes;
    uint64_t params[LQMF_TYPE_COUNT + 1]; /* index LQMF_TYPE_COUNT: the scheme's linear format */
    uint32_t n_fallback;
} weight_sum;

static lqmf_status sum_weights(const lqmf_scheme_def *d, const lqmf_model_meta *m, weight_sum *w) {
    memset(w, 0, sizeof *w);
    const bool has_output = lqmf_plan_meta_class_params(m, LQMF_TC_OUTPUT) > 0;
    for (size_t k = 0; k < m->n_groups; k++) {
        const lqmf_tensor_group *g = &m->groups[k];
        uint64_t n = g->ne0 * g->ne1; /* no overflow: checked when the group was added */
        if (d->pub.method == LQMF_METHOD_GGUF) {
            for (uint32_t i = 0; i < g->count; i++) {
                bool fb = false;
                lqmf_type t = lqmf_plan_fallback_type(
                    lqmf_plan_gguf_type(&d->pub, m, g->cls, i, g->count, has_output), g->ne0, &fb);
                uint64_t b;
                if (!lqmf_type_tensor_bytes(t, g->ne0, n, &b) || !lqmf_add_u64(w->bytes, b, &w->bytes))
                    return lqmf_error(LQMF_E_INVALID, "%s: size of %s overflows", m->name,
                                      lqmf_tensor_class_name(g->cls));
                w->params[t] += n;
                w->n_fallback += fb;
            }
            continue;
        }
        double bits;
        if (is_block_linear(g->cls)) {
            const lqmf_lin_format *f = &d->lin;
            double groups = f->group ? ceil((double)g->ne0 / f->group) : 0.0;
            bits = (double)n * f->bits + groups * (double)g->ne1 * f->group_bits +
                   (double)g->ne1 * f->row_bits + (double)g->ne0 * f->col_bits;
            w->params[LQMF_TYPE_COUNT] += n * g->count;
        } else {
            bits = (double)n * 16.0; /* fp16 */
            w->params[LQMF_TYPE_F16] += n * g->count;
        }
        w->bytes += (uint64_t)ceil(bits / 8.0) * g->count;
    }
    return LQMF_OK;
}

/* The Llama-2-7B shape used for bits per weight when a model's shapes are unknown. */
static lqmf_status reference_meta(lqmf_model_meta *ref) {
    lqmf_hparams hp = {0};
    hp.arch = LQMF_ARCH_LLAMA;
    hp.n_vocab = 32000;
    hp.n_ctx_train = 4096;
    hp.n_embd = 4096;
    hp.n_layer = 32;
    hp.n_head = 32;
    hp.n_head_kv = 32;
    hp.head_dim = 128;
    hp.n_ff = 11008;
    return lqmf_plan_meta_from_hparams(&hp, "Llama-2-7B", ref);
}

/* ---- estimate ------------------------------------------------------------- */

/* Dimensions for the compute scratch; guessed from the parameter count
 * (n_params ~ 12 * n_layer * n_embd^2) when the shapes are unknown. */
static void compute_dims(const lqmf_model_meta *m, uint64_t *vocab, uint64_t *embd, uint64_t *ff,
                         uint64_t *heads) {
    if (m->shapes_known) {
        *vocab = m->n_vocab, *embd = m->n_embd, *ff = m->n_ff;
        *heads = m->n_head ? m->n_head : m->n_head_kv;
        return;
    }
    *vocab = 32000;
    *embd = (uint64_t)sqrt((double)m->n_params / (12.0 * m->n_layer));
    *ff = 3 * *embd;
    *heads = *embd / m->head_dim ? *embd / m->head_dim : 1;
}

static uint32_t resolve_ctx(const lqmf_model_meta *m, uint32_t n_ctx) {
    if (n_ctx) return n_ctx;
    return m->n_ctx_train && m->n_ctx_train < LQMF_PLAN_DEFAULT_CTX ? m->n_ctx_train : LQMF_PLAN_DEFAULT_CTX;
}

lqmf_status lqmf_plan_estimate(const lqmf_model_meta *m, const lqmf_scheme *s, uint32_t n_ctx,
                               lqmf_device dev, lqmf_estimate *out) {
    memset(out, 0, sizeof *out);
    if (!m->n_layer || !m->n_head_kv || !m->head_dim || !m->n_params)
        return lqmf_error(LQMF_E_INVALID, "%s: metadata lacks n_layer, n_head_kv, head_dim or parameters",
                          m->name);
    if (n_ctx > (1u << 24)) return lqmf_error(LQMF_E_INVALID, "context %u tokens is beyond 16M", n_ctx);
    const lqmf_scheme_def *d = lqmf_scheme_def_of(s);
    out->scheme = s;
    out->device = dev == LQMF_DEVICE_GPU ? LQMF_DEVICE_GPU : LQMF_DEVICE_CPU;
    out->n_ctx = resolve_ctx(m, n_ctx);
    weight_sum w;
    if (m->shapes_known) {
        lqmf_status st = sum_weights(d, m, &w);
        if (st != LQMF_OK) return st;
        out->weight_bytes = w.bytes;
        out->n_fallback = w.n_fallback;
        out->bpw = (double)w.bytes * 8.0 / (double)m->n_params;
    } else {
        lqmf_model_meta ref;
        lqmf_status st = reference_meta(&ref);
        if (st == LQMF_OK) st = sum_weights(d, &ref, &w);
        if (st != LQMF_OK) return st;
        out->from_reference = true;
        out->bpw = (double)w.bytes * 8.0 / (double)ref.n_params;
        out->weight_bytes = (uint64_t)ceil((double)m->n_params * out->bpw / 8.0);
    }
    /* 2 (K, V) * layers * ctx * kv heads * head_dim * 2 bytes: < 2^10 * 2^24 * 2^12 * 2^12 * 4 */
    out->kv_bytes = 4ull * m->n_layer * out->n_ctx * m->n_head_kv * m->head_dim;
    uint64_t vocab, embd, ff, heads;
    compute_dims(m, &vocab, &embd, &ff, &heads);
    out->compute_bytes = 4ull * BATCH * (vocab + 4 * embd + 2 * ff + heads * out->n_ctx);
    out->base_bytes = k_base_bytes[out->device];
    out->total_bytes = out->weight_bytes + out->kv_bytes + out->compute_bytes + out->base_bytes;
    return LQMF_OK;
}

static double gib(uint64_t b) { return (double)b / GIB; }

/* Memory as "3.80 GiB", or "412.6 MiB" under 1 GiB. Returns buf (>= 24 bytes). */
static const char *mem_str(uint64_t b, char *buf, size_t n) {
    if (b >= (1ull << 30))
        snprintf(buf, n, "%.2f GiB", gib(b));
    else
        snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
    return buf;
}

/* A count or file size in decimal units: "6.738 G", "124.000 M". */
static void count_str(double v, char *buf, size_t n) {
    if (v >= 1e9)
        snprintf(buf, n, "%.3f G", v / 1e9);
    else
        snprintf(buf, n, "%.3f M", v / 1e6);
}

/* One line of the sum: "  label    formula ... = x.xx GiB". */
static void term(lqmf_buf *out, const char *label, const char *formula, uint64_t bytes) {
    char m[24];
    lqmf_buf_printf(out, "  %-8s %-74s = %10s\n", label, formula, mem_str(bytes, m, sizeof m));
}

lqmf_status lqmf_plan_render_estimate(const lqmf_model_meta *m, const lqmf_estimate *e, lqmf_buf *out) {
    const lqmf_scheme *s = e->scheme;
    char f[256];
    lqmf_buf_printf(out, "%s for %s on the %s, context %u tokens:\n", s->name, m->name,
                    lqmf_device_name(e->device), e->n_ctx);
    char np[24], wb[24];
    count_str((double)m->n_params, np, sizeof np);
    count_str((double)e->weight_bytes, wb, sizeof wb);
    snprintf(f, sizeof f, "%s params x %.4f bits / 8 (%sB)", np, e->bpw, wb);
    term(out, "weights", f, e->weight_bytes);
    if (e->from_reference) {
        lqmf_buf_printf(out, "%11sbits per weight of %s on the Llama-2-7B shape (tensor shapes unknown)\n",
                        "", s->name);
    } else {
        weight_sum w;
        lqmf_status st = sum_weights(lqmf_scheme_def_of(s), m, &w);
        if (st != LQMF_OK) return st;
        lqmf_buf_printf(out, "%11sparams:", "");
        const char *sep = "";
        for (int t = 0; t <= LQMF_TYPE_COUNT; t++) {
            if (!w.params[t]) continue;
            double n = (double)w.params[t];
            lqmf_buf_printf(out, "%s %.1f %s %s", sep, n >= 1e6 ? n / 1e6 : n / 1e3, n >= 1e6 ? "M" : "K",
                            t == LQMF_TYPE_COUNT ? s->name : lqmf_type_name((uint32_t)t));
            sep = " +";
        }
        lqmf_buf_printf(out, "\n");
        if (e->n_fallback)
            lqmf_buf_printf(out,
                            "%11s%u tensors in a fallback type (rows not a multiple of the block size)\n", "",
                            e->n_fallback);
    }
    lqmf_buf_printf(out, "%11srule: %s\n", "", s->size_rule);
    snprintf(f, sizeof f, "2 x %u layers x %u ctx x %u kv heads x %u head_dim x 2 B", m->n_layer, e->n_ctx,
             m->n_head_kv, m->head_dim);
    term(out, "kv cache", f, e->kv_bytes);
    uint64_t vocab, embd, ff, heads;
    compute_dims(m, &vocab, &embd, &ff, &heads);
    snprintf(f, sizeof f, "4 B x %u x (%llu vocab + 4 x %llu + 2 x %llu + %llu heads x %u)%s", BATCH,
             (unsigned long long)vocab, (unsigned long long)embd, (unsigned long long)ff,
             (unsigned long long)heads, e->n_ctx, m->shapes_known ? "" : ", dims guessed");
    term(out, "compute", f, e->compute_bytes);
    snprintf(f, sizeof f, "%s runtime", lqmf_device_name(e->device));
    term(out, "base", f, e->base_bytes);
    term(out, "total", "", e->total_bytes);
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "plan: out of memory rendering") : LQMF_OK;
}

/* ---- plans ---------------------------------------------------------------- */

static bool allowed(const lqmf_scheme *s, const lqmf_plan_request *rq, lqmf_device dev) {
    /* CUDA-only schemes off the GPU only when the request names them */
    bool named = rq->scheme ? s == rq->scheme : rq->method != LQMF_METHOD_ANY && s->method == rq->method;
    if (s->gpu_only && dev != LQMF_DEVICE_GPU && !named) return false;
    if (rq->scheme) return s == rq->scheme;
    if (s->legacy) return false;
    if (rq->method != LQMF_METHOD_ANY && s->method != rq->method) return false;
    return !rq->bits || s->bits == rq->bits;
}

static lqmf_fit check_fit(const lqmf_plan *p, const lqmf_estimate *e) {
    const lqmf_plan_request *rq = &p->rq;
    if (p->usable_mem && e->total_bytes > p->usable_mem) return LQMF_FIT_MEMORY;
    if (rq->mem_budget && e->total_bytes > rq->mem_budget) return LQMF_FIT_BUDGET;
    if (rq->size_budget && e->weight_bytes > rq->size_budget) return LQMF_FIT_SIZE;
    if (rq->check_disk && e->weight_bytes + rq->disk_extra > rq->disk_free) return LQMF_FIT_DISK;
    return LQMF_FIT_OK;
}

/* Expected loss for ranking: the unquantized reference comes first (Q6_K's
 * measured -0.014 % is noise, not a gain). */
static double rank_loss(const lqmf_scheme *s) { return s->bits >= 16 ? -INFINITY : s->ppl_delta_pct; }

/* Fitting options first, by expected quality then size; the rest by total. */
static int cmp_opts(const void *pa, const void *pb) {
    const lqmf_plan_option *a = pa, *b = pb;
    bool fa = a->fit == LQMF_FIT_OK, fb = b->fit == LQMF_FIT_OK;
    if (fa != fb) return fa ? -1 : 1;
    if (fa) {
        double qa = rank_loss(a->est.scheme), qb = rank_loss(b->est.scheme);
        if (qa != qb) return qa < qb ? -1 : 1;
        return a->est.weight_bytes < b->est.weight_bytes ? -1 : a->est.weight_bytes > b->est.weight_bytes;
    }
    return a->est.total_bytes < b->est.total_bytes ? -1 : a->est.total_bytes > b->est.total_bytes;
}

/* Index of the fitting option with the fewest weight bytes whose quality
 * loss is at most gate_pct (and that is quantized when quantized_only). */
static int smallest_within(const lqmf_plan *p, double gate_pct, bool quantized_only) {
    int best = -1;
    for (size_t i = 0; i < p->n_opts; i++) {
        const lqmf_plan_option *o = &p->opts[i];
        if (o->fit != LQMF_FIT_OK || o->est.scheme->ppl_delta_pct > gate_pct) continue;
        if (quantized_only && o->est.scheme->bits >= 16) continue;
        if (best < 0 || o->est.weight_bytes < p->opts[best].est.weight_bytes) best = (int)i;
    }
    return best;
}

/* What the total is compared with, as words: "7.20 GiB usable on the gpu". */
static void limit_text(const lqmf_plan *p, char *buf, size_t n) {
    if (p->rq.mem_budget && (!p->usable_mem || p->rq.mem_budget < p->usable_mem))
        snprintf(buf, n, "the %.2f GiB budget", gib(p->rq.mem_budget));
    else if (p->usable_mem)
        snprintf(buf, n, "%.2f GiB usable on the %s", gib(p->usable_mem), lqmf_device_name(p->rq.device));
    else
        snprintf(buf, n, "an unknown amount of %s memory", lqmf_device_name(p->rq.device));
}

static void explain_choice(lqmf_plan *p, int rule_hit) {
    const lqmf_plan_option *o = &p->opts[p->chosen];
    const lqmf_scheme *s = o->est.scheme;
    char lim[96];
    limit_text(p, lim, sizeof lim);
    double tot = gib(o->est.total_bytes);
    switch (p->rq.pref) {
    case LQMF_PREF_BALANCED:
        if (rule_hit)
            snprintf(p->why, sizeof p->why,
                     "%s is the smallest scheme within %.0f%% of FP16 perplexity (expected %+.2f%%) that "
                     "fits: %.2f GiB in total of %s.",
                     s->name, BALANCED_GATE_PCT, s->ppl_delta_pct, tot, lim);
        else
            snprintf(p->why, sizeof p->why,
                     "No scheme within %.0f%% of FP16 perplexity fits; %s has the best expected quality "
                     "that does (%+.2f%% PPL), %.2f GiB in total of %s.",
                     BALANCED_GATE_PCT, s->name, s->ppl_delta_pct, tot, lim);
        break;
    case LQMF_PREF_QUALITY:
        snprintf(p->why, sizeof p->why,
                 "%s has the best expected quality that fits (%+.2f%% PPL vs FP16): %.2f GiB in total of %s.",
                 s->name, s->ppl_delta_pct, tot, lim);
        break;
    case LQMF_PREF_FASTEST:
        snprintf(p->why, sizeof p->why,
                 "%s reads the fewest weight bytes per token (%.2f GiB)%s, and decoding speed is bound by "
                 "memory bandwidth; %.2f GiB in total of %s.",
                 s->name, gib(o->est.weight_bytes),
                 rule_hit ? " among schemes within 5% of FP16 perplexity" : "", tot, lim);
        break;
    case LQMF_PREF_SMALLEST:
        snprintf(p->why, sizeof p->why,
                 "%s is the smallest scheme that fits: weights %.2f GB, %.2f GiB in total of %s.", s->name,
                 (double)o->est.weight_bytes / 1e9, tot, lim);
        break;
    }
}

static void choose(lqmf_plan *p) {
    int pick = -1, rule_hit = 0;
    switch (p->rq.pref) {
    case LQMF_PREF_BALANCED:
        pick = smallest_within(p, BALANCED_GATE_PCT, true);
        rule_hit = pick >= 0;
        if (pick < 0) {
            for (size_t i = 0; i < p->n_opts && pick < 0; i++)
                if (p->opts[i].fit == LQMF_FIT_OK && p->opts[i].est.scheme->bits < 16) pick = (int)i;
        }
        if (pick < 0 && p->n_opts && p->opts[0].fit == LQMF_FIT_OK) pick = 0;
        break;
    case LQMF_PREF_QUALITY:
        if (p->n_opts && p->opts[0].fit == LQMF_FIT_OK) pick = 0;
        break;
    case LQMF_PREF_FASTEST:
        pick = smallest_within(p, FASTEST_GATE_PCT, false);
        rule_hit = pick >= 0;
        if (pick < 0) pick = smallest_within(p, INFINITY, false);
        break;
    case LQMF_PREF_SMALLEST: pick = smallest_within(p, INFINITY, false); break;
    }
    p->chosen = pick;
    if (pick >= 0) explain_choice(p, rule_hit);
}

void lqmf_plan_misfit_text(const lqmf_plan *p, const lqmf_plan_option *o, char *buf, size_t n) {
    const lqmf_estimate *e = &o->est;
    switch (o->fit) {
    case LQMF_FIT_MEMORY:
        snprintf(buf, n, "needs %.2f GiB in total but only %.2f GiB is usable on the %s", gib(e->total_bytes),
                 gib(p->usable_mem), lqmf_device_name(p->rq.device));
        break;
    case LQMF_FIT_BUDGET:
        snprintf(buf, n, "needs %.2f GiB in total, over the %.2f GiB budget", gib(e->total_bytes),
                 gib(p->rq.mem_budget));
        break;
    case LQMF_FIT_SIZE:
        snprintf(buf, n, "has %.2f GB of weights, over the %.2f GB size budget",
                 (double)e->weight_bytes / 1e9, (double)p->rq.size_budget / 1e9);
        break;
    case LQMF_FIT_DISK:
        snprintf(buf, n, "needs %.2f GB on disk (%.2f GB output + %.2f GB download) but %.2f GB is free",
                 (double)(e->weight_bytes + p->rq.disk_extra) / 1e9, (double)e->weight_bytes / 1e9,
                 (double)p->rq.disk_extra / 1e9, (double)p->rq.disk_free / 1e9);
        break;
    case LQMF_FIT_OK: snprintf(buf, n, "fits"); break;
    }
}

static lqmf_status make_plan(const lqmf_model_meta *m, const lqmf_plan_request *rq, lqmf_plan *out,
                             bool nested);

/* Bytes by which option o misses the limit it fails. */
static uint64_t overage(const lqmf_plan *p, const lqmf_plan_option *o) {
    const lqmf_estimate *e = &o->est;
    switch (o->fit) {
    case LQMF_FIT_MEMORY: return e->total_bytes - p->usable_mem;
    case LQMF_FIT_BUDGET: return e->total_bytes - p->rq.mem_budget;
    case LQMF_FIT_SIZE: return e->weight_bytes - p->rq.size_budget;
    case LQMF_FIT_DISK: return e->weight_bytes + p->rq.disk_extra - p->rq.disk_free;
    case LQMF_FIT_OK: break;
    }
    return 0;
}

static void filter_text(const lqmf_plan_request *rq, char *buf, size_t n) {
    if (rq->scheme) {
        snprintf(buf, n, "%s", rq->scheme->name);
        return;
    }
    int k =
        snprintf(buf, n, "%s", rq->method == LQMF_METHOD_ANY ? "any method" : lqmf_method_name(rq->method));
    if (rq->bits && k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, " at %u bits", rq->bits);
}

/* A refusal: say why, and find the nearest thing that would work: a shorter
 * context, or another scheme once the method/bits filters are dropped. */
static lqmf_status explain_refusal(const lqmf_model_meta *m, lqmf_plan *p, bool nested) {
    bool filtered = p->rq.method != LQMF_METHOD_ANY || p->rq.bits || p->rq.scheme;
    if (!p->n_opts) {
        char filt[96];
        filter_text(&p->rq, filt, sizeof filt);
        snprintf(p->why, sizeof p->why, "No scheme matches %s on the %s%s.", filt,
                 lqmf_device_name(p->rq.device),
                 p->rq.device != LQMF_DEVICE_GPU ? " (GPTQ, AWQ and bitsandbytes need a CUDA GPU)" : "");
    } else {
        const lqmf_plan_option *o = &p->opts[0]; /* the smallest total of the misfits */
        char clause[256];
        lqmf_plan_misfit_text(p, o, clause, sizeof clause);
        snprintf(p->why, sizeof p->why, "Nothing fits: the smallest candidate, %s, %s.", o->est.scheme->name,
                 clause);
        if (o->fit == LQMF_FIT_MEMORY || o->fit == LQMF_FIT_BUDGET) {
            for (uint32_t ctx = p->n_ctx / 2; ctx >= 512; ctx /= 2) {
                lqmf_estimate e;
                lqmf_status st = lqmf_plan_estimate(m, o->est.scheme, ctx, p->rq.device, &e);
                if (st != LQMF_OK) return st;
                if (check_fit(p, &e) == LQMF_FIT_OK) {
                    snprintf(p->alternative, sizeof p->alternative,
                             "%s fits with a context of %u tokens (%.2f GiB in total).", o->est.scheme->name,
                             ctx, gib(e.total_bytes));
                    return LQMF_OK;
                }
            }
        }
    }
    if (filtered && !nested) {
        lqmf_plan_request loose = p->rq;
        loose.method = LQMF_METHOD_ANY;
        loose.bits = 0;
        loose.scheme = NULL;
        lqmf_plan alt;
        lqmf_status st = make_plan(m, &loose, &alt, true);
        if (st != LQMF_OK) return st;
        if (alt.chosen >= 0) {
            const lqmf_estimate *e = &alt.opts[alt.chosen].est;
            snprintf(p->alternative, sizeof p->alternative,
                     "Without the method/bits limits: %s (%s, %.2f GiB in total, %+.2f%% PPL).",
                     e->scheme->name, lqmf_method_name(e->scheme->method), gib(e->total_bytes),
                     e->scheme->ppl_delta_pct);
        }
        lqmf_plan_free(&alt);
        if (p->alternative[0]) return LQMF_OK;
    }
    if (p->n_opts) {
        const lqmf_plan_option *o = &p->opts[0];
        snprintf(p->alternative, sizeof p->alternative,
                 "The nearest is %s, %.2f GB over the limit; a smaller model or a larger limit is needed.",
                 o->est.scheme->name, (double)overage(p, o) / 1e9);
    }
    return LQMF_OK;
}

static lqmf_status make_plan(const lqmf_model_meta *m, const lqmf_plan_request *rq, lqmf_plan *out,
                             bool nested) {
    memset(out, 0, sizeof *out);
    out->rq = *rq;
    out->rq.device = rq->device == LQMF_DEVICE_GPU ? LQMF_DEVICE_GPU : LQMF_DEVICE_CPU;
    out->chosen = -1;
    out->n_ctx = resolve_ctx(m, rq->n_ctx);
    if (rq->device_mem) {
        uint64_t margin = (uint64_t)((double)rq->device_mem * MARGIN_FRACTION);
        out->margin = margin > MARGIN_MIN ? margin : MARGIN_MIN;
        if (out->margin > rq->device_mem) out->margin = rq->device_mem;
        out->usable_mem = rq->device_mem - out->margin;
        if (!out->usable_mem) out->usable_mem = 1; /* a device with no room: nothing fits */
    }
    out->opts = calloc(lqmf_scheme_defs_count, sizeof *out->opts);
    if (!out->opts) return lqmf_error(LQMF_E_NOMEM, "plan: out of memory");
    for (size_t i = 0; i < lqmf_scheme_defs_count; i++) {
        const lqmf_scheme *s = &lqmf_scheme_defs[i].pub;
        if (!allowed(s, &out->rq, out->rq.device)) continue;
        lqmf_plan_option *o = &out->opts[out->n_opts];
        lqmf_status st = lqmf_plan_estimate(m, s, out->n_ctx, out->rq.device, &o->est);
        if (st != LQMF_OK) {
            lqmf_plan_free(out);
            return st;
        }
        o->fit = check_fit(out, &o->est);
        out->n_opts++;
    }
    qsort(out->opts, out->n_opts, sizeof *out->opts, cmp_opts);
    choose(out);
    if (out->chosen >= 0) return LQMF_OK;
    lqmf_status st = explain_refusal(m, out, nested);
    if (st != LQMF_OK) lqmf_plan_free(out);
    return st;
}

lqmf_status lqmf_plan_make(const lqmf_model_meta *m, const lqmf_plan_request *rq, lqmf_plan *out) {
    return make_plan(m, rq, out, false);
}

void lqmf_plan_free(lqmf_plan *p) {
    if (!p) return;
    free(p->opts);
    p->opts = NULL;
    p->n_opts = 0;
}

lqmf_status lqmf_plan_render(const lqmf_model_meta *m, const lqmf_plan *p, lqmf_buf *out) {
    const lqmf_plan_request *rq = &p->rq;
    char np[24];
    count_str((double)m->n_params, np, sizeof np);
    lqmf_buf_printf(out, "Plan for %s (%s params, %u layers, context %u) on the %s, preferring %s\n", m->name,
                    np, m->n_layer, p->n_ctx, lqmf_device_name(rq->device), lqmf_pref_name(rq->pref));
    if (rq->device_mem)
        lqmf_buf_printf(out, "  device memory %.2f GiB - margin %.2f GiB = %.2f GiB usable\n",
                        gib(rq->device_mem), gib(p->margin), gib(p->usable_mem));
    if (rq->mem_budget) lqmf_buf_printf(out, "  run-time budget %.2f GiB\n", gib(rq->mem_budget));
    if (rq->size_budget) lqmf_buf_printf(out, "  file-size budget %.2f GB\n", (double)rq->size_budget / 1e9);
    if (rq->check_disk)
        lqmf_buf_printf(out, "  disk: %.2f GB free for the output%s\n", (double)rq->disk_free / 1e9,
                        rq->disk_extra ? "" : " (download size not counted)");
    if (rq->check_disk && rq->disk_extra)
        lqmf_buf_printf(out, "  download: %.2f GB\n", (double)rq->disk_extra / 1e9);
    if (p->n_opts)
        lqmf_buf_printf(out, "\n     %-10s %-5s %6s %10s %10s %10s %10s %8s  %s\n", "scheme", "meth", "bpw",
                        "weights", "kv cache", "other", "total", "dPPL%", "fit");
    for (size_t i = 0; i < p->n_opts; i++) {
        const lqmf_estimate *e = &p->opts[i].est;
        char w[24], kv[24], other[24], tot[24];
        lqmf_buf_printf(out, "  %s %-10s %-5s %6.2f %10s %10s %10s %10s %+8.3f  %s\n",
                        (int)i == p->chosen ? "=>" : "  ", e->scheme->name,
                        lqmf_method_name(e->scheme->method), e->bpw, mem_str(e->weight_bytes, w, sizeof w),
                        mem_str(e->kv_bytes, kv, sizeof kv),
                        mem_str(e->compute_bytes + e->base_bytes, other, sizeof other),
                        mem_str(e->total_bytes, tot, sizeof tot), e->scheme->ppl_delta_pct,
                        lqmf_fit_name(p->opts[i].fit));
    }
    lqmf_buf_printf(out, "\n");
    if (p->chosen >= 0) {
        lqmf_status st = lqmf_plan_render_estimate(m, &p->opts[p->chosen].est, out);
        if (st != LQMF_OK) return st;
        lqmf_buf_printf(out, "\nChoice: %s\n", p->why);
        if (p->opts[p->chosen].est.scheme->gpu_only && rq->device != LQMF_DEVICE_GPU)
            lqmf_buf_printf(out,
                            "Runtime: %s is meant for a CUDA GPU (transformers with its kernels); on this %s "
                            "lqmf decodes it to F32 to test it.\n",
                            p->opts[p->chosen].est.scheme->name, lqmf_device_name(rq->device));
    } else {
        lqmf_buf_printf(out, "Refused: %s\n", p->why);
        if (p->alternative[0]) lqmf_buf_printf(out, "Nearest alternative: %s\n", p->alternative);
    }
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "plan: out of memory rendering") : LQMF_OK;
}
