/* GPTQ: the quantizer (f64 factorization of the damped Hessian, row-parallel
 * column loop with lazy block updates) and the AutoGPTQ v1 packing. See
 * include/lqmf/gptq.h for the algorithm and the layout. */
#include "lqmf/gptq.h"
#include "quant/gptq_priv.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 128               /* columns per lazy batch update */
#define PANEL 64                /* columns per Cholesky panel */
#define LAZY_TILE 256           /* columns per tile of the lazy update */
#define MAX_THREADS 64
#define MAX_DIM (1ull << 20)    /* cap on n_in and n_out */
#define PAR_MIN_DIM 256         /* factorizations below this run on one thread */
#define UPDATE_SLICE 256        /* columns per cache slice of the panel update */
#define INV_COLS 4              /* columns of L^-1 built together (dot_rows_cols is written for 4) */

/* ---- threads ------------------------------------------------------------------ */

typedef struct {
    lqmf_gptq_task fn;
    void *ctx;
    uint32_t ith, nth;
} task_arg;

static void *task_main(void *p) {
    task_arg *a = p;
    a->fn(a->ctx, a->ith, a->nth);
    return NULL;
}

void lqmf_gptq_parallel(uint32_t nth, lqmf_gptq_task fn, void *ctx) {
    if (nth > MAX_THREADS) nth = MAX_THREADS;
    if (nth <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_t th[MAX_THREADS];
    task_arg args[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (uint32_t k = 1; k < nth; k++) {
        args[k] = (task_arg){fn, ctx, k, nth};
        started[k] = pthread_create(&th[k], NULL, task_main, &args[k]) == 0;
    }
    fn(ctx, 0, nth);
    for (uint32_t k = 1; k < nth; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            fn(ctx, k, nth);
    }
}

uint32_t lqmf_gptq_threads(uint32_t n) {
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (uint32_t)cpus : 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

/* ---- parameters ------------------------------------------------------------------ */

lqmf_gptq_params lqmf_gptq_default_params(void) {
    return (lqmf_gptq_params){.bits = 4, .group_size = 128, .desc_act = false, .sym = true, .damp_percent = 0.01};
}

static bool bits_ok(unsigned bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

static lqmf_status check_params(const lqmf_gptq_params *p, uint64_t n_out, uint64_t n_in) {
    if (!bits_ok(p->bits)) return lqmf_error(LQMF_E_INVALID, "gptq: bits %u (expected 2, 3, 4 or 8)", p->bits);
    if (p->group_size == 0 || p->group_size < -1)
        return lqmf_error(LQMF_E_INVALID, "gptq: group_size %d (expected -1 or > 0)", (int)p->group_size);
    if (!(p->damp_percent >= 0 && p->damp_percent <= 1))
        return lqmf_error(LQMF_E_INVALID, "gptq: damp_percent %g (expected 0 .. 1)", p->damp_percent);
    if (n_out == 0 || n_in == 0 || n_out > MAX_DIM || n_in > MAX_DIM)
        return lqmf_error(LQMF_E_INVALID, "gptq: shape [%llu][%llu] (each side 1 .. %llu)",
                          (unsigned long long)n_out, (unsigned long long)n_in, MAX_DIM);
    return LQMF_OK;
}

/* ---- inverse Hessian factor ---------------------------------------------------------
 * With J the reversal permutation and J A J = H (A = L L^T, Cholesky), the
 * upper Cholesky factor of H^-1 is U = J L^-1 J: one Cholesky and one
 * triangular inverse instead of the reference's Cholesky, inverse and
 * second Cholesky (the factor is unique, so the result is the same). */

static double dot(const double *a, const double *b, uint64_t n) {
    lqmf_gptq_v2d s0 = {0, 0}, s1 = {0, 0};
    uint64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        lqmf_gptq_v2d a0, a1, b0, b1;
        memcpy(&a0, a + k, 16);
        memcpy(&a1, a + k + 2, 16);
        memcpy(&b0, b + k, 16);
        memcpy(&b1, b + k + 2, 16);
        s0 += a0 * b0;
        s1 += a1 * b1;
    }
    s0 += s1;
    double s = s0[0] + s0[1];
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

typedef struct {
    double *A;     /* [n][n]: lower triangle in, L (lower) out; L^-1 transposed into the strict upper part */
    double *dinv;  /* [n] 1 / L[j][j] */
    double *tbuf;  /* [nth][INV_COLS][n] columns of L^-1 being built, one slot per thread */
    uint64_t n, b0, b1;
    atomic_uint_fast64_t next;
} fact_ctx;

/* s[a][b] = X_a[0..len) . Y_b[0..len) for 4 rows X_a = X + a*n and 2 rows
 * Y_b = Y + b*n: every load feeds several products (the plain dot is bound
 * by loads). */
static void dot_4x2(const double *X, const double *Y, uint64_t n, uint64_t len, double s[4][2]) {
    lqmf_gptq_v2d a00 = {0, 0}, a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    uint64_t k = 0;
    for (; k + 2 <= len; k += 2) {
        lqmf_gptq_v2d y0, y1, x0, x1, x2, x3;
        memcpy(&y0, Y + k, 16);
        memcpy(&y1, Y + n + k, 16);
        memcpy(&x0, X + k, 16);
        memcpy(&x1, X + n + k, 16);
        memcpy(&x2, X + 2 * n + k, 16);
        memcpy(&x3, X + 3 * n + k, 16);
        a00 += x0 * y0, a01 += x0 * y1, a10 += x1 * y0, a11 += x1 * y1;
        a20 += x2 * y0, a21 += x2 * y1, a30 += x3 * y0, a31 += x3 * y1;
    }
    const lqmf_gptq_v2d acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++) {
            s[a][b] = acc[a][b][0] + acc[a][b][1];
            for (uint64_t t = k; t < len; t++) s[a][b] += X[a * n + t] * Y[b * n + t];
        }
}

/* A[i][j] -= L[i][k0..k1) . L[j][k0..k1) for rows i in [i0, min(i0 + 4, i1))
 * and columns j in the panel [b0, b1) (the upper-triangle entries this
 * touches in panel rows are scratch, overwritten later by the inverse). */
static void update_group(double *A, uint64_t n, uint64_t i0, uint64_t i1, uint64_t b0, uint64_t b1, uint64_t k0,
                         uint64_t k1) {
    const uint64_t ni = i1 - i0 < 4 ? i1 - i0 : 4;
    uint64_t j = b0;
    if (ni == 4)
        for (; j + 2 <= b1; j += 2) {
            double s[4][2];
            dot_4x2(A + i0 * n + k0, A + j * n + k0, n, k1 - k0, s);
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 2; b++) A[(i0 + a) * n + j + b] -= s[a][b];
        }
    for (; j < b1; j++)
        for (uint64_t a = 0; a < ni; a++) A[(i0 + a) * n + j] -= dot(A + (i0 + a) * n + k0, A + j * n + k0, k1 - k0);
}

/* Within the panel: L[i][j] = (A[i][j] - L[i][b0..j) . L[j][b0..j)) / L[j][j]
 * for j in [b0, b1), once A holds the updates of columns before b0. */
static void solve_row(double *A, uint64_t n, uint64_t i, uint64_t b0, uint64_t b1) {
    double *Li = A + i * n;
    for (uint64_t j = b0; j < b1; j++) {
        const double *Lj = A + j * n;
        Li[j] = (Li[j] - dot(Li + b0, Lj + b0, j - b0)) / Lj[j];
    }
}

/* Rows below the panel, groups of 4 interleaved over threads: the update
 * by earlier columns in cache-sized slices, then the in-panel solve. */
static void below_panel(void *vc, uint32_t ith, uint32_t nth) {
    fact_ctx *c = vc;
    const uint64_t n = c->n, b0 = c->b0, b1 = c->b1;
    for (uint64_t k0 = 0; k0 < b0; k0 += UPDATE_SLICE) {
        const uint64_t k1 = k0 + UPDATE_SLICE < b0 ? k0 + UPDATE_SLICE : b0;
        for (uint64_t i0 = b1 + 4 * (uint64_t)ith; i0 < n; i0 += 4 * (uint64_t)nth)
            update_group(c->A, n, i0, n, b0, b1, k0, k1);
    }
    for (uint64_t i0 = b1 + 4 * (uint64_t)ith; i0 < n; i0 += 4 * (uint64_t)nth)
        for (uint64_t i = i0; i < i0 + 4 && i < n; i++) solve_row(c->A, n, i, b0, b1);
}

/* Cholesky by column panels: the panel's rows (update, then factor, on the
 * caller), then every row below it (in parallel). Fails at the first pivot
 * <= 0, naming the original column. */
static lqmf_status cholesky(fact_ctx *c, uint32_t nth, const uint32_t *col_of_row) {
    const uint64_t n = c->n;
    for (uint64_t b0 = 0; b0 < n; b0 += PANEL) {
        const uint64_t b1 = b0 + PANEL < n ? b0 + PANEL : n;
        for (uint64_t i0 = b0; i0 < b1; i0 += 4) update_group(c->A, n, i0, b1, b0, b1, 0, b0);
        for (uint64_t i = b0; i < b1; i++) {
            solve_row(c->A, n, i, b0, i);
            double *Li = c->A + i * n;
            const double s = Li[i] - dot(Li + b0, Li + b0, i - b0);
            if (!(s > 0) || !isfinite(s))
                return lqmf_error(LQMF_E_INVALID,
                                  "gptq: H is not positive definite after damping (pivot %g at input column %u)",
                                  s, col_of_row[i]);
            Li[i] = sqrt(s);
            c->dinv[i] = 1.0 / Li[i];
        }
        c->b0 = b0;
        c->b1 = b1;
        lqmf_gptq_parallel(n >= PAR_MIN_DIM ? nth : 1, below_panel, c);
    }
    return LQMF_OK;
}

/* s[r][a] = L_r[j0..i) . T_a[j0..i) for the rows L_0 = L, L_1 = L + n
 * (nr of them) and the INV_COLS rows T_a = T + a*n. */
static void dot_rows_cols(const double *L, uint64_t nr, const double *T, uint64_t n, uint64_t j0, uint64_t i,
                          double s[2][INV_COLS]) {
    lqmf_gptq_v2d a00 = {0, 0}, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    const double *L1 = nr > 1 ? L + n : L;
    uint64_t k = j0;
    for (; k + 2 <= i; k += 2) {
        lqmf_gptq_v2d l0, l1, t0, t1, t2, t3;
        memcpy(&l0, L + k, 16);
        memcpy(&l1, L1 + k, 16);
        memcpy(&t0, T + k, 16);
        memcpy(&t1, T + n + k, 16);
        memcpy(&t2, T + 2 * n + k, 16);
        memcpy(&t3, T + 3 * n + k, 16);
        a00 += l0 * t0, a01 += l0 * t1, a02 += l0 * t2, a03 += l0 * t3;
        a10 += l1 * t0, a11 += l1 * t1, a12 += l1 * t2, a13 += l1 * t3;
    }
    const lqmf_gptq_v2d acc[2][INV_COLS] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}};
    for (int r = 0; r < 2; r++)
        for (int a = 0; a < INV_COLS; a++) {
            s[r][a] = acc[r][a][0] + acc[r][a][1];
            for (uint64_t t = k; t < i; t++) s[r][a] += (r ? L1 : L)[t] * T[a * n + t];
        }
}

