/* gguf: read and write GGUF model files (versions 2 and 3).
 *
 * A file is mapped read-only; metadata strings and tensor data are pointers
 * into the mapping (zero copy). Every count, length, offset and size is
 * checked against the file size before it is used, so a truncated or hostile
 * file yields a status and a message, never an out-of-bounds read.
 *
 * Errors: functions return GGUF_OK (0) or a negative gguf_status, and write a
 * human message naming the file and the field into the caller's buffer
 * (err, errlen; err may be NULL).
 */
#ifndef RHEMA_GGUF_H
#define RHEMA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gguf_status {
    GGUF_OK = 0,
    GGUF_EIO = -1,       /* open, stat or mmap failed */
    GGUF_EFORMAT = -2,   /* the bytes are not a valid GGUF file */
    GGUF_ENOMEM = -3,    /* an allocation failed */
    GGUF_ENOTFOUND = -4, /* a key or tensor is absent */
    GGUF_ETYPE = -5,     /* a key has another type than asked for */
    GGUF_ERANGE = -6,    /* an index or value is out of range */
} gguf_status;

/* Metadata value types, numbered as in the file. */
typedef enum gguf_vtype {
    GGUF_V_UINT8 = 0, GGUF_V_INT8 = 1, GGUF_V_UINT16 = 2, GGUF_V_INT16 = 3,
    GGUF_V_UINT32 = 4, GGUF_V_INT32 = 5, GGUF_V_FLOAT32 = 6, GGUF_V_BOOL = 7,
    GGUF_V_STRING = 8, GGUF_V_ARRAY = 9, GGUF_V_UINT64 = 10, GGUF_V_INT64 = 11,
    GGUF_V_FLOAT64 = 12,
    GGUF_V_COUNT
} gguf_vtype;

/* Tensor element types, numbered as in the file. */
typedef enum gguf_ttype {
    GGUF_T_F32 = 0, GGUF_T_F16 = 1, GGUF_T_Q4_0 = 2, GGUF_T_Q4_1 = 3,
    GGUF_T_Q5_0 = 6, GGUF_T_Q5_1 = 7, GGUF_T_Q8_0 = 8, GGUF_T_Q8_1 = 9,
    GGUF_T_Q2_K = 10, GGUF_T_Q3_K = 11, GGUF_T_Q4_K = 12, GGUF_T_Q5_K = 13,
    GGUF_T_Q6_K = 14, GGUF_T_Q8_K = 15, GGUF_T_IQ2_XXS = 16, GGUF_T_IQ2_XS = 17,
    GGUF_T_IQ3_XXS = 18, GGUF_T_IQ1_S = 19, GGUF_T_IQ4_NL = 20, GGUF_T_IQ3_S = 21,
    GGUF_T_IQ2_S = 22, GGUF_T_IQ4_XS = 23, GGUF_T_I8 = 24, GGUF_T_I16 = 25,
    GGUF_T_I32 = 26, GGUF_T_I64 = 27, GGUF_T_F64 = 28, GGUF_T_IQ1_M = 29,
    GGUF_T_BF16 = 30, GGUF_T_TQ1_0 = 34, GGUF_T_TQ2_0 = 35,
    GGUF_T_COUNT = 39
} gguf_ttype;

/* Block layout of a tensor type: blck elements are stored in size bytes. */
typedef struct gguf_type_traits {
    const char *name;  /* "q4_K", "f16", ... */
    uint32_t blck;     /* elements per block (1 for plain types) */
    uint32_t size;     /* bytes per block */
} gguf_type_traits;

/* NULL for a type id no published file uses. */
const gguf_type_traits *gguf_type_info(uint32_t type);
const char *gguf_vtype_name(uint32_t vtype);

