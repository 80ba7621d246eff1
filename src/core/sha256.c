/* SHA-256 and SHA-1 (FIPS 180-4). Both hash 64-byte blocks and pad the
 * same way (0x80, zeros, 64-bit big-endian bit length), so the buffering
 * and padding are shared; only the compression functions differ. */
#include "lqmf/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static inline uint32_t rotl(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

typedef void (*compress_fn)(uint32_t *h, const uint8_t block[64]);

/* Feed n bytes through the 64-byte block buffer of a digest. */
static void md_update(uint32_t *h, uint8_t block[64], size_t *n_block, uint64_t *n_bytes,
                      compress_fn compress, const void *data, size_t n) {
    const uint8_t *p = data;
    *n_bytes += n;
    if (*n_block) {
        size_t take = 64 - *n_block < n ? 64 - *n_block : n;
        memcpy(block + *n_block, p, take);
        *n_block += take;
        p += take;
        n -= take;
        if (*n_block < 64) return;
        compress(h, block);
        *n_block = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress(h, p);
    memcpy(block, p, n);
    *n_block = n;
}

/* Pad: 0x80, zeros up to 56 mod 64, then the bit length big-endian. */
static void md_pad(uint32_t *h, uint8_t block[64], size_t n_block, uint64_t n_bytes, compress_fn compress) {
    block[n_block++] = 0x80;
    if (n_block > 56) {
        memset(block + n_block, 0, 64 - n_block);
        compress(h, block);
        n_block = 0;
    }
    memset(block + n_block, 0, 56 - n_block);
    uint64_t bits = n_bytes * 8;
    store_be32(block + 56, (uint32_t)(bits >> 32));
    store_be32(block + 60, (uint32_t)bits);
    compress(h, block);
}

/* ---- SHA-256 (FIPS 180-4 section 6.2) ----------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256_compress(uint32_t *h, const uint8_t blk[64]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void lqmf_sha256_init(lqmf_sha256_ctx *c) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->n_bytes = 0;
    c->n_block = 0;
}

void lqmf_sha256_update(lqmf_sha256_ctx *c, const void *p, size_t n) {
    md_update(c->h, c->block, &c->n_block, &c->n_bytes, sha256_compress, p, n);
}

void lqmf_sha256_final(lqmf_sha256_ctx *c, uint8_t out[32]) {
    md_pad(c->h, c->block, c->n_block, c->n_bytes, sha256_compress);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, c->h[i]);
}

void lqmf_sha256(const void *p, size_t n, uint8_t out[32]) {
    lqmf_sha256_ctx c;
    lqmf_sha256_init(&c);
    lqmf_sha256_update(&c, p, n);
    lqmf_sha256_final(&c, out);
}

lqmf_status lqmf_sha256_file(const char *path, uint8_t out[32]) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return lqmf_error(errno == ENOENT ? LQMF_E_NOT_FOUND : LQMF_E_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    lqmf_sha256_ctx c;
    lqmf_sha256_init(&c);
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) lqmf_sha256_update(&c, chunk, n);
    bool err = ferror(f);
    fclose(f);
    if (err) return lqmf_error(LQMF_E_IO, "%s: read error", path);
    lqmf_sha256_final(&c, out);
    return LQMF_OK;
}

/* ---- SHA-1 (FIPS 180-4 section 6.1) ------------------------------------- */

static void sha1_compress(uint32_t *h, const uint8_t blk[64]) {
    uint32_t w[80];
    for (int t = 0; t < 16; t++) w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 80; t++) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20)
            f = (b & c) | (~b & d), k = 0x5a827999;
        else if (t < 40)
            f = b ^ c ^ d, k = 0x6ed9eba1;
        else if (t < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = b ^ c ^ d, k = 0xca62c1d6;
        uint32_t tmp = rotl(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void lqmf_sha1_init(lqmf_sha1_ctx *c) {
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    memcpy(c->h, iv, sizeof iv);
    c->n_bytes = 0;
    c->n_block = 0;
}

void lqmf_sha1_update(lqmf_sha1_ctx *c, const void *p, size_t n) {
    md_update(c->h, c->block, &c->n_block, &c->n_bytes, sha1_compress, p, n);
}

void lqmf_sha1_final(lqmf_sha1_ctx *c, uint8_t out[20]) {
    md_pad(c->h, c->block, c->n_block, c->n_bytes, sha1_compress);
    for (int i = 0; i < 5; i++) store_be32(out + 4 * i, c->h[i]);
}

void lqmf_hex(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}