/* T[a][i] from its dot s (see inverse_group). */
static inline double inverse_entry(const fact_ctx *c, uint64_t j, uint64_t i, double s) {
    return i < j ? 0.0 : i == j ? c->dinv[j] : -s * c->dinv[i];
}

/* Columns [j0, j0 + INV_COLS) of L^-1 by forward substitution, together and
 * two rows of L at a time so that each load feeds several products, then
 * stored as rows of the strict upper part: T[j][i] = -(L[i][j..i) .
 * T[j][j..i)) / L[i][i], T[j][j] = dinv[j], T[j][i] = 0 for i < j. */
static void inverse_group(fact_ctx *c, uint64_t j0, double *T) {
    const uint64_t n = c->n;
    for (uint64_t i = j0; i < n; i += 2) {
        const double *Li = c->A + i * n;
        const uint64_t nr = i + 1 < n ? 2 : 1;
        double s[2][INV_COLS];
        dot_rows_cols(Li, nr, T, n, j0, i, s);
        for (uint64_t a = 0; a < INV_COLS; a++) {
            T[a * n + i] = inverse_entry(c, j0 + a, i, s[0][a]);
            if (nr == 2) T[a * n + i + 1] = inverse_entry(c, j0 + a, i + 1, s[1][a] + Li[n + i] * T[a * n + i]);
        }
    }
    for (uint64_t j = j0; j < j0 + INV_COLS && j < n; j++)
        memcpy(c->A + j * n + j + 1, T + (j - j0) * n + j + 1, (n - j - 1) * sizeof *T);
}

