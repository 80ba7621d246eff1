/* Fuzz the model loaders on top of their container parsers: GGUF
 * hyperparameter keys and tensor checks, and the llama2.c header. The input
 * goes to an in-memory file (the loaders map paths); its first byte picks the
 * loader. Any input must open a valid model or fail with a message. */
#include "io/model_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fd = memfd_create("fuzz-model", 0);
    if (fd < 0) abort();
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lqmf_model *m = NULL;
    lqmf_status st = data[0] & 1 ? lqmf_llama2c_open(path, &m) : lqmf_gguf_model_open(path, &m);
    if (st == LQMF_OK) {
        if (!m || lqmf_model_validate(m) != LQMF_OK) abort();
        for (size_t i = 0; i < m->n_tensors; i++) /* every view is readable */
            if (m->tensors[i].nbytes)
                (void)*(volatile const uint8_t *)((const uint8_t *)m->tensors[i].data + m->tensors[i].nbytes -
                                                  1);
        lqmf_model_close(m);
    } else if (m || !lqmf_last_error()[0]) {
        abort();
    }
    close(fd);
    return 0;
}
