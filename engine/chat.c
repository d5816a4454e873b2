/* Chat templates: the common fixed formats, detected from
 * tokenizer.chat_template markers or the architecture. */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const tmpl_names[] = {
    [ENG_CHAT_CHATML] = "chatml", [ENG_CHAT_LLAMA2] = "llama2", [ENG_CHAT_LLAMA3] = "llama3",
    [ENG_CHAT_MISTRAL] = "mistral", [ENG_CHAT_PHI3] = "phi3", [ENG_CHAT_GEMMA] = "gemma",
    [ENG_CHAT_ZEPHYR] = "zephyr",
};

#define N_TMPL (sizeof tmpl_names / sizeof tmpl_names[0])

const char *eng_chat_template_name(eng_chat_tmpl t)
{
    return (size_t)t < N_TMPL ? tmpl_names[t] : "unknown";
}

int eng_chat_template_by_name(const char *name, eng_chat_tmpl *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_TMPL; i++) {
        if (strcmp(name, tmpl_names[i]) == 0) {
            *out = (eng_chat_tmpl)i;
            return ENG_OK;
        }
    }
    return eng_fail(err, errlen, ENG_ETEMPLATE,
                    "unknown chat template '%s' (known: chatml, llama2, llama3, mistral, phi3, gemma, zephyr)",
                    name);
}

static bool has(gguf_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (uint64_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, needle, n) == 0)
            return true;
    return false;
}

int eng_chat_template_detect(const gguf_file *f, eng_chat_tmpl *out, char *err, size_t errlen)
{
    gguf_str t;
    if (gguf_get_str(f, "tokenizer.chat_template", &t, NULL, 0) == GGUF_OK) {
        /* the markers each format's Jinja template necessarily contains */
        if (has(t, "<|im_start|>"))
            *out = ENG_CHAT_CHATML;
        else if (has(t, "<|start_header_id|>"))
            *out = ENG_CHAT_LLAMA3;
        else if (has(t, "<start_of_turn>"))
            *out = ENG_CHAT_GEMMA;
        else if (has(t, "<|assistant|>") && has(t, "<|end|>"))
            *out = ENG_CHAT_PHI3;
        else if (has(t, "<|user|>"))
            *out = ENG_CHAT_ZEPHYR;
        else if (has(t, "[INST]"))
            *out = has(t, "<<SYS>>") ? ENG_CHAT_LLAMA2 : ENG_CHAT_MISTRAL;
        else
            return eng_fail(err, errlen, ENG_ETEMPLATE,
                            "%s: tokenizer.chat_template is not a format rhema knows; name one with --chat-template",
                            f->name);
        return ENG_OK;
    }
    gguf_str arch = {0};
    if (gguf_get_str(f, "general.architecture", &arch, NULL, 0) == GGUF_OK) {
        static const struct {
            const char *arch;
            eng_chat_tmpl t;
        } by_arch[] = {
            {"qwen2", ENG_CHAT_CHATML}, {"llama", ENG_CHAT_LLAMA2},
            {"phi3", ENG_CHAT_PHI3}, {"gemma", ENG_CHAT_GEMMA},
        };
        for (size_t i = 0; i < sizeof by_arch / sizeof by_arch[0]; i++) {
            if (gguf_str_eq(arch, by_arch[i].arch)) {
                *out = by_arch[i].t;
                return ENG_OK;
            }
        }
    }
    return eng_fail(err, errlen, ENG_ETEMPLATE,
                    "%s: no tokenizer.chat_template and no default for this architecture; name one with --chat-template",
                    f->name);
}