static void inverse_cols(void *vc, uint32_t ith, uint32_t nth) {
    (void)nth;
    fact_ctx *c = vc;
    double *T = c->tbuf + (uint64_t)ith * INV_COLS * c->n;
    for (uint64_t g; (g = atomic_fetch_add(&c->next, 1)) * INV_COLS < c->n;) inverse_group(c, g * INV_COLS, T);
}

/* Processing order: perm[k] is the original column quantized k-th. */
typedef struct {
    double d;
    uint32_t c;
} diag_entry;

static int by_diag_desc(const void *a, const void *b) {
    const diag_entry *x = a, *y = b;
    if (x->d != y->d) return x->d > y->d ? -1 : 1;
    return x->c < y->c ? -1 : x->c > y->c;
}

static lqmf_status order_columns(const double *H, uint64_t n, bool desc_act, uint32_t *perm, uint8_t *dead) {
    diag_entry *e = malloc(n * sizeof *e);
    if (!e) return lqmf_error(LQMF_E_NOMEM, "gptq: out of memory (%llu columns)", (unsigned long long)n);
    for (uint64_t c = 0; c < n; c++) {
        const double d = H[c * n + c];
        dead[c] = d == 0;
        e[c] = (diag_entry){dead[c] ? 1.0 : d, (uint32_t)c};
    }
    if (desc_act) qsort(e, n, sizeof *e, by_diag_desc);
    for (uint64_t k = 0; k < n; k++) perm[k] = e[k].c;
    free(e);
    return LQMF_OK;
}

