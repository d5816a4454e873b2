/* Shared by the chat call (ai.c) and the provider formats (ai_openai.c,
 * ai_anthropic.c). */
#ifndef RHEMA_NET_AI_INTERNAL_H
#define RHEMA_NET_AI_INTERNAL_H

#include "net/net_internal.h"

/* State of one chat call while the answer streams in. */
typedef struct ai_call {
    const net_chat_req *req;
    net_chat_result *res;
    net_buf text;        /* the answer so far */
    net_buf raw;         /* the body when it is not an event stream */
    net_sse sse;
    bool sse_mode;
    bool done;           /* end-of-stream marker seen */
    /* A failure found inside the answer (stream error event, bad JSON). */
    int fail_rc;
    net_ai_error fail_kind;
    char fail_msg[300];
} ai_call;

typedef struct ai_provider {
    const char *name;
    const char *default_base;
    const char *path;    /* appended to the base URL */
    /* Request JSON into w (an open writer on the body buffer). */
    void (*build)(const net_chat_req *req, net_jw *w);
    /* Extra header lines; the key goes in key_line ("" for none). */
    void (*auth)(const net_chat_req *req, char *key_line, size_t n, const char **extra);
    /* A complete (non-streamed) answer. */
    int (*parse_full)(ai_call *call, const net_json *root);
    /* One stream event's JSON (NULL root for non-JSON data like [DONE]). */
    int (*on_event)(ai_call *call, const net_sse_event *ev, const net_json *root);
    /* The error type and message of an error body (either may stay ""). */
    void (*error_info)(const net_json *root, char *type, size_t tn, char *msg, size_t mn);
} ai_provider;

extern const ai_provider net_ai_openai;
extern const ai_provider net_ai_anthropic;

/* Append generated text: to the answer and to the caller's callback. */
int net_ai_text(ai_call *call, const char *s, size_t n);
/* Record a failure found in the answer; returns NET_E_API. */
int net_ai_fail(ai_call *call, net_ai_error kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The kind for an error type string the providers use, or NET_AI_OK. */
net_ai_error net_ai_kind_for_type(const char *type);
/* Copy a JSON string member into dst[n] (left alone when absent). */
void net_ai_copy(const net_json *obj, const char *key, char *dst, size_t n);
/* "messages": [...] (without system messages when skip_system), and the
 * optional "temperature" and "stream" members both APIs share. */
void net_ai_write_messages(net_jw *w, const net_chat_req *req, bool skip_system);
void net_ai_write_options(net_jw *w, const net_chat_req *req);
void net_ai_usage(const net_json *usage, const char *in_key, const char *out_key, net_chat_result *res);

#endif
