/* GGUF (versions 2 and 3, little-endian) reader and streaming writer.
 *
 * File layout: "GGUF" u32 version u64 n_tensors u64 n_kv, then n_kv
 * key/value pairs, n_tensors tensor infos, zero padding to the alignment,
 * then the tensor data, each tensor at data_offset + offset (offset a
 * multiple of the alignment) and followed by zero padding to the alignment.
 * Strings are u64 length + bytes (no NUL). The alignment is the u32 value of
 * "general.alignment" (a non-zero multiple of 8), 32 when absent.
 *
 * Reading validates everything before returning: sizes are checked against
 * the remaining bytes before any allocation, so a hostile file costs at most
 * a small multiple of its size in memory. Keys and tensor names are copied
 * into NUL-terminated strings owned by the lqmf_gguf; string values and
 * scalar array elements are views into the mapping (or the caller's buffer
 * for lqmf_gguf_parse), valid until lqmf_gguf_close. */
#ifndef LQMF_GGUF_H
#define LQMF_GGUF_H

#include "lqmf/core.h"
#include "lqmf/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_GGUF_DEFAULT_ALIGNMENT 32
#define LQMF_GGUF_MAX_TENSORS (1u << 20)
#define LQMF_GGUF_MAX_KVS (1u << 20)
#define LQMF_GGUF_MAX_DIMS 4
#define LQMF_GGUF_MAX_NAME 255    /* bytes of a tensor name */
#define LQMF_GGUF_MAX_KEY 65535   /* bytes of a key */
#define LQMF_GGUF_MAX_DEPTH 8     /* nesting of arrays (an array of scalars is depth 1) */

/* Value type ids as stored in the file. */
typedef enum {
    LQMF_GGUF_U8 = 0,
    LQMF_GGUF_I8 = 1,
    LQMF_GGUF_U16 = 2,
    LQMF_GGUF_I16 = 3,
    LQMF_GGUF_U32 = 4,
    LQMF_GGUF_I32 = 5,
    LQMF_GGUF_F32 = 6,
    LQMF_GGUF_BOOL = 7,
    LQMF_GGUF_STR = 8,
    LQMF_GGUF_ARR = 9,
    LQMF_GGUF_U64 = 10,
    LQMF_GGUF_I64 = 11,
    LQMF_GGUF_F64 = 12,
    LQMF_GGUF_VTYPE_COUNT = 13
} lqmf_gguf_vtype;

/* "u32", "str", "arr", ...; "?" for an unknown id. Static storage. */
const char *lqmf_gguf_vtype_name(uint32_t t);
/* Bytes of one scalar of type t (1, 2, 4 or 8); 0 for STR, ARR, unknown. */
size_t lqmf_gguf_vtype_size(uint32_t t);

/* A string view: len bytes at ptr, not NUL-terminated, not checked UTF-8. */
typedef struct {
    const char *ptr;
    uint64_t len;
} lqmf_gguf_str;

/* One value. Scalars are widened: unsigned ids and BOOL (0/1) into u,
 * signed into i, F32/F64 into f. Arrays:
 * - scalar elements: data points at count raw little-endian elements of
 *   elem_type (count * lqmf_gguf_vtype_size(elem_type) bytes, unaligned);
 * - STR elements: strs[count] views;
 * - ARR elements: items[count] child values.
 * strs and items are owned by the enclosing lqmf_gguf (or are views the
 * caller owns when a value is passed to a writer). */
typedef struct lqmf_gguf_value lqmf_gguf_value;
struct lqmf_gguf_value {
    lqmf_gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        lqmf_gguf_str s;
        struct {
            lqmf_gguf_vtype elem_type;
            uint64_t count;
            const void *data;
            const lqmf_gguf_str *strs;
            const lqmf_gguf_value *items;
        } arr;
    } v;
};

typedef struct {
    const char *key; /* NUL-terminated, valid UTF-8, owned by the lqmf_gguf */
    lqmf_gguf_value value;
} lqmf_gguf_kv;

typedef struct {
    const char *name;      /* NUL-terminated, owned by the lqmf_gguf */
    uint32_t n_dims;       /* 1..4 */
    uint64_t ne[LQMF_GGUF_MAX_DIMS]; /* elements per dim, ne[0] = row length; unused = 1 */
    lqmf_type type;
    uint64_t offset;       /* bytes from the start of the tensor data section */
    const void *data;      /* view of the nbytes of the tensor */
    uint64_t nbytes;       /* lqmf_type_tensor_bytes(type, ne[0], prod ne) */
} lqmf_gguf_tensor;

typedef struct lqmf_gguf lqmf_gguf;

/* ---- reading -------------------------------------------------------------- */

/* Map and parse path. *out is owned by the caller (lqmf_gguf_close). */
lqmf_status lqmf_gguf_open(const char *path, lqmf_gguf **out);
/* Parse size bytes that the caller keeps alive until lqmf_gguf_close.
 * label names the input in error messages (e.g. a path). */
