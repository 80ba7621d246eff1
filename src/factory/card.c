/* Names, the summary and the model card (README.md) of a factory run. */
#include "factory_priv.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void factory_stem(const char *source, bool local, char *out, size_t n) {
    size_t len = strlen(source);
    while (len > 1 && source[len - 1] == '/') len--;
    const char *start = source;
    if (local) {
        const char *slash = memrchr(source, '/', len);
        if (slash) start = slash + 1;
        const char *dot = memrchr(start, '.', len - (size_t)(start - source));
        if (dot && dot > start) len = (size_t)(dot - source);
    }
    snprintf(out, n, "%.*s", (int)(len - (size_t)(start - source)), start);
    for (char *p = out; *p; p++)
        if (*p == '/' || *p == ' ') *p = '_';
}

void lqmf_factory_folder_name(const char *source, bool local, const lqmf_scheme *s, char *out, size_t n) {
    char stem[512];
    factory_stem(source, local, stem, sizeof stem);
    snprintf(out, n, "%s_%s_%ubit", stem, lqmf_method_name(s->method), s->bits);
}

/* 13852.2 -> "13,852.2" (MB with one decimal, thousands grouped). */
static const char *fmt_mb(uint64_t bytes, char *buf, size_t n) {
    char raw[48];
    snprintf(raw, sizeof raw, "%.1f", (double)bytes / 1e6);
    size_t int_len = strcspn(raw, "."), k = 0;
    for (size_t i = 0; raw[i] && k + 2 < n; i++) {
        if (i && i < int_len && (int_len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
    return buf;
}

/* "BitsAndBytes" or "GPTQ": how the card and summary name a checkpoint. */
static const char *hf_label(const lqmf_scheme *s) { return s->method == LQMF_METHOD_BNB ? "BitsAndBytes" : "GPTQ"; }

/* GPTQ calibrated on fewer tokens than LQMF_FACTORY_CALIB_MIN_TOKENS. */
static bool calib_short(const lqmf_factory_result *r) {
    return r->scheme->method == LQMF_METHOD_GPTQ && r->calib_tokens < LQMF_FACTORY_CALIB_MIN_TOKENS;
}

lqmf_status lqmf_factory_render_summary(const lqmf_factory_result *r, lqmf_buf *out) {
    if (r->outcome != LQMF_FACTORY_SUCCEEDED) return lqmf_error(LQMF_E_STATE, "no summary: the run %s",
                                                               lqmf_factory_outcome_name(r->outcome));
    char a[48], b[48];
    uint64_t before = r->src_bytes, after = r->quant.out_bytes;
    lqmf_buf_printf(out, "✅ Quantization Successful!\n");
    lqmf_buf_printf(out, "Model saved to: %s\n", r->out_folder);
    lqmf_buf_printf(out, "Size: %sMB (reduced from %sMB)\n", fmt_mb(after, a, sizeof a), fmt_mb(before, b, sizeof b));
    lqmf_buf_printf(out, "Time: %.2f seconds\n", r->seconds);
    lqmf_buf_printf(out, "Compression Ratio: %.2fx\n", after ? (double)before / (double)after : 0.0);
    if (r->scheme->method != LQMF_METHOD_GGUF)
        lqmf_buf_printf(out,
                        "Quantization: %u-bit %s (%s on the blocks' linear weights, %.2f bits per weight over the "
                        "whole model), runtime: a CUDA GPU\n",
                        r->scheme->bits, hf_label(r->scheme), r->scheme->name, r->quant.bpw);
    if (r->scheme->method == LQMF_METHOD_GPTQ)
        lqmf_buf_printf(out, "Calibration: %s, %llu tokens\n", r->calib, (unsigned long long)r->calib_tokens);
    if (calib_short(r))
        lqmf_buf_printf(out,
                        "⚠️ Warning: GPTQ was calibrated on only %llu tokens (fewer than %u); it may do worse "
                        "than round to nearest. Set calibration_text to a longer text file.\n",
                        (unsigned long long)r->calib_tokens, LQMF_FACTORY_CALIB_MIN_TOKENS);
    if (r->scheme->method == LQMF_METHOD_GGUF)
        lqmf_buf_printf(out, "Method: GGUF %s (%.2f bits per weight), file %s\n", r->scheme->name, r->quant.bpw,
                        strrchr(r->artifact, '/') ? strrchr(r->artifact, '/') + 1 : r->artifact);
    if (r->experiment_id) lqmf_buf_printf(out, "Experiment: #%lld\n", (long long)r->experiment_id);
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : LQMF_OK;
}

static void card_text(const factory_run *fr, lqmf_buf *b) {
    const lqmf_factory_result *r = fr->r;
    const lqmf_hparams *hp = &fr->model->hp;
    char when[32], src[32], out[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    bool hf = r->scheme->method != LQMF_METHOD_GGUF, gptq = r->scheme->method == LQMF_METHOD_GPTQ;
    const char *file = hf ? "model.safetensors" : strrchr(r->artifact, '/') ? strrchr(r->artifact, '/') + 1 : r->artifact;
    const char *folder = strrchr(r->out_folder, '/') ? strrchr(r->out_folder, '/') + 1 : r->out_folder;
    if (hf) {
        lqmf_buf_printf(b, "# %s (%s %s)\n\n", folder, hf_label(r->scheme), r->scheme->name);
        lqmf_buf_printf(b,
                        "A %u-bit %s quantization of `%s` (Hugging Face safetensors with "
                        "quantization_config), made by lqmf on %s.\n\nQuantization: %u-bit %s (%s). Intended "
                        "runtime: a CUDA GPU with transformers and %s; lqmf runs it on CPU by decoding the "
                        "weights to F32.\n\n",
                        r->scheme->bits, hf_label(r->scheme), r->source, when, r->scheme->bits, hf_label(r->scheme),
                        gptq ? "group size 128, desc_act false, sym, calibrated on the text named below"
                             : r->scheme->bits == 4 ? "NF4, blocksize 64, double quantization"
                                                    : "LLM.int8, per-row scales",
                        gptq ? "a GPTQ kernel package (optimum / gptqmodel)" : "bitsandbytes");
        if (calib_short(r))
            lqmf_buf_printf(b,
                            "> **Warning:** GPTQ was calibrated on only %llu tokens (fewer than %u); with so "
                            "little text it may do worse than round to nearest. Quantize again with a longer "
                            "text (the calibration_text setting, CALIBRATION_TEXT or --calibration-text).\n\n",
                            (unsigned long long)r->calib_tokens, LQMF_FACTORY_CALIB_MIN_TOKENS);
    } else {
        lqmf_buf_printf(b, "# %s (GGUF %s)\n\n", file, r->scheme->name);
        lqmf_buf_printf(b, "A %u-bit GGUF quantization of `%s`, made by lqmf on %s.\n\n", r->scheme->bits,
                        r->source, when);
    }
    lqmf_buf_printf(b, "## Provenance\n\n| field | value |\n|---|---|\n");
    lqmf_buf_printf(b, "| source | `%s` |\n", r->source);
    lqmf_buf_printf(b, "| revision | %s |\n", r->commit[0] ? r->commit : "local files");
    lqmf_buf_printf(b, "| read from | `%s` |\n", r->source_path);
    lqmf_buf_printf(b, "| architecture | %s (%s) |\n", hp->model_type, hp->hf_arch[0] ? hp->hf_arch : "-");
    lqmf_buf_printf(b, "| parameters | %llu |\n", (unsigned long long)r->quant.n_params);
    lqmf_buf_printf(b, "| request | \"%s\" |\n", fr->rq->request);
    if (gptq)
        lqmf_buf_printf(b, "| calibration text | %s, %llu tokens |\n", r->calib, (unsigned long long)r->calib_tokens);
    if (r->advice_asked)
        lqmf_buf_printf(b, "| LLM advice | %s (%s): %s, %s; %s |\n", r->advice.provider, r->advice.model,
                        r->advice.scheme[0] ? r->advice.scheme : "none",
                        lqmf_advice_verdict_name(r->advice.verdict),
                        r->advice_taken ? "taken" : "not taken (the planner's choice stands)");
    lqmf_buf_printf(b, "| file | `%s` |\n| sha256 | `%s` |\n", file, r->sha256);
    lqmf_buf_printf(b, "| size | %s (source %s) |\n", lqmf_fmt_bytes(r->quant.out_bytes, out, sizeof out),
                    lqmf_fmt_bytes(r->src_bytes, src, sizeof src));
    lqmf_buf_printf(b, "| bits per weight | %.3f |\n| tensor types |", r->quant.bpw);
    for (int t = 0; t < LQMF_TYPE_COUNT; t++)
        if (r->quant.type_count[t]) lqmf_buf_printf(b, " %s ×%u", lqmf_type_name((uint32_t)t), r->quant.type_count[t]);
    lqmf_buf_printf(b, " |\n| quantize time | %.2f s |\n", r->quant.seconds);
    if (r->quant.imatrix_estimated)
        lqmf_buf_printf(b, "| importance | estimated from the weights, %u tensors |\n", r->quant.n_imatrix);
    if (r->experiment_id)
        lqmf_buf_printf(b, "| experiment | #%lld in `%s` |\n", (long long)r->experiment_id, fr->rq->store_path);
    lqmf_buf_printf(b, "\n## Plan\n\n```text\n%s```\n", r->plan_text ? r->plan_text : "");
    lqmf_buf_printf(b, "\n## Test results\n\nVerdict: %s\n\n```text\n%s```\n", r->test_verdict,
                    r->test_text ? r->test_text : "");
    if (hf)
        lqmf_buf_printf(b,
                        "\n## Use\n\n```sh\nlqmf test %s\n```\n\n```python\nfrom transformers import "
                        "AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained(\"%s\", "
                        "device_map=\"cuda\")\n```\n",
                        folder, folder);
    else
        lqmf_buf_printf(b, "\n## Use\n\n```sh\nlqmf run %s -p \"Once upon a time\"\nllama-cli -m %s\n```\n", file,
                        file);
}

lqmf_status factory_write_card(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    snprintf(r->card, sizeof r->card, "%s/README.md", r->out_folder);
    lqmf_buf b;
    lqmf_buf_init(&b);
    card_text(fr, &b);
    lqmf_afile f;
    lqmf_status st = b.failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : lqmf_afile_open(&f, r->card);
    if (st == LQMF_OK) {
        st = lqmf_afile_write(&f, b.data, b.len);
        if (st == LQMF_OK) st = lqmf_afile_commit(&f);
        else lqmf_afile_abort(&f);
    }
    lqmf_buf_free(&b);
    fr->wrote_card = st == LQMF_OK;
    if (st != LQMF_OK) r->card[0] = '\0';
    return st;
}
