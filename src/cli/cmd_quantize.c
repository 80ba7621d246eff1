/* lqmf quantize SOURCE --type TYPE [-o OUT.gguf] [--imatrix F | --no-estimate]
 *   [-t N] [--tensor-type REGEX=TYPE]... [--pure] [--keep-output] [--no-test]
 * A model (HF folder, GGUF, llama2.c) to a quantized GGUF: a progress bar on
 * a terminal (plain lines otherwise), then the summary. TYPE NF4, FP4 or
 * INT8 writes a bitsandbytes checkpoint folder from an HF folder instead
 * (-o OUTDIR, default "<source>-<TYPE>"; --double-quant: 8-bit absmax), and
 * GPTQ-4bit / GPTQ-8bit a GPTQ one calibrated on --calib TEXT (default: the
 * built-in text the quick test does not score). */
#include "cli.h"
#include "cmd_test.h"
#include "lqmf/eval.h"
#include "lqmf/hfq.h"
#include "lqmf/quantize.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OVERRIDES 64

typedef struct {
    bool tty;
    size_t last_line; /* plain mode: tensors done at the last printed line */
} progress_state;

static bool show_progress(void *user, const lqmf_quantize_progress *p) {
    progress_state *s = user;
    char done[32], total[32];
    lqmf_fmt_bytes(p->bytes_done, done, sizeof done);
    lqmf_fmt_bytes(p->bytes_total, total, sizeof total);
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
    double eta = frac > 0 ? p->elapsed_s * (1 - frac) / frac : 0;
    if (s->tty) {
        int w = 30, fill = (int)(frac * w);
        fprintf(stderr, "\r[%.*s%*s] %3.0f%% %zu/%zu tensors %s/%s ETA %.0fs   ", fill,
                "##############################", w - fill, "", frac * 100, p->done, p->total, done, total,
                eta);
        if (p->done == p->total) fputc('\n', stderr);
    } else if (p->done == p->total || p->done - s->last_line >= 16) {
        fprintf(stderr, "quantize: %zu/%zu tensors, %s/%s, %s -> %s, ETA %.0fs\n", p->done, p->total, done,
                total, p->tensor, lqmf_type_name(p->type), eta);
        s->last_line = p->done;
    }
    return true;
}

static void summary(const char *out, const lqmf_quantize_result *r) {
    printf("✅ Quantization Successful!\n");
    printf("Model saved to: %s\n", out);
    printf("Size: %.2f MB (reduced from %.2f MB)\n", (double)r->out_bytes / 1e6, (double)r->src_bytes / 1e6);
    printf("Time: %.2f seconds\n", r->seconds);
    printf("Compression Ratio: %.2fx\n", r->out_bytes ? (double)r->src_bytes / (double)r->out_bytes : 0.0);
    printf("Bits per weight: %.2f\n", r->bpw);
    printf("Tensor types:");
    for (int t = 0; t < LQMF_TYPE_COUNT; t++)
        if (r->type_count[t]) printf(" %s %u", lqmf_type_name((uint32_t)t), r->type_count[t]);
    printf("\n");
    if (r->n_fallback) printf("Fallback types: %u tensors (rows not a multiple of the block size)\n", r->n_fallback);
    if (r->n_imatrix)
        printf("Importance: %u tensors weighted by %s\n", r->n_imatrix,
               r->imatrix_estimated ? "an importance matrix estimated from the weights" : "the importance matrix");
}

/* "REGEX=TYPE" (the last '=' splits, so a regex may contain '='). */
static bool parse_override(char *arg, lqmf_quantize_override *ov) {
    char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) return false;
    *eq = '\0';
    ov->regex = arg;
    return lqmf_type_from_name(eq + 1, &ov->type);
}

static bool show_hfq_progress(void *user, const lqmf_hfq_progress *p) {
    progress_state *s = user;
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
    if (s->tty) {
        int w = 30, fill = (int)(frac * w);
        fprintf(stderr, "\r[%.*s%*s] %3.0f%% %zu/%zu linear weights   ", fill, "##############################",
                w - fill, "", frac * 100, p->done, p->total);
        if (p->done == p->total) fputc('\n', stderr);
    } else if (p->done == p->total || p->done - s->last_line >= 16) {
        fprintf(stderr, "quantize: %zu/%zu linear weights, %s\n", p->done, p->total, p->tensor);
        s->last_line = p->done;
    }
    return true;
}

