/* Box-drawn terminal tables in the style of the product description:
 *   ┌──────┬───────┐
 *   │ Name │ Value │
 *   ├──────┼───────┤
 * Row 0 is the header. Widths count display columns (wide characters 2). */
#ifndef LQMF_CLI_TABLE_H
#define LQMF_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols owned copies, row-major */
    bool failed;  /* sticky: an allocation failed */
} lqmf_table;

void lqmf_table_init(lqmf_table *t, size_t ncols);
/* Append a row of ncols strings (copied; NULL prints as ""). */
void lqmf_table_add(lqmf_table *t, const char *const *cols);
void lqmf_table_print(const lqmf_table *t, FILE *out);
void lqmf_table_free(lqmf_table *t);

#endif
