/* bitsandbytes NF4 / FP4 blockwise and LLM.int8 row-wise codecs. */
#include "lqmf/bnb.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

/* functional.get_4bit_type("nf4"): quantiles of N(0, 1) scaled to [-1, 1]. */
static const float nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* functional.get_4bit_type("fp4"): E2M1 with bias 2 in bit-pattern order,
 * {0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3} / 12. */
static const float fp4_code[16] = {
    0.0f, 0.0625f / 12, 8.0f / 12, 1.0f, 4.0f / 12, 6.0f / 12, 2.0f / 12, 3.0f / 12,
    -0.0f, -0.0625f / 12, -8.0f / 12, -1.0f, -4.0f / 12, -6.0f / 12, -2.0f / 12, -3.0f / 12};

const float *lqmf_bnb_code(lqmf_bnb_4bit t) { return t == LQMF_BNB_FP4 ? fp4_code : nf4_code; }
const char *lqmf_bnb_name(lqmf_bnb_4bit t) { return t == LQMF_BNB_FP4 ? "fp4" : "nf4"; }

bool lqmf_bnb_from_name(const char *name, lqmf_bnb_4bit *out) {
    if (!strcasecmp(name, "nf4")) *out = LQMF_BNB_NF4;
    else if (!strcasecmp(name, "fp4")) *out = LQMF_BNB_FP4;
    else return false;
    return true;
}

bool lqmf_bnb_blocksize_valid(uint64_t bs) {
    return bs >= LQMF_BNB_BLOCKSIZE_MIN && bs <= LQMF_BNB_BLOCKSIZE_MAX && (bs & (bs - 1)) == 0;
}

/* Index of the code value nearest v (the first on a tie). */
static uint8_t nearest(const float *code, float v) {
    uint8_t best = 0;
    float bd = fabsf(v - code[0]);
    for (uint8_t k = 1; k < 16; k++) {
        float d = fabsf(v - code[k]);
        if (d < bd) bd = d, best = k;
    }
    return best;
}

lqmf_status lqmf_bnb_quantize_4bit(lqmf_bnb_4bit t, const float *x, uint64_t n, uint64_t blocksize,
                                   uint8_t *packed, float *absmax) {
    if (!lqmf_bnb_blocksize_valid(blocksize))
        return lqmf_error(LQMF_E_INVALID, "bnb: blocksize %llu (want a power of two in 32..4096)",
                          (unsigned long long)blocksize);
    const float *code = lqmf_bnb_code(t);
    for (uint64_t b0 = 0; b0 < n; b0 += blocksize) {
        uint64_t end = b0 + blocksize < n ? b0 + blocksize : n;
        float am = 0;
        for (uint64_t i = b0; i < end; i++) {
            if (!isfinite(x[i]))
                return lqmf_error(LQMF_E_INVALID, "bnb: value %llu is %g (not finite)", (unsigned long long)i,
                                  (double)x[i]);
            am = fmaxf(am, fabsf(x[i]));
        }
        absmax[b0 / blocksize] = am;
        const float inv = am > 0 ? 1.0f / am : 0.0f;
        for (uint64_t i = b0; i < end; i++) {
            uint8_t q = nearest(code, x[i] * inv);
            if (i % 2 == 0) packed[i / 2] = (uint8_t)(q << 4);
            else packed[i / 2] |= q;
        }
    }
    return LQMF_OK;
}

void lqmf_bnb_dequantize_4bit(const float *code, const uint8_t *packed, const float *absmax, uint64_t n,
                              uint64_t blocksize, float *out) {
    for (uint64_t i = 0; i < n; i++) {
        uint8_t q = i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 0xF;
        out[i] = code[q] * absmax[i / blocksize];
    }
}

