/* Quantized types: dequantization against decoders written here from the
 * format description (byte offsets and formulas of formats-and-hub-api.md
 * section 4.2, not the library's structs), round-trip error bounds, SIMD
 * kernels against the scalar reference, edge cases and the ISA switch. */
#include "../test.h"
#include "lqmf/quant.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------- */

static uint64_t g_rng;
static void rng_seed(uint64_t s) { g_rng = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_u64(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static float rng_gauss(void) {
    double u = rng_unit(), v = rng_unit();
    return (float)(sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v));
}
static void fill_gauss(float *x, int64_t n, float sigma) {
    for (int64_t i = 0; i < n; i++) x[i] = sigma * rng_gauss();
}

/* fp16 value by the IEEE formula (finite inputs). */
static double h2d(const uint8_t *p) {
    unsigned h = p[0] | p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
    return h >> 15 ? -v : v;
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const int kv_iq4[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113
};

/* The weight types under test, with the offsets of their fp16 scale fields. */
typedef struct {
    lqmf_type t;
    int fp16_at[2], nfp16;
} qtype;
static const qtype k_qtypes[] = {
    { LQMF_TYPE_Q8_0, { 0 }, 1 },      { LQMF_TYPE_Q4_0, { 0 }, 1 },    { LQMF_TYPE_Q4_1, { 0, 2 }, 2 },
    { LQMF_TYPE_Q5_0, { 0 }, 1 },      { LQMF_TYPE_Q5_1, { 0, 2 }, 2 }, { LQMF_TYPE_IQ4_NL, { 0 }, 1 },
    { LQMF_TYPE_Q2_K, { 80, 82 }, 2 }, { LQMF_TYPE_Q3_K, { 108 }, 1 },  { LQMF_TYPE_Q4_K, { 0, 2 }, 2 },
    { LQMF_TYPE_Q5_K, { 0, 2 }, 2 },   { LQMF_TYPE_Q6_K, { 208 }, 1 },  { LQMF_TYPE_IQ4_XS, { 0 }, 1 },
};
#define N_QTYPES (int)(sizeof k_qtypes / sizeof k_qtypes[0])

static uint32_t bsize(lqmf_type t) { return lqmf_type_get(t)->block_size; }
static size_t row_bytes(lqmf_type t, int64_t n) {
    uint64_t b = 0;
    lqmf_type_row_bytes(t, (uint64_t)n, &b);
    return (size_t)b;
}

/* Random blocks: random bytes, scale fields set to finite fp16 in +-[2^-8, 4). */
static void random_blocks(const qtype *q, uint8_t *p, int64_t nblocks) {
    uint32_t ts = lqmf_type_get(q->t)->type_size;
    for (int64_t b = 0; b < nblocks; b++, p += ts) {
        for (uint32_t i = 0; i < ts; i++) p[i] = (uint8_t)rng_u64();
        for (int k = 0; k < q->nfp16; k++) {
            float v =
                (float)ldexp(1 + rng_unit(), (int)(rng_u64() % 10) - 8) * (rng_u64() & 1 ? -1.0f : 1.0f);
            uint16_t h = lqmf_f32_to_fp16(v);
            memcpy(p + q->fp16_at[k], &h, 2);
        }
    }
}

/* ---- independent decoders (one block, double precision) ------------------ */

static void dec_legacy(lqmf_type t, const uint8_t *b, double *y) {
    double d = h2d(b), m = 0;
    const uint8_t *qs;
    uint32_t qh = 0;
    switch (t) {
    case LQMF_TYPE_Q8_0:
        for (int j = 0; j < 32; j++) y[j] = d * (int8_t)b[2 + j];
        return;
    case LQMF_TYPE_Q4_0: qs = b + 2; break;
    case LQMF_TYPE_IQ4_NL:
        for (int j = 0; j < 16; j++)
            y[j] = d * kv_iq4[b[2 + j] & 15], y[j + 16] = d * kv_iq4[b[2 + j] >> 4];
        return;
    case LQMF_TYPE_Q4_1: m = h2d(b + 2), qs = b + 4; break;
    case LQMF_TYPE_Q5_0: qh = le32(b + 2), qs = b + 6; break;
    default: m = h2d(b + 2), qh = le32(b + 4), qs = b + 8; break; /* Q5_1 */
    }
    for (int j = 0; j < 16; j++) {
        int x0 = qs[j] & 15, x1 = qs[j] >> 4;
        if (t == LQMF_TYPE_Q4_0) x0 -= 8, x1 -= 8;
        if (t == LQMF_TYPE_Q5_0 || t == LQMF_TYPE_Q5_1) {
            x0 |= ((qh >> j) << 4) & 0x10; /* xh_0 */
            x1 |= (qh >> (j + 12)) & 0x10; /* xh_1 */
            if (t == LQMF_TYPE_Q5_0) x0 -= 16, x1 -= 16;
        }
        y[j] = d * x0 + m;
        y[j + 16] = d * x1 + m;
    }
}

static void dec_q2_K(const uint8_t *b, double *y) {
    const uint8_t *sc = b, *q = b + 16;
    double d = h2d(b + 80), dmin = h2d(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int half = 0; half < 2; half++, is++)
                for (int l = 0; l < 16; l++)
                    *y++ = d * (sc[is] & 15) * ((q[l + 16 * half] >> shift) & 3) - dmin * (sc[is] >> 4);
}

static void dec_q3_K(const uint8_t *b, double *y) {
    const uint8_t *hm = b, *q = b + 32;
    double d = h2d(b + 108);
    uint32_t aux[4];
    memcpy(aux, b + 96, 12); /* unpack sixteen 6-bit scales with the masks of the format */
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
    aux[3] = ((aux[1] >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
    aux[0] = (aux[0] & 0x0f0f0f0f) | ((tmp & 0x03030303) << 4);
    aux[1] = (aux[1] & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
    const uint8_t *sc = (const uint8_t *)aux;
    int is = 0, m = 1;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int half = 0; half < 2; half++, is++)
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    *y++ = d * (sc[is] - 32) * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
}

static void scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

static void dec_q45_K(lqmf_type t, const uint8_t *b, double *y) {
    double d = h2d(b), dmin = h2d(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *q = t == LQMF_TYPE_Q4_K ? b + 16 : b + 48;
    int is = 0, u1 = 1, u2 = 2;
    for (int j = 0; j < 256; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
        int sc1, m1, sc2, m2;
        scale_min_k4(is, scales, &sc1, &m1);
        scale_min_k4(is + 1, scales, &sc2, &m2);
        for (int l = 0; l < 32; l++) {
            int h1 = t == LQMF_TYPE_Q5_K && (qh[l] & u1) ? 16 : 0,
                h2 = t == LQMF_TYPE_Q5_K && (qh[l] & u2) ? 16 : 0;
            y[j + l] = d * sc1 * ((q[l] & 0xF) + h1) - dmin * m1;
            y[j + l + 32] = d * sc2 * ((q[l] >> 4) + h2) - dmin * m2;
        }
    }
}

static void dec_q6_K(const uint8_t *b, double *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    double d = h2d(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            y[l] = d * sc[is] * ((ql[l] & 0xF) + ((qh[l] & 3) << 4) - 32);
            y[l + 32] = d * sc[is + 2] * ((ql[l + 32] & 0xF) + (((qh[l] >> 2) & 3) << 4) - 32);
            y[l + 64] = d * sc[is + 4] * ((ql[l] >> 4) + (((qh[l] >> 4) & 3) << 4) - 32);
            y[l + 96] = d * sc[is + 6] * ((ql[l + 32] >> 4) + (((qh[l] >> 6) & 3) << 4) - 32);
        }
}

static void dec_iq4_xs(const uint8_t *b, double *y) {
    double d = h2d(b);
    unsigned scales_h = b[2] | b[3] << 8;
    const uint8_t *scales_l = b + 4, *qs = b + 8;
    for (int ib = 0; ib < 8; ib++, y += 32, qs += 16) {
        int ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((scales_h >> 2 * ib) & 3) << 4);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (ls - 32) * kv_iq4[qs[j] & 0xf];
            y[j + 16] = d * (ls - 32) * kv_iq4[qs[j] >> 4];
        }
    }
}

static void dec_block(lqmf_type t, const uint8_t *b, double *y) {
    switch (t) {
    case LQMF_TYPE_Q2_K: dec_q2_K(b, y); break;
    case LQMF_TYPE_Q3_K: dec_q3_K(b, y); break;
    case LQMF_TYPE_Q4_K:
    case LQMF_TYPE_Q5_K: dec_q45_K(t, b, y); break;
    case LQMF_TYPE_Q6_K: dec_q6_K(b, y); break;
    case LQMF_TYPE_IQ4_XS: dec_iq4_xs(b, y); break;
    default: dec_legacy(t, b, y); break;
    }
}

/* ---- tests ----------------------------------------------------------------- */

TEST(quant_traits_table) {
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        const lqmf_quant_traits *tr = lqmf_quant_traits_isa(t, LQMF_ISA_REF);
        REQUIRE(tr && tr->type == t && tr->to_float && tr->quantize && tr->vec_dot);
        lqmf_type want = bsize(t) == 256 ? LQMF_TYPE_Q8_K : LQMF_TYPE_Q8_0;
        CHECKF(tr->vec_dot_type == want, "%s vec_dot_type %d", lqmf_type_name(t), tr->vec_dot_type);
        CHECK(lqmf_quant_traits_isa(tr->vec_dot_type, LQMF_ISA_REF)->from_float != NULL);
    }
    lqmf_type floats[] = { LQMF_TYPE_F32, LQMF_TYPE_F16, LQMF_TYPE_BF16 };
    for (int k = 0; k < 3; k++)
        CHECK(lqmf_quant_traits_isa(floats[k], LQMF_ISA_REF)->vec_dot_type == LQMF_TYPE_F32);
    CHECK(lqmf_quant_traits_isa(LQMF_TYPE_IQ2_XXS, LQMF_ISA_REF) == NULL);
    CHECK(lqmf_quant_traits_isa(LQMF_TYPE_Q8_K, LQMF_ISA_REF)->vec_dot == NULL);
}

/* Dequantize one row with the kernels of every available ISA into y[isa][]. */
static int dequant_all(lqmf_type t, const void *q, float y[LQMF_ISA_COUNT][256], int64_t n) {
    int count = 0;
    for (int i = 0; i < LQMF_ISA_COUNT; i++) {
        const lqmf_quant_traits *tr = lqmf_quant_traits_isa(t, (lqmf_isa)i);
        if (!tr) continue;
        tr->to_float(q, y[count++], n);
    }
    return count;
}

/* Every ISA dequantizes q (n weights of type t) to exactly want[]. */
static void expect_exact(lqmf_type t, const void *q, const float *want, int n) {
    float y[LQMF_ISA_COUNT][256];
    int nisa = dequant_all(t, q, y, n);
    for (int isa = 0; isa < nisa; isa++)
        for (int i = 0; i < n; i++)
            CHECKF(y[isa][i] == want[i], "%s isa #%d y[%d] = %g, want %g", lqmf_type_name(t), isa, i,
                   (double)y[isa][i], (double)want[i]);
}

/* Literal blocks with values worked out by hand. */
TEST(quant_dequant_literal_blocks) {
    float want[256];
    /* Q4_0: d = 0.5, every byte 0x3A: y[j] = 0.5*(10-8) = 1, y[j+16] = 0.5*(3-8) = -2.5 */
    uint8_t q40[18] = { 0x00, 0x38 };
    memset(q40 + 2, 0x3A, 16);
    for (int i = 0; i < 32; i++) want[i] = i < 16 ? 1.0f : -2.5f;
    expect_exact(LQMF_TYPE_Q4_0, q40, want, 32);
    /* Q5_0: d = 1, nibbles 0, qh = 0x80000001: weights 0 and 31 are 16-16 = 0, the rest -16 */
    uint8_t q50[22] = { 0x00, 0x3c, 0x01, 0x00, 0x00, 0x80 };
    for (int i = 0; i < 32; i++) want[i] = i == 0 || i == 31 ? 0.0f : -16.0f;
    expect_exact(LQMF_TYPE_Q5_0, q50, want, 32);
    /* Q4_K: d = 1, dmin = 0.5, all scales 2 and mins 3 (bytes 0-3 = 2, 4-7 = 3,
     * 8-11 = 0x32), nibbles 0x51: y = 2*1 - 1.5 = 0.5 (low), 2*5 - 1.5 = 8.5 (high) */
    uint8_t q4k[144] = { 0x00, 0x3c, 0x00, 0x38, 2, 2, 2, 2, 3, 3, 3, 3, 0x32, 0x32, 0x32, 0x32 };
    memset(q4k + 16, 0x51, 128);
    for (int i = 0; i < 256; i++) want[i] = i % 64 < 32 ? 0.5f : 8.5f;
    expect_exact(LQMF_TYPE_Q4_K, q4k, want, 256);
    /* Q6_K: d = 0.25, scales[s] = s - 8, ql = 0x11 (low nibbles 1), qh = 0xAA
     * (high bits 2 in every plane): q = 1 + 32 - 32 = 1, y = 0.25*(s - 8) */
    uint8_t q6k[210] = { 0 };
    memset(q6k, 0x11, 128);
    memset(q6k + 128, 0xAA, 64);
    for (int s = 0; s < 16; s++) q6k[192 + s] = (uint8_t)(int8_t)(s - 8);
    q6k[209] = 0x34; /* 0x3400 = 0.25 */
    for (int i = 0; i < 256; i++) want[i] = 0.25f * (float)(i / 16 - 8);
    expect_exact(LQMF_TYPE_Q6_K, q6k, want, 256);
}

/* Random bytes of every type decode as the decoders above say, on every ISA. */
TEST(quant_dequant_matches_spec) {
    rng_seed(1);
    uint8_t blk[292];
    float y[LQMF_ISA_COUNT][256];
    double want[256];
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        for (int rep = 0; rep < 200; rep++) {
            random_blocks(&k_qtypes[k], blk, 1);
            int nisa = dequant_all(t, blk, y, bsize(t));
            dec_block(t, blk, want);
            for (int isa = 0; isa < nisa; isa++)
                for (uint32_t i = 0; i < bsize(t); i++)
                    CHECKF(fabs(y[isa][i] - want[i]) <= 1e-6 * (fabs(want[i]) + 1e-3),
                           "%s rep %d y[%u] = %.9g, spec %.9g", lqmf_type_name(t), rep, i,
                           (double)y[isa][i], want[i]);
            if (lqmf_test_failed()) return;
        }
    }
}

/* Round trip on N(0,1): RMSE below the value llama.cpp's quantizers reach on
 * the same kind of data (measured: Q8_0 0.00536, Q6_K 0.01775, Q5_1 0.0378,
 * Q5_K 0.0361, Q5_0 0.0427, Q4_1 0.0784, Q4_K 0.0714, IQ4_NL 0.0761,
 * IQ4_XS 0.0767, Q4_0 0.0860, Q3_K 0.1507, Q2_K 0.2962); ours measured
 * 0.00508, 0.0171, 0.0336, 0.0345, 0.0403, 0.0698, 0.0704, 0.0739, 0.0744,
 * 0.0815, 0.1449, 0.2662. */
static double roundtrip_rmse(lqmf_type t, const float *x, int64_t n, const float *im) {
    uint8_t *q = malloc(row_bytes(t, n));
    float *y = malloc(sizeof(float) * (size_t)n);
    double e = 0;
    if (lqmf_quant_tensor(t, x, q, 1, n, im) == LQMF_OK && lqmf_quant_dequantize(t, q, y, n) == LQMF_OK)
        for (int64_t i = 0; i < n; i++) e += (double)(y[i] - x[i]) * (y[i] - x[i]) * (im ? im[i] : 1);
    else
        e = INFINITY;
    free(q);
    free(y);
    return sqrt(e / (double)n);
}

static const struct {
    lqmf_type t;
    double bound;
} k_rmse_bounds[] = {
    { LQMF_TYPE_Q8_0, 0.00536 }, { LQMF_TYPE_Q6_K, 0.01775 },  { LQMF_TYPE_Q5_1, 0.0378 },
    { LQMF_TYPE_Q5_K, 0.0361 },  { LQMF_TYPE_Q5_0, 0.0427 },   { LQMF_TYPE_Q4_1, 0.0784 },
    { LQMF_TYPE_Q4_K, 0.0714 },  { LQMF_TYPE_IQ4_NL, 0.0761 }, { LQMF_TYPE_IQ4_XS, 0.0767 },
    { LQMF_TYPE_Q4_0, 0.0860 },  { LQMF_TYPE_Q3_K, 0.1507 },   { LQMF_TYPE_Q2_K, 0.2962 },
};

TEST(quant_roundtrip_rmse_gaussian) {
    enum { N = 32768 };
    static float x[N];
    rng_seed(2);
    fill_gauss(x, N, 1.0f);
    double r[LQMF_TYPE_COUNT] = { 0 };
    for (size_t k = 0; k < sizeof k_rmse_bounds / sizeof k_rmse_bounds[0]; k++) {
        lqmf_type t = k_rmse_bounds[k].t;
        r[t] = roundtrip_rmse(t, x, N, NULL);
        CHECKF(r[t] < k_rmse_bounds[k].bound, "%s RMSE %.5f >= %.5f", lqmf_type_name(t), r[t],
               k_rmse_bounds[k].bound);
    }
    /* more bits, less error */
    lqmf_type order[] = { LQMF_TYPE_Q8_0, LQMF_TYPE_Q6_K, LQMF_TYPE_Q5_K,
                          LQMF_TYPE_Q4_K, LQMF_TYPE_Q3_K, LQMF_TYPE_Q2_K };
    for (int k = 0; k + 1 < 6; k++)
        CHECKF(r[order[k]] < r[order[k + 1]], "RMSE %s %.5f >= %s %.5f", lqmf_type_name(order[k]),
               r[order[k]], lqmf_type_name(order[k + 1]), r[order[k + 1]]);
    /* float types: F32 exact, F16 / BF16 within half an ulp */
    CHECK(roundtrip_rmse(LQMF_TYPE_F32, x, N, NULL) == 0);
    CHECK(roundtrip_rmse(LQMF_TYPE_F16, x, N, NULL) < 3e-4);
    CHECK(roundtrip_rmse(LQMF_TYPE_BF16, x, N, NULL) < 2e-3);
}

/* An importance matrix lowers the importance-weighted error. */
TEST(quant_imatrix_lowers_weighted_error) {
    enum { N = 4096 };
    static float x[N], im[N];
    rng_seed(3);
    fill_gauss(x, N, 1.0f);
    for (int i = 0; i < N; i++) im[i] = (float)exp(3 * rng_gauss()); /* very uneven importances */
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        float ones[N];
        for (int i = 0; i < N; i++) ones[i] = 1;
        /* weighted error of the plain quantization, measured with im */
        uint8_t *q = malloc(row_bytes(t, N));
        float y[N];
        REQUIRE_OK(lqmf_quant_tensor(t, x, q, 1, N, NULL));
        REQUIRE_OK(lqmf_quant_dequantize(t, q, y, N));
        double plain = 0;
        for (int i = 0; i < N; i++) plain += im[i] * (double)(y[i] - x[i]) * (y[i] - x[i]);
        free(q);
        double with = roundtrip_rmse(t, x, N, im);
        CHECKF(with * with * N < 0.9 * plain, "%s weighted error %.4g vs %.4g without imatrix",
               lqmf_type_name(t), with * with * N, plain);
        CHECK(fabs(roundtrip_rmse(t, x, N, ones) - roundtrip_rmse(t, x, N, NULL)) <
              1e-12); /* flat = none */
    }
}

