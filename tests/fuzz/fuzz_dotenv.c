/* Fuzz the .env parser: arbitrary bytes parse or fail with a message, and
 * every entry has a valid key and a line number within the text. */
#include "lqmf/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_dotenv d;
    if (lqmf_dotenv_parse((const char *)data, size, "fuzz.env", &d) != LQMF_OK) return 0;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    for (size_t i = 0; i < d.n; i++) {
        const lqmf_dotenv_entry *e = &d.entries[i];
        if (!e->key[0] || isdigit((unsigned char)e->key[0]) || e->line < 1 || e->line > lines) abort();
        if (strlen(e->value) > size) abort();
    }
    lqmf_dotenv_free(&d);
    return 0;
}