/* U [n][n] f32 (upper triangle; the lower one is not written): the upper
 * Cholesky factor of the inverse of the damped, permuted H. */
static lqmf_status inverse_factor(const double *H, uint64_t n, const uint32_t *perm, const uint8_t *dead,
                                  double damp_percent, uint32_t nth, float *U) {
    double mean = 0;
    for (uint64_t c = 0; c < n; c++) mean += dead[c] ? 1.0 : H[c * n + c];
    const double damp = damp_percent * mean / (double)n;
    fact_ctx c = {.n = n};
    uint32_t *col_of_row = malloc(n * sizeof *col_of_row);
    const uint32_t inv_nth = n >= PAR_MIN_DIM ? nth : 1;
    c.A = malloc(n * n * sizeof *c.A);
    c.dinv = malloc(n * sizeof *c.dinv);
    c.tbuf = malloc((uint64_t)inv_nth * INV_COLS * n * sizeof *c.tbuf);
    lqmf_status st = c.A && c.dinv && c.tbuf && col_of_row ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "gptq: out of memory "
                                                                        "for the %llu x %llu Hessian factor",
                                                                        (unsigned long long)n,
                                                                        (unsigned long long)n);
    for (uint64_t a = 0; st == LQMF_OK && a < n; a++) { /* A = J P^T H P J, lower triangle */
        const uint32_t i = perm[n - 1 - a];
        col_of_row[a] = i;
        for (uint64_t b = 0; b < a; b++) c.A[a * n + b] = H[(uint64_t)i * n + perm[n - 1 - b]];
        c.A[a * n + a] = (dead[i] ? 1.0 : H[(uint64_t)i * n + i]) + damp;
    }
    if (st == LQMF_OK) st = cholesky(&c, nth, col_of_row);
    if (st == LQMF_OK) {
        atomic_init(&c.next, 0);
        lqmf_gptq_parallel(inv_nth, inverse_cols, &c);
        for (uint64_t a = 0; a < n; a++) /* U[a][b] = (L^-1)[n-1-a][n-1-b] = T[n-1-b][n-1-a] */
            for (uint64_t b = a; b < n; b++)
                U[a * n + b] = (float)(a == b ? c.dinv[n - 1 - a] : c.A[(n - 1 - b) * n + (n - 1 - a)]);
    }
    free(c.A);
    free(c.dinv);
    free(c.tbuf);
    free(col_of_row);
    return st;
}

/* ---- column loop ---------------------------------------------------------------------- */

/* The reference's min/max quantizer over x[n] (see gptq.h). */
static void find_params(const float *x, uint64_t n, unsigned maxq, bool sym, float *scale, uint8_t *zero) {
    float xmin = 0, xmax = 0;
    for (uint64_t k = 0; k < n; k++) {
        xmin = x[k] < xmin ? x[k] : xmin;
        xmax = x[k] > xmax ? x[k] : xmax;
    }
    if (sym) {
        xmax = fabsf(xmin) > xmax ? fabsf(xmin) : xmax;
        if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) {
        xmin = -1;
        xmax = 1;
    }
    float s = (xmax - xmin) / (float)maxq;
    if (!(s >= FLT_MIN)) s = FLT_MIN; /* a subnormal range */
    float z = sym ? (float)((maxq + 1) / 2) : rintf(-xmin / s);
    *scale = s;
    *zero = (uint8_t)(z < 0 ? 0.0f : z > (float)maxq ? (float)maxq : z);
}