TEST(quant_tensor_rows_independent) {
    enum { ROWS = 3, N = 512 };
    static float x[ROWS * N];
    rng_seed(4);
    fill_gauss(x, ROWS * N, 0.1f);
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        size_t rb = row_bytes(t, N);
        uint8_t *all = malloc(rb * ROWS), *one = malloc(rb);
        REQUIRE_OK(lqmf_quant_tensor(t, x, all, ROWS, N, NULL));
        for (int r = 0; r < ROWS; r++) {
            REQUIRE_OK(lqmf_quant_tensor(t, x + r * N, one, 1, N, NULL));
            CHECKF(memcmp(one, all + r * rb, rb) == 0, "%s row %d", lqmf_type_name(t), r);
        }
        free(all);
        free(one);
    }
}

/* Dequantized values of row x quantized as t. */
static void roundtrip(lqmf_type t, const float *x, float *y, int64_t n) {
    uint8_t *q = malloc(row_bytes(t, n));
    CHECK_OK(lqmf_quant_tensor(t, x, q, 1, n, NULL));
    CHECK_OK(lqmf_quant_dequantize(t, q, y, n));
    free(q);
}

TEST(quant_edge_values) {
    enum { N = 512 };
    static float x[N], y[N];
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        const char *name = lqmf_type_name(t);
        /* zeros stay exactly zero */
        memset(x, 0, sizeof x);
        roundtrip(t, x, y, N);
        for (int i = 0; i < N; i++) CHECKF(y[i] == 0, "%s zero row: y[%d] = %g", name, i, (double)y[i]);
        /* constant rows come back within fp16 precision of the scales */
        float consts[] = { 0.37f, -1.3f, 1000.0f };
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < N; i++) x[i] = consts[c];
            roundtrip(t, x, y, N);
            for (int i = 0; i < N; i++)
                CHECKF(fabsf(y[i] - x[i]) <= 2e-3f * fabsf(x[i]), "%s constant %g: y[%d] = %.7g", name,
                       (double)consts[c], i, (double)y[i]);
        }
        /* magnitudes: the relative error is scale-free while the fp16 scales
         * stay normal, and finite (tiny rows flush to zero) far beyond */
        rng_seed(5);
        fill_gauss(x, N, 1.0f);
        double base = roundtrip_rmse(t, x, N, NULL);
        float scales[] = { 1e-2f, 1e4f, 1e-30f, 1e30f };
        for (int s = 0; s < 4; s++) {
            float xs[N];
            for (int i = 0; i < N; i++) xs[i] = x[i] * scales[s];
            double r = roundtrip_rmse(t, xs, N, NULL) / scales[s];
            if (s < 2)
                CHECKF(r < 1.05 * base, "%s sigma %g: relative RMSE %.5f vs %.5f", name,
                       (double)scales[s], r, base);
            roundtrip(t, xs, y, N);
            for (int i = 0; i < N; i++)
                CHECKF(isfinite(y[i]), "%s sigma %g: y[%d] = %g", name, (double)scales[s], i,
                       (double)y[i]);
            if (s == 2)
                for (int i = 0; i < N; i++)
                    CHECKF(y[i] == 0, "%s tiny: y[%d] = %g", name, i, (double)y[i]);
        }
        if (lqmf_test_failed()) return;
    }
}

