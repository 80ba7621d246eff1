/* Ctrl-C as a flag (cli.h): the commands that can stop cleanly poll it from
 * their progress and cancel callbacks instead of dying mid-write. */
#include "cli.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_sigint;
static struct sigaction g_old;

static void on_sigint(int sig) {
    (void)sig;
    g_sigint = 1;
}

void lqmf_cli_sigint_catch(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_sigint = 0;
    sigaction(SIGINT, &sa, &g_old);
}

void lqmf_cli_sigint_restore(void) { sigaction(SIGINT, &g_old, NULL); }

bool lqmf_cli_sigint_seen(void *unused) {
    (void)unused;
    return g_sigint != 0;
}
