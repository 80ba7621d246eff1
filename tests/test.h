/* A small test harness. Each TEST registers itself before main() runs, so a
 * new test file needs no edit anywhere else. Checks record a failure and go
 * on; REQUIRE stops the test. SKIP ends a test as skipped with a reason. */
#ifndef LQMF_TEST_H
#define LQMF_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*lqmf_test_fn)(void);
void lqmf_test_register(const char *name, const char *file, lqmf_test_fn fn);
void lqmf_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lqmf_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool lqmf_test_failed(void); /* has the running test failed so far? */

/* Path of a file under the shared test data folder (LQMF_DATA, default
 * ../shared/data). Returns NULL (and marks the test skipped with a message
 * naming the missing file) when it is absent. Static buffer per call slot. */
const char *lqmf_test_data(const char *rel);
/* A fresh empty temporary folder for this test (removed after the run). */
const char *lqmf_test_tmpdir(void);
/* RssFile of this process in bytes (pages of mapped files it holds), 0 when
 * /proc is not readable. */
uint64_t lqmf_test_rss_file(void);
/* The `lqmf` command built beside this test binary (static buffer). */
const char *lqmf_test_cli_path(void);
/* Run `lqmf ARGS` (shell words) with stdin from the file `in` (NULL:
 * /dev/null) and stderr discarded; stdout in *out (malloc'd, NUL-terminated,
 * NULL on failure to start); returns the exit status, -1 when it could not run. */
int lqmf_test_cli(const char *args, const char *in, char **out);

#define TEST(name)                                                                  \
    static void test_##name(void);                                                  \
    __attribute__((constructor)) static void register_##name(void) {                \
        lqmf_test_register(#name, __FILE__, test_##name);                           \
    }                                                                               \
    static void test_##name(void)

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) lqmf_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);        \
    } while (0)
#define CHECKF(cond, ...)                                                           \
    do {                                                                            \
        if (!(cond)) lqmf_test_fail(__FILE__, __LINE__, __VA_ARGS__);               \
    } while (0)
#define REQUIRE(cond)                                                               \
    do {                                                                            \
        if (!(cond)) {                                                              \
            lqmf_test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);               \
            return;                                                                 \
        }                                                                           \
    } while (0)
/* Expect an lqmf_status call to succeed; on failure print the error message. */
#define CHECK_OK(expr)                                                              \
    do {                                                                            \
        lqmf_status st_ = (expr);                                                   \
        if (st_ != LQMF_OK)                                                         \
            lqmf_test_fail(__FILE__, __LINE__, "%s -> %s: %s", #expr,               \
                           lqmf_status_name(st_), lqmf_last_error());               \
    } while (0)
#define REQUIRE_OK(expr)                                                            \
    do {                                                                            \
        lqmf_status st_ = (expr);                                                   \
        if (st_ != LQMF_OK) {                                                       \
            lqmf_test_fail(__FILE__, __LINE__, "%s -> %s: %s", #expr,               \
                           lqmf_status_name(st_), lqmf_last_error());               \
            return;                                                                 \
        }                                                                           \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                          \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ != b_)                                                               \
            lqmf_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)
#define CHECK_STR(a, b)                                                             \
    do {                                                                            \
        const char *a_ = (a), *b_ = (b);                                            \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
            lqmf_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                           a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
    } while (0)
/* |a-b| <= tol * max(1, |b|) */
#define CHECK_NEAR(a, b, tol)                                                       \
    do {                                                                            \
        double a_ = (double)(a), b_ = (double)(b);                                  \
        double s_ = fabs(b_) > 1.0 ? fabs(b_) : 1.0;                                \
        if (!(fabs(a_ - b_) <= (tol) * s_))                                         \
            lqmf_test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, \
                           a_, b_, (double)(tol));                                  \
    } while (0)
/* The call fails with the given status and its message contains `needle`. */
#define CHECK_ERR(expr, status, needle)                                             \
    do {                                                                            \
        lqmf_status st_ = (expr);                                                   \
        if (st_ != (status))                                                        \
            lqmf_test_fail(__FILE__, __LINE__, "%s -> %s, expected %s (%s)", #expr, \
                           lqmf_status_name(st_), lqmf_status_name(status),         \
                           lqmf_last_error());                                      \
        else if (!strstr(lqmf_last_error(), (needle)))                              \
            lqmf_test_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"", #expr, \
                           lqmf_last_error(), (needle));                            \
    } while (0)
#define SKIP(...)                                                                   \
    do {                                                                            \
        lqmf_test_skip(__VA_ARGS__);                                                \
        return;                                                                     \
    } while (0)
/* Fetch a data path or skip the test when the file is absent. */
#define DATA(var, rel)                                                              \
    const char *var = lqmf_test_data(rel);                                          \
    if (!var) return

#endif