TEST(quant_rejects_bad_input) {
    float x[512] = { 0 }, im[512];
    uint8_t q[1024];
    for (int i = 0; i < 512; i++) im[i] = 1;
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_Q4_K, x, q, 1, 128, NULL), LQMF_E_INVALID,
              "multiple of the block size 256");
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_Q8_0, x, q, 1, 48, NULL), LQMF_E_INVALID, "48 weights");
    CHECK_ERR(lqmf_quant_dequantize(LQMF_TYPE_Q6_K, q, x, 100), LQMF_E_INVALID, "block size 256");
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_IQ2_XXS, x, q, 1, 256, NULL), LQMF_E_UNSUPPORTED, "IQ2_XXS");
    x[77] = NAN;
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_Q4_0, x, q, 1, 256, NULL), LQMF_E_INVALID, "column 77");
    x[77] = INFINITY;
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_Q4_0, x, q, 1, 256, NULL), LQMF_E_INVALID, "not finite");
    x[77] = 65519; /* rounds to 65504 */
    CHECK_OK(lqmf_quant_tensor(LQMF_TYPE_F16, x, q, 1, 256, NULL));
    x[77] = 65520;
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_F16, x, q, 1, 256, NULL), LQMF_E_INVALID, "F16 range");
    CHECK_OK(lqmf_quant_tensor(LQMF_TYPE_Q4_0, x, q, 1, 256, NULL));
    im[3] = -1;
    CHECK_ERR(lqmf_quant_tensor(LQMF_TYPE_Q4_0, x, q, 1, 256, im), LQMF_E_INVALID, "imatrix[3]");
}

