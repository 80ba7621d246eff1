/* lqmf: entry point and subcommand dispatch. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define MAX_COMMANDS 64
static const lqmf_cli_command *g_cmds[MAX_COMMANDS];
static int g_ncmds;

void lqmf_cli_register(const lqmf_cli_command *cmd) {
    if (g_ncmds < MAX_COMMANDS) g_cmds[g_ncmds++] = cmd;
}

static const lqmf_cli_command *find(const char *name) {
    for (int i = 0; i < g_ncmds; i++)
        if (strcmp(g_cmds[i]->name, name) == 0) return g_cmds[i];
    return NULL;
}

const lqmf_cli_command *lqmf_cli_find(const char *name) { return find(name); }

int lqmf_cli_fail(lqmf_status st) {
    fprintf(stderr, "lqmf: %s: %s\n", lqmf_status_name(st), lqmf_last_error());
    return st == LQMF_E_INVALID ? 2 : 1;
}

int lqmf_cli_usage(const char *name) {
    const lqmf_cli_command *c = find(name);
    if (c) fprintf(stderr, "usage: lqmf %s %s\n", c->name, c->args);
    return 2;
}

static int cmp_cmd(const void *a, const void *b) {
    return strcmp((*(const lqmf_cli_command *const *)a)->name, (*(const lqmf_cli_command *const *)b)->name);
}

static void sort_cmds(void) { qsort(g_cmds, (size_t)g_ncmds, sizeof g_cmds[0], cmp_cmd); }

size_t lqmf_cli_count(void) { return (size_t)g_ncmds; }

const lqmf_cli_command *lqmf_cli_at(size_t i) {
    sort_cmds();
    return i < (size_t)g_ncmds ? g_cmds[i] : NULL;
}

void lqmf_cli_help(FILE *out) {
    fprintf(out, "lqmf - local quantized model factory\n\nusage: lqmf COMMAND [ARGS]   (no command: the "
                 "LQMF> prompt;\n       `lqmf help COMMAND` for one command's details)\n\n");
    sort_cmds();
    for (int i = 0; i < g_ncmds; i++)
        fprintf(out, "  %-10s %s\n  %-10s   %s\n", g_cmds[i]->name, g_cmds[i]->args, "",
                g_cmds[i]->summary);
}

int lqmf_cli_help_command(FILE *out, const char *name) {
    const lqmf_cli_command *c = find(name);
    if (!c) {
        fprintf(stderr, "lqmf: unknown command '%s' (see 'lqmf help')\n", name);
        return 2;
    }
    fprintf(out, "usage: lqmf %s %s\n  %s\n", c->name, c->args, c->summary);
    if (c->details) fprintf(out, "\n%s\n", c->details);
    return 0;
}

int main(int argc, char **argv) {
    lqmf_install_signal_cleanup();
    if (argc < 2) return lqmf_cli_repl();
    if (LQMF_IS(argv[1], "help") || LQMF_IS(argv[1], "--help") || LQMF_IS(argv[1], "-h")) {
        if (argc == 3) return lqmf_cli_help_command(stdout, argv[2]);
        lqmf_cli_help(stdout);
        return 0;
    }
    const lqmf_cli_command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "lqmf: unknown command '%s' (see 'lqmf help')\n", argv[1]);
        return 2;
    }
    return c->fn(argc - 1, argv + 1);
}
