/* Intent parsing: a table of phrasings with the parse each must give, the
 * contradictions that must be refused, and the model-name resolution. */
#include "../test.h"
#include "lqmf/intent.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const k_history[] = {"someorg/MyModel-1B", "microsoft/DialoGPT-small"};
static const lqmf_intent_opts k_opts = {k_history, 2, false};

/* Parse text and describe it; "ERR: <message>" on failure. Static buffer. */
static const char *parse(const char *text, const lqmf_intent_opts *opts) {
    static char out[1024];
    lqmf_intent in;
    lqmf_status st = lqmf_intent_parse(text, opts, &in);
    if (st != LQMF_OK) {
        snprintf(out, sizeof out, "ERR: %s", lqmf_last_error());
        return out;
    }
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_intent_describe(&in, &b);
    snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    lqmf_buf_free(&b);
    return out;
}

static const struct {
    const char *text, *want;
} k_table[] = {
    /* the product description's examples */
    {"quantize mistralai/Mistral-7B-Instruct-v0.3 for 8GB GPU",
     "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gptq* device=gpu mem=8GiB"},
    {"quantize mistralai/Mistral-7B-Instruct for 8GB GPU",
     "quantize model=mistralai/Mistral-7B-Instruct method=gptq* device=gpu mem=8GiB"},
    {"quantize microsoft/DialoGPT-small to 4-bit GGUF for CPU",
     "quantize model=microsoft/DialoGPT-small method=gguf bits=4 device=cpu"},
    {"I want to quantize Mistral 7B for CPU inference with 4-bit precision",
     "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gguf* bits=4 device=cpu"},
    {"quantize gpt2", "quantize model=openai-community/gpt2 method=gguf*"},
    {"make it smaller than 3 GB", "refine size<3GB"},
    {"best quality that fits 6 GB", "refine fit<6GiB pref=quality"},
    {"test list", "test-list"},
    {"test discover", "test-discover"},
    {"test microsoft_DialoGPT-small_bnb_4bit", "test target=microsoft_DialoGPT-small_bnb_4bit"},
    {"list successful experiments", "list filter=success"},
    {"stats", "stats"},
    {"hf login", "hf-login"},
    {"hf status", "hf-status"},
    {"hf logout", "hf-logout"},
    /* other commands */
    {"help", "help"},
    {"exit", "exit"},
    {"quit", "exit"},
    {"test", "test-list"},
    {"list", "list"},
    {"list failed experiments", "list filter=failed"},
    {"show experiments", "list"},
    {"statistics", "stats"},
    {"discover", "test-discover"},
    {"hugging face login", "hf-login"},
    {"system info", "system"},
    {"config", "config"},
    {"serve", "serve"},
    {"serve gpt2 on port 8080", "serve model=openai-community/gpt2 port=8080"},
    {"download gpt2", "download model=openai-community/gpt2"},
    {"download meta-llama/Llama-3.1-8B-Instruct", "download model=meta-llama/Llama-3.1-8B-Instruct"},
    {"fine-tune gpt2", "finetune model=openai-community/gpt2"},
    {"benchmark microsoft_DialoGPT-small_bnb_4bit", "test target=microsoft_DialoGPT-small_bnb_4bit"},
    /* short names */
    {"quantize qwen2.5 7b with Q4_K_M",
     "quantize model=Qwen/Qwen2.5-7B-Instruct method=gguf bits=4 type=Q4_K_M"},
    {"quantize Qwen2.5-0.5B to q8_0",
     "quantize model=Qwen/Qwen2.5-0.5B-Instruct method=gguf bits=8 type=Q8_0"},
    {"quantize tinyllama to nf4 on gpu",
     "quantize model=TinyLlama/TinyLlama-1.1B-Chat-v1.0 method=bnb bits=4 type=NF4 device=gpu"},
    {"quantize phi-3 mini 4-bit gptq", "quantize model=microsoft/Phi-3-mini-4k-instruct method=gptq bits=4"},
    {"quantize stories260K", "quantize model=karpathy/tinyllamas:stories260K/stories260K.bin method=gguf*"},
    {"quantize gpt2-medium", "quantize model=openai-community/gpt2-medium method=gguf*"},
    {"quantize gpt 2 large", "quantize model=openai-community/gpt2-large method=gguf*"},
    {"Quantize GPT-2 to 4 bit, please.", "quantize model=openai-community/gpt2 method=gguf* bits=4"},
    {"quantize smollm2 135m for cpu",
     "quantize model=HuggingFaceTB/SmolLM2-135M-Instruct method=gguf* device=cpu"},
    {"quantize codellama 7b as Q3_K_L",
     "quantize model=codellama/CodeLlama-7b-hf method=gguf bits=3 type=Q3_K_L"},
    {"quantize gemma 2 2b 8bit", "quantize model=google/gemma-2-2b-it method=gguf* bits=8"},
    {"quantize llama2 7b to awq", "quantize model=meta-llama/Llama-2-7b-hf method=awq"},
    {"quantize MyModel-1B", "quantize model=someorg/MyModel-1B method=gguf*"},
    {"Mistral-7B-Instruct-v0.3 for cpu",
     "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gguf* device=cpu"},
    /* ambiguous and unknown names: never guessed */
    {"quantize dialogpt",
     "quantize model?=microsoft/DialoGPT-small,microsoft/DialoGPT-medium,microsoft/DialoGPT-large "
     "method=gguf*"},
    {"quantize mistral",
     "quantize model?=mistralai/Mistral-7B-Instruct-v0.3,mistralai/Mistral-7B-v0.3 method=gguf*"},
    {"quantize llama 3 with 8 GB VRAM, smallest",
     "quantize model?=meta-llama/Meta-Llama-3-8B-Instruct method=gptq* device=gpu mem=8GiB pref=smallest"},
    {"quantize foobar for cpu", "quantize model!=foobar method=gguf* device=cpu"},
    {"recommend something for 12GB GPU with best quality",
     "plan method=gptq* device=gpu mem=12GiB pref=quality"},
    /* paths and repo ids */
    {"quantize ./models/gpt2 to Q4_K_M", "quantize path=./models/gpt2 method=gguf bits=4 type=Q4_K_M"},
    {"quantize /data/model.gguf to q5_k_m", "quantize path=/data/model.gguf method=gguf bits=5 type=Q5_K_M"},
    {"quantize model.safetensors", "quantize path=model.safetensors method=gguf*"},
    {"quantize Qwen/Qwen2.5-1.5B-Instruct with bitsandbytes",
     "quantize model=Qwen/Qwen2.5-1.5B-Instruct method=bnb"},
    {"quantize microsoft/phi-2 w4a16", "quantize model=microsoft/phi-2 method=gguf* bits=4"},
    {"quantize gpt2 cpu/gpu", "quantize model=openai-community/gpt2 method=gguf*"},
    /* sizes, budgets, context, preferences */
    {"quantize gpt2 with 8k context", "quantize model=openai-community/gpt2 method=gguf* ctx=8192"},
    {"quantize llama 3 8b with context of 32k tokens",
     "quantize model=meta-llama/Meta-Llama-3-8B-Instruct method=gguf* ctx=32768"},
    {"quantize llama 3 8b under 5GB",
     "quantize model=meta-llama/Meta-Llama-3-8B-Instruct method=gguf* size<5GB"},
    {"quantize llama 3 8b for a GPU with 6 GB",
     "quantize model=meta-llama/Meta-Llama-3-8B-Instruct method=gptq* device=gpu mem=6GiB"},
    {"compress llama 3 8b for my 6gb gpu",
     "quantize model=meta-llama/Meta-Llama-3-8B-Instruct method=gptq* device=gpu mem=6GiB"},
    {"plan llama 2 7b for 8 GB VRAM", "plan model=meta-llama/Llama-2-7b-hf method=gptq* device=gpu mem=8GiB"},
    {"quantize mistral 7b for CPU with 16 GB RAM",
     "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gguf* device=cpu mem=16GiB"},
    {"quantize llama 3.2 1b to Q2_K for cpu under 1 GB",
     "quantize model=meta-llama/Llama-3.2-1B-Instruct method=gguf bits=2 type=Q2_K device=cpu size<1GB"},
    {"quantize mistral 7b 3.5 GB max",
     "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gguf* size<3.5GB"},
    {"quantize gpt2 <3GB", "quantize model=openai-community/gpt2 method=gguf* size<3GB"},
    {"quantize gpt2 smaller than 2.5 GiB",
     "quantize model=openai-community/gpt2 method=gguf* size<2.68435GB"},
    {"quantize gpt2 fits in an 8GB gpu",
     "quantize model=openai-community/gpt2 method=gptq* device=gpu mem=8GiB"},
    {"quantize llama 3.1 8b int8", "quantize model=meta-llama/Llama-3.1-8B-Instruct method=gguf* bits=8"},
    {"quantize gpt2 fp16", "quantize model=openai-community/gpt2 method=gguf bits=16 type=F16"},
    {"quantize gpt2 Q4_K", "quantize model=openai-community/gpt2 method=gguf bits=4 type=Q4_K_M"},
    {"quantize gpt2 to gptq-4bit", "quantize model=openai-community/gpt2 method=gptq bits=4 type=GPTQ-4bit"},
    {"fastest for cpu", "refine device=cpu pref=fastest"},
    {"smallest possible please", "refine pref=smallest"},
    {"make it smaller", "refine pref=smallest"},
    {"what about 8-bit", "refine bits=8"},
    /* refused: contradictions and values out of range */
    {"quantize gpt2 4-bit Q8_0", "ERR: the request names both 4 and 8 bits (\"Q8_0\")"},
    {"quantize gpt2 gguf gptq", "ERR: the request names both gguf and gptq (\"gptq\")"},
    {"quantize gpt2 Q4_K_M with awq", "ERR: the request names both gguf and awq (\"awq\")"},
    {"quantize gpt2 12-bit", "ERR: \"12-bit\": 12 bits is not offered (2..8, or 16 for no quantization)"},
    {"quantize gpt2 1-bit", "ERR: \"1-bit\": 1 bits is not offered (2..8, or 16 for no quantization)"},
    {"quantize gpt2 to iq4_xs",
     "ERR: \"iq4_xs\" is not a quantization type lqmf plans (try Q4_K_M, Q8_0, NF4)"},
    {"quantize gpt2 on cpu and gpu", "ERR: the request names both cpu and gpu (\"gpu\")"},
    {"serve gpt2 on port 70000", "ERR: \"70000\": port must be 1..65535"},
    {"quantize gpt2 with context of 8 tokens", "ERR: \"8\": context of 8 tokens is out of range (16..16M)"},
    {"quantize gpt2 for 0 GB GPU", "ERR: \"0\": size out of range (1 MiB .. 1 PB)"},
};

