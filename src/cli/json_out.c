/* --json output shared by the commands (json_out.h). */
#include "json_out.h"

#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool lqmf_cli_take_json(int *argc, char **argv) {
    bool found = false;
    int k = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && LQMF_IS(argv[i], "--json"))
            found = true;
        else
            argv[k++] = argv[i];
    }
    *argc = k;
    return found;
}

int lqmf_cli_print_json(json_t *root, int rc) {
    char *s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!s) return lqmf_cli_fail(lqmf_error(LQMF_E_NOMEM, "--json: cannot build the JSON document"));
    bool ok = puts(s) >= 0 && fflush(stdout) == 0;
    free(s);
    return ok ? rc : lqmf_cli_fail(lqmf_error(LQMF_E_IO, "--json: cannot write to standard output"));
}

json_t *lqmf_cli_json_num(double v) { return isnan(v) ? json_null() : json_real(v); }

json_t *lqmf_cli_json_str(const char *s) { return s && *s ? json_string(s) : json_null(); }
