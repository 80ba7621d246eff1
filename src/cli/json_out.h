/* --json output shared by the commands: one JSON document on stdout, the
 * exit code unchanged, nothing else on stdout (notes go to stderr). */
#ifndef LQMF_CLI_JSON_OUT_H
#define LQMF_CLI_JSON_OUT_H

#include <jansson.h>
#include <stdbool.h>

/* Remove every "--json" from argv (argc shrinks); true when there was one. */
bool lqmf_cli_take_json(int *argc, char **argv);
/* Print root (a reference taken: it is released here) indented, with a
 * newline, and return rc; a NULL root or a failed write prints an error to
 * stderr and returns LQMF_EXIT_FAILED. */
int lqmf_cli_print_json(json_t *root, int rc);
/* A number, or null when v is NaN. */
json_t *lqmf_cli_json_num(double v);
/* A string, or null when s is NULL or "". */
json_t *lqmf_cli_json_str(const char *s);

#endif