const char *eng_chat_end_of_turn(eng_chat_tmpl t)
{
    switch (t) {
    case ENG_CHAT_CHATML: return "<|im_end|>";
    case ENG_CHAT_LLAMA3: return "<|eot_id|>";
    case ENG_CHAT_PHI3: return "<|end|>";
    case ENG_CHAT_GEMMA: return "<end_of_turn>";
    default: return "</s>";
    }
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void put3(sbuf *b, const char *a, const char *m, const char *z)
{
    put(b, a);
    put(b, m);
    put(b, z);
}

/* Formats whose turns are all "<open role> content <close>". */
static void render_tagged(eng_chat_tmpl t, sbuf *b, const eng_chat_msg *m)
{
    switch (t) {
    case ENG_CHAT_CHATML:
        put3(b, "<|im_start|>", m->role, "\n");
        put3(b, m->content, "<|im_end|>\n", "");
        break;
    case ENG_CHAT_LLAMA3:
        put3(b, "<|start_header_id|>", m->role, "<|end_header_id|>\n\n");
        put3(b, m->content, "<|eot_id|>", "");
        break;
    case ENG_CHAT_PHI3:
        put3(b, "<|", m->role, "|>\n");
        put3(b, m->content, "<|end|>\n", "");
        break;
    default: /* zephyr */
        put3(b, "<|", m->role, "|>\n");
        put3(b, m->content, "</s>\n", "");
        break;
    }
}

static void render_tagged_prompt(eng_chat_tmpl t, sbuf *b)
{
    switch (t) {
    case ENG_CHAT_CHATML: put(b, "<|im_start|>assistant\n"); break;
    case ENG_CHAT_LLAMA3: put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
    default: put(b, "<|assistant|>\n"); break;
    }
}

/* [INST] formats. llama2 has a <<SYS>> block; mistral and gemma have no
 * system role, so the system text is put before the first user message. */
static void render_inst(eng_chat_tmpl t, sbuf *b, const eng_chat_msg *msgs, size_t n, bool gen)
{
    const char *pending_sys = NULL;
    bool gemma = t == ENG_CHAT_GEMMA;
    if (t == ENG_CHAT_LLAMA2 || t == ENG_CHAT_MISTRAL)
        put(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        const eng_chat_msg *m = &msgs[i];
        if (strcmp(m->role, "system") == 0) {
            if (t == ENG_CHAT_LLAMA2)
                put3(b, "<<SYS>>\n", m->content, "\n<</SYS>>\n\n");
            else
                pending_sys = m->content;
        } else if (strcmp(m->role, "user") == 0) {
            if (gemma)
                put(b, "<start_of_turn>user\n");
            if (pending_sys)
                put3(b, pending_sys, "\n\n", "");
            pending_sys = NULL;
            put3(b, m->content, gemma ? "<end_of_turn>\n" : " [/INST]", "");
        } else if (gemma) {
            put3(b, "<start_of_turn>model\n", m->content, "<end_of_turn>\n");
        } else {
            put3(b, " ", m->content, "</s><s>[INST] ");
        }
    }
    if (gemma && gen)
        put(b, "<start_of_turn>model\n");
}

int eng_chat_render(eng_chat_tmpl t, const eng_chat_msg *msgs, size_t n, bool add_generation_prompt,
                    char **out, char *err, size_t errlen)
{
    *out = NULL;
    if ((size_t)t >= N_TMPL)
        return eng_fail(err, errlen, ENG_ETEMPLATE, "unknown chat template %d", (int)t);
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content ||
            (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")))
            return eng_fail(err, errlen, ENG_ERANGE,
                            "message %zu: role must be system, user or assistant, with content", i);
    }
    sbuf b = {0};
    put(&b, "");
    if (t == ENG_CHAT_LLAMA2 || t == ENG_CHAT_MISTRAL || t == ENG_CHAT_GEMMA) {
        render_inst(t, &b, msgs, n, add_generation_prompt);
    } else {
        for (size_t i = 0; i < n; i++)
            render_tagged(t, &b, &msgs[i]);
        if (add_generation_prompt)
            render_tagged_prompt(t, &b);
    }
    if (b.oom) {
        free(b.p);
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory rendering a chat");
    }
    *out = b.p;
    return ENG_OK;
}