TEST(intent_phrasings) {
    size_t n = sizeof k_table / sizeof k_table[0];
    CHECK(n >= 50);
    for (size_t i = 0; i < n; i++) {
        const char *got = parse(k_table[i].text, &k_opts);
        CHECKF(strcmp(got, k_table[i].want) == 0, "\"%s\"\n      got  %s\n      want %s", k_table[i].text,
               got, k_table[i].want);
    }
}

TEST(intent_fields_and_units) {
    lqmf_intent in;
    REQUIRE_OK(
        lqmf_intent_parse("quantize mistral 7b for 8GB GPU smaller than 3 GB with 8k context", NULL, &in));
    CHECK_EQ_INT(in.device_mem, 8ull << 30);     /* memory GB are GiB */
    CHECK_EQ_INT(in.size_budget, 3000000000ull); /* file-size GB are 10^9 */
    CHECK_EQ_INT(in.n_ctx, 8192);
    CHECK_EQ_INT(in.model.kind, LQMF_REF_REPO);
    CHECK(in.model.from_alias);
    CHECK_STR(in.model.text, "mistral 7b");
    REQUIRE_OK(lqmf_intent_parse("best quality that fits 6 GB", NULL, &in));
    CHECK_EQ_INT(in.mem_budget, 6ull << 30);
    CHECK_EQ_INT(in.pref, LQMF_PREF_QUALITY);
    REQUIRE_OK(lqmf_intent_parse("quantize gpt2 under 512 MB", NULL, &in));
    CHECK_EQ_INT(in.size_budget, 512000000ull);
    REQUIRE_OK(lqmf_intent_parse("quantize gpt2 under 3 GiB", NULL, &in));
    CHECK_EQ_INT(in.size_budget, 3ull << 30);
    REQUIRE_OK(lqmf_intent_parse("quantize stories260K", NULL, &in));
    CHECK_STR(in.model.id, "karpathy/tinyllamas");
    CHECK_STR(in.model.file, "stories260K/stories260K.bin");
    REQUIRE_OK(lqmf_intent_parse("quantize qwen", NULL, &in));
    CHECK_EQ_INT(in.model.kind, LQMF_REF_AMBIGUOUS);
    CHECK_EQ_INT(in.model.n_candidates, 3);
    CHECK_STR(in.model.text, "qwen");
}

