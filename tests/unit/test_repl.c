/* The LQMF> prompt driven through a pseudo-terminal with the product
 * description's example session: help, a quantization, test list, list
 * successful experiments, stats, exit; and a second session with a
 * bitsandbytes 4-bit checkpoint tested by name. The lqmf command is the one built
 * beside this test binary. */
#include "../test.h"
#include "lqmf/core.h"

#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int fd;
    pid_t pid;
    char *out; /* everything read so far */
    size_t len, cap;
} session;

/* Read until `want` appears after offset `from` or timeout_ms passes. */
static bool read_until(session *s, size_t from, const char *want, int timeout_ms) {
    double end = lqmf_time_now() + timeout_ms / 1000.0;
    for (;;) {
        if (s->out && s->len >= from && memmem(s->out + from, s->len - from, want, strlen(want))) return true;
        int left = (int)((end - lqmf_time_now()) * 1000);
        if (left <= 0) return false;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0) continue;
        if (s->len + 4097 > s->cap) {
            s->cap = (s->cap + 4097) * 2;
            s->out = realloc(s->out, s->cap);
        }
        ssize_t n = read(s->fd, s->out + s->len, 4096);
        if (n <= 0) return false; /* EIO: the child closed the terminal */
        s->len += (size_t)n;
        s->out[s->len] = '\0';
    }
}

/* Type a line at the prompt; the text it printed up to the next prompt. */
static char *say(session *s, const char *line, int timeout_ms) {
    size_t from = s->len;
    if (write(s->fd, line, strlen(line)) < 0 || write(s->fd, "\n", 1) < 0) return NULL;
    /* the echo of the line, then the next prompt */
    if (!read_until(s, from, "\n", timeout_ms)) return NULL;
    size_t echo_end = (size_t)((char *)memmem(s->out + from, s->len - from, "\n", 1) - s->out);
    if (!read_until(s, echo_end, "\nLQMF> ", timeout_ms)) return strndup(s->out + from, s->len - from);
    return strndup(s->out + echo_end, s->len - echo_end);
}

/* lqmf (the one beside this test binary) at a pseudo-terminal in folder
 * tmp with LQMF_HOME home; false (after a skip or failure) when it could
 * not start. */
static bool start(session *s, const char *tmp, const char *home) {
    char exe[PATH_MAX], lqmf[PATH_MAX + 8];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(lqmf, sizeof lqmf, "%s/lqmf", exe);
    if (access(lqmf, X_OK) != 0) {
        lqmf_test_skip("%s not built", lqmf);
        return false;
    }
    memset(s, 0, sizeof *s);
    struct winsize ws = {.ws_row = 50, .ws_col = 200};
    s->pid = forkpty(&s->fd, NULL, NULL, &ws);
    if (s->pid < 0) return false;
    if (s->pid == 0) {
        if (chdir(tmp) != 0) _exit(126);
        setenv("LQMF_HOME", home, 1);
        setenv("TERM", "dumb", 1);
        unsetenv("LQMF_CONFIG");
        execl(lqmf, "lqmf", (char *)NULL);
        _exit(127);
    }
    return true;
}

