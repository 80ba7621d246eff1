/* `lqmf run` and `lqmf chat`, run as the built command beside this test
 * binary: greedy text equal to the references' full_text (tokenizer, engine
 * and streaming decoder together), --ids, stop strings, exit codes, and a
 * two-turn chat that is deterministic under a seed. */
#include "../test.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int lqmf(const char *args, const char *in, char **out) { return lqmf_test_cli(args, in, out); }

/* Greedy 32 tokens after each reference prompt print exactly full_text. */
static void check_full_text(const char *dir) {
    char path[4096], args[8192], *out;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_t *ref = json_load_file(path, 0, NULL);
    REQUIRE(ref);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(ref, "prompts"), i, p) {
        if (i == 2) break; /* two prompts keep the test short */
        snprintf(args, sizeof args, "run '%s' -p '%s' -n 32 --temp 0 -t 2", dir,
                 json_string_value(json_object_get(p, "prompt")));
        CHECK_EQ_INT(lqmf(args, NULL, &out), 0);
        const char *want = json_string_value(json_object_get(p, "full_text"));
        size_t n = out ? strlen(out) : 0;
        CHECKF(out && n == strlen(want) + 1 && strncmp(out, want, n - 1) == 0 && out[n - 1] == '\n',
               "lqmf %s:\n%s\nexpected:\n%s", args, out ? out : "", want);
        free(out);
    }
    json_decref(ref);
}

TEST(run_greedy_text_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    check_full_text(dir);
}

TEST(run_greedy_text_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    check_full_text(dir);
}

TEST(run_stories_ids_stop_usage) {
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(gg, "models/stories260K/stories260K.gguf");
    char args[4096], *out;
    /* from BOS, as ids: the reference's first ids */
    snprintf(args, sizeof args, "run '%s' --ids -n 9 --temp 0", gg);
    CHECK_EQ_INT(lqmf(args, NULL, &out), 0);
    CHECK_STR(out, "1,403,407,261,378,432,383,286,261,376\n");
    free(out);
    /* the reference greedy text, cut before the stop string */
    snprintf(args, sizeof args, "run '%s' -p 'Once upon a time' -n 60 --temp 0 --stop Lily --stop zzz", bin);
    CHECK_EQ_INT(lqmf(args, NULL, &out), 0);
    CHECK_STR(out, "Once upon a time, there was a little girl named \n");
    free(out);
    /* seeded sampling repeats itself */
    char *again;
    snprintf(args, sizeof args, "run '%s' -p 'Once' -n 40 --temp 1 --seed 7", bin);
    CHECK_EQ_INT(lqmf(args, NULL, &out), 0);
    CHECK_EQ_INT(lqmf(args, NULL, &again), 0);
    CHECK(out && again && strcmp(out, again) == 0 && strlen(out) > 40);
    free(out);
    free(again);
    CHECK_EQ_INT(lqmf("run", NULL, &out), 2);
    free(out);
    snprintf(args, sizeof args, "run '%s' --temp", bin);
    CHECK_EQ_INT(lqmf(args, NULL, &out), 2);
    free(out);
    CHECK_EQ_INT(lqmf("run /nonexistent/model.gguf -p x", NULL, &out), 1);
    free(out);
}

TEST(chat_two_turns) {
    DATA(dir, "models/tiny-llama");
    char in[1024], args[4096], *a, *b;
    snprintf(in, sizeof in, "%s/in.txt", lqmf_test_tmpdir());
    FILE *f = fopen(in, "w");
    REQUIRE(f);
    fputs("Who art thou?\n\nWhat is thy name?\n", f);
    fclose(f);
    snprintf(args, sizeof args, "chat '%s' -n 12 --seed 3 -t 2", dir);
    CHECK_EQ_INT(lqmf(args, in, &a), 0);
    CHECK_EQ_INT(lqmf(args, in, &b), 0);
    int lines = 0; /* each turn's reply ends with a newline */
    for (const char *s = a; s && *s; s++) lines += *s == '\n';
    CHECK(a && b && strcmp(a, b) == 0 && lines >= 2 && strlen(a) > 10);
    free(a);
    free(b);
}
