/* tokenizer: text <-> token ids for the vocabularies stored in GGUF files.
 *
 * Two families are supported, chosen by `tokenizer.ggml.model`:
 *   "llama" - SentencePiece style: score-driven merges, U+2581 for spaces and
 *             an added leading space, byte fallback through <0xNN> tokens.
 *   "gpt2"  - byte-level BPE: ranked merges over the bytes of pre-tokens cut
 *             by the pre-tokenizer named in `tokenizer.ggml.pre`.
 * Output matches the reference (Hugging Face / llama.cpp) ids exactly.
 *
 * A tok_vocab is built once from an opened gguf_file and is afterwards
 * read-only: one vocab may be shared by any number of threads. It copies what
 * it needs, so the gguf_file may be closed after tok_vocab_load.
 *
 * Errors: functions return TOK_OK (0) or a negative tok_status and write a
 * human message into the caller's buffer (err, errlen; err may be NULL).
 */
#ifndef RHEMA_TOKENIZER_H
#define RHEMA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef enum tok_status {
    TOK_OK = 0,
    TOK_EFORMAT = -1,      /* tokenizer metadata absent or malformed */
    TOK_EUNSUPPORTED = -2, /* unknown tokenizer.ggml.model or .pre */
    TOK_ENOMEM = -3,       /* an allocation failed */
    TOK_ERANGE = -4,       /* a token id out of range, or a buffer too small */
} tok_status;

/* Token types, numbered as in tokenizer.ggml.token_type. */
typedef enum tok_type {
    TOK_T_UNDEFINED = 0,
    TOK_T_NORMAL = 1,
    TOK_T_UNKNOWN = 2,
    TOK_T_CONTROL = 3,      /* <s>, <|eot_id|>: matched in text only with parse_special */
    TOK_T_USER_DEFINED = 4, /* added tokens: always matched in text (as the reference does) */
    TOK_T_UNUSED = 5,
    TOK_T_BYTE = 6,         /* <0xNN> byte fallback */
} tok_type;

typedef enum tok_kind {
    TOK_KIND_SPM = 1, /* tokenizer.ggml.model = "llama" */
    TOK_KIND_BPE = 2, /* tokenizer.ggml.model = "gpt2" */
} tok_kind;

/* Special token ids; -1 where the vocabulary has none. */
typedef struct tok_specials {
    int32_t bos, eos, eot, eom, unk, pad, sep, nl;
    int32_t fim_pre, fim_suf, fim_mid;
    bool add_bos;          /* tokenizer.ggml.add_bos_token (SPM default true) */
    bool add_eos;          /* tokenizer.ggml.add_eos_token (default false) */
    bool add_space_prefix; /* SPM: a space is put before the text (default true) */
} tok_specials;

typedef struct tok_vocab tok_vocab;

/* Build the vocabulary from the tokenizer.ggml.* keys of f. *out is NULL on
 * failure; free the result with tok_vocab_free. Unknown pre-tokenizer names
 * fail with TOK_EUNSUPPORTED and a message listing the supported ones. */
int tok_vocab_load(tok_vocab **out, const gguf_file *f, char *err, size_t errlen);
void tok_vocab_free(tok_vocab *v);

int32_t tok_n_vocab(const tok_vocab *v);
tok_kind tok_vocab_kind(const tok_vocab *v);
/* The pre-tokenizer name in use ("default" for SPM or when the key is absent). */
const char *tok_pre_name(const tok_vocab *v);
const tok_specials *tok_get_specials(const tok_vocab *v);

/* Token type (tok_type), or -1 when id is out of range. */
int tok_token_type(const tok_vocab *v, int32_t id);
/* True for end-of-generation tokens: eos, eot, eom and known end markers. */
bool tok_is_eog(const tok_vocab *v, int32_t id);
/* The stored token text (e.g. "▁Hello", "Ġworld", "<0x0A>"), NOT
 * NUL-terminated; len 0 and NULL for an id out of range. */
const char *tok_token_text(const tok_vocab *v, int32_t id, size_t *len);
/* Id of a token with exactly this stored text, or -1. */
int32_t tok_find(const tok_vocab *v, const char *text, size_t len);

/* ---- Encoding ---- */

/* Tokenize len bytes of text (any bytes: invalid UTF-8 is handled
 * deterministically, as U+FFFD for byte-level BPE and byte tokens for SPM).
 * add_special: put BOS before (and EOS after) the ids as the vocabulary's
 * add_bos/add_eos say. parse_special: text of CONTROL and UNKNOWN tokens
 * (e.g. "<|eot_id|>") becomes that single token; otherwise it is tokenized
 * as plain text. USER_DEFINED tokens (added tokens such as MPT's runs of
 * spaces) are always matched whole, as the reference tokenizers do. SPM puts
 * its space before the text and after every special token. On success *ids
 * is malloc'd (free() it; NULL when *n_ids is 0). Thread-safe: v is only
 * read. */
int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen);

/* ---- Decoding ---- */

enum {
    TOK_DECODE_SPECIAL = 1,     /* render CONTROL tokens' text (else they are empty) */
    TOK_DECODE_STRIP_SPACE = 2, /* drop the leading space SPM put before the text
                                   (no effect on vocabs that add none) */
};

/* The bytes one token stands for (spaces restored, byte tokens as their
 * byte, byte-level BPE mapped back to raw bytes). Points into v; not
 * NUL-terminated; may be a fragment of a UTF-8 character. special: as
 * TOK_DECODE_SPECIAL. Returns TOK_ERANGE for an id out of range. */
int tok_piece(const tok_vocab *v, int32_t id, bool special, const char **ptr, size_t *len);
/* Longest piece of any token, in bytes. */
size_t tok_max_piece(const tok_vocab *v);

/* Concatenated pieces of ids; *out is malloc'd and NUL-terminated (free()
 * it), *out_len excludes the NUL. flags: TOK_DECODE_*. */
int tok_decode(const tok_vocab *v, const int32_t *ids, size_t n_ids, int flags, char **out,
               size_t *out_len, char *err, size_t errlen);

/* Streaming decoder for generation: feed tokens one by one; output only
 * holds whole UTF-8 characters; bytes of a character split across tokens
 * are held back until it is complete. Bytes that can never form a valid
 * character are passed through unchanged. Caller-owned; no allocation. */
typedef struct tok_stream {
    uint8_t pend[4];   /* held-back start of an incomplete character */
    uint8_t n_pend;
    bool at_start;     /* nothing emitted yet (for TOK_DECODE_STRIP_SPACE) */
    int flags;
} tok_stream;

void tok_stream_init(tok_stream *s, int flags);
/* Append the bytes now complete to out (capacity cap; cap >=
 * tok_max_piece(v) + 4 always suffices) and set *n_out. TOK_ERANGE (nothing
 * consumed) when the id is out of range or cap is too small. */
int tok_stream_feed(tok_stream *s, const tok_vocab *v, int32_t id, char *out, size_t cap,
                    size_t *n_out);
/* End of stream: emit whatever is still held back (at most 3 bytes, an
 * incomplete character) into out (cap >= 4) and reset s. */
size_t tok_stream_flush(tok_stream *s, char *out, size_t cap);

#endif
