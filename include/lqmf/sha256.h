/* Message digests: SHA-256 (FIPS 180-4), used to verify downloads and name
 * content-addressed blobs, and SHA-1 (FIPS 180-4), used only for git blob
 * ids ("blob <size>\0" + content), which name the small non-LFS files of a
 * Hugging Face repository. Streaming: init, update any number of times,
 * final. A context is plain data (copyable, no free). */
#ifndef LQMF_SHA256_H
#define LQMF_SHA256_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h[8];     /* chaining state */
    uint64_t n_bytes;  /* message length so far, bytes */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;    /* bytes in block (< 64) */
} lqmf_sha256_ctx;

void lqmf_sha256_init(lqmf_sha256_ctx *c);
void lqmf_sha256_update(lqmf_sha256_ctx *c, const void *p, size_t n);
void lqmf_sha256_final(lqmf_sha256_ctx *c, uint8_t out[32]); /* c must be re-inited to reuse */
/* One-shot digest of a buffer. */
void lqmf_sha256(const void *p, size_t n, uint8_t out[32]);
/* Digest of a whole file, read in chunks. */
lqmf_status lqmf_sha256_file(const char *path, uint8_t out[32]);

typedef struct {
    uint32_t h[5];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t n_block;
} lqmf_sha1_ctx;

void lqmf_sha1_init(lqmf_sha1_ctx *c);
void lqmf_sha1_update(lqmf_sha1_ctx *c, const void *p, size_t n);
void lqmf_sha1_final(lqmf_sha1_ctx *c, uint8_t out[20]);

/* Lower-case hex of n bytes into out (2n + 1 chars with the NUL). */
void lqmf_hex(const uint8_t *bytes, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