static void hfq_summary(const char *out, lqmf_hfq_kind k, const lqmf_hfq_result *r) {
    printf("✅ Quantization Successful!\n");
    printf("Model saved to: %s\n", out);
    printf("Size: %.2f MB (reduced from %.2f MB)\n", (double)r->out_bytes / 1e6, (double)r->src_bytes / 1e6);
    printf("Time: %.2f seconds\n", r->seconds);
    printf("Compression Ratio: %.2fx\n", r->out_bytes ? (double)r->src_bytes / (double)r->out_bytes : 0.0);
    if (k == LQMF_HFQ_GPTQ_4BIT || k == LQMF_HFQ_GPTQ_8BIT)
        printf("Quantization: %s GPTQ (group 128), %u linear weights; runtime: a CUDA GPU\n",
               k == LQMF_HFQ_GPTQ_8BIT ? "8-bit" : "4-bit", r->n_quantized);
    else
        printf("Quantization: %s BitsAndBytes (%s), %u linear weights; runtime: a CUDA GPU with bitsandbytes\n",
               k == LQMF_HFQ_INT8 ? "8-bit" : "4-bit", lqmf_hfq_kind_name(k), r->n_quantized);
    printf("Bits per weight: %.2f\n", r->bpw);
}

/* Default output: "<source without extension or trailing slash>-<TYPE><ext>". */
static char *default_out(const char *src, const char *type, const char *ext) {
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/') len--;
    const char *dot = memrchr(src, '.', len), *slash = memrchr(src, '/', len);
    if (dot && (!slash || dot > slash)) len = (size_t)(dot - src);
    char *out = NULL;
    return asprintf(&out, "%.*s-%s%s", (int)len, src, type, ext) < 0 ? NULL : out;
}

/* --type/-q or -o/--output make a plain conversion; other words are a
 * request for the factory ("gpt2 to 4-bit GGUF for CPU"). */
static bool plain_conversion(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (LQMF_IS(argv[i], "--type") || LQMF_IS(argv[i], "-q") || LQMF_IS(argv[i], "-o") ||
            LQMF_IS(argv[i], "--output"))
            return true;
    return false;
}

/* The checkpoint folder (bitsandbytes or GPTQ) of an HF source, then its
 * quick test. GPTQ calibrates on calib (a text file) or the built-in text. */
static int run_hfq(const char *src, const char *out, lqmf_hfq_kind kind, bool dq, const char *calib,
                   uint32_t n_threads, bool no_test) {
    char *out_owned = out ? NULL : default_out(src, lqmf_hfq_kind_name(kind), "");
    if (!out) out = out_owned;
    progress_state ps = {isatty(STDERR_FILENO) != 0, 0};
    lqmf_hfq_opts o = {
        .kind = kind, .double_quant = dq, .n_threads = n_threads, .progress = show_hfq_progress, .user = &ps};
    char *text = NULL;
    lqmf_status st = LQMF_OK;
    if (kind == LQMF_HFQ_GPTQ_4BIT || kind == LQMF_HFQ_GPTQ_8BIT) {
        if (calib) st = lqmf_read_file(calib, 1ull << 30, &text, &o.calib_len);
        o.calib_text = calib ? text : lqmf_eval_calibration_text(&o.calib_len);
    }
    lqmf_model *m = NULL;
    lqmf_hfq_result r;
    if (st == LQMF_OK) st = lqmf_model_open(src, &m);
    if (st == LQMF_OK) st = lqmf_hfq_write(m, out, &o, &r);
    lqmf_model_close(m);
    free(text);
    if (st != LQMF_OK) {
        free(out_owned);
        return lqmf_cli_fail(st);
    }
    hfq_summary(out, kind, &r);
    int rc = 0;
    if (!no_test) {
        printf("\n");
        fflush(stdout);
        rc = lqmf_cli_test_artifact(out, src);
    }
    free(out_owned);
    return rc;
}

