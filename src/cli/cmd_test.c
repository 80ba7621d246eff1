/* lqmf test list | discover | NAME: what a quantization cost.
 *
 * list/discover read every model of the quantized-models folder (--dir,
 * $QUANTIZED_MODELS_DIR, else ./quantized-models) from its files; discover
 * also records them in the experiment store. `test NAME` resolves NAME (a
 * path, an exact name or a unique part of one), finds the baseline (--baseline,
 * else the artifact's recorded source, else the store), runs the evaluation,
 * prints the report, saves the JSON under benchmarks/ (--out,
 * $LQMF_BENCHMARKS_DIR) and records the figures in the store when one exists.
 * Exit: 0 pass or unmeasured, 3 when the verdict is fail, 1 error, 2 usage. */
#include "cli.h"
#include "cmd_test.h"
#include "lqmf/eval.h"
#include "lqmf/hub.h"
#include "lqmf/store.h"

#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    lqmf_eval_opts eo;
    const char *query, *baseline, *dir, *out_dir, *db;
    lqmf_store_backend backend;
    bool no_store, json, plain, no_cache;
    char cache_dir[4096];
    char request[1024]; /* the command as typed, for the store */
} test_args;

static const char *models_dir(const test_args *a) {
    if (a->dir) return a->dir;
    const char *e = getenv("QUANTIZED_MODELS_DIR");
    return e && *e ? e : "quantized-models";
}

