/* lqmf imatrix MODEL --text FILE [-o F] [--chunks N] [--ctx N] [-t N]:
 * collect an importance matrix (mean squared activations of every matrix
 * input) for `lqmf quantize --imatrix F`; with --estimate instead of a text,
 * the matrix estimated from the weights (what quantize uses without one). */
#include "cli.h"
#include "lqmf/quantize.h"

#include <stdlib.h>
#include <string.h>

static bool show_chunk(void *user, uint32_t chunk, uint32_t n) {
    (void)user;
    fprintf(stderr, "imatrix: chunk %u/%u\n", chunk, n);
    return true;
}

static int run_imatrix(int argc, char **argv) {
    lqmf_imatrix_opts o = {0};
    const char *src = NULL, *out = "imatrix.gguf";
    bool estimate = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (LQMF_IS(a, "--text") && has_val)
            o.text_path = argv[++i];
        else if ((LQMF_IS(a, "-o") || LQMF_IS(a, "--output")) && has_val)
            out = argv[++i];
        else if (LQMF_IS(a, "--chunks") && has_val)
            o.n_chunks = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (LQMF_IS(a, "--ctx") && has_val)
            o.n_ctx = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if ((LQMF_IS(a, "-t") || LQMF_IS(a, "--threads")) && has_val)
            o.n_threads = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (LQMF_IS(a, "--estimate"))
            estimate = true;
        else if (a[0] != '-' && !src)
            src = a;
        else
            return lqmf_cli_usage("imatrix");
    }
    if (!src || !o.text_path == !estimate) return lqmf_cli_usage("imatrix");
    o.progress = show_chunk;
    lqmf_model *m = NULL;
    lqmf_imatrix *im = NULL;
    lqmf_status st = lqmf_model_open(src, &m);
    if (st == LQMF_OK) st = estimate ? lqmf_imatrix_estimate(m, NULL, NULL, &im) : lqmf_imatrix_collect(m, &o, &im);
    if (st == LQMF_OK && lqmf_imatrix_n_entries(im) == 0)
        st = lqmf_error(LQMF_E_UNSUPPORTED, "%s: no matrix whose inputs can be estimated (no norm before it)", src);
    if (st == LQMF_OK) st = lqmf_imatrix_save(im, out);
    if (st == LQMF_OK && estimate)
        printf("Importance matrix: %zu weights, %s -> %s\n", lqmf_imatrix_n_entries(im), lqmf_imatrix_dataset(im),
               out);
    else if (st == LQMF_OK)
        printf("Importance matrix: %zu weights, %u chunks of %s -> %s\n", lqmf_imatrix_n_entries(im),
               lqmf_imatrix_n_chunks(im), lqmf_imatrix_dataset(im), out);
    lqmf_imatrix_free(im);
    lqmf_model_close(m);
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(imatrix, "imatrix", "MODEL --text FILE [-o F] [--chunks N] [--ctx N] [-t N] | MODEL --estimate [-o F]",
             "collect an importance matrix for quantize --imatrix (--estimate: from the weights, no text)",
             run_imatrix)
