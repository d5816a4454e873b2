/* engine: run GGUF language models on the CPU.
 *
 * Architectures: llama (and mistral-style files that use it), qwen2, phi2,
 * phi3, gemma. Weights stay in the gguf_file's mapping, any mix of the
 * block types kernels/ supports; where the CPU's kernels have a packed form
 * for a matrix (kern_pack), it is packed once at load and its mapped pages
 * handed back, so memory stays about the file's size. A model is read-only
 * after loading and may be shared by several contexts; a context (KV
 * cache, scratch) is used by one thread at a time. No global state.
 *
 * Errors: functions return ENG_OK (0) or a negative eng_status and write a
 * human message naming the file, tensor or value into (err, errlen); err may
 * be NULL.
 */
#ifndef RHEMA_ENGINE_H
#define RHEMA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

typedef enum eng_status {
    ENG_OK = 0,
    ENG_EIO = -1,          /* the model file could not be opened or parsed */
    ENG_EFORMAT = -2,      /* metadata or tensors missing or inconsistent */
    ENG_EUNSUPPORTED = -3, /* architecture or tensor type not supported */
    ENG_ENOMEM = -4,       /* an allocation failed */
    ENG_ERANGE = -5,       /* a token id, length or parameter out of range */
    ENG_ECTX = -6,         /* the tokens do not fit in the context */
    ENG_ETEMPLATE = -7,    /* unknown chat template */
} eng_status;

typedef enum eng_arch {
    ENG_ARCH_LLAMA, ENG_ARCH_QWEN2, ENG_ARCH_PHI2, ENG_ARCH_PHI3, ENG_ARCH_GEMMA,
} eng_arch;

/* Hyper-parameters, from `<arch>.*` metadata and the tensor shapes. */
typedef struct eng_hparams {
    eng_arch arch;
    const char *arch_name;  /* "llama", ... */
    uint32_t n_vocab;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;      /* attention.key_length, default n_embd / n_head */
    uint32_t n_rot;         /* rope.dimension_count, default head_dim */
    uint32_t n_ctx_train;   /* context_length */
    float rope_base;        /* rope.freq_base, default 10000 */
    float rope_scale;       /* position multiplier (1 / linear scaling factor) */
    float norm_eps;         /* layer_norm_rms_epsilon or layer_norm_epsilon */
} eng_hparams;

/* Checks for `rhema ai models validate`: every tensor the architecture needs
 * is present, of a supported type, with shapes consistent with the
 * hyper-parameters. Calls report once per problem (all of them, not only
 * the first). Returns the number of problems, or ENG_EUNSUPPORTED when the
 * architecture is unknown (also reported). */
int eng_check(const gguf_file *f, void (*report)(void *ud, const char *problem), void *ud);

typedef struct eng_model eng_model;

/* Bind a model to an opened file, which must outlive the model. */
int eng_model_load(eng_model **out, const gguf_file *f, char *err, size_t errlen);
/* Open path and bind a model to it; the model owns the file. */
int eng_model_open(eng_model **out, const char *path, char *err, size_t errlen);
void eng_model_free(eng_model *m);
const eng_hparams *eng_model_hparams(const eng_model *m);
const gguf_file *eng_model_file(const eng_model *m);
/* The memory a token's products stream through when they run cpu's
 * kernels, for a bandwidth probe to read the very pages a token reads:
 * the packed weights (one buffer, in the order a token reads them) when m
 * is packed for cpu, else the file's tensor data; *bytes its length. */
const void *eng_model_stream(const eng_model *m, const kern_cpu *cpu, size_t *bytes);

typedef enum eng_kv_type { ENG_KV_F16 = 0, ENG_KV_F32 = 1 } eng_kv_type;

typedef struct eng_ctx_params {
    uint32_t n_ctx;      /* 0: the model's context_length, capped at 4096 */
    uint32_t n_threads;  /* 0 or 1: single-threaded */
    eng_kv_type kv_type; /* KV cache element type, F16 by default */
    bool reference;      /* portable reference kernels (the ground truth),
                            else the fastest set this CPU runs */
    kern_pool *pool;     /* NULL: the context starts n_threads threads of
                            its own; else it runs on this pool (n_threads
                            ignored), which the caller keeps alive and uses
                            for nothing else while the context works */
    const kern_cpu *cpu; /* NULL: the fastest kernel set this CPU runs;
                            else this one (kern_cpu_select), to compare
                            sets; `reference` overrides it */
    uint32_t n_batch;    /* tokens evaluated together, at most n_ctx
                            (0: 128). The context's scratch grows with it
                            (llama-1b: ~180 KB a token); smaller batches
                            take less memory and run prompts slower */
} eng_ctx_params;

eng_ctx_params eng_ctx_default_params(void);

typedef struct eng_ctx eng_ctx;

int eng_ctx_new(eng_ctx **out, const eng_model *m, const eng_ctx_params *p, char *err,
                size_t errlen);
void eng_ctx_free(eng_ctx *c);
/* Forget all evaluated tokens (empty KV cache). */
void eng_ctx_reset(eng_ctx *c);
uint32_t eng_ctx_n_ctx(const eng_ctx *c);
/* Tokens evaluated together (eng_ctx_params n_batch, as clamped). */
uint32_t eng_ctx_n_batch(const eng_ctx *c);
/* Tokens evaluated so far (the next position). */
uint32_t eng_ctx_n_past(const eng_ctx *c);