/* ---- SIMD against the reference ----------------------------------------- */

/* vec_dot tolerance: |got - want| <= 1e-4 * sum_i |w_i * a_i| (float
 * accumulation order differs; the integer block sums are exact). */
#define DOT_TOL 1e-4

static double abs_dot(const float *w, const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)w[i] * a[i]);
    return s;
}

/* Checks ISA `isa` against the reference for type t: to_float bit-exact,
 * vec_dot within DOT_TOL, and the reference vec_dot itself against the dot
 * of the dequantized rows. Weights: quantized Gaussian data and random bytes. */
static void check_kernels(const qtype *q, lqmf_isa isa) {
    enum { N = 4096 };
    lqmf_type t = q->t;
    const lqmf_quant_traits *ref = lqmf_quant_traits_isa(t, LQMF_ISA_REF),
                            *simd = lqmf_quant_traits_isa(t, isa);
    const lqmf_quant_traits *vref = lqmf_quant_traits_isa(ref->vec_dot_type, LQMF_ISA_REF);
    static float x[N], yr[N], ys[N], act[N], ad[N];
    size_t wb = row_bytes(t, N);
    uint8_t *wq = malloc(wb), *aq = malloc(row_bytes(ref->vec_dot_type, N));
    for (int rep = 0; rep < 6; rep++) {
        int64_t n = rep % 3 == 2 ? bsize(t) : N; /* also a single block */
        if (rep < 3) {
            fill_gauss(x, n, 0.05f);
            CHECK_OK(lqmf_quant_tensor(t, x, wq, 1, n, NULL));
        } else {
            random_blocks(q, wq, n / bsize(t));
        }
        ref->to_float(wq, yr, n);
        simd->to_float(wq, ys, n);
        CHECKF(memcmp(yr, ys, sizeof(float) * (size_t)n) == 0, "%s %s to_float differs",
               lqmf_type_name(t), lqmf_kernel_isa_name(isa));
        fill_gauss(act, n, 1.0f);
        vref->from_float(act, aq, n);
        vref->to_float(aq, ad, n);
        double want = 0;
        for (int64_t i = 0; i < n; i++) want += (double)yr[i] * ad[i];
        double tol = DOT_TOL * abs_dot(yr, ad, n) + 1e-30;
        float r = ref->vec_dot(n, wq, aq), s = simd->vec_dot(n, wq, aq);
        CHECKF(fabs(r - want) <= tol, "%s ref vec_dot %.9g, dequantized dot %.9g", lqmf_type_name(t),
               (double)r, want);
        CHECKF(fabs(s - r) <= tol, "%s %s vec_dot %.9g, ref %.9g (tol %.3g)", lqmf_type_name(t),
               lqmf_kernel_isa_name(isa), (double)s, (double)r, tol);
    }
    free(wq);
    free(aq);
}