static int run_quantize(int argc, char **argv) {
    if (!plain_conversion(argc, argv)) return lqmf_cli_factory(argc, argv, true);
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    lqmf_quantize_override ovs[MAX_OVERRIDES];
    const char *src = NULL, *out = NULL, *calib = NULL;
    bool no_test = false, double_quant = false;
    o.type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((LQMF_IS(a, "--type") || LQMF_IS(a, "-q")) && has_val)
            o.type = argv[++i];
        else if ((LQMF_IS(a, "-o") || LQMF_IS(a, "--output")) && has_val)
            out = argv[++i];
        else if (LQMF_IS(a, "--imatrix") && has_val)
            o.imatrix = argv[++i];
        else if ((LQMF_IS(a, "-t") || LQMF_IS(a, "--threads")) && has_val)
            o.n_threads = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (LQMF_IS(a, "--tensor-type") && has_val) {
            if (o.n_overrides == MAX_OVERRIDES || !parse_override(argv[++i], &ovs[o.n_overrides])) {
                fprintf(stderr, "lqmf quantize: bad --tensor-type '%s' (want REGEX=TYPE)\n", argv[i]);
                return 2;
            }
            o.n_overrides++;
        } else if (LQMF_IS(a, "--pure"))
            o.pure = true;
        else if (LQMF_IS(a, "--keep-output"))
            o.keep_output = true;
        else if (LQMF_IS(a, "--no-estimate"))
            o.no_estimate = true;
        else if (LQMF_IS(a, "--no-test"))
            no_test = true;
        else if (LQMF_IS(a, "--double-quant"))
            double_quant = true;
        else if (LQMF_IS(a, "--calib") && has_val)
            calib = argv[++i];
        else if (a[0] != '-' && !src)
            src = a;
        else
            return lqmf_cli_usage("quantize");
    }
    if (!src || !o.type) return lqmf_cli_usage("quantize");
    o.overrides = ovs;
    lqmf_hfq_kind kind;
    if (lqmf_hfq_kind_from_name(o.type, &kind))
        return run_hfq(src, out, kind, double_quant, calib, o.n_threads, no_test);
    int32_t ft;
    if (!lqmf_quantize_ftype(o.type, &ft)) {
        fprintf(stderr, "lqmf quantize: unknown type '%s' (try Q4_K_M, Q5_K_M, Q8_0, Q4_0, Q2_K, Q6_K, F16, "
                "NF4, FP4, INT8, GPTQ-4bit, GPTQ-8bit)\n",
                o.type);
        return 2;
    }
    char *out_owned = out ? NULL : default_out(src, o.type, ".gguf");
    if (!out) out = out_owned;
    progress_state ps = {isatty(STDERR_FILENO) != 0, 0};
    o.progress = show_progress;
    o.user = &ps;
    char *src_abs = realpath(src, NULL); /* provenance: lqmf test finds its baseline there */
    o.source_url = src_abs;
    lqmf_model *m = NULL;
    lqmf_quantize_result r;
    lqmf_status st = lqmf_model_open(src, &m);
    if (st == LQMF_OK) st = lqmf_quantize_model(m, out, &o, &r);
    lqmf_model_close(m);
    free(src_abs);
    if (st != LQMF_OK) {
        free(out_owned);
        return lqmf_cli_fail(st);
    }
    summary(out, &r);
    int rc = 0;
    if (!no_test) { /* the quick test of the artifact against its source */
        printf("\n");
        fflush(stdout);
        rc = lqmf_cli_test_artifact(out, src);
    }
    free(out_owned);
    return rc;
}

LQMF_COMMAND(quantize, "quantize",
             "REQUEST... [--yes] [--json] [--no-test] [--advice] | SOURCE --type TYPE [-o OUT.gguf] "
             "[--imatrix F | --no-estimate] [-t N] [--tensor-type REGEX=TYPE]... [--pure] [--keep-output] "
             "[--no-test] | HF_FOLDER --type NF4|FP4|INT8|GPTQ-4bit|GPTQ-8bit [--double-quant] [--calib TEXT] [-o OUTDIR] [--no-test]",
             "the factory (\"gpt2 to 4-bit GGUF for CPU\": plan, download, quantize, test, record), or with "
             "--type a plain conversion to a GGUF file or a bitsandbytes / GPTQ checkpoint folder",
             run_quantize)