/* Code of x, and its dequantized value. */
static inline float quant1(float x, float scale, float zero, unsigned maxq, uint8_t *q) {
    float v = rintf(x / scale) + zero;
    v = v < 0 ? 0 : v > (float)maxq ? (float)maxq : v;
    *q = (uint8_t)v;
    return scale * (v - zero);
}

typedef struct {
    const float *W;       /* [n_out][n_in] original order */
    const float *U;       /* [n_in][n_in] processing order; NULL: round to nearest */
    const uint32_t *perm; /* [n_in] processing position -> column; NULL: identity */
    const uint8_t *dead;  /* [n_in] per column; NULL: none */
    uint64_t n_out, n_in, gs;
    unsigned maxq;
    bool sym;
    float *work;          /* [n_out][n_in] weights being updated, processing order */
    float *err;           /* [n_out][BLOCK] scaled errors of the current block */
    lqmf_gptq_matrix *out;
} qjob;

/* Columns [i1, i2) of row r: quantize each, spread its error over the rest
 * of the block. Starts the row's group when i1 is a group start. */
static void block_row(const qjob *j, uint64_t r, uint64_t i1, uint64_t i2) {
    const uint64_t n = j->n_in, g = i1 / j->gs, gend = (g + 1) * j->gs < n ? (g + 1) * j->gs : n;
    float *w = j->work + r * n, *e = j->err + r * BLOCK;
    float *scale = &j->out->scales[g * j->n_out + r];
    uint8_t *zero = &j->out->zeros[g * j->n_out + r];
    if (i1 == g * j->gs) find_params(w + i1, gend - i1, j->maxq, j->sym, scale, zero);
    for (uint64_t i = i1; i < i2; i++) {
        uint8_t q;
        const float d = quant1(w[i], *scale, (float)*zero, j->maxq, &q);
        j->out->q[r * n + (j->perm ? j->perm[i] : i)] = q;
        if (!j->U) continue;
        const float *Ui = j->U + i * n;
        e[i - i1] = (w[i] - d) / Ui[i];
        lqmf_gptq_axpy_f32(w + i + 1, Ui + i + 1, -e[i - i1], i2 - i - 1);
    }
}

/* y[0..len) -= e[0] * x[0..len) + ... + e[3] * x[3*n..3*n+len): four rows
 * of U per pass over y. */
static void sub4_f32(float *restrict y, const float *restrict x, uint64_t n, const float e[4], uint64_t len) {
    const lqmf_gptq_v4f e0 = {e[0], e[0], e[0], e[0]}, e1 = {e[1], e[1], e[1], e[1]};
    const lqmf_gptq_v4f e2 = {e[2], e[2], e[2], e[2]}, e3 = {e[3], e[3], e[3], e[3]};
    uint64_t k = 0;
    for (; k + 4 <= len; k += 4) {
        lqmf_gptq_v4f v, x0, x1, x2, x3;
        memcpy(&v, y + k, 16);
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + n + k, 16);
        memcpy(&x2, x + 2 * n + k, 16);
        memcpy(&x3, x + 3 * n + k, 16);
        v -= ((e0 * x0 + e1 * x1) + e2 * x2) + e3 * x3;
        memcpy(y + k, &v, 16);
    }
    for (; k < len; k++) y[k] -= ((e[0] * x[k] + e[1] * x[n + k]) + e[2] * x[2 * n + k]) + e[3] * x[3 * n + k];
}

/* Rows [r0, r1), columns [i2, n) -= err . U[i1..i2)[i2..n), tiled over columns. */
static void lazy_update(const qjob *j, uint64_t r0, uint64_t r1, uint64_t i1, uint64_t i2) {
    const uint64_t n = j->n_in;
    for (uint64_t c0 = i2; c0 < n; c0 += LAZY_TILE) {
        const uint64_t c1 = c0 + LAZY_TILE < n ? c0 + LAZY_TILE : n;
        for (uint64_t r = r0; r < r1; r++) {
            float *w = j->work + r * n + c0;
            const float *e = j->err + r * BLOCK;
            uint64_t k = 0;
            for (; k + 4 <= i2 - i1; k += 4) sub4_f32(w, j->U + (i1 + k) * n + c0, n, e + k, c1 - c0);
            for (; k < i2 - i1; k++) lqmf_gptq_axpy_f32(w, j->U + (i1 + k) * n + c0, -e[k], c1 - c0);
        }
    }
}