static float dynamic_code[256];
static pthread_once_t dynamic_once = PTHREAD_ONCE_INIT;

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void make_dynamic_code(void) {
    size_t k = 0;
    for (int i = 0; i < 7; i++) {
        int items = (1 << i) + 1; /* boundaries of linspace(0.1, 1, items) */
        double scale = pow(10.0, i - 6);
        for (int j = 0; j + 1 < items; j++) {
            double lo = 0.1 + 0.9 * j / (items - 1), hi = 0.1 + 0.9 * (j + 1) / (items - 1);
            dynamic_code[k++] = (float)(scale * (lo + hi) / 2);
            dynamic_code[k++] = (float)(-scale * (lo + hi) / 2);
        }
    }
    dynamic_code[k++] = 0.0f;
    dynamic_code[k++] = 1.0f;
    qsort(dynamic_code, k, sizeof dynamic_code[0], cmp_float);
}

const float *lqmf_bnb_dynamic_code(void) {
    pthread_once(&dynamic_once, make_dynamic_code);
    return dynamic_code;
}

/* Index of the entry of an ascending 256-entry code nearest v. */
static uint8_t nearest256(const float *code, float v) {
    unsigned lo = 0, hi = 255;
    while (hi - lo > 1) { /* code[lo] <= v <= code[hi] when v is in range */
        unsigned mid = (lo + hi) / 2;
        if (code[mid] <= v) lo = mid;
        else hi = mid;
    }
    return (uint8_t)(fabsf(v - code[lo]) <= fabsf(code[hi] - v) ? lo : hi);
}

lqmf_status lqmf_bnb_quantize_8bit(const float *code, const float *x, uint64_t n, uint64_t blocksize, uint8_t *q,
                                   float *scale) {
    for (uint64_t b0 = 0; b0 < n; b0 += blocksize) {
        uint64_t end = b0 + blocksize < n ? b0 + blocksize : n;
        float am = 0;
        for (uint64_t i = b0; i < end; i++) {
            if (!isfinite(x[i]))
                return lqmf_error(LQMF_E_INVALID, "bnb 8-bit: value %llu is %g (not finite)", (unsigned long long)i,
                                  (double)x[i]);
            am = fmaxf(am, fabsf(x[i]));
        }
        scale[b0 / blocksize] = am;
        const float inv = am > 0 ? 1.0f / am : 0.0f;
        for (uint64_t i = b0; i < end; i++) q[i] = nearest256(code, x[i] * inv);
    }
    return LQMF_OK;
}

void lqmf_bnb_dequantize_8bit(const float *code, const uint8_t *q, const float *scale, uint64_t n,
                              uint64_t blocksize, float *out) {
    for (uint64_t i = 0; i < n; i++) out[i] = code[q[i]] * scale[i / blocksize];
}

lqmf_status lqmf_bnb_quantize_int8(const float *w, uint64_t n_out, uint64_t n_in, int8_t *q, float *scb) {
    for (uint64_t o = 0; o < n_out; o++) {
        const float *row = w + o * n_in;
        float am = 0;
        for (uint64_t i = 0; i < n_in; i++) {
            if (!isfinite(row[i]))
                return lqmf_error(LQMF_E_INVALID, "bnb int8: row %llu column %llu is %g (not finite)",
                                  (unsigned long long)o, (unsigned long long)i, (double)row[i]);
            am = fmaxf(am, fabsf(row[i]));
        }
        scb[o] = am;
        const float k = am > 0 ? 127.0f / am : 0.0f;
        for (uint64_t i = 0; i < n_in; i++) q[o * n_in + i] = (int8_t)nearbyintf(row[i] * k);
    }
    return LQMF_OK;
}

void lqmf_bnb_dequantize_int8(const int8_t *q, const float *scb, uint64_t n_out, uint64_t n_in, float *w) {
    for (uint64_t o = 0; o < n_out; o++)
        for (uint64_t i = 0; i < n_in; i++) w[o * n_in + i] = (float)q[o * n_in + i] * scb[o] / 127.0f;
}