lqmf_status lqmf_gguf_parse(const void *bytes, size_t size, const char *label, lqmf_gguf **out);
void lqmf_gguf_close(lqmf_gguf *g); /* NULL is a no-op */

uint32_t lqmf_gguf_version(const lqmf_gguf *g);
uint32_t lqmf_gguf_alignment(const lqmf_gguf *g);
uint64_t lqmf_gguf_data_offset(const lqmf_gguf *g); /* file offset of the tensor data section */
uint64_t lqmf_gguf_file_size(const lqmf_gguf *g);
const char *lqmf_gguf_label(const lqmf_gguf *g); /* path or label, for messages */

/* Key/value pairs in file order. */
uint64_t lqmf_gguf_n_kv(const lqmf_gguf *g);
const lqmf_gguf_kv *lqmf_gguf_kv_at(const lqmf_gguf *g, uint64_t i); /* NULL when out of range */
const lqmf_gguf_kv *lqmf_gguf_find_key(const lqmf_gguf *g, const char *key); /* NULL when absent */

/* Typed getters. LQMF_E_NOT_FOUND when the key is absent; LQMF_E_FORMAT
 * when it has another type or the value does not fit (message names key,
 * type and value). Integer getters accept any integer type whose value
 * fits; get_f32/get_f64 accept F32 and F64; get_bool only BOOL; get_str only
 * STR (a view). get_arr accepts an ARR whose elements are elem_type
 * (LQMF_GGUF_VTYPE_COUNT: any) and returns the array value. */
lqmf_status lqmf_gguf_get_u32(const lqmf_gguf *g, const char *key, uint32_t *out);
lqmf_status lqmf_gguf_get_i32(const lqmf_gguf *g, const char *key, int32_t *out);
lqmf_status lqmf_gguf_get_u64(const lqmf_gguf *g, const char *key, uint64_t *out);
lqmf_status lqmf_gguf_get_i64(const lqmf_gguf *g, const char *key, int64_t *out);
lqmf_status lqmf_gguf_get_f32(const lqmf_gguf *g, const char *key, float *out);
lqmf_status lqmf_gguf_get_f64(const lqmf_gguf *g, const char *key, double *out);
lqmf_status lqmf_gguf_get_bool(const lqmf_gguf *g, const char *key, bool *out);
lqmf_status lqmf_gguf_get_str(const lqmf_gguf *g, const char *key, lqmf_gguf_str *out);
lqmf_status lqmf_gguf_get_arr(const lqmf_gguf *g, const char *key, lqmf_gguf_vtype elem_type,
                              const lqmf_gguf_value **out);

/* Value conversions (false when v has another type or does not fit). */
bool lqmf_gguf_value_u64(const lqmf_gguf_value *v, uint64_t *out);
bool lqmf_gguf_value_i64(const lqmf_gguf_value *v, int64_t *out);
bool lqmf_gguf_value_f64(const lqmf_gguf_value *v, double *out); /* F32, F64 only */
/* Array access: number of elements (0 when v is not an array); element i as
 * a value (false when out of range or v is not an array); element i of a
 * STR array ({NULL, 0} when out of range or not a STR array). */
uint64_t lqmf_gguf_arr_len(const lqmf_gguf_value *v);
bool lqmf_gguf_arr_get(const lqmf_gguf_value *v, uint64_t i, lqmf_gguf_value *out);
lqmf_gguf_str lqmf_gguf_arr_str(const lqmf_gguf_value *v, uint64_t i);
/* s equals the NUL-terminated c. */
bool lqmf_gguf_str_eq(lqmf_gguf_str s, const char *c);

/* Tensors in file order. */
uint64_t lqmf_gguf_n_tensors(const lqmf_gguf *g);
const lqmf_gguf_tensor *lqmf_gguf_tensor_at(const lqmf_gguf *g, uint64_t i); /* NULL when out of range */
const lqmf_gguf_tensor *lqmf_gguf_find_tensor(const lqmf_gguf *g, const char *name); /* NULL when absent */

/* ---- writing -------------------------------------------------------------
 * Build the metadata and tensor table, then stream tensor data one tensor at
 * a time (never the whole model in memory):
 *   w = lqmf_gguf_writer_new(); set_* ...; add_tensor_info ...;
 *   lqmf_gguf_writer_begin(w, path);     header, KVs, tensor infos, padding
 *   lqmf_gguf_writer_write_tensor(w, i, data, nbytes)   for i = 0, 1, ... in order
 *   lqmf_gguf_writer_finish(w);          rename over path (atomic)
 * or lqmf_gguf_writer_abort(w) to drop the temporary. Output is version 3,
 * little-endian. Setting an existing key replaces its value in place (keys
 * keep their first insertion order). The writer copies every key, string
 * and array it is given. general.alignment, when set, must be a U32
 * non-zero multiple of 8; it sets the alignment of the tensor data. */