static void quant_rows(void *vj, uint32_t ith, uint32_t nth) {
    const qjob *j = vj;
    const uint64_t n = j->n_in, r0 = j->n_out * ith / nth, r1 = j->n_out * (ith + 1) / nth;
    for (uint64_t r = r0; r < r1; r++)
        for (uint64_t k = 0; k < n; k++) {
            const uint64_t c = j->perm ? j->perm[k] : k;
            j->work[r * n + k] = j->dead && j->dead[c] ? 0.0f : j->W[r * n + c];
        }
    /* blocks end at group starts, so a group's parameters see every earlier update */
    for (uint64_t i1 = 0, i2; i1 < n; i1 = i2) {
        const uint64_t gnext = (i1 / j->gs + 1) * j->gs;
        i2 = i1 + BLOCK < gnext ? i1 + BLOCK : gnext;
        i2 = i2 < n ? i2 : n;
        for (uint64_t r = r0; r < r1; r++) block_row(j, r, i1, i2);
        if (j->U && i2 < n) lazy_update(j, r0, r1, i1, i2);
    }
}

void lqmf_gptq_matrix_free(lqmf_gptq_matrix *m) {
    if (!m) return;
    free(m->q);
    free(m->scales);
    free(m->zeros);
    free(m->g_idx);
    memset(m, 0, sizeof *m);
}

static lqmf_status matrix_alloc(lqmf_gptq_matrix *m, uint64_t n_out, uint64_t n_in, uint64_t gs) {
    memset(m, 0, sizeof *m);
    m->n_out = n_out;
    m->n_in = n_in;
    m->n_groups = (uint32_t)((n_in + gs - 1) / gs);
    m->q = malloc(n_out * n_in);
    m->scales = malloc((uint64_t)m->n_groups * n_out * sizeof *m->scales);
    m->zeros = malloc((uint64_t)m->n_groups * n_out);
    m->g_idx = malloc(n_in * sizeof *m->g_idx);
    if (m->q && m->scales && m->zeros && m->g_idx) return LQMF_OK;
    lqmf_gptq_matrix_free(m);
    return lqmf_error(LQMF_E_NOMEM, "gptq: out of memory for a [%llu][%llu] matrix", (unsigned long long)n_out,
                      (unsigned long long)n_in);
}

static lqmf_status check_weights(const float *W, uint64_t n_out, uint64_t n_in) {
    for (uint64_t k = 0; k < n_out * n_in; k++)
        if (!isfinite(W[k]))
            return lqmf_error(LQMF_E_INVALID, "gptq: W[%llu][%llu] is %g (not finite)",
                              (unsigned long long)(k / n_in), (unsigned long long)(k % n_in), (double)W[k]);
    return LQMF_OK;
}