static const char *bench_dir(const test_args *a) {
    if (a->out_dir) return a->out_dir;
    const char *e = getenv("LQMF_BENCHMARKS_DIR");
    return e && *e ? e : "benchmarks";
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Colours on a terminal that wants them; box drawing under a UTF-8 locale. */
static unsigned render_flags(const test_args *a) {
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET), *term = getenv("TERM");
    unsigned f = 0;
    if (a->plain || !cs || strcmp(cs, "UTF-8") != 0) f |= LQMF_EVAL_RENDER_ASCII;
    if (!a->plain && isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb")))
        f |= LQMF_EVAL_RENDER_COLOR;
    return f;
}

static void progress(void *user, const char *phase, uint32_t done, uint32_t total) {
    (void)user;
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r\033[K  %s %u/%u", phase, done, total);
    if (done == total) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* ---- the experiment store ----------------------------------------------------------- */
/* Open the store when it exists (or when create): NULL otherwise, and for
 * writing (record) also with --no-store. */
static lqmf_store *store_open(const test_args *a, bool create, bool record) {
    if (record && a->no_store) return NULL;
    char *path = a->db ? strdup(a->db) : lqmf_store_default_path(a->backend);
    lqmf_store *s = NULL;
    char *slash = path ? strrchr(path, '/') : NULL;
    if (create && slash && slash != path) { /* the store's folder ($LQMF_HOME, .lqmf) */
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    if (path && (create || exists(path))) {
        if (lqmf_store_open(path, a->backend, &s) != LQMF_OK) {
            fprintf(stderr, "lqmf: experiment store %s: %s (not recorded)\n", path, lqmf_last_error());
            s = NULL;
        }
    }
    free(path);
    return s;
}

/* ---- baseline ----------------------------------------------------------------------- */
/* The cached snapshot folder of a Hugging Face repository, or NULL. */
static char *hub_cached(const char *repo) {
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.offline = 1;
    o.token = "";
    lqmf_hub *h = NULL;
    lqmf_hub_repo *r = NULL;
    char *p = NULL;
    if (lqmf_hub_new(&o, &h) == LQMF_OK && lqmf_hub_repo_open(h, repo, NULL, &r) == LQMF_OK &&
        is_dir(r->snapshot_dir))
        p = strdup(r->snapshot_dir);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    lqmf_clear_error();
    return p;
}

/* A local path, a file:// or huggingface.co URL, or an "org/name" id. */
static char *locate(const char *src) {
    if (!src || !*src) return NULL;
    if (!strncmp(src, "file://", 7)) src += 7;
    if (exists(src)) return strdup(src);
    const char *hf = "https://huggingface.co/";
    if (!strncmp(src, hf, strlen(hf))) src += strlen(hf);
    const char *slash = strchr(src, '/');
    if (slash && slash != src && !strchr(slash + 1, '/')) return hub_cached(src);
    return NULL;
}

/* The source recorded for the artifact at path in the store. */
static char *store_source(const test_args *a, const char *path) {
    lqmf_store *s = store_open(a, false, false);
    if (!s) return NULL;
    lqmf_store_snapshot snap = {0};
    char *src = NULL, *abs = realpath(path, NULL);
    if (lqmf_store_load(s, &snap) == LQMF_OK)
        for (size_t i = 0; i < snap.n_artifacts && !src; i++) {
            const lqmf_store_artifact *art = &snap.artifacts[i];
            if (strcmp(art->path, path) != 0 && !(abs && !strcmp(art->path, abs))) continue;
            const lqmf_store_model *m = lqmf_store_find_model(&snap, art->model_id);
            if (m) src = strdup(m->source);
        }
    lqmf_clear_error();
    free(abs);
    lqmf_store_snapshot_free(&snap);
    lqmf_store_close(s);
    return src;
}

/* Baseline path (owned) and its source for the store (owned); NULL, NULL
 * when none is known. Fails only when --baseline names nothing usable. */
static lqmf_status find_baseline(const test_args *a, const char *model_path, char **path, char **source) {
    *path = *source = NULL;
    if (a->baseline) {
        *path = locate(a->baseline);
        bool id = strchr(a->baseline, '/') && a->baseline[0] != '/' && a->baseline[0] != '.';
        if (!*path && !id)
            return lqmf_error(LQMF_E_NOT_FOUND, "baseline '%s': no such file or folder", a->baseline);
        if (!*path)
            return lqmf_error(LQMF_E_NOT_FOUND,
                              "baseline '%s': not a local path and not in the Hugging Face cache "
                              "(lqmf download %s fetches it)",
                              a->baseline, a->baseline);
        *source = strdup(a->baseline);
        return LQMF_OK;
    }
    lqmf_eval_provenance pv;
    if (lqmf_eval_provenance_read(model_path, &pv) == LQMF_OK) {
        const char *cand[2] = {pv.source_url, pv.source_repo};
        for (int i = 0; i < 2 && !*path; i++)
            if ((*path = locate(cand[i]))) *source = strdup(cand[i]);
        lqmf_eval_provenance_free(&pv);
    }
    lqmf_clear_error();
    if (!*path) {
        char *src = store_source(a, model_path);
        if ((*path = locate(src)))
            *source = src;
        else
            free(src);
    }
    return LQMF_OK;
}

/* ---- recording ----------------------------------------------------------------------- */
typedef struct {
    lqmf_store *s; /* NULL: not recording */
    int64_t exp_id;
} recorder;

/* Begin the experiment when a store exists, so a crash shows as interrupted. */
static void record_begin(const test_args *a, recorder *rec) {
    rec->s = store_open(a, false, true);
    rec->exp_id = 0;
    if (!rec->s) return;
    char info[64];
    snprintf(info, sizeof info, "%ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
    lqmf_store_experiment x = {0};
    x.request = a->request;
    x.host_info = info;
    if (lqmf_store_begin(rec->s, &x, &rec->exp_id) != LQMF_OK) {
        fprintf(stderr, "lqmf: store %s: %s (not recorded)\n", lqmf_store_path(rec->s), lqmf_last_error());
        lqmf_store_close(rec->s);
        rec->s = NULL;
    }
}

static lqmf_status record_figures(lqmf_store *s, int64_t exp_id, const lqmf_eval_report *r,
                                  const char *source) {
    int64_t model_id = 0, art_id = 0;
    if (r->has_baseline) {
        lqmf_store_model m = {0,
                              source ? source : r->baseline.path,
                              "",
                              r->baseline.architecture,
                              r->baseline.n_params,
                              r->baseline.file_bytes,
                              0};
        if (lqmf_store_put_model(s, &m, &model_id) != LQMF_OK) return LQMF_E_IO;
    }
    char *abs = realpath(r->model.path, NULL);
    lqmf_store_artifact art = {0,
                               model_id,
                               abs ? abs : r->model.path,
                               r->model.format,
                               r->model.method,
                               r->model.bits_per_weight,
                               r->model.file_bytes,
                               "",
                               0};
    lqmf_status st = lqmf_store_put_artifact(s, &art, &art_id);
    free(abs);
    if (st != LQMF_OK) return st;
    lqmf_store_experiment x = {.id = exp_id, .model_id = model_id, .artifact_id = art_id};
    if ((st = lqmf_store_update(s, &x)) != LQMF_OK) return st;
    return lqmf_eval_record(s, exp_id, model_id, art_id, r);
}

/* Finish the experiment: the figures of r, or failed with error. */
static void record_end(recorder *rec, const lqmf_eval_report *r, const char *source, const char *error,
                       bool json) {
    if (!rec->s) return;
    lqmf_status st = r ? record_figures(rec->s, rec->exp_id, r, source) : LQMF_OK;
    if (st == LQMF_OK)
        st = lqmf_store_finish(rec->s, rec->exp_id, r ? LQMF_STORE_SUCCEEDED : LQMF_STORE_FAILED, error);
    if (st != LQMF_OK)
        fprintf(stderr, "lqmf: store %s: %s\n", lqmf_store_path(rec->s), lqmf_last_error());
    else if (r) /* stdout stays pure JSON with --json */
        fprintf(json ? stderr : stdout, "Recorded in %s (experiment #%lld)\n", lqmf_store_path(rec->s),
                (long long)rec->exp_id);
    lqmf_store_close(rec->s);
    rec->s = NULL;
}

/* ---- commands -------------------------------------------------------------------------- */
static int cmd_list(const test_args *a, bool discover) {
    lqmf_eval_found_list l;
    lqmf_status st = lqmf_eval_discover(models_dir(a), &l);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    printf("%zu model%s in %s%s\n", l.n, l.n == 1 ? "" : "s", models_dir(a),
           is_dir(models_dir(a)) ? "" : " (no such folder)");
    lqmf_buf b;
    lqmf_buf_init(&b);
    if (l.n && lqmf_eval_found_list_render(&l, render_flags(a), &b) == LQMF_OK)
        fwrite(b.data, 1, b.len, stdout);
    lqmf_buf_free(&b);
    lqmf_store *s = discover ? store_open(a, true, true) : NULL;
    size_t n_rec = 0;
    for (size_t i = 0; s && i < l.n; i++) {
        const lqmf_eval_found *f = &l.items[i];
        if (f->error) continue;
        int64_t model_id = 0, id;
        lqmf_eval_provenance pv;
        if (lqmf_eval_provenance_read(f->path, &pv) == LQMF_OK) {
            const char *src = pv.source_repo ? pv.source_repo : pv.source_url;
            lqmf_store_model m = {0, src, "", f->architecture, 0, 0, 0};
            if (src && lqmf_store_put_model(s, &m, &model_id) != LQMF_OK) model_id = 0;
            lqmf_eval_provenance_free(&pv);
        }
        char *abs = realpath(f->path, NULL);
        lqmf_store_artifact art = {
            0, model_id, abs ? abs : f->path, f->format, f->method, f->bits, f->size_bytes, "", 0};
        if (lqmf_store_put_artifact(s, &art, &id) == LQMF_OK)
            n_rec++;
        else
            fprintf(stderr, "lqmf: store: %s\n", lqmf_last_error());
        free(abs);
        lqmf_clear_error();
    }
    if (s) printf("Recorded %zu artifact%s in %s\n", n_rec, n_rec == 1 ? "" : "s", lqmf_store_path(s));
    lqmf_store_close(s);
    lqmf_eval_found_list_free(&l);
    return 0;
}

static int run_test(test_args *a, const char *path, const char *name) {
    char *base = NULL, *source = NULL;
    lqmf_status st = find_baseline(a, path, &base, &source);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    if (!a->no_cache) {
        snprintf(a->cache_dir, sizeof a->cache_dir, "%s/.logits-cache", bench_dir(a));
        a->eo.cache_dir = a->cache_dir;
    }
    a->eo.model_path = path;
    a->eo.name = name;
    a->eo.baseline_path = base;
    a->eo.progress = progress;
    fprintf(stderr, "Testing %s against %s (%s)\n", path, base ? base : "no baseline",
            lqmf_eval_mode_name(a->eo.mode));
    recorder rec = {0};
    record_begin(a, &rec);
    lqmf_eval_report *r = NULL;
    st = lqmf_eval_run(&a->eo, &r);
    int rc = 0;
    if (st != LQMF_OK) {
        record_end(&rec, NULL, NULL, lqmf_last_error(), a->json);
        rc = lqmf_cli_fail(st);
    } else {
        lqmf_buf b;
        lqmf_buf_init(&b);
        if (a->json)
            st = lqmf_eval_report_json(r, &b);
        else
            st = lqmf_eval_report_render(r, render_flags(a), &b);
        if (st == LQMF_OK) fwrite(b.data, 1, b.len, stdout);
        lqmf_buf_free(&b);
        char *saved = NULL;
        if (lqmf_eval_report_save(r, bench_dir(a), &saved) == LQMF_OK)
            fprintf(a->json ? stderr : stdout, "Results saved to: %s\n", saved);
        else
            fprintf(stderr, "lqmf: report not saved: %s\n", lqmf_last_error());
        free(saved);
        record_end(&rec, r, source, NULL, a->json);
        rc = r->verdict == LQMF_EVAL_FAIL ? 3 : 0;
    }
    lqmf_eval_report_free(r);
    free(base);
    free(source);
    return rc;
}

/* A number option: "off" (no limit) allowed when off_ok. */
static bool num_arg(const char *s, double *out, bool off_ok) {
    if (off_ok && !strcmp(s, "off")) {
        *out = NAN;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && isfinite(*out);
}

static bool u32_arg(const char *s, uint32_t *out) {
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

static int usage(void) {
    fprintf(stderr,
            "usage: lqmf test list|discover [--dir DIR]\n"
            "       lqmf test NAME [--quick|--full] [--baseline MODEL] [--text FILE]\n"
            "  NAME: a path, an exact name or a unique part of one (see lqmf test list)\n"
            "  --protocol ref|quick|llamacpp  --ctx N  --tokens N (0: all)  --bos auto|none|prepend|replace\n"
            "  --score-first N  --threads N  --reps N  --pp N  --tg N  --prompts N  --new N\n"
            "  --max-kl X|off (0.03)  --min-top1 X|off (0.90)  --max-dppl X|off (0.05, a fraction)\n"
            "  --no-speed --no-gen --no-quality --no-cache --json --plain --out DIR --dir DIR\n"
            "  --db PATH --storage-backend sqlite|json --no-store\n"
            "exit: 0 pass or unmeasured, 3 verdict fail, 1 error, 2 usage\n");
    return 2;
}

static int parse(int argc, char **argv, test_args *a) {
    lqmf_eval_mode mode = LQMF_EVAL_QUICK;
    for (int i = 1; i < argc; i++)
        if (LQMF_IS(argv[i], "--full")) mode = LQMF_EVAL_FULL;
    lqmf_eval_opts_init(&a->eo, mode);
    size_t k = 0;
    for (int i = 0; i < argc && k + 1 < sizeof a->request; i++)
        k += (size_t)snprintf(a->request + k, sizeof a->request - k, "%s%s", i ? " " : "lqmf ", argv[i]);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        if (LQMF_IS(o, "--quick") || LQMF_IS(o, "--full"))
            takes = false;
        else if (LQMF_IS(o, "--no-speed"))
            takes = false, a->eo.skip_speed = true;
        else if (LQMF_IS(o, "--no-gen"))
            takes = false, a->eo.skip_generation = true;
        else if (LQMF_IS(o, "--no-quality"))
            takes = false, a->eo.skip_quality = true;
        else if (LQMF_IS(o, "--no-cache"))
            takes = false, a->no_cache = true;
        else if (LQMF_IS(o, "--no-store"))
            takes = false, a->no_store = true;
        else if (LQMF_IS(o, "--json"))
            takes = false, a->json = true;
        else if (LQMF_IS(o, "--plain"))
            takes = false, a->plain = true;
        else if (o[0] == '-' && !v)
            ok = false;
        else if (LQMF_IS(o, "--baseline"))
            a->baseline = v;
        else if (LQMF_IS(o, "--text"))
            a->eo.text_path = v;
        else if (LQMF_IS(o, "--dir"))
            a->dir = v;
        else if (LQMF_IS(o, "--out"))
            a->out_dir = v;
        else if (LQMF_IS(o, "--db"))
            a->db = v;
        else if (LQMF_IS(o, "--storage-backend"))
            ok = lqmf_store_backend_from_name(v, &a->backend);
        else if (LQMF_IS(o, "--protocol"))
            ok = lqmf_eval_protocol_preset(v, &a->eo.protocol) == LQMF_OK;
        else if (LQMF_IS(o, "--ctx"))
            ok = u32_arg(v, &a->eo.protocol.n_ctx);
        else if (LQMF_IS(o, "--tokens"))
            ok = u32_arg(v, &a->eo.protocol.max_tokens);
        else if (LQMF_IS(o, "--bos"))
            ok = lqmf_eval_bos_from_name(v, &a->eo.protocol.bos);
        else if (LQMF_IS(o, "--score-first")) {
            uint32_t f;
            ok = u32_arg(v, &f) && f < INT32_MAX;
            a->eo.protocol.score_first = (int32_t)f;
        } else if (LQMF_IS(o, "--threads"))
            ok = u32_arg(v, &a->eo.n_threads);
        else if (LQMF_IS(o, "--reps"))
            ok = u32_arg(v, &a->eo.speed_reps) && a->eo.speed_reps > 0;
        else if (LQMF_IS(o, "--pp"))
            ok = u32_arg(v, &a->eo.speed_pp) && a->eo.speed_pp > 0;
        else if (LQMF_IS(o, "--tg"))
            ok = u32_arg(v, &a->eo.speed_tg) && a->eo.speed_tg > 0;
        else if (LQMF_IS(o, "--prompts"))
            ok = u32_arg(v, &a->eo.gen_per_category);
        else if (LQMF_IS(o, "--new"))
            ok = u32_arg(v, &a->eo.gen_max_new) && a->eo.gen_max_new > 0;
        else if (LQMF_IS(o, "--max-kl"))
            ok = num_arg(v, &a->eo.thresholds.max_kl, true);
        else if (LQMF_IS(o, "--min-top1"))
            ok = num_arg(v, &a->eo.thresholds.min_top1, true);
        else if (LQMF_IS(o, "--max-dppl"))
            ok = num_arg(v, &a->eo.thresholds.max_dppl_frac, true);
        else if (o[0] == '-')
            ok = false;
        else {
            takes = false;
            if (a->query) {
                fprintf(stderr, "lqmf: test: one model at a time ('%s' and '%s')\n", a->query, o);
                return 2;
            }
            a->query = o;
        }
        if (!ok) {
            fprintf(stderr, "lqmf: test: bad option %s%s%s (%s)\n", o, v ? " " : "", v ? v : "",
                    lqmf_last_error()[0] ? lqmf_last_error() : "see lqmf test --help");
            lqmf_clear_error();
            return usage();
        }
        if (takes) i++;
    }
    return a->query ? 0 : usage();
}

static int test_main(int argc, char **argv) {
    if (argc >= 2 && (LQMF_IS(argv[1], "--help") || LQMF_IS(argv[1], "-h"))) {
        usage();
        return 0;
    }
    test_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    if (LQMF_IS(a.query, "list")) return cmd_list(&a, false);
    if (LQMF_IS(a.query, "discover")) return cmd_list(&a, true);
    lqmf_eval_found_list l;
    lqmf_status st = lqmf_eval_discover(models_dir(&a), &l);
    char *path = NULL, *name = NULL;
    if (st == LQMF_OK) st = lqmf_eval_resolve(&l, a.query, &path, &name);
    lqmf_eval_found_list_free(&l);
    if (st != LQMF_OK) {
        lqmf_error_prefix(st, "%s", models_dir(&a));
        return lqmf_cli_fail(st);
    }
    rc = run_test(&a, path, name);
    free(path);
    free(name);
    return rc;
}

int lqmf_cli_test_artifact(const char *path, const char *baseline) {
    test_args a = {0};
    lqmf_eval_opts_init(&a.eo, LQMF_EVAL_QUICK);
    a.baseline = baseline;
    snprintf(a.request, sizeof a.request, "lqmf test %s --quick (after quantize)", path);
    return run_test(&a, path, NULL);
}

LQMF_COMMAND(test, "test", "list|discover|NAME [--quick|--full] [--baseline M]",
             "measure a model against its baseline: quality, generation, speed, memory", test_main)