/* The tiles of ISA `isa` against the reference vec_dot, for every shape
 * nr x nx up to LQMF_QUANT_TILE (rows and tokens with distinct data, spaced
 * with padding, outputs into a wider matrix whose other cells must stay
 * untouched), within DOT_TOL of each dot. */
static void check_tiles(const qtype *q, lqmf_isa isa) {
    enum { N = 1024, T = LQMF_QUANT_TILE, OS = 7 };
    lqmf_type t = q->t;
    const lqmf_quant_traits *ref = lqmf_quant_traits_isa(t, LQMF_ISA_REF),
                            *simd = lqmf_quant_traits_isa(t, isa);
    const lqmf_quant_traits *vref = lqmf_quant_traits_isa(ref->vec_dot_type, LQMF_ISA_REF);
    REQUIRE(simd->vec_dot_tile && ref->vec_dot_tile);
    const size_t ws = row_bytes(t, N) + 40, as = row_bytes(ref->vec_dot_type, N) + 24;
    uint8_t *wq = calloc(T, ws), *aq = calloc(T, as);
    static float x[N], yw[N], ya[N];
    double tol[T][T];
    for (int r = 0; r < T; r++) {
        if (r % 2) random_blocks(q, wq + r * ws, N / bsize(t));
        else {
            fill_gauss(x, N, 0.05f);
            CHECK_OK(lqmf_quant_tensor(t, x, wq + r * ws, 1, N, NULL));
        }
    }
    for (int j = 0; j < T; j++) {
        fill_gauss(x, N, 1.0f + (float)j);
        vref->from_float(x, aq + j * as, N);
    }
    for (int r = 0; r < T; r++) {
        ref->to_float(wq + r * ws, yw, N);
        for (int j = 0; j < T; j++) {
            vref->to_float(aq + j * as, ya, N);
            tol[r][j] = DOT_TOL * abs_dot(yw, ya, N) + 1e-30;
        }
    }
    for (int nr = 1; nr <= T; nr++)
        for (int nx = 1; nx <= T; nx++) {
            float out[T * OS];
            for (int k = 0; k < T * OS; k++) out[k] = -12345.0f;
            simd->vec_dot_tile(N, wq, ws, nr, aq, as, nx, out, OS);
            for (int j = 0; j < T; j++)
                for (int r = 0; r < OS; r++) {
                    float got = out[j * OS + r];
                    if (j >= nx || r >= nr) {
                        CHECKF(got == -12345.0f, "%s %s tile %dx%d wrote out[%d][%d]", lqmf_type_name(t),
                               lqmf_kernel_isa_name(isa), nr, nx, j, r);
                        continue;
                    }
                    float want = ref->vec_dot(N, wq + r * ws, aq + j * as);
                    CHECKF(fabs(got - want) <= tol[r][j], "%s %s tile %dx%d [%d][%d] %.9g, vec_dot %.9g",
                           lqmf_type_name(t), lqmf_kernel_isa_name(isa), nr, nx, j, r, (double)got,
                           (double)want);
                }
        }
    free(wq);
    free(aq);
}

