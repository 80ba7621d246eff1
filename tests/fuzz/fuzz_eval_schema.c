/* Fuzz the JSON Schema validator: the input is a document checked against a
 * schema using every supported keyword (first byte even) or a schema
 * checked against a fixed document (first byte odd). Any input gives
 * LQMF_OK or an error with a message; never a crash, a hang or a leak. */
#include "lqmf/eval.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char g_schema[] =
    "{\"type\": \"object\", \"required\": [\"a\"], \"additionalProperties\": {\"type\": \"number\"},"
    " \"properties\": {\"a\": {\"type\": \"integer\", \"minimum\": 1, \"exclusiveMaximum\": 9},"
    " \"b\": {\"type\": [\"string\", \"null\"], \"minLength\": 1, \"maxLength\": 8, \"pattern\": "
    "\"^[a-z]+$\"},"
    " \"c\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 4, \"items\": {\"$ref\": \"#/$defs/e\"}},"
    " \"d\": {\"anyOf\": [{\"const\": 5}, {\"type\": \"boolean\"}, {\"$ref\": \"#/definitions/n\"}]}},"
    " \"$defs\": {\"e\": {\"enum\": [\"x\", 1, null]}}, \"definitions\": {\"n\": {\"type\": \"null\"}}}";
static const char g_doc[] = "{\"a\": [1, {\"b\": \"x\"}, null, 2.5, true]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    lqmf_buf errs;
    lqmf_buf_init(&errs);
    lqmf_status st;
    if (data[0] % 2 == 0)
        st = lqmf_eval_schema_validate(g_schema, strlen(g_schema), (const char *)data + 1, size - 1, &errs);
    else
        st = lqmf_eval_schema_validate((const char *)data + 1, size - 1, g_doc, strlen(g_doc), &errs);
    if (st != LQMF_OK && !lqmf_last_error()[0]) abort();
    if (st == LQMF_OK && errs.len) abort();
    lqmf_buf_free(&errs);
    return 0;
}
