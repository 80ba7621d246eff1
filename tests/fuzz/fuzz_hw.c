/* Fuzz the hardware text parsers (/proc/meminfo, /proc/cpuinfo, nvidia-smi
 * CSV): arbitrary bytes must parse or fail cleanly, with sane results. */
#include "lqmf/hw.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    uint64_t total, avail;
    if (lqmf_hw_parse_meminfo(text, size, &total, &avail) == LQMF_OK && avail > total) abort();
    lqmf_gpu gpus[4];
    size_t n;
    if (lqmf_hw_parse_nvidia_smi(text, size, gpus, 4, &n) == LQMF_OK) {
        if (n > 4) abort();
        for (size_t i = 0; i < n; i++)
            if (!gpus[i].name[0] || strlen(gpus[i].name) >= sizeof gpus[i].name) abort();
    }
    char model[128];
    uint32_t features;
    unsigned cpus;
    lqmf_hw_parse_cpuinfo(text, size, model, sizeof model, &features, &cpus);
    if (strlen(model) >= sizeof model || cpus > size) abort();
    return 0;
}