lqmf_status lqmf_gptq_quantize(const float *W, uint64_t n_out, uint64_t n_in, const double *H,
                               const lqmf_gptq_params *p, uint32_t n_threads, lqmf_gptq_matrix *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = check_params(p, n_out, n_in);
    if (st == LQMF_OK) st = check_weights(W, n_out, n_in);
    if (st != LQMF_OK) return st;
    const uint64_t gs = p->group_size < 0 || (uint64_t)p->group_size > n_in ? n_in : (uint64_t)p->group_size;
    uint32_t nth = lqmf_gptq_threads(n_threads);
    qjob j = {.W = W, .n_out = n_out, .n_in = n_in, .gs = gs, .maxq = (1u << p->bits) - 1, .sym = p->sym,
              .out = out};
    uint32_t *perm = NULL;
    uint8_t *dead = NULL;
    float *U = NULL;
    if (H) {
        perm = malloc(n_in * sizeof *perm);
        dead = malloc(n_in);
        U = malloc(n_in * n_in * sizeof *U);
        st = perm && dead && U ? order_columns(H, n_in, p->desc_act, perm, dead)
                               : lqmf_error(LQMF_E_NOMEM, "gptq: out of memory (n_in %llu)", (unsigned long long)n_in);
        if (st == LQMF_OK) st = inverse_factor(H, n_in, perm, dead, p->damp_percent, nth, U);
        j.U = U;
        j.perm = perm;
        j.dead = dead;
    }
    if (st == LQMF_OK) st = matrix_alloc(out, n_out, n_in, gs);
    j.work = st == LQMF_OK ? malloc(n_out * n_in * sizeof *j.work) : NULL;
    j.err = st == LQMF_OK && H ? malloc(n_out * BLOCK * sizeof *j.err) : NULL;
    if (st == LQMF_OK && (!j.work || (H && !j.err))) st = lqmf_error(LQMF_E_NOMEM, "gptq: out of memory");
    if (st == LQMF_OK) {
        if (nth > n_out) nth = (uint32_t)n_out;
        lqmf_gptq_parallel(n_out * n_in < (1u << 16) ? 1 : nth, quant_rows, &j);
        for (uint64_t k = 0; k < n_in; k++) out->g_idx[perm ? perm[k] : k] = (int32_t)(k / gs);
    } else {
        lqmf_gptq_matrix_free(out);
    }
    free(j.work);
    free(j.err);
    free(perm);
    free(dead);
    free(U);
    return st;
}

/* ---- v1 packing -------------------------------------------------------------------------
 * A bit stream of `bits`-wide codes over 32-bit words `stride` apart: code k
 * at stream bits k*bits.., low bits first, straddling into the next word. */

static void put_code(uint32_t *words, uint64_t stride, uint64_t k, unsigned bits, uint32_t v) {
    const uint64_t pos = k * bits, w = pos / 32;
    const unsigned sh = (unsigned)(pos % 32);
    words[w * stride] |= v << sh;
    if (sh + bits > 32) words[(w + 1) * stride] |= v >> (32 - sh);
}

static uint32_t get_code(const uint32_t *words, uint64_t stride, uint64_t k, unsigned bits) {
    const uint64_t pos = k * bits, w = pos / 32;
    const unsigned sh = (unsigned)(pos % 32);
    uint64_t v = words[w * stride] >> sh;
    if (sh + bits > 32) v |= (uint64_t)words[(w + 1) * stride] << (32 - sh);
    return (uint32_t)(v & ((1u << bits) - 1));
}

static lqmf_status check_layout(uint64_t n_out, uint64_t n_in, unsigned bits, uint32_t n_groups) {
    if (!bits_ok(bits)) return lqmf_error(LQMF_E_INVALID, "gptq: bits %u (expected 2, 3, 4 or 8)", bits);
    if (n_in == 0 || n_in % 32 || n_in > MAX_DIM)
        return lqmf_error(LQMF_E_INVALID, "gptq: n_in %llu is not a positive multiple of 32 (at most %llu)",
                          (unsigned long long)n_in, MAX_DIM);
    if (n_out == 0 || n_out % 32 || n_out > MAX_DIM)
        return lqmf_error(LQMF_E_INVALID, "gptq: n_out %llu is not a positive multiple of 32 (at most %llu)",
                          (unsigned long long)n_out, MAX_DIM);
    if (n_groups == 0 || n_groups > n_in)
        return lqmf_error(LQMF_E_INVALID, "gptq: n_groups %u (expected 1 .. n_in %llu)", n_groups,
                          (unsigned long long)n_in);
    return LQMF_OK;
}

static lqmf_status check_g_idx(const int32_t *g_idx, uint64_t n_in, uint32_t n_groups) {
    for (uint64_t c = 0; c < n_in; c++)
        if (g_idx[c] < 0 || (uint32_t)g_idx[c] >= n_groups)
            return lqmf_error(LQMF_E_INVALID, "gptq: g_idx[%llu] = %d is outside 0 .. %u (n_groups %u)",
                              (unsigned long long)c, (int)g_idx[c], n_groups - 1, n_groups);
    return LQMF_OK;
}

void lqmf_gptq_packed_free(lqmf_gptq_packed *p) {
    if (!p) return;
    free(p->qweight);
    free(p->qzeros);
    free(p->scales);
    free(p->g_idx);
    memset(p, 0, sizeof *p);
}

