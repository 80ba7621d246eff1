/* Fuzz the GGUF reader: parse arbitrary bytes, walk every value and tensor,
 * and check that whatever the reader accepts the writer accepts too. */
#include "lqmf/gguf.h"

#include <stddef.h>
#include <stdint.h>

static volatile uint64_t g_sink;

static void walk(const lqmf_gguf_value *v) {
    uint64_t u;
    int64_t i;
    double f;
    g_sink += lqmf_gguf_value_u64(v, &u) ? u : 0;
    g_sink += lqmf_gguf_value_i64(v, &i) ? (uint64_t)i : 0;
    g_sink += lqmf_gguf_value_f64(v, &f) ? (uint64_t)(f == f) : 0;
    if (v->type == LQMF_GGUF_STR && v->v.s.len) g_sink += (uint8_t)v->v.s.ptr[v->v.s.len - 1];
    for (uint64_t k = 0; k < lqmf_gguf_arr_len(v); k++) {
        lqmf_gguf_value e;
        if (!lqmf_gguf_arr_get(v, k, &e)) __builtin_trap();
        walk(&e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_gguf *g;
    if (lqmf_gguf_parse(data, size, "fuzz", &g) != LQMF_OK) return 0;
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    if (!w) __builtin_trap();
    for (uint64_t k = 0; k < lqmf_gguf_n_kv(g); k++) {
        const lqmf_gguf_kv *kv = lqmf_gguf_kv_at(g, k);
        if (lqmf_gguf_find_key(g, kv->key) != kv) __builtin_trap();
        walk(&kv->value);
    }
    uint32_t u32;
    lqmf_gguf_str s;
    g_sink += lqmf_gguf_get_u32(g, "general.alignment", &u32) == LQMF_OK ? u32 : 0;
    g_sink += lqmf_gguf_get_str(g, "general.architecture", &s) == LQMF_OK ? s.len : 0;
    if (lqmf_gguf_writer_copy_kvs(w, g) != LQMF_OK) __builtin_trap();
    for (uint64_t k = 0; k < lqmf_gguf_n_tensors(g); k++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, k);
        if (lqmf_gguf_find_tensor(g, t->name) != t) __builtin_trap();
        const uint8_t *p = t->data;
        g_sink += p[0] + p[t->nbytes - 1];
        if (lqmf_gguf_writer_add_tensor_info(w, t->name, t->type, t->n_dims, t->ne, NULL) != LQMF_OK ||
            lqmf_gguf_writer_tensor_nbytes(w, (uint32_t)k) != t->nbytes)
            __builtin_trap();
    }
    lqmf_gguf_writer_free(w);
    lqmf_gguf_close(g);
    return 0;
}