TEST(intent_history_and_resolve) {
    /* a history name that collides with a curated one is ambiguous */
    const char *hist[] = {"myorg/gpt2"};
    lqmf_intent_opts o = {hist, 1, false};
    CHECK_STR(parse("quantize gpt2", &o), "quantize model?=openai-community/gpt2,myorg/gpt2 method=gguf*");
    lqmf_model_ref r;
    REQUIRE_OK(lqmf_intent_resolve("phi 3 mini", NULL, &r));
    CHECK_EQ_INT(r.kind, LQMF_REF_REPO);
    CHECK_STR(r.id, "microsoft/Phi-3-mini-4k-instruct");
    REQUIRE_OK(lqmf_intent_resolve("org/name:sub/file.bin", NULL, &r));
    CHECK_STR(r.id, "org/name");
    CHECK_STR(r.file, "sub/file.bin");
    REQUIRE_OK(lqmf_intent_resolve("MyModel-1B", &k_opts, &r));
    CHECK_STR(r.id, "someorg/MyModel-1B");
    REQUIRE_OK(lqmf_intent_resolve("nothing-like-it", NULL, &r));
    CHECK_EQ_INT(r.kind, LQMF_REF_UNKNOWN);
    CHECK_STR(r.text, "nothing-like-it");
    /* malformed repo ids are not repos */
    static const char *const bad[] = {"a//b", "-a/b", "a/b.", "a/b/c", "a--x/b", "org/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE_OK(lqmf_intent_resolve(bad[i], NULL, &r));
        CHECKF(r.kind != LQMF_REF_REPO, "%s taken as a repo id", bad[i]);
    }
}

