/* The Hugging Face loader for test builds without jansson (the AArch64 cross
 * build of `make neon-test`): src/io/model_hf.c and the parsers it needs are
 * left out there, and a model folder is reported as unsupported. */
#include "io/model_priv.h"

lqmf_status lqmf_hf_open(const char *dir, lqmf_model **out) {
    *out = NULL;
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: this build has no Hugging Face loader (it needs jansson)", dir);
}
