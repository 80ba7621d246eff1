/* bitsandbytes codecs against a float64 reference and hand-packed bytes. */
#include "lqmf/bnb.h"
#include "../test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Reference: nearest code index in float64 (first on a tie). */
static int ref_nearest(const double *code, double v) {
    int best = 0;
    for (int k = 1; k < 16; k++)
        if (fabs(v - code[k]) < fabs(v - code[best])) best = k;
    return best;
}

static float lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((double)(*s >> 8) / 16777216.0 * 2.0 - 1.0);
}

TEST(bnb_nf4_table_and_packing) {
    const float *c = lqmf_bnb_code(LQMF_BNB_NF4);
    CHECK(c[0] == -1.0f && c[7] == 0.0f && c[15] == 1.0f);
    CHECK(fabsf(c[8] - 0.07958029955625534f) == 0);
    const float *f = lqmf_bnb_code(LQMF_BNB_FP4);
    CHECK(f[3] == 1.0f && f[11] == -1.0f && fabsf(f[2] - 8.0f / 12) < 1e-7f && f[0] == 0.0f);
    /* one block of 64: x[0] = -1 -> code 0, x[1] = 1 -> 15, x[2] = 0 -> 7, x[3] = 0.5626... -> 13 */
    float x[64] = {-2.0f, 2.0f, 0.0f, 0.5626170039176941f * 2};
    uint8_t p[32];
    float am;
    REQUIRE_OK(lqmf_bnb_quantize_4bit(LQMF_BNB_NF4, x, 64, 64, p, &am));
    CHECK(am == 2.0f);
    CHECK_EQ_INT(p[0], 0x0F); /* even index high nibble: 0 << 4 | 15 */
    CHECK_EQ_INT(p[1], 0x7D); /* 7 << 4 | 13 */
    CHECK_EQ_INT(p[2], 0x77); /* zeros -> code 7 */
    float y[64];
    lqmf_bnb_dequantize_4bit(c, p, &am, 64, 64, y);
    CHECK(y[0] == -2.0f && y[1] == 2.0f && y[2] == 0.0f && fabsf(y[3] - x[3]) < 1e-6f);
    /* zero block: absmax 0, all codes 7, decodes to 0 */
    float z[64] = {0};
    REQUIRE_OK(lqmf_bnb_quantize_4bit(LQMF_BNB_NF4, z, 64, 64, p, &am));
    CHECK(am == 0.0f && p[0] == 0x77 && p[31] == 0x77);
    /* bad inputs */
    CHECK(lqmf_bnb_quantize_4bit(LQMF_BNB_NF4, x, 64, 48, p, &am) == LQMF_E_INVALID);
    CHECK(lqmf_bnb_quantize_4bit(LQMF_BNB_NF4, x, 64, 8192, p, &am) == LQMF_E_INVALID);
    x[5] = NAN;
    CHECK(lqmf_bnb_quantize_4bit(LQMF_BNB_NF4, x, 64, 64, p, &am) == LQMF_E_INVALID);
    CHECK(strstr(lqmf_last_error(), "value 5") != NULL);
    lqmf_bnb_4bit t;
    CHECK(lqmf_bnb_from_name("NF4", &t) && t == LQMF_BNB_NF4);
    CHECK(lqmf_bnb_from_name("fp4", &t) && t == LQMF_BNB_FP4);
    CHECK(!lqmf_bnb_from_name("int4", &t));
}

/* Random data in blocks of 64 and 128 (last block short): codes equal the
 * float64 reference, and the error is within half the widest code gap. */
