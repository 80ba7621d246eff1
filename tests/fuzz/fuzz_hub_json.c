/* Fuzz the parsers of Hub API answers: tree pages, model info, whoami-v2
 * and the Link pagination header. The first byte picks the parser. */
#include "hub/hub_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0: {
        lqmf_hub_file *files = NULL;
        size_t n = 0, cap = 0;
        if (hub_parse_tree_page(json, len, &files, &n, &cap) == LQMF_OK) {
            hub_files_finish(files, n);
            for (size_t i = 0; i < n; i++)
                if (!hub_valid_rel_path(files[i].path)) abort(); /* every path is safe */
        }
        hub_files_free(files, n);
        break;
    }
    case 1: {
        hub_model_info info;
        if (hub_parse_model_info(json, len, &info) == LQMF_OK && !hub_is_hex(info.commit, 40)) abort();
        break;
    }
    case 2: {
        lqmf_hub_user *u = NULL;
        if (hub_parse_user(json, len, &u) == LQMF_OK && !u->name) abort();
        lqmf_hub_user_free(u);
        break;
    }
    default: {
        char *s = strndup(json, len);
        if (s) free(hub_link_next(s));
        free(s);
    }
    }
    return 0;
}