TEST(quant_tiles_match_vec_dot) {
    rng_seed(8);
    for (int isa = 0; isa < LQMF_ISA_COUNT; isa++)
        if (lqmf_kernel_isa_available((lqmf_isa)isa))
            for (int k = 0; k < N_QTYPES; k++) check_tiles(&k_qtypes[k], (lqmf_isa)isa);
}

TEST(quant_ref_vec_dot_matches_dequantized) { /* the reference against its own to_float */
    rng_seed(6);
    for (int k = 0; k < N_QTYPES; k++) check_kernels(&k_qtypes[k], LQMF_ISA_REF);
}

static void check_isa(lqmf_isa isa) {
    rng_seed(7);
    for (int k = 0; k < N_QTYPES; k++) check_kernels(&k_qtypes[k], isa);
    /* float types and activation quantizers: bit-exact (finite inputs) */
    enum { N = 1000 };
    static float x[N], yr[N], ys[N];
    static uint8_t br[N * 4], bs[N * 4];
    for (int i = 0; i < N; i++) /* magnitudes from subnormal fp16 to fp16 overflow */
        x[i] = (float)ldexp(rng_gauss(), (int)(rng_u64() % 44) - 28);
    lqmf_type floats[] = { LQMF_TYPE_F32, LQMF_TYPE_F16, LQMF_TYPE_BF16 };
    for (int k = 0; k < 3; k++) {
        const lqmf_quant_traits *r = lqmf_quant_traits_isa(floats[k], LQMF_ISA_REF),
                                *s = lqmf_quant_traits_isa(floats[k], isa);
        r->quantize(x, br, N, NULL);
        s->quantize(x, bs, N, NULL);
        CHECKF(memcmp(br, bs, row_bytes(floats[k], N)) == 0, "%s quantize", lqmf_type_name(floats[k]));
        r->to_float(br, yr, N);
        s->to_float(br, ys, N);
        for (int i = 0; i < N; i++) /* infinities from F16 overflow compare equal too */
            CHECKF(yr[i] == ys[i], "%s to_float[%d] %g vs %g", lqmf_type_name(floats[k]), i,
                   (double)yr[i], (double)ys[i]);
        float dr = r->vec_dot(992, br, x), ds = s->vec_dot(992, br, x);
        if (floats[k] != LQMF_TYPE_F16) /* (F16 holds infinities here) */
            CHECKF(fabs(dr - ds) <= DOT_TOL * abs_dot(yr, x, 992), "%s vec_dot %g vs %g",
                   lqmf_type_name(floats[k]), (double)dr, (double)ds);
    }
    /* the F16 dot on a row inside the F16 range */
    fill_gauss(x, N, 1.0f);
    const lqmf_quant_traits *r16 = lqmf_quant_traits_isa(LQMF_TYPE_F16, LQMF_ISA_REF),
                            *s16 = lqmf_quant_traits_isa(LQMF_TYPE_F16, isa);
    r16->quantize(x, br, N, NULL);
    r16->to_float(br, yr, N);
    float dr = r16->vec_dot(992, br, x), ds = s16->vec_dot(992, br, x);
    CHECKF(fabs(dr - ds) <= DOT_TOL * abs_dot(yr, x, 992), "F16 vec_dot %g vs %g", (double)dr, (double)ds);
    fill_gauss(x, 768, 3.0f);
    lqmf_type acts[] = { LQMF_TYPE_Q8_0, LQMF_TYPE_Q8_K };
    for (int k = 0; k < 2; k++) {
        lqmf_quant_traits_isa(acts[k], LQMF_ISA_REF)->from_float(x, br, 768);
        lqmf_quant_traits_isa(acts[k], isa)->from_float(x, bs, 768);
        CHECKF(memcmp(br, bs, row_bytes(acts[k], 768)) == 0, "%s from_float", lqmf_type_name(acts[k]));
        lqmf_quant_traits_isa(acts[k], LQMF_ISA_REF)->to_float(br, yr, 768);
        lqmf_quant_traits_isa(acts[k], isa)->to_float(br, ys, 768);
        CHECKF(memcmp(yr, ys, sizeof(float) * 768) == 0, "%s to_float", lqmf_type_name(acts[k]));
    }
}