/* Evaluate n tokens at positions n_past..n_past+n-1 and append them to the
 * KV cache. The calling thread works too, and needs about 128 KiB of
 * stack (KERN_POOL_STACK says why). all_logits: keep the logits of every one of the n positions,
 * else of the last only. ENG_ECTX when they do not fit in the context,
 * ENG_ERANGE for a token id out of the vocabulary; on error the cache is
 * unchanged. */
int eng_eval(eng_ctx *c, const int32_t *tokens, size_t n, bool all_logits, char *err,
             size_t errlen);
/* n_vocab logits of row i of the last eng_eval (i < n with all_logits, else
 * only i = 0 = the last token); NULL when there is no such row. */
const float *eng_logits(const eng_ctx *c, size_t i);

/* ---- Sampling ---- */

typedef struct eng_sampler_params {
    float temp;              /* <= 0: greedy (arg-max) */
    uint32_t top_k;          /* 0: off */
    float top_p;             /* 1: off */
    float min_p;             /* 0: off */
    float repeat_penalty;    /* 1: off */
    uint32_t repeat_last_n;  /* tokens the penalties look back over */
    float freq_penalty;      /* 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;
} eng_sampler_params;

eng_sampler_params eng_sampler_default_params(void);

typedef struct eng_sampler eng_sampler;

int eng_sampler_new(eng_sampler **out, const eng_sampler_params *p, uint32_t n_vocab,
                    char *err, size_t errlen);
void eng_sampler_free(eng_sampler *s);
/* Add a token to the history the penalties see (prompt and generated). */
void eng_sampler_accept(eng_sampler *s, int32_t token);
/* Pick a token from n_vocab logits (not modified). Deterministic for a
 * given seed, settings and history. */
int32_t eng_sample(eng_sampler *s, const float *logits);

/* ---- Generation ---- */

/* Called with each generated token and the text now released (UTF-8;
 * empty while a character is incomplete or the text might begin a stop
 * string), and once at the end with token -1 for text still held back;
 * return nonzero to stop. */
typedef int (*eng_token_fn)(void *ud, int32_t token, const char *text, size_t len);

/* Why a generation ended. */
typedef enum eng_stop_reason {
    ENG_STOP_EOG,        /* an end-of-generation token */
    ENG_STOP_STRING,     /* a stop string */
    ENG_STOP_MAX_TOKENS, /* max_tokens were generated */
    ENG_STOP_CONTEXT,    /* the context is full */
    ENG_STOP_CALLER,     /* the callback returned nonzero */
} eng_stop_reason;

/* What a generation measured, for callers that judge its output. */
typedef struct eng_gen_stats {
    eng_stop_reason stop;
    double sum_logprob; /* eng_logprob of each generated token, summed */
    size_t n_tokens;    /* the generated tokens (as *n_out) */
} eng_gen_stats;

typedef struct eng_gen_params {
    uint32_t max_tokens;               /* 0: until the context is full */
    const char *const *stop_strings;   /* generation stops before these */
    size_t n_stop_strings;
    bool stop_at_eog;                  /* stop at end-of-generation tokens */
    eng_gen_stats *stats;              /* filled when not NULL */
} eng_gen_params;

/* log p(token) in nats under the softmax of n_vocab logits at temperature
 * 1: how likely the model itself found the token, whatever the sampler's
 * settings. NAN for a token outside the vocabulary. */
double eng_logprob(const float *logits, uint32_t n_vocab, int32_t token);

/* Evaluate the prompt, then sample, report and evaluate tokens until an
 * end-of-generation token, a stop string, max_tokens or the end of the
 * context. vocab turns tokens into text (stop strings need it). Text that
 * might begin a stop string is held back until it is known not to. The
 * number of generated tokens goes to *n_out (may be NULL); gp->stats, when
 * set, gets why it stopped and the tokens' log-probabilities (the end-of-
 * generation token that stops it is not counted, like in *n_out). */
int eng_generate(eng_ctx *c, eng_sampler *s, const tok_vocab *vocab, const int32_t *prompt,
                 size_t n_prompt, const eng_gen_params *gp, eng_token_fn fn, void *ud,
                 size_t *n_out, char *err, size_t errlen);

/* ---- Chat templates ---- */

typedef enum eng_chat_tmpl {
    ENG_CHAT_CHATML, ENG_CHAT_LLAMA2, ENG_CHAT_LLAMA3, ENG_CHAT_MISTRAL,
    ENG_CHAT_PHI3, ENG_CHAT_GEMMA, ENG_CHAT_ZEPHYR,
} eng_chat_tmpl;

typedef struct eng_chat_msg {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;
} eng_chat_msg;

/* Template by name ("chatml", "llama2", "llama3", "mistral", "phi3",
 * "gemma", "zephyr"); ENG_ETEMPLATE listing the names when unknown. */
int eng_chat_template_by_name(const char *name, eng_chat_tmpl *out, char *err, size_t errlen);
const char *eng_chat_template_name(eng_chat_tmpl t);
/* From tokenizer.chat_template when present, else from the architecture;
 * ENG_ETEMPLATE when neither says. */
int eng_chat_template_detect(const gguf_file *f, eng_chat_tmpl *out, char *err, size_t errlen);
/* Render messages (and the start of the assistant's turn when
 * add_generation_prompt) as the text to tokenize with parse_special. The
 * leading BOS is left to the tokenizer. *out is malloc'd and NUL-terminated. */
int eng_chat_render(eng_chat_tmpl t, const eng_chat_msg *msgs, size_t n,
                    bool add_generation_prompt, char **out, char *err, size_t errlen);
/* The text that ends an assistant turn in this template ("<|im_end|>"...),
 * useful as a stop string. */
const char *eng_chat_end_of_turn(eng_chat_tmpl t);

#endif
