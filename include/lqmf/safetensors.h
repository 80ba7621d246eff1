/* safetensors: read (zero-copy, validated) and write the Hugging Face
 * safetensors format, single files and sharded checkpoints.
 *
 * File layout: uint64 little-endian N, then N bytes of UTF-8 JSON (the
 * header), then the data region. The header maps each tensor name to
 * {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}
 * (byte offsets into the data region) and may hold "__metadata__", a map of
 * string to string. Tensors are row-major, the last dim innermost, little-
 * endian, and together cover the data region exactly (no gap, no overlap). */
#ifndef LQMF_SAFETENSORS_H
#define LQMF_SAFETENSORS_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_ST_MAX_DIMS 8
#define LQMF_ST_MAX_HEADER 100000000u /* bytes of JSON header, as the reference library */

/* Element types, in the reference library's order, which is its layout rank:
 * its writer puts tensors of a later dtype first, then sorts by name.
 * F4 and F6_* are sub-byte (packed); a tensor of them must fill whole bytes. */
typedef enum {
    LQMF_ST_BOOL,
    LQMF_ST_F4,
    LQMF_ST_F6_E2M3,
    LQMF_ST_F6_E3M2,
    LQMF_ST_U8,
    LQMF_ST_I8,
    LQMF_ST_F8_E5M2,
    LQMF_ST_F8_E4M3,
    LQMF_ST_F8_E8M0,
    LQMF_ST_F8_E4M3FNUZ,
    LQMF_ST_F8_E5M2FNUZ,
    LQMF_ST_I16,
    LQMF_ST_U16,
    LQMF_ST_F16,
    LQMF_ST_BF16,
    LQMF_ST_I32,
    LQMF_ST_U32,
    LQMF_ST_F32,
    LQMF_ST_C64,
    LQMF_ST_F64,
    LQMF_ST_I64,
    LQMF_ST_U64,
    LQMF_ST_DTYPE_COUNT
} lqmf_st_dtype;

/* "BF16" etc. (static storage); "?" for an invalid value. */
const char *lqmf_st_dtype_name(lqmf_st_dtype t);
/* Exact (case-sensitive) format name to enum; false when unknown. */
bool lqmf_st_dtype_from_name(const char *name, lqmf_st_dtype *out);
/* Bits per element (BOOL: 8, F4: 4, C64: 64); 0 for an invalid value. */
uint32_t lqmf_st_dtype_bits(lqmf_st_dtype t);
/* Bytes of n_elems elements; false on overflow or when they do not fill
 * whole bytes (odd count of F4, ...) or t is invalid. */
bool lqmf_st_dtype_nbytes(lqmf_st_dtype t, uint64_t n_elems, uint64_t *out);

typedef struct {
    const char *name; /* owned by the model/header it came from */
    lqmf_st_dtype dtype;
    uint32_t n_dims;                  /* 0 = scalar (one element) */
    uint64_t shape[LQMF_ST_MAX_DIMS]; /* row-major: shape[n_dims-1] innermost */
    uint64_t n_elems;                 /* product of shape */
    uint64_t offset;                  /* byte offset of the data inside its shard file */
    uint64_t nbytes;                  /* n_elems * dtype size */
    const void *data;                 /* view into the mapping; NULL when parsed header-only.
                                       * Aligned to the element size only when the header
                                       * length is a multiple of 8, as writers pad it. */
    uint32_t shard;                   /* index into the shard list (0 for one file) */
} lqmf_st_tensor;

/* An opened model: one file or every shard of a sharded checkpoint. */
typedef struct lqmf_safetensors lqmf_safetensors;

/* Open path, which is a .safetensors file, a *.safetensors.index.json, or a
 * folder holding model.safetensors or model.safetensors.index.json. Every
 * shard is mapped and fully validated; for an index, its weight_map must
 * list exactly the tensors each shard holds. *out is owned by the caller
 * (lqmf_st_close); tensor views and strings live until then. */