TEST(bnb_4bit_vs_float64) {
    enum { N = 1000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *p = malloc(N / 2);
    float am[N / 32 + 1];
    REQUIRE(x && y && p);
    uint32_t s = 7;
    for (int i = 0; i < N; i++) x[i] = lcg(&s) * (float)(1 + i % 5);
    for (int t = 0; t < 2; t++)
        for (uint64_t bs = 64; bs <= 128; bs *= 2) {
            const float *code = lqmf_bnb_code((lqmf_bnb_4bit)t);
            double dc[16], gap = 0;
            for (int k = 0; k < 16; k++) dc[k] = code[k];
            for (int k = 0; k < 16; k++) /* widest gap between neighbouring values */
                for (int j = 0; j < 16; j++) {
                    double lo = dc[k], hi = dc[j], nearer = INFINITY;
                    if (hi <= lo) continue;
                    for (int m = 0; m < 16; m++)
                        if (dc[m] > lo && dc[m] < nearer) nearer = dc[m];
                    if (nearer == hi && hi - lo > gap) gap = hi - lo;
                }
            REQUIRE_OK(lqmf_bnb_quantize_4bit((lqmf_bnb_4bit)t, x, N, bs, p, am));
            lqmf_bnb_dequantize_4bit(code, p, am, N, bs, y);
            int mismatch = 0;
            double worst = 0;
            for (int i = 0; i < N; i++) {
                uint64_t b = (uint64_t)i / bs;
                double ref_am = 0;
                for (uint64_t j = b * bs; j < (b + 1) * bs && j < N; j++) ref_am = fmax(ref_am, fabs(x[j]));
                CHECK(am[b] == (float)ref_am);
                int q = ref_nearest(dc, (double)x[i] / ref_am);
                int got = i % 2 ? p[i / 2] & 15 : p[i / 2] >> 4;
                /* a value on a midpoint may round either way in float32 */
                if (got != q && fabs(fabs((double)x[i] / ref_am - dc[q]) - fabs((double)x[i] / ref_am - dc[got])) > 1e-6)
                    mismatch++;
                double err = fabs((double)y[i] - (double)x[i]) / ref_am;
                if (err > worst) worst = err;
            }
            CHECK_EQ_INT(mismatch, 0);
            CHECKF(worst <= gap / 2 + 1e-6, "%s bs %llu: worst error %g > half gap %g", t ? "fp4" : "nf4",
                   (unsigned long long)bs, worst, gap / 2);
            printf("  %s blocksize %llu: worst |err|/absmax %.4f (bound %.4f)\n", t ? "fp4" : "nf4",
                   (unsigned long long)bs, worst, gap / 2);
        }
    free(x);
    free(y);
    free(p);
}

TEST(bnb_int8_vs_float64) {
    enum { R = 7, C = 33 };
    float w[R * C], y[R * C], scb[R];
    int8_t q[R * C];
    uint32_t s = 3;
    for (int i = 0; i < R * C; i++) w[i] = lcg(&s) * (float)(i / C + 1);
    for (int i = 0; i < C; i++) w[2 * C + i] = 0; /* a zero row */
    REQUIRE_OK(lqmf_bnb_quantize_int8(w, R, C, q, scb));
    lqmf_bnb_dequantize_int8(q, scb, R, C, y);
    CHECK(scb[2] == 0.0f);
    for (int r = 0; r < R; r++) {
        double am = 0;
        for (int c = 0; c < C; c++) am = fmax(am, fabs(w[r * C + c]));
        CHECK(scb[r] == (float)am);
        for (int c = 0; c < C; c++) {
            double ref = am > 0 ? nearbyint((double)w[r * C + c] * 127.0 / am) : 0;
            CHECKF(q[r * C + c] == (int8_t)ref, "row %d col %d: %d != %g", r, c, q[r * C + c], ref);
            CHECK(fabs((double)y[r * C + c] - w[r * C + c]) <= am / 254 + 1e-6);
        }
    }
    w[40] = INFINITY;
    CHECK(lqmf_bnb_quantize_int8(w, R, C, q, scb) == LQMF_E_INVALID);
    CHECK(strstr(lqmf_last_error(), "row 1 column 7") != NULL);
}

/* The dynamic 8-bit code: 256 ascending values, 0 and 1 in it, the ends and
 * the smallest magnitude as create_dynamic_map(signed, 7 exponent bits) makes
 * them; 8-bit blockwise codes equal the float64 nearest entry. */
TEST(bnb_dynamic_code_and_8bit_blockwise) {
    const float *c = lqmf_bnb_dynamic_code();
    int zeros = 0;
    for (int i = 0; i < 256; i++) {
        if (i) CHECK(c[i] >= c[i - 1]);
        zeros += c[i] == 0.0f;
    }
    CHECK_EQ_INT(zeros, 1);
    CHECK(c[255] == 1.0f);
    CHECK(fabs(c[0] - -(1.0 - 0.9 / 64 / 2)) < 1e-7); /* -(midpoint of the last 1/64 step of 0.1..1) */
    CHECK(fabs(c[254] - (1.0 - 0.9 / 64 / 2)) < 1e-7);
    CHECK(fabs(c[128] - 0.55e-6) < 1e-12); /* 10^-6 x (0.1 + 1) / 2, just above 0 */
    enum { N = 700 };
    float x[N], y[N], sc[3];
    uint8_t q[N];
    uint32_t s = 11;
    for (int i = 0; i < N; i++) x[i] = lcg(&s) * (float)(i % 7 + 1) * 0.01f;
    REQUIRE_OK(lqmf_bnb_quantize_8bit(c, x, N, 256, q, sc));
    lqmf_bnb_dequantize_8bit(c, q, sc, N, 256, y);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double am = 0;
        for (int j = i / 256 * 256; j < (i / 256 + 1) * 256 && j < N; j++) am = fmax(am, fabs(x[j]));
        double v = x[i] / am;
        int best = 0;
        for (int k = 1; k < 256; k++)
            if (fabs(v - c[k]) < fabs(v - c[best])) best = k;
        if (q[i] != best && fabs(fabs(v - c[q[i]]) - fabs(v - c[best])) > 1e-6) bad++;
        CHECK(fabs(y[i] - x[i]) <= am * 0.0071 + 1e-9); /* half the widest step, 0.9 / 64 / 2 */
    }
    CHECK_EQ_INT(bad, 0);
}
