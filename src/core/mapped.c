/* Read-only file mappings of the process and the release of their pages;
 * see include/lqmf/core.h. */
#include "lqmf/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct span {
    uintptr_t lo, hi;
};

struct lqmf_mapped {
    struct span *s;
    size_t n;
};

lqmf_mapped *lqmf_mapped_scan(void) {
    lqmf_mapped *m = calloc(1, sizeof *m);
    FILE *f = m ? fopen("/proc/self/maps", "r") : NULL;
    char line[512];
    size_t cap = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, inode;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %*s %*s %llu", &lo, &hi, perms, &inode) != 4 || !inode || perms[1] == 'w')
            continue;
        if (m->n == cap) {
            struct span *g = realloc(m->s, (cap = cap ? 2 * cap : 16) * sizeof *g);
            if (!g) break;
            m->s = g;
        }
        m->s[m->n++] = (struct span){(uintptr_t)lo, (uintptr_t)hi};
    }
    if (f) fclose(f);
    return m;
}

void lqmf_mapped_release(const lqmf_mapped *m, const void *p, uint64_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)p, hi = lo + n;
    for (size_t i = 0; m && i < m->n; i++)
        if (m->s[i].lo <= lo && hi <= m->s[i].hi) {
            const uintptr_t a = lo & ~(page - 1), b = (hi + page - 1) & ~(page - 1);
            madvise((void *)a, b < m->s[i].hi ? b - a : m->s[i].hi - a, MADV_DONTNEED);
            return;
        }
}

void lqmf_mapped_free(lqmf_mapped *m) {
    if (!m) return;
    free(m->s);
    free(m);
}