lqmf_status lqmf_st_open(const char *path, lqmf_safetensors **out);
void lqmf_st_close(lqmf_safetensors *st); /* NULL is a no-op */

/* Parse and validate a complete file held in memory (size bytes at bytes).
 * label names the buffer in error messages. Tensor data points into bytes,
 * which the caller keeps alive and unchanged until lqmf_st_close. */
lqmf_status lqmf_st_parse(const void *bytes, size_t size, const char *label, lqmf_safetensors **out);

/* Header-only parse, for planning from a ranged download. prefix holds the
 * first prefix_size bytes of a file of file_size bytes (file_size = 0 when
 * unknown: then the data region's size is taken from the offsets). Needs
 * prefix_size >= 8 + N; when it is shorter, fails with LQMF_E_STATE and sets
 * *need (if non-NULL) to 8 + N, the bytes to fetch. Tensors have data NULL.
 * Validation is the same as lqmf_st_parse except that the data region's end
 * is checked only against file_size when known. */
lqmf_status lqmf_st_parse_header(const void *prefix, size_t prefix_size, uint64_t file_size,
                                 const char *label, lqmf_safetensors **out, uint64_t *need);

/* Tensors in file order: by shard, then data offset. tensor_at returns NULL
 * past the end. Pointers live until lqmf_st_close. */
size_t lqmf_st_n_tensors(const lqmf_safetensors *st);
const lqmf_st_tensor *lqmf_st_tensor_at(const lqmf_safetensors *st, size_t i);
/* NULL when absent. */
const lqmf_st_tensor *lqmf_st_find(const lqmf_safetensors *st, const char *name);

/* Shard files: 1 for a single file. Paths owned by st. */
size_t lqmf_st_n_shards(const lqmf_safetensors *st);
const char *lqmf_st_shard_path(const lqmf_safetensors *st, size_t i);

/* __metadata__ of the first shard (string -> string), in header order.
 * Strings owned by st. get returns NULL when the key is absent. */
size_t lqmf_st_n_metadata(const lqmf_safetensors *st);
void lqmf_st_metadata_at(const lqmf_safetensors *st, size_t i, const char **key, const char **value);
const char *lqmf_st_metadata_get(const lqmf_safetensors *st, const char *key);

/* ---- writer -------------------------------------------------------------
 * Collects tensors, then writes one file atomically in the exact layout of
 * the reference library: header JSON with no spaces, "__metadata__" first
 * (when any is set), tensors sorted by dtype (larger first, the enum order
 * above reversed) then name, padded with spaces to a multiple of 8 bytes,
 * then the tensor bytes in the same order. */
typedef struct lqmf_st_writer lqmf_st_writer;

lqmf_status lqmf_st_writer_new(lqmf_st_writer **out);
void lqmf_st_writer_free(lqmf_st_writer *w); /* NULL is a no-op */
/* Add a tensor; name and shape are copied, data (nbytes, which must equal
 * prod(shape) * dtype size) is borrowed until lqmf_st_writer_write returns.
 * Fails on a duplicate or invalid name, a bad shape or a size mismatch. */
lqmf_status lqmf_st_writer_add(lqmf_st_writer *w, const char *name, lqmf_st_dtype dtype, uint32_t n_dims,
                               const uint64_t *shape, const void *data, uint64_t nbytes);
/* The same for a tensor whose bytes are at offset in the open file fd: they
 * are read a buffer at a time while writing (fd stays open until then), so
 * tensors made on the way can wait in a spill file instead of memory. */
lqmf_status lqmf_st_writer_add_file(lqmf_st_writer *w, const char *name, lqmf_st_dtype dtype, uint32_t n_dims,
                                    const uint64_t *shape, int fd, uint64_t offset, uint64_t nbytes);
/* Set (or replace) a __metadata__ entry; both strings are copied. */
lqmf_status lqmf_st_writer_set_metadata(lqmf_st_writer *w, const char *key, const char *value);
/* Write the file atomically (temporary + rename). The writer stays usable. */
lqmf_status lqmf_st_writer_write(lqmf_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
