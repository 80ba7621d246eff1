/* lqmf core: status codes and error messages, fp16/bf16, file mapping,
 * growable buffers and atomic file output. Every other module builds on this. */
#ifndef LQMF_CORE_H
#define LQMF_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes -------------------------------------------------------
 * Fallible calls return an lqmf_status and, on failure, leave a message
 * (thread-local, overwritten by the next failure) that names the file, the
 * field and the value that was wrong. Only the CLI and server print it. */
typedef enum {
    LQMF_OK = 0,
    LQMF_E_IO,          /* open/read/write/mmap failed (errno text in message) */
    LQMF_E_FORMAT,      /* bytes do not follow the format */
    LQMF_E_UNSUPPORTED, /* valid, but a variant we do not handle */
    LQMF_E_INVALID,     /* bad argument from the caller or the user */
    LQMF_E_NOT_FOUND,   /* a named thing (file, tensor, key) is absent */
    LQMF_E_NOMEM,       /* allocation failed or a size overflowed */
    LQMF_E_INTERRUPTED, /* cancelled by the user (Ctrl-C) */
    LQMF_E_NETWORK,     /* HTTP / connection failure */
    LQMF_E_AUTH,        /* missing or rejected credentials */
    LQMF_E_STATE        /* operation not valid in the current state */
} lqmf_status;

/* Record a formatted message and return st (so `return lqmf_error(...)`). */
lqmf_status lqmf_error(lqmf_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "<prefix>: <old message>"; returns st. */
lqmf_status lqmf_error_prefix(lqmf_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The last message of this thread ("" when none). Valid until the next error. */
const char *lqmf_last_error(void);
void lqmf_clear_error(void);
/* Short name of a status ("format error", ...). Static storage. */
const char *lqmf_status_name(lqmf_status st);

/* ---- checked arithmetic: return false on overflow ---------------------- */
static inline bool lqmf_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool lqmf_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* ---- half precision ---------------------------------------------------- */
float lqmf_fp16_to_f32(uint16_t h);
uint16_t lqmf_f32_to_fp16(float f); /* round to nearest even, inf/nan kept */
static inline float lqmf_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
uint16_t lqmf_f32_to_bf16(float f); /* round to nearest even, nan stays nan */

/* ---- read-only file mapping -------------------------------------------- */
typedef struct {
    const uint8_t *data; /* mapping of the whole file, NULL when size == 0 */
    uint64_t size;       /* bytes */
    char *path;          /* owned copy of the path, for messages */
} lqmf_map;

/* Map path read-only. On success *m owns the mapping; release with
 * lqmf_map_close. Views into m->data live until then. */
lqmf_status lqmf_map_open(const char *path, lqmf_map *m);
void lqmf_map_close(lqmf_map *m); /* safe on a zeroed or closed map */

/* Read a whole (small) file into a NUL-terminated heap buffer, at most
 * max_bytes. *out is owned by the caller (free()). */
lqmf_status lqmf_read_file(const char *path, uint64_t max_bytes, char **out, size_t *len);

/* ---- growable byte buffer ---------------------------------------------- */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* sticky: an append could not allocate */
} lqmf_buf;

void lqmf_buf_init(lqmf_buf *b);
void lqmf_buf_free(lqmf_buf *b); /* safe on NULL */
bool lqmf_buf_append(lqmf_buf *b, const void *p, size_t n);
bool lqmf_buf_printf(lqmf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool lqmf_buf_zeros(lqmf_buf *b, size_t n);

/* ---- atomic file output ------------------------------------------------
 * Writes go to "<path>.tmp.<pid>.<n>" in the same folder; commit fsyncs and
 * renames over path; abort (or a failed commit) unlinks the temporary. A
 * process killed mid-write leaves only the temporary, never a partial path;
 * with lqmf_install_signal_cleanup() not even that on SIGINT/SIGTERM. */
typedef struct {
    void *fp;        /* FILE*, opened "wb" */
    char *path;      /* final path (owned) */
    char *tmp_path;  /* temporary path (owned) */
    bool failed;     /* sticky: a write failed; commit will refuse */
    int reg_slot;    /* internal */
} lqmf_afile;

lqmf_status lqmf_afile_open(lqmf_afile *f, const char *path);
lqmf_status lqmf_afile_write(lqmf_afile *f, const void *p, size_t n);
lqmf_status lqmf_afile_commit(lqmf_afile *f); /* closes f in every case */
void lqmf_afile_abort(lqmf_afile *f);        /* safe on a closed f */
/* Remove live temporaries when the process gets SIGINT or SIGTERM, then
 * re-raise the signal with its default action. Idempotent. */
void lqmf_install_signal_cleanup(void);

/* ---- folders ------------------------------------------------------------- */
/* Remove path and, for a folder, everything under it (symbolic links are
 * removed, not followed). An absent path is not an error. */
lqmf_status lqmf_remove_tree(const char *path);
/* Register a temporary folder of plain files (a folder being built before
 * a rename into place) for the signal cleanup: on SIGINT/SIGTERM its files
 * and the folder itself are removed. path is copied. Returns a slot for
 * lqmf_cleanup_dir_remove, -1 when the table (16) is full or on no memory
 * (the folder is then only removed by its writer). */
int lqmf_cleanup_dir_add(const char *path);
void lqmf_cleanup_dir_remove(int slot); /* -1: no-op */

/* ---- mapped sources ------------------------------------------------------- */
/* A model read through a read-only file mapping keeps every page it has read
 * in the process's resident set. These let a streaming reader hand the pages
 * of a tensor back once done with it (MADV_DONTNEED: the kernel keeps them in
 * its page cache and maps them again if they are read again). Only ranges
 * inside the read-only file mappings listed by /proc/self/maps at scan time
 * are released; owned memory is never touched. */
typedef struct lqmf_mapped lqmf_mapped;
lqmf_mapped *lqmf_mapped_scan(void); /* NULL on no memory: releasing is then a no-op */
void lqmf_mapped_release(const lqmf_mapped *m, const void *p, uint64_t n);
void lqmf_mapped_free(lqmf_mapped *m); /* NULL is a no-op */

/* ---- misc ---------------------------------------------------------------- */
double lqmf_time_now(void); /* monotonic seconds */
/* Human-readable size, e.g. "13.0 MiB", into buf (>= 32 bytes). */
const char *lqmf_fmt_bytes(uint64_t bytes, char *buf, size_t buflen);
/* Check a byte string is valid UTF-8 (no overlongs, no surrogates). */
bool lqmf_utf8_valid(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