TEST(quant_avx2_matches_ref) {
    if (!lqmf_kernel_isa_available(LQMF_ISA_AVX2)) SKIP("this CPU lacks AVX2/FMA/F16C");
    check_isa(LQMF_ISA_AVX2);
}

TEST(quant_avx512_matches_ref) {
    if (!lqmf_kernel_isa_available(LQMF_ISA_AVX512)) SKIP("this CPU lacks AVX-512 F/BW/DQ/VL");
    check_isa(LQMF_ISA_AVX512);
}

TEST(quant_neon_matches_ref) {
    if (!lqmf_kernel_isa_available(LQMF_ISA_NEON)) SKIP("NEON kernels are built only for AArch64");
    check_isa(LQMF_ISA_NEON);
}

/* The integer part of every vec_dot is exact: with weight scales +-1 (and
 * mins +-1), activation scales 1 and activation levels small enough that
 * every partial sum stays below 2^24 (Q8_0: |a| <= 127 over 512 weights;
 * Q8_K: |a| <= 7 over two super-blocks), any float summation order gives the
 * exact dot, which the decoders above compute in double. Every ISA must
 * return exactly that value. */
TEST(quant_vec_dot_integer_exact) {
    enum { N = 512 };
    rng_seed(9);
    static uint8_t wq[N * 2], aq[N * 2];
    double yw[256];
    for (int k = 0; k < N_QTYPES; k++) {
        const qtype *q = &k_qtypes[k];
        const uint32_t bs = bsize(q->t), ts = lqmf_type_get(q->t)->type_size;
        const bool k8 = bs == 256; /* activations Q8_K, else Q8_0 */
        for (int rep = 0; rep < 20; rep++) {
            random_blocks(q, wq, N / bs);
            for (uint32_t b = 0; b < N / bs; b++)
                for (int f = 0; f < q->nfp16; f++) { /* +-1.0 */
                    const uint16_t one = rng_u64() & 1 ? 0xBC00 : 0x3C00;
                    memcpy(wq + b * ts + q->fp16_at[f], &one, 2);
                }
            double want = 0;
            for (int b = 0; b < N / (k8 ? 256 : 32); b++) { /* activation blocks, by their byte layout */
                uint8_t *ab = aq + b * (k8 ? 292 : 34);
                int8_t *qs = (int8_t *)(ab + (k8 ? 4 : 2));
                const int lim = k8 ? 7 : 127, nq = k8 ? 256 : 32;
                for (int j = 0; j < nq; j++) qs[j] = (int8_t)((int)(rng_u64() % (2 * lim + 1)) - lim);
                if (k8) {
                    const float one = 1.0f;
                    memcpy(ab, &one, 4);
                    for (int g = 0; g < 16; g++) {
                        int16_t sum = 0;
                        for (int j = 0; j < 16; j++) sum = (int16_t)(sum + qs[16 * g + j]);
                        memcpy(ab + 260 + 2 * g, &sum, 2);
                    }
                } else {
                    ab[0] = 0x00, ab[1] = 0x3C;
                }
            }
            for (uint32_t b = 0; b < N / bs; b++) {
                dec_block(q->t, wq + b * ts, yw);
                for (uint32_t j = 0; j < bs; j++) {
                    const uint32_t i = b * bs + j;
                    want += yw[j] * (k8 ? (int8_t)aq[(i / 256) * 292 + 4 + i % 256]
                                        : (int8_t)aq[(i / 32) * 34 + 2 + i % 32]);
                }
            }
            for (int isa = 0; isa < LQMF_ISA_COUNT; isa++) {
                const lqmf_quant_traits *tr = lqmf_quant_traits_isa(q->t, (lqmf_isa)isa);
                if (!tr) continue;
                const float got = tr->vec_dot(N, wq, aq);
                CHECKF((double)got == want, "%s %s rep %d: vec_dot %.9g, exact %.9g", lqmf_type_name(q->t),
                       lqmf_kernel_isa_name((lqmf_isa)isa), rep, (double)got, want);
            }
            if (lqmf_test_failed()) return;
        }
    }
}

