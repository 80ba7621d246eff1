/* lqmf tokenize MODEL TEXT: print the ids and pieces of TEXT, for debugging
 * a tokenizer (like llama.cpp's llama-tokenize). */
#include "cli.h"
#include "lqmf/tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* Print a piece quoted, with control bytes escaped. */
static void print_piece(const lqmf_buf *b) {
    putchar('\'');
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = b->data[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\'' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

static int run(const char *model, const char *text, size_t len, unsigned flags, bool ids_only) {
    lqmf_tokenizer *t;
    lqmf_status st = lqmf_tok_open(model, &t);
    if (st) return lqmf_cli_fail(st);
    lqmf_tok_ids ids = {0};
    st = lqmf_tok_encode(t, text, len, flags, &ids);
    if (st) {
        lqmf_tok_free(t);
        return lqmf_cli_fail(st);
    }
    lqmf_buf piece;
    lqmf_buf_init(&piece);
    for (size_t i = 0; i < ids.n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", ids.ids[i]);
            continue;
        }
        piece.len = 0;
        lqmf_tok_piece(t, ids.ids[i], &piece);
        printf("%6d -> ", ids.ids[i]);
        print_piece(&piece);
        putchar('\n');
    }
    if (ids_only) putchar('\n');
    lqmf_buf_free(&piece);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(t);
    return 0;
}

static int tokenize_main(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL;
    bool ids_only = false;
    unsigned flags = LQMF_TOK_ADD_SPECIAL | LQMF_TOK_PARSE_SPECIAL;
    for (int i = 1; i < argc; i++) {
        if (LQMF_IS(argv[i], "--ids"))
            ids_only = true;
        else if (LQMF_IS(argv[i], "--no-bos"))
            flags &= ~(unsigned)LQMF_TOK_ADD_SPECIAL;
        else if (LQMF_IS(argv[i], "--no-parse-special"))
            flags &= ~(unsigned)LQMF_TOK_PARSE_SPECIAL;
        else if (LQMF_IS(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return lqmf_cli_usage(argv[0]);
        else if (!model)
            model = argv[i];
        else if (!text)
            text = argv[i];
        else
            return lqmf_cli_usage(argv[0]);
    }
    if (!model || (!text == !file)) return lqmf_cli_usage(argv[0]);
    if (!file) return run(model, text, strlen(text), flags, ids_only);
    char *data;
    size_t len;
    lqmf_status st = lqmf_read_file(file, 1ull << 32, &data, &len);
    if (st) return lqmf_cli_fail(st);
    int rc = run(model, data, len, flags, ids_only);
    free(data);
    return rc;
}

LQMF_COMMAND(tokenize, "tokenize", "MODEL (TEXT | --file F) [--ids] [--no-bos] [--no-parse-special]",
             "print token ids and pieces of a text", tokenize_main)