TEST(intent_probe_fs_local_folder) {
    char cwd[4096];
    REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
    REQUIRE(chdir(lqmf_test_tmpdir()) == 0);
    mkdir("someorg", 0755);
    mkdir("someorg/mymodel", 0755);
    lqmf_intent_opts probe = {NULL, 0, true};
    const char *with = parse("quantize someorg/mymodel", &probe);
    char with_copy[256];
    snprintf(with_copy, sizeof with_copy, "%s", with);
    const char *without = parse("quantize someorg/mymodel", NULL);
    REQUIRE(chdir(cwd) == 0);
    CHECK_STR(with_copy, "quantize path=someorg/mymodel method=gguf*");
    CHECK_STR(without, "quantize model=someorg/mymodel method=gguf*");
}

TEST(intent_merge_and_device) {
    lqmf_intent base, r;
    REQUIRE_OK(lqmf_intent_parse("quantize mistral 7b for 8GB GPU", NULL, &base));
    REQUIRE_OK(lqmf_intent_parse("make it smaller than 3 GB", NULL, &r));
    CHECK_EQ_INT(r.action, LQMF_ACTION_REFINE);
    lqmf_intent_merge(&base, &r);
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_intent_describe(&base, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK_STR((char *)b.data,
              "quantize model=mistralai/Mistral-7B-Instruct-v0.3 method=gptq* device=gpu mem=8GiB size<3GB");
    lqmf_buf_free(&b);
    REQUIRE_OK(lqmf_intent_parse("for cpu", NULL, &r));
    lqmf_intent_merge(&base, &r);
    CHECK_EQ_INT(base.method, LQMF_METHOD_GGUF); /* the defaulted method follows the device */
    REQUIRE_OK(lqmf_intent_parse("quantize gpt2 with awq", NULL, &base));
    lqmf_intent_set_device(&base, LQMF_DEVICE_CPU);
    CHECK_EQ_INT(base.method, LQMF_METHOD_AWQ); /* a said method stays */
}

TEST(intent_rejects_bad_input) {
    lqmf_intent in;
    char *big = malloc(LQMF_INTENT_MAX_BYTES + 2);
    REQUIRE(big);
    memset(big, 'a', LQMF_INTENT_MAX_BYTES + 1);
    big[LQMF_INTENT_MAX_BYTES + 1] = 0;
    CHECK_ERR(lqmf_intent_parse(big, NULL, &in), LQMF_E_INVALID, "longer than 4096");
    for (size_t i = 0; i < LQMF_INTENT_MAX_BYTES; i += 2) big[i + 1] = ' ';
    big[LQMF_INTENT_MAX_BYTES] = 0;
    CHECK_ERR(lqmf_intent_parse(big, NULL, &in), LQMF_E_INVALID, "more than 96 words");
    memset(big, 'b', 300);
    big[300] = 0;
    CHECK_ERR(lqmf_intent_parse(big, NULL, &in), LQMF_E_INVALID, "word of 300 bytes");
    free(big);
    CHECK_ERR(lqmf_intent_parse("quantize \xff\xfe", NULL, &in), LQMF_E_INVALID, "not valid UTF-8");
    CHECK_OK(lqmf_intent_parse("", NULL, &in));
    CHECK_EQ_INT(in.action, LQMF_ACTION_UNKNOWN);
    CHECK_OK(lqmf_intent_parse("   \t ?? ", NULL, &in));
    CHECK_STR(lqmf_action_name(LQMF_ACTION_HF_LOGOUT), "hf-logout");
}