/* ---- instruction set selection ----------------------------------------- */

TEST(quant_isa_env) {
    const char *old = getenv("LQMF_ISA");
    char saved[32] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    setenv("LQMF_ISA", "ref", 1);
    CHECK_OK(lqmf_kernel_init());
    CHECK(lqmf_kernel_isa() == LQMF_ISA_REF);
    CHECK(lqmf_quant_traits_get(LQMF_TYPE_Q4_K) == lqmf_quant_traits_isa(LQMF_TYPE_Q4_K, LQMF_ISA_REF));
    setenv("LQMF_ISA", "sse9", 1);
    CHECK_ERR(lqmf_kernel_init(), LQMF_E_INVALID, "LQMF_ISA=sse9");
    CHECK(lqmf_kernel_isa() == LQMF_ISA_REF); /* unchanged */
    for (int i = LQMF_ISA_AVX2; i < LQMF_ISA_COUNT; i++)
        if (!lqmf_kernel_isa_available((lqmf_isa)i)) {
            setenv("LQMF_ISA", lqmf_kernel_isa_name((lqmf_isa)i), 1);
            CHECK_ERR(lqmf_kernel_init(), LQMF_E_UNSUPPORTED, lqmf_kernel_isa_name((lqmf_isa)i));
            CHECK(lqmf_quant_traits_isa(LQMF_TYPE_Q4_K, (lqmf_isa)i) == NULL);
        }
    CHECK_STR(lqmf_kernel_isa_name(LQMF_ISA_AVX2), "avx2");
    CHECK_STR(lqmf_kernel_isa_name(LQMF_ISA_NEON), "neon");
    setenv("LQMF_ISA", "scalar", 1); /* a synonym of ref */
    CHECK_OK(lqmf_kernel_init());
    CHECK(lqmf_kernel_isa() == LQMF_ISA_REF);
    /* no variable: the best ISA */
    unsetenv("LQMF_ISA");
    CHECK_OK(lqmf_kernel_init());
    int best = LQMF_ISA_COUNT - 1;
    while (!lqmf_kernel_isa_available((lqmf_isa)best)) best--;
    CHECK(lqmf_kernel_isa() == (lqmf_isa)best);
    if (old) { /* leave the run's own choice in place (a bad value keeps the best) */
        setenv("LQMF_ISA", saved, 1);
        lqmf_kernel_init();
    }
}

/* Quantizers are the same code on every ISA: identical bytes. */
TEST(quant_quantizers_isa_independent) {
    enum { N = 1024 };
    static float x[N];
    rng_seed(8);
    fill_gauss(x, N, 1.0f);
    for (int k = 0; k < N_QTYPES; k++) {
        lqmf_type t = k_qtypes[k].t;
        size_t rb = row_bytes(t, N);
        uint8_t *a = malloc(rb), *b = malloc(rb);
        lqmf_quant_traits_isa(t, LQMF_ISA_REF)->quantize(x, a, N, NULL);
        lqmf_quant_traits_get(t)->quantize(x, b, N, NULL);
        CHECKF(memcmp(a, b, rb) == 0, "%s", lqmf_type_name(t));
        free(a);
        free(b);
    }
}