/* "exit", then the process ends with status 0. */
static void finish(session *s) {
    if (write(s->fd, "exit\n", 5) < 0) CHECK(false);
    read_until(s, s->len, "\x01", 5000); /* drain until the terminal closes */
    int status = 0;
    CHECK(waitpid(s->pid, &status, 0) == s->pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(s->fd);
    free(s->out);
}

TEST(repl_example_session) {
    DATA(src, "models/tiny-llama");
    char abs_src[PATH_MAX];
    REQUIRE(realpath(src, abs_src));
    const char *tmp = lqmf_test_tmpdir();
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%s/home", tmp);
    session s;
    if (!start(&s, tmp, home)) return;
    CHECK(read_until(&s, 0, "LQMF> ", 10000));

    char *help = say(&s, "help", 10000);
    CHECK(help && strstr(help, "quantize") && strstr(help, "stats") && strstr(help, "usage: lqmf"));
    free(help);

    char line[PATH_MAX + 64];
    snprintf(line, sizeof line, "quantize %s to 4-bit GGUF for CPU --yes", abs_src);
    char *q = say(&s, line, 120000);
    CHECKF(q && strstr(q, "Quantization Successful!"), "quantize printed: %s", q ? q : "(nothing)");
    CHECK(q && strstr(q, "Model saved to: quantized-models/tiny-llama_gguf_4bit"));
    CHECK(q && strstr(q, "Compression Ratio: ") && strstr(q, "Test report"));
    free(q);
    char artifact[PATH_MAX + 64];
    snprintf(artifact, sizeof artifact, "%s/quantized-models/tiny-llama_gguf_4bit/tiny-llama-Q4_K_M.gguf", tmp);
    CHECK(access(artifact, R_OK) == 0);

    char *tl = say(&s, "test list", 30000);
    /* discovery lists the new model with its method */
    CHECKF(tl && strstr(tl, "tiny-llama_gguf_4bit") && strstr(tl, "Q4_K_M"), "test list: %s",
           tl ? tl : "(nothing)");
    free(tl);

    char *tn = say(&s, "test tiny-llama_gguf --quick", 60000); /* a unique partial name */
    CHECKF(tn && strstr(tn, "Verdict:") && strstr(tn, "KL"), "test NAME: %s", tn ? tn : "(nothing)");
    free(tn);

    char *ls = say(&s, "list successful experiments", 10000);
    CHECKF(ls && strstr(ls, "succeeded") && strstr(ls, "Q4_K_M"), "list: %s", ls ? ls : "(nothing)");
    free(ls);

    char *st = say(&s, "stats", 10000);
    /* the quantization and the test are both experiments, on one artifact */
    CHECKF(st && strstr(st, "experiments: 2 (2 succeeded") && strstr(st, "storage: 1 artifact"), "stats: %s",
           st ? st : "(nothing)");
    free(st);

    finish(&s);

    /* the history is kept for the next run */
    char hist[PATH_MAX + 16], *text = NULL;
    snprintf(hist, sizeof hist, "%s/history", home);
    size_t len;
    CHECK_OK(lqmf_read_file(hist, 1 << 20, &text, &len));
    CHECK(text && strstr(text, "list successful experiments") && strstr(text, "stats"));
    free(text);
}

/* The description's bitsandbytes example on tiny-gpt2 (a GPT-2, as
 * DialoGPT-small is): quantize to a bnb 4-bit checkpoint folder, find it in
 * test list, test it by name ("Quantization: 4-bit BitsAndBytes"), stats. */
TEST(repl_bnb_4bit_session) {
    DATA(src, "models/tiny-gpt2");
    char abs_src[PATH_MAX];
    REQUIRE(realpath(src, abs_src));
    const char *tmp = lqmf_test_tmpdir();
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%s/home", tmp);
    session s;
    if (!start(&s, tmp, home)) return;
    CHECK(read_until(&s, 0, "LQMF> ", 10000));

    char line[PATH_MAX + 64];
    snprintf(line, sizeof line, "quantize %s to 4-bit bnb --yes", abs_src);
    char *q = say(&s, line, 120000);
    CHECKF(q && strstr(q, "Quantization Successful!"), "quantize printed: %s", q ? q : "(nothing)");
    CHECK(q && strstr(q, "Model saved to: quantized-models/tiny-gpt2_bnb_4bit"));
    CHECK(q && strstr(q, "4-bit BitsAndBytes"));
    free(q);
    char cfg[PATH_MAX + 64];
    snprintf(cfg, sizeof cfg, "%s/quantized-models/tiny-gpt2_bnb_4bit/config.json", tmp);
    CHECK(access(cfg, R_OK) == 0);

    char *tl = say(&s, "test list", 30000);
    /* the row: name, method nf4, 4.00 bits */
    const char *row = tl ? strstr(tl, "tiny-gpt2_bnb_4bit") : NULL;
    CHECKF(row && strstr(row, "nf4") && strstr(row, "4.00"), "test list: %s", tl ? tl : "(nothing)");
    free(tl);

    char *tn = say(&s, "test tiny-gpt2_bnb_4bit --quick", 60000);
    CHECKF(tn && strstr(tn, "4-bit BitsAndBytes (NF4)") && strstr(tn, "Verdict:"), "test NAME: %s",
           tn ? tn : "(nothing)");
    free(tn);

    char *st = say(&s, "stats", 10000);
    CHECKF(st && strstr(st, "experiments: 2 (2 succeeded") && strstr(st, "nf4"), "stats: %s",
           st ? st : "(nothing)");
    free(st);
    finish(&s);
}