typedef struct lqmf_gguf_writer lqmf_gguf_writer;

lqmf_gguf_writer *lqmf_gguf_writer_new(void); /* NULL when out of memory */
void lqmf_gguf_writer_free(lqmf_gguf_writer *w); /* aborts an unfinished file; NULL is a no-op */

lqmf_status lqmf_gguf_writer_set_u8(lqmf_gguf_writer *w, const char *key, uint8_t v);
lqmf_status lqmf_gguf_writer_set_i8(lqmf_gguf_writer *w, const char *key, int8_t v);
lqmf_status lqmf_gguf_writer_set_u16(lqmf_gguf_writer *w, const char *key, uint16_t v);
lqmf_status lqmf_gguf_writer_set_i16(lqmf_gguf_writer *w, const char *key, int16_t v);
lqmf_status lqmf_gguf_writer_set_u32(lqmf_gguf_writer *w, const char *key, uint32_t v);
lqmf_status lqmf_gguf_writer_set_i32(lqmf_gguf_writer *w, const char *key, int32_t v);
lqmf_status lqmf_gguf_writer_set_u64(lqmf_gguf_writer *w, const char *key, uint64_t v);
lqmf_status lqmf_gguf_writer_set_i64(lqmf_gguf_writer *w, const char *key, int64_t v);
lqmf_status lqmf_gguf_writer_set_f32(lqmf_gguf_writer *w, const char *key, float v);
lqmf_status lqmf_gguf_writer_set_f64(lqmf_gguf_writer *w, const char *key, double v);
lqmf_status lqmf_gguf_writer_set_bool(lqmf_gguf_writer *w, const char *key, bool v);
lqmf_status lqmf_gguf_writer_set_str(lqmf_gguf_writer *w, const char *key, const char *s);
/* count scalars of elem_type (not STR/ARR), raw little-endian at data. */
lqmf_status lqmf_gguf_writer_set_arr(lqmf_gguf_writer *w, const char *key, lqmf_gguf_vtype elem_type,
                                     const void *data, uint64_t count);
lqmf_status lqmf_gguf_writer_set_arr_str(lqmf_gguf_writer *w, const char *key,
                                         const char *const *strs, uint64_t count);
/* Any value, including nested arrays (deep copy). */
lqmf_status lqmf_gguf_writer_set_value(lqmf_gguf_writer *w, const char *key, const lqmf_gguf_value *v);
/* Remove key if present (LQMF_OK either way). */
lqmf_status lqmf_gguf_writer_remove(lqmf_gguf_writer *w, const char *key);
/* Set the data alignment: writes general.alignment when a != 32, removes
 * it when a == 32 (the default). a must be a non-zero multiple of 8. */
lqmf_status lqmf_gguf_writer_set_alignment(lqmf_gguf_writer *w, uint32_t a);
/* Set every KV of g, in g's order (the metadata of a GGUF source). */
lqmf_status lqmf_gguf_writer_copy_kvs(lqmf_gguf_writer *w, const lqmf_gguf *g);

/* Append a tensor (ne[0..n_dims-1], ne[0] = row length). Checks name,
 * dims and type like the reader; *index (may be NULL) receives its index. */
lqmf_status lqmf_gguf_writer_add_tensor_info(lqmf_gguf_writer *w, const char *name, lqmf_type type,
                                             uint32_t n_dims, const uint64_t *ne, uint32_t *index);
/* Same, remembering data (not copied; must live until lqmf_gguf_writer_write)
 * of exactly the tensor's byte size. */
lqmf_status lqmf_gguf_writer_add_tensor(lqmf_gguf_writer *w, const char *name, lqmf_type type,
                                        uint32_t n_dims, const uint64_t *ne, const void *data,
                                        uint64_t nbytes);
/* Number of tensors added and the byte size of tensor i (0 when out of range). */
uint32_t lqmf_gguf_writer_n_tensors(const lqmf_gguf_writer *w);
uint64_t lqmf_gguf_writer_tensor_nbytes(const lqmf_gguf_writer *w, uint32_t i);

/* Open the temporary next to path and write everything before the tensor
 * data. No KV or tensor may be added afterwards. */
lqmf_status lqmf_gguf_writer_begin(lqmf_gguf_writer *w, const char *path);
/* Write tensor `index` (must be the next one) and its padding. */
lqmf_status lqmf_gguf_writer_write_tensor(lqmf_gguf_writer *w, uint32_t index, const void *data,
                                          uint64_t nbytes);
/* All tensors written: commit the file under its final path. */
lqmf_status lqmf_gguf_writer_finish(lqmf_gguf_writer *w);
void lqmf_gguf_writer_abort(lqmf_gguf_writer *w); /* drop the temporary; safe any time */
/* begin + write_tensor for every tensor added with lqmf_gguf_writer_add_tensor + finish. */
lqmf_status lqmf_gguf_writer_write(lqmf_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