/* A string inside the mapping: NOT NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* One metadata key/value pair. */
typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;  /* gguf_vtype */
    union {
        uint64_t u;    /* UINT8..UINT64 */
        int64_t i;     /* INT8..INT64 */
        double f;      /* FLOAT32, FLOAT64 */
        bool b;        /* BOOL */
        gguf_str s;    /* STRING */
        struct {
            uint32_t type;        /* element vtype */
            uint64_t n;           /* element count */
            const uint8_t *data;  /* first element in the mapping */
            uint64_t nbytes;      /* encoded size of all elements */
            uint64_t *offs;       /* STRING elements: byte offset of each
                                     element from data (owned by the file) */
        } arr;
    } v;
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the contiguous dimension; unused = 1 */
    uint32_t type;               /* gguf_ttype */
    uint64_t offset;             /* from the start of the data section */
    uint64_t nelem;
    uint64_t nbytes;
    const void *data;            /* into the mapping */
} gguf_tensor;

typedef struct gguf_file {
    const char *name;       /* for messages: the path, or the caller's label */
    const uint8_t *base;    /* the whole file */
    uint64_t size;
    uint32_t version;
    uint32_t alignment;     /* general.alignment, default 32 */
    uint64_t data_offset;   /* start of the tensor data section */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    bool mapped;            /* base came from mmap (gguf_close unmaps) */
    char *name_owned;
} gguf_file;

/* Map and parse a file. On failure *f is left closed (gguf_close is safe). */
int gguf_open(gguf_file *f, const char *path, char *err, size_t errlen);
/* Parse a caller-owned buffer that must outlive f; name labels messages. */
int gguf_open_mem(gguf_file *f, const void *data, size_t size, const char *name,
                  char *err, size_t errlen);
void gguf_close(gguf_file *f);
/* The caller will not read bytes [p, p + n) of f's data for a while (it
 * copied them): a mapped file lets the OS reclaim their pages, which read
 * back from the file if touched again. Nothing for files in memory. */
void gguf_drop_pages(const gguf_file *f, const void *p, uint64_t n);

/* Metadata lookup. */
const gguf_kv *gguf_find(const gguf_file *f, const char *key);
/* Typed getters: GGUF_ENOTFOUND when absent, GGUF_ETYPE when of another
 * type; integer getters accept any integer type whose value fits. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, char *err, size_t errlen);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err, size_t errlen);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err, size_t errlen);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err, size_t errlen);
/* An array of the given element type (elem_type < 0: any). */
int gguf_get_arr(const gguf_file *f, const char *key, int elem_type, const gguf_kv **out,
                 char *err, size_t errlen);

/* Elements of an array value (kv->type == GGUF_V_ARRAY). */
gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);  /* any integer element type */
double gguf_arr_float(const gguf_kv *kv, uint64_t i); /* FLOAT32/FLOAT64 or integer */

/* Length of the longest valid UTF-8 prefix of s[0..n): n when all valid.
 * (Token pieces may hold any bytes; names must be valid UTF-8.) */
uint64_t gguf_utf8_prefix(const char *s, uint64_t n);

/* Compare a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Bytes of one row of n elements, 0 when n is not a whole number of blocks
 * or the type is unknown. */
uint64_t gguf_row_size(uint32_t type, uint64_t n);

/* ---- Writer: builds a file in memory, then writes it out. ---- */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(uint32_t alignment);
void gguf_writer_free(gguf_writer *w);
int gguf_writer_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_bool(gguf_writer *w, const char *key, bool v);
int gguf_writer_str(gguf_writer *w, const char *key, const char *v);
/* Arrays of plain elements (vtype UINT8..FLOAT64 but not STRING/ARRAY). */
int gguf_writer_arr(gguf_writer *w, const char *key, uint32_t vtype, const void *elems, uint64_t n);
int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *elems, uint64_t n);
/* A tensor: ne has n_dims entries; data holds gguf_row_size(type, ne[0]) *
 * (rows) bytes and is copied. */
int gguf_writer_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                       const uint64_t *ne, const void *data);
/* The finished file: *out is malloc'd, the caller frees it. */
int gguf_writer_finish(gguf_writer *w, uint8_t **out, size_t *out_size);
int gguf_writer_save(gguf_writer *w, const char *path, char *err, size_t errlen);

#endif