static lqmf_status check_codes(const lqmf_gptq_matrix *m, unsigned bits) {
    const unsigned maxq = (1u << bits) - 1;
    for (uint64_t k = 0; k < m->n_out * m->n_in; k++)
        if (m->q[k] > maxq)
            return lqmf_error(LQMF_E_INVALID, "gptq: code q[%llu][%llu] = %u exceeds %u bits",
                              (unsigned long long)(k / m->n_in), (unsigned long long)(k % m->n_in), m->q[k], bits);
    for (uint64_t k = 0; k < (uint64_t)m->n_groups * m->n_out; k++)
        if (m->zeros[k] > maxq)
            return lqmf_error(LQMF_E_INVALID, "gptq: zero point [%llu][%llu] = %u exceeds %u bits",
                              (unsigned long long)(k / m->n_out), (unsigned long long)(k % m->n_out), m->zeros[k],
                              bits);
    return LQMF_OK;
}

lqmf_status lqmf_gptq_pack(const lqmf_gptq_matrix *m, unsigned bits, lqmf_gptq_packed *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = check_layout(m->n_out, m->n_in, bits, m->n_groups);
    if (st == LQMF_OK) st = check_g_idx(m->g_idx, m->n_in, m->n_groups);
    if (st == LQMF_OK) st = check_codes(m, bits);
    if (st != LQMF_OK) return st;
    const uint64_t n_out = m->n_out, n_in = m->n_in, ng = m->n_groups;
    const uint64_t qw_rows = n_in * bits / 32, qz_cols = n_out * bits / 32;
    *out = (lqmf_gptq_packed){.n_out = n_out, .n_in = n_in, .bits = bits, .n_groups = m->n_groups};
    out->qweight = calloc(qw_rows * n_out, sizeof *out->qweight);
    out->qzeros = calloc(ng * qz_cols, sizeof *out->qzeros);
    out->scales = malloc(ng * n_out * sizeof *out->scales);
    out->g_idx = malloc(n_in * sizeof *out->g_idx);
    if (!out->qweight || !out->qzeros || !out->scales || !out->g_idx) {
        lqmf_gptq_packed_free(out);
        return lqmf_error(LQMF_E_NOMEM, "gptq: out of memory packing [%llu][%llu]", (unsigned long long)n_out,
                          (unsigned long long)n_in);
    }
    uint32_t *qw = (uint32_t *)out->qweight, *qz = (uint32_t *)out->qzeros;
    for (uint64_t o = 0; o < n_out; o++) /* column o of qweight: the codes of output o along the input */
        for (uint64_t c = 0; c < n_in; c++) put_code(qw + o, n_out, c, bits, m->q[o * n_in + c]);
    for (uint64_t g = 0; g < ng; g++)
        for (uint64_t o = 0; o < n_out; o++) {
            const uint8_t z = m->zeros[g * n_out + o];
            out->n_zero_clamped += z == 0;
            put_code(qz + g * qz_cols, 1, o, bits, z ? z - 1u : 0u); /* v1: zero - 1 */
            out->scales[g * n_out + o] = lqmf_f32_to_fp16(m->scales[g * n_out + o]);
        }
    memcpy(out->g_idx, m->g_idx, n_in * sizeof *out->g_idx);
    return LQMF_OK;
}

lqmf_status lqmf_gptq_dequantize(const lqmf_gptq_packed *p, float *w) {
    lqmf_status st = check_layout(p->n_out, p->n_in, p->bits, p->n_groups);
    if (st == LQMF_OK && (!p->qweight || !p->qzeros || !p->scales || !p->g_idx))
        st = lqmf_error(LQMF_E_INVALID, "gptq: packed layer lacks qweight, qzeros, scales or g_idx");
    if (st == LQMF_OK) st = check_g_idx(p->g_idx, p->n_in, p->n_groups);
    if (st != LQMF_OK) return st;
    const uint64_t n_out = p->n_out, n_in = p->n_in, qz_cols = n_out * p->bits / 32;
    const uint32_t *qw = (const uint32_t *)p->qweight, *qz = (const uint32_t *)p->qzeros;
    for (uint64_t c = 0; c < n_in; c++) {
        const uint64_t g = (uint64_t)p->g_idx[c];
        for (uint64_t o = 0; o < n_out; o++) {
            const float zero = (float)(get_code(qz + g * qz_cols, 1, o, p->bits) + 1); /* v1 */
            const float q = (float)get_code(qw + o, n_out, c, p->bits);
            w[o * n_in + c] = lqmf_fp16_to_f32(p->scales[g * n_out + o]) * (q - zero);
        }
    }
    return LQMF_OK;
}
