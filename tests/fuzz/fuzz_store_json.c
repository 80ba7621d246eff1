/* Fuzz the JSON experiment store reader: any bytes must give a clean error
 * or a snapshot that writes back and reads again to the same records, and
 * that statistics and the CSV export can run over. */
#include "store/store_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_store_snapshot snap, again;
    int64_t next[LQMF_STORE_N_TABLES], next2[LQMF_STORE_N_TABLES];
    int version, version2;
    if (lqmf_store_json_parse((const char *)data, size, "fuzz.json", &snap, next, &version) != LQMF_OK)
        return 0;
    lqmf_buf b;
    lqmf_buf_init(&b);
    if (lqmf_store_json_dump(&snap, next, &b) != LQMF_OK) abort();
    if (lqmf_store_json_parse((const char *)b.data, b.len, "again.json", &again, next2, &version2) != LQMF_OK)
        abort();
    if (again.n_models != snap.n_models || again.n_artifacts != snap.n_artifacts ||
        again.n_experiments != snap.n_experiments || again.n_evaluations != snap.n_evaluations ||
        memcmp(next, next2, sizeof next) != 0)
        abort();
    lqmf_store_stats st;
    if (lqmf_store_stats_compute(&snap, 1000, &st) == LQMF_OK) lqmf_store_stats_free(&st);
    b.len = 0;
    lqmf_store_export(&snap, LQMF_STORE_EXPORT_CSV, &b);
    lqmf_buf_free(&b);
    lqmf_store_snapshot_free(&again);
    lqmf_store_snapshot_free(&snap);
    return 0;
}
