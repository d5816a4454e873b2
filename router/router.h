/* router: decides where an AI request runs (the local embedded model, an
 * external provider, or both) from .rhema/ai-config.yaml, a prompt
 * classifier, routing rules, privacy checks and cost budgets, and keeps a
 * usage ledger. It never calls a model itself: callers plug the engine and
 * the providers in through route_backends. */
#ifndef RHEMA_ROUTER_H
#define RHEMA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum route_status {
    ROUTE_OK = 0,
    ROUTE_ERR_ARG = -1,     /* bad argument from the caller */
    ROUTE_ERR_IO = -2,      /* a file could not be read or written */
    ROUTE_ERR_SYNTAX = -3,  /* the YAML itself does not parse */
    ROUTE_ERR_CONFIG = -4,  /* the YAML parses but the configuration is invalid */
    ROUTE_ERR_RULE = -5,    /* a rule condition or action does not parse */
    ROUTE_ERR_NOMEM = -6,
    ROUTE_ERR_BACKEND = -7, /* every backend attempt failed */
    ROUTE_ERR_LEDGER = -8,  /* the usage ledger could not be locked or read */
    ROUTE_ERR_BUDGET = -9,  /* max_daily_cost has no room for the call */
} route_status;

const char *route_status_str(int status);

/* ---------------------------------------------------------------- config */

typedef enum route_strategy {
    ROUTE_STRAT_HYBRID,        /* simple -> embedded, medium -> hybrid, complex -> external */
    ROUTE_STRAT_COST,          /* embedded unless the task is complex; cheapest external model */
    ROUTE_STRAT_LATENCY,       /* embedded unless it cannot hold the prompt */
    ROUTE_STRAT_QUALITY,       /* external (best priority) unless the task is simple */
    ROUTE_STRAT_LOCAL_ONLY,    /* never leaves the machine */
    ROUTE_STRAT_EXTERNAL_ONLY, /* external unless private or over budget */
} route_strategy;

typedef enum route_target { ROUTE_TO_EMBEDDED, ROUTE_TO_EXTERNAL, ROUTE_TO_HYBRID } route_target;

typedef struct route_provider {
    char *name;     /* "openai", "anthropic", ... */
    char *api_key;  /* after ${ENV} expansion; "" when unset */
    char *base_url;
    char *ca_file;  /* PEM bundle trusted for base_url; "" = the system's */
    char **models;  /* first is the provider's default model */
    size_t n_models;
    long priority;  /* lower is preferred */
    long timeout_seconds, max_concurrent_requests, rate_limit_per_minute, cache_ttl_seconds;
    bool enable_caching, enable_rate_limiting, enable_monitoring;
} route_provider;

typedef struct route_model {
    char *name;  /* "codellama-7b" (model_type in the basic shape) */
    char *model_path;
    char *quantization;
    char *inference_engine;
    char *use_case;
    long max_context_length;
    long priority;
    long memory_limit_mb, gpu_memory_limit_mb; /* 0 = no limit */
    bool enable_gpu;
    long cache_ttl_seconds; /* how long its answers are served again */
    bool enable_caching;
    double confidence_threshold; /* an answer less sure than this needs a better one;
                                  * -1: fallback_threshold (see route_model_threshold) */
} route_model;

/* A rule action: which side runs, and optionally the provider and model
 * (NULL = the default one of that side). */
typedef struct route_action {
    route_target target;
    char *provider;
    char *model;
} route_action;

typedef struct route_expr route_expr; /* a compiled rule condition */

typedef struct route_rule {
    char *name;
    char *condition;
    route_expr *expr;
    route_action action;
    bool has_fallback;
    route_action fallback;
} route_rule;

typedef struct route_price {
    const char *provider;
    const char *model;      /* a model name or its prefix before a '-' suffix */
    double input_per_mtok;  /* USD per 1M input tokens */
    double output_per_mtok; /* USD per 1M output tokens */
} route_price;

/* One effective configuration value for `config --show`: secrets are
 * already masked; origin is "FILE:LINE:COL", "FILE:LINE:COL via $VAR" or
 * "default". */
typedef struct route_setting {
    char *key;
    char *value;
    char *origin;
} route_setting;

enum { ROUTE_PERF_RESPONSE_TIME = 1, ROUTE_PERF_ACCURACY = 2, ROUTE_PERF_COST = 4 };

typedef struct route_config {
    char *path; /* the file loaded, NULL for built-in defaults */

    route_provider *providers;
    size_t n_providers;
    route_model *models; /* never empty */
    size_t n_models;

    long simple_max_tokens, medium_max_tokens;
    char **simple_patterns;
    size_t n_simple_patterns;
    char **complex_patterns;
    size_t n_complex_patterns;
    double max_cost_per_request, max_daily_cost; /* 0 = no limit */
    long max_response_time_ms;
    double min_accuracy_threshold;
    route_strategy strategy;
    bool enable_hybrid;
    route_rule *rules;
    size_t n_rules;

    bool perf_enable;
    unsigned perf_metrics; /* ROUTE_PERF_* bits */
    long perf_response_time_ms;
    double perf_accuracy_threshold, perf_cost_threshold;

    bool privacy_enable;
    char **private_patterns; /* extra literal markers, case-insensitive */
    size_t n_private_patterns;

    bool enable_fallback;
    double fallback_threshold;
    long max_fallback_attempts;

    route_price *prices; /* overrides from ai_service.pricing */
    size_t n_prices;

    route_setting *settings;
    size_t n_settings;
} route_config;

/* Find the configuration file: explicit path, $RHEMA_AI_CONFIG,
 * ./.rhema/ai-config.yaml, ~/.rhema/ai-config.yaml. Writes the path into
 * out, or "" when none exists (built-in defaults apply). An explicit path or
 * $RHEMA_AI_CONFIG that does not exist is an error. */
int route_config_find(const char *explicit_path, char *out, size_t outlen, char *err, size_t errlen);

/* Load and validate path (NULL or "" = built-in defaults, embedded only).
 * Messages read "FILE:LINE:COL: what is wrong". */
int route_config_load(const char *path, route_config **out, char *err, size_t errlen);

/* The same from memory; name is used in messages. */
int route_config_load_mem(const char *text, size_t len, const char *name, route_config **out,
                          char *err, size_t errlen);

void route_config_free(route_config *cfg);

/* Validate src, then replace dst with it atomically (temp file + fsync +
 * rename in dst's folder, created if needed). A bad src changes nothing. */
int route_config_update(const char *src, const char *dst, char *err, size_t errlen);

const char *route_strategy_name(route_strategy s);
const char *route_target_name(route_target t);

/* ------------------------------------------------------- classification */

typedef enum route_complexity { ROUTE_SIMPLE, ROUTE_MEDIUM, ROUTE_COMPLEX } route_complexity;

const char *route_complexity_name(route_complexity c);

/* Counts tokens with a real tokenizer when one is loaded. */
typedef size_t (*route_token_fn)(void *user, const char *text, size_t len);

typedef struct route_request {
    const char *prompt;
    const char *context;   /* attached context text, or NULL */
    size_t context_tokens; /* extra attached context measured by the caller */
    bool is_private;       /* the caller forbids sending it off the machine */
    long max_output_tokens;  /* 0 = assume 512 for cost estimates */
    route_token_fn count_tokens; /* NULL = route_estimate_tokens */
    void *count_user;
} route_request;

#define ROUTE_MAX_REASONS 24

/* One signal and what it added to the score (negative lowers it; 0 for
 * facts that decided a tier without a weight). */
typedef struct route_reason {
    char signal[24];
    double weight;
    char detail[120];
} route_reason;

typedef struct route_class {
    route_complexity complexity;
    double score; /* in [0,1] */
    size_t prompt_tokens, context_tokens, tokens;
    route_reason reasons[ROUTE_MAX_REASONS];
    size_t n_reasons;
} route_class;

/* A fast estimate (about 4 characters of English per token). */
size_t route_estimate_tokens(const char *text, size_t len);

int route_classify(const route_config *cfg, const route_request *req, route_class *out,
                   char *err, size_t errlen);

/* Sensitive-data scan: returns true when text holds something that must stay
 * local (API keys, tokens, passwords, private keys, personal data, or one
 * of cfg's private_patterns); what names the kind and byte offset. */
bool route_privacy_scan(const route_config *cfg, const char *text, char *what, size_t whatlen);

/* A task file for `rhema ai tasks route --task`:
 *   prompt: "..."            (required)
 *   context: "..."           attached text
 *   context_files: [a.c]     read relative to the task file
 *   private: true            never leaves the machine
 *   max_output_tokens: 256 */
typedef struct route_task {
    char *prompt;
    char *context; /* context and the files' contents, or NULL */
    char **context_files;
    size_t n_context_files;
    bool is_private;
    long max_output_tokens;
} route_task;

int route_task_load(const char *path, route_task *out, char *err, size_t errlen);
void route_task_free(route_task *t);

/* --------------------------------------------------------------- routing */

/* What the caller knows about the world, from the ledger
 * (route_ledger_state): today's spend and observed latencies, which
 * performance_routing compares with its thresholds. 0 = unknown. */
typedef struct route_state {
    double spent_today;
    double reserved_today;  /* held by requests in flight (route_budget_reserve) */
    size_t reservations;    /* how many hold it */
    double embedded_ms, external_ms; /* average answer time over the last day */
    double embedded_accuracy;        /* caller-measured share of good local answers */
} route_state;

typedef struct route_decision {
    route_class cls;
    route_target target;
    char provider[32]; /* external or hybrid: the provider */
    char model[96];    /* external model, or the embedded model for embedded */
    char embedded_model[96]; /* the local model used (embedded and hybrid) */
    bool has_fallback;
    route_target fb_target;
    char fb_provider[32];
    char fb_model[96];
    char rule[64]; /* name of the rule that matched, or "" */
    bool is_private;
    bool budget_local; /* a budget sent it local */
    bool cost_known;
    double est_cost; /* USD for the external part, 0 when local */
    char why[ROUTE_MAX_REASONS][400];
    size_t n_why;
} route_decision;

int route_decide(const route_config *cfg, const route_request *req, const route_state *state,
                 route_decision *out, char *err, size_t errlen);

/* ------------------------------------------------------------------ costs */

/* Built-in prices (USD per 1M tokens) for current OpenAI and Anthropic models. */
const route_price *route_builtin_prices(size_t *n);

/* Price of provider/model: config overrides first, then the built-in table
 * (longest matching name, so "gpt-4o-2024-08-06" finds "gpt-4o"). Returns
 * false when unknown: never silently $0. */
bool route_price_lookup(const route_config *cfg, const char *provider, const char *model,
                        double *in_per_mtok, double *out_per_mtok);

double route_cost(double in_per_mtok, double out_per_mtok, uint64_t in_tokens, uint64_t out_tokens);

/* ----------------------------------------------------------------- ledger */

typedef struct route_usage {
    int64_t time; /* unix seconds */
    route_target target;
    char provider[32];
    char model[96];
    uint64_t in_tokens, out_tokens;
    double cost; /* USD; 0 for local */
    bool cost_known;
    double ms; /* time to answer; 0 = not measured */
    bool cached; /* answered from the answer cache: no call, no cost; tokens estimated */
    bool failed; /* the call failed (or a local limit passed it over): no answer */
    /* Embedded calls, as the backend measured them (0 = not measured): */
    double load_ms;       /* the model was loaded for this call, taking this long */
    uint64_t peak_rss;    /* bytes: the process's peak resident set after the call */
    uint64_t model_bytes; /* bytes of the model file mapped */
    uint64_t kv_bytes;    /* bytes of the KV cache */
} route_usage;

/* The ledger beside the configuration: DIR/.rhema/ai/usage.log where the
 * config is DIR/.rhema/ai-config.yaml (./.rhema/ai/ for built-in defaults). */
int route_ledger_path(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen);

/* Append one record: flock, a single write of a complete checksummed line,
 * fsync. Safe with several processes; a torn record from a crash is skipped
 * by readers and never glued to the next one. */
int route_ledger_append(const char *path, const route_usage *u, char *err, size_t errlen);

/* Call fn for every valid record with time >= since (fn returning non-zero
 * stops). A missing file reads as empty. *bad (may be NULL) counts
 * damaged lines skipped. */
int route_ledger_read(const char *path, int64_t since, int (*fn)(void *user, const route_usage *u),
                      void *user, size_t *bad, char *err, size_t errlen);

/* Sum of external cost since the start of the current UTC day. */
int route_ledger_spent_today(const char *path, int64_t now, double *spent, char *err, size_t errlen);

/* Today's spend, what requests in flight hold, and the last day's average
 * latencies into st. */
int route_ledger_state(const char *path, int64_t now, route_state *st, char *err, size_t errlen);

/* ---------------------------------------------------------------- budget
 * max_daily_cost held across processes: before an external call its
 * estimated maximum cost is reserved under the ledger's lock, in the file
 * `reservations` beside the ledger (never in the ledger itself, so reports
 * and older binaries never count it as spend). The call's ledger record
 * settles the reservation; a failed request releases it. A reservation
 * whose process is gone (checked by pid, its start time and the boot id)
 * or that outlived its bound no longer counts. */

typedef struct route_reservation {
    bool held;
    uint32_t seq;       /* with this process's pid and start time, names it in the file */
    double usd;         /* the amount held */
    int64_t expires_ms; /* wall clock; the holder renews it before each external call */
    bool lost;          /* it expired and the budget no longer had room for it */
} route_reservation;

/* Hold d's estimated cost (an external or hybrid decision under a
 * max_daily_cost) until the call settles it: under the ledger's lock,
 * today's spend plus what live reservations hold plus the estimate must
 * fit, else d is turned to the embedded model with the reason in its
 * reasons (budget_local). Nothing is held for local decisions or without a
 * daily budget. now_ms: wall clock. */
int route_budget_reserve(const route_config *cfg, const char *ledger, int64_t now_ms, route_decision *d,
                         route_reservation *r, char *err, size_t errlen);

/* Before an external call: renew r (held) or hold usd (not held) against
 * max_daily_cost. ROUTE_ERR_BUDGET when it does not fit; msg says why. */
int route_budget_hold(const route_config *cfg, const char *ledger, int64_t now_ms, route_reservation *r, double usd,
                      char *msg, size_t msglen);

/* Append u to the ledger and drop r in one locked step, so the spend is
 * never counted twice or not at all. */
int route_budget_settle(const char *ledger, route_reservation *r, const route_usage *u, char *err, size_t errlen);

/* Drop r (the request failed or went local). */
int route_budget_release(const char *ledger, route_reservation *r, char *err, size_t errlen);

/* What live reservations hold now (dead or expired ones are not counted). */
int route_budget_held(const char *ledger, int64_t now_ms, double *usd, size_t *n, char *err, size_t errlen);

/* How long a reservation lasts without renewal: every try of one call
 * (timeout_seconds of the slowest provider, retries and their waits) plus
 * a minute. */
int64_t route_budget_bound_ms(const route_config *cfg);

typedef struct route_cost_row {
    route_target target;
    char provider[32];
    char model[96];
    uint64_t requests, in_tokens, out_tokens;
    double cost;
    uint64_t unpriced; /* records whose cost was unknown */
    uint64_t timed;    /* records with a latency */
    double total_ms;   /* their summed latency */
    uint64_t timed_out_tokens; /* their output tokens, for tokens per second */
    uint64_t cached;   /* answers from the cache (counted in requests, not in tokens or cost) */
    uint64_t cached_in_tokens, cached_out_tokens; /* their estimated tokens */
    uint64_t failed;   /* failed calls (not counted in requests) */
    double p50_ms;     /* median latency of the timed records */
    uint64_t loads;    /* embedded: answered calls that loaded the model */
    double load_p50_ms, load_max_ms;
    uint64_t peak_rss, model_bytes, kv_bytes; /* embedded: the largest measured, bytes; 0 unknown */
} route_cost_row;

typedef struct route_cost_report {
    int64_t since, until;
    route_cost_row *rows; /* external rows, then embedded ones */
    size_t n_rows;
    double total_cost;
    uint64_t local_requests;
    double local_savings; /* what local requests would have cost on the default external model */
    bool savings_known;
    uint64_t cached_requests, failed_requests;
    double cached_savings; /* what cached answers would have cost: their own model's price, the
                            * default external model's for local ones */
    bool cached_savings_known;
    char ref_provider[32], ref_model[96]; /* the default external model savings are priced on; "" none */
    size_t bad_lines;
} route_cost_report;

/* Aggregate the ledger over [since, until]. */
int route_costs_analyze(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                        route_cost_report *out, char *err, size_t errlen);
void route_cost_report_free(route_cost_report *r);

/* Service statistics of one side (embedded or external, hybrid counted as
 * external) from the ledger. */
typedef struct route_side_stats {
    uint64_t requests;     /* every record: answered, cached or failed */
    uint64_t successes, failures;
    uint64_t cache_hits, cache_misses; /* misses: calls that went to a model */
    uint64_t in_tokens, out_tokens;    /* of answered calls (cached ones excluded) */
    double cost;
    uint64_t unpriced;
    uint64_t timed;        /* answered calls with a latency */
    double mean_ms, p50_ms, p95_ms, p99_ms; /* 0 when none timed */
    double out_tokens_per_s; /* over timed calls */
} route_side_stats;

typedef struct route_service_stats {
    int64_t since, until;
    route_side_stats embedded, external;
    size_t bad_lines;
} route_service_stats;

/* Read the ledger over [since, until] into out (nearest-rank percentiles). */
int route_service_stats_read(const char *ledger, int64_t since, int64_t until, route_service_stats *out, char *err,
                             size_t errlen);

/* A usage profile for projections; the assumptions are documented in
 * router/README.md ("Cost planning"). */
typedef struct route_usage_profile {
    const char *name;            /* "light", "medium", "heavy" */
    double requests_per_day;
    double in_tokens, out_tokens; /* per request */
    double simple_share, medium_share, complex_share; /* tiers, summing to 1 */
} route_usage_profile;

/* The profile named name, or NULL. */
const route_usage_profile *route_usage_profile_find(const char *name);

typedef struct route_projection {
    route_usage_profile profile;
    char ref_provider[32], ref_model[96]; /* default external model, "" none */
    bool cost_known;              /* a price for it is known */
    double external_share;        /* requests that reach an external model */
    double hybrid_share;          /* of those, hybrid ones (the draft is sent too) */
    bool share_from_ledger;       /* measured over the last 30 days, else from the strategy */
    uint64_t ledger_requests;     /* records the share was measured on */
    double monthly_requests;      /* 30 days */
    double all_external_usd;      /* every request on the default external model */
    double routed_usd;            /* with this configuration's routing */
    double savings_usd;
} route_projection;

/* Project a month of profile's usage under cfg: the external share is
 * measured from the ledger over the 30 days before now when it holds at
 * least 20 answered requests, else taken from the strategy and the
 * profile's tier mix. */
int route_costs_project(const route_config *cfg, const char *ledger, int64_t now, const route_usage_profile *profile,
                        route_projection *out, char *err, size_t errlen);

typedef struct route_optimize_plan {
    route_strategy strategy;
    int64_t since, until;
    double days;                  /* span of the records, at least 1 */
    uint64_t external_requests;   /* answered externally (not cached) with a known cost */
    double external_usd;
    long simple_max_tokens, rec_simple_max_tokens;
    double max_cost_per_request, rec_max_cost_per_request; /* 0 = none */
    double max_daily_cost, rec_max_daily_cost;
    uint64_t moved_requests;      /* external requests the new thresholds send local */
    double moved_usd;             /* what they cost: the expected saving over the period */
    double monthly_saving_usd;    /* moved_usd over 30 days */
    char why[6][200];
    size_t n_why;
} route_optimize_plan;

/* Recommend thresholds for strategy (hybrid or cost) from the external
 * requests in the ledger over [since, until]: simple_max_tokens up to the
 * median (hybrid) or third quartile (cost) of their prompt sizes, capped
 * by the local model's context; max_cost_per_request at their 95th
 * percentile cost (hybrid) or median (cost); max_daily_cost 20 % above the
 * costliest day. The saving counts the requests the new thresholds would
 * send local, an upper bound: the classifier may still send some out. */
int route_costs_optimize(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                         route_strategy strategy, route_optimize_plan *out, char *err, size_t errlen);

/* One recommendation of `ai performance optimize`, with the numbers
 * behind it. */
typedef enum route_advice_status {
    ROUTE_ADVICE_OK,     /* measured, and nothing to change */
    ROUTE_ADVICE_CHANGE, /* measured, and something to change */
    ROUTE_ADVICE_THIN,   /* too few records to say; why says what is missing */
} route_advice_status;

typedef struct route_advice {
    char topic[24];     /* latency_threshold, simple_max_tokens, medium_max_tokens, slow_model, cache,
                         * fallback_order, model_load, memory */
    char subject[96];   /* the side, model or provider it is about; "" for the configuration */
    route_advice_status status;
    char setting[64];   /* the configuration key to change; "" when none */
    char current[32], recommended[32]; /* its values as text; "" when none */
    uint64_t samples;   /* the ledger records it rests on */
    char why[480];
} route_advice;

enum { ROUTE_MAX_ADVICE = 32 };

typedef struct route_perf_plan {
    int64_t since, until;
    uint64_t answered;          /* answered calls in the period, cached ones excluded */
    uint64_t embedded_timed, external_timed;
    long target_ms;             /* the latency target the advice measures against */
    const char *target_key;     /* the setting it comes from */
    bool enough_data;           /* some advice rests on enough records */
    route_advice advice[ROUTE_MAX_ADVICE];
    size_t n_advice;
} route_perf_plan;

/* Performance advice from the ledger over [since, until], measured
 * against the latency target (performance_routing's response_time_ms when
 * it is on, else max_response_time_ms): response_time_ms from each side's
 * 95th-percentile latency; simple_max_tokens and medium_max_tokens from a
 * least-squares fit of local answer time on prompt size; models whose
 * median is past the target; a low cache hit rate; a provider that fails
 * often; long model loads and memory past memory_limit_mb. Each check
 * needs a minimum of records and says so when it lacks them
 * (router/README.md, "Performance tuning"). */
int route_perf_optimize(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                        route_perf_plan *out, char *err, size_t errlen);

/* -------------------------------------------------------------- execution */

/* One call to a backend. The prompt already holds any attached context. */
typedef struct route_call {
    route_target target;               /* ROUTE_TO_EMBEDDED or ROUTE_TO_EXTERNAL */
    const route_model *model_cfg;      /* embedded: the model's settings */
    const route_provider *provider_cfg; /* external: key, base URL, timeouts */
    const char *model;
    const char *prompt;
    long max_output_tokens;
} route_call;

typedef struct route_reply {
    char *text;              /* malloc'd by the backend; the router frees it */
    uint64_t in_tokens, out_tokens;
    double confidence;       /* [0,1], or -1 when the backend cannot tell (then
                              * exp(mean_logprob) when has_logprob) */
    bool has_logprob;        /* mean_logprob was measured */
    double mean_logprob;     /* mean log-probability of the answer's tokens, nats/token */
    bool truncated;          /* stopped at the token or context limit, not at its end */
    bool caller_timeout;     /* failed on the caller's own deadline: not the backend's fault */
    bool transient;          /* failed on a rate limit, an overload or a timeout: worth retrying */
    long retry_after_ms;     /* the provider's Retry-After; 0 = none */
    /* Embedded backends may measure (0 = not measured): */
    double load_ms;          /* the model was loaded for this call, taking this long */
    uint64_t peak_rss;       /* bytes: the process's peak resident set after the call */
    uint64_t model_bytes;    /* bytes of the model file mapped */
    uint64_t kv_bytes;       /* bytes of the KV cache */
} route_reply;

/* Returns 0 with reply filled, or non-zero with a message in err. */
typedef int (*route_backend_fn)(void *user, const route_call *call, route_reply *reply, char *err, size_t errlen);

typedef struct route_backends {
    route_backend_fn embedded; /* NULL: no local model available */
    route_backend_fn external; /* NULL: no network providers available */
    void *user;
} route_backends;

/* Exact-match answer cache (never "similar" prompts), caller-owned. */
typedef struct route_cache route_cache;
route_cache *route_cache_new(size_t max_entries);
void route_cache_free(route_cache *c);

/* The answer cache shared by every process on this machine:
 * DIR/.rhema/ai/cache/ beside the configuration (./.rhema/ai/cache/ for
 * built-in defaults), one file per key hash (mode 0600, folder 0700). */
int route_cache_dir(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen);

/* The answer stored for key in dir if it was written less than ttl_ms
 * before now_ms (wall clock, ms since 1970), as a malloc'd string in
 * *text; *text is NULL on a miss. A missing, expired, damaged or
 * colliding file is a miss, never an error. */
int route_cache_load(const char *dir, const char *key, int64_t now_ms, int64_t ttl_ms, char **text, char *err,
                     size_t errlen);

/* Store text for key: a temporary file, fsync, then rename over the old
 * one, so readers and a crash see the old answer or the new one, never a
 * part. Several processes may store the same key; the last one wins. */
int route_cache_store(const char *dir, const char *key, const char *text, int64_t now_ms, char *err,
                      size_t errlen);

/* Local limits on external providers, shared by every process on the
 * machine through DIR/.rhema/ai/limits/ beside the configuration. */
int route_limits_dir(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen);

/* Take one request from provider's rate_limit_per_minute (a token bucket
 * in dir/rate, under flock; per_minute <= 0: no limit). *wait_ms is 0 when
 * taken, else how long until one is free (nothing was taken). */
int route_rate_take(const char *dir, const char *provider, long per_minute, int64_t now_ms, int64_t *wait_ms,
                    char *err, size_t errlen);

/* How long until route_rate_take would succeed (0: now), taking nothing. */
int route_rate_peek(const char *dir, const char *provider, long per_minute, int64_t now_ms, int64_t *wait_ms,
                    char *err, size_t errlen);

/* Add to d's reasons when its external provider is at a local limit now
 * (and whether the request will wait or go to the fallback). */
int route_limits_explain(const route_config *cfg, const char *dir, int64_t now_ms, long max_wait_ms, route_decision *d,
                         char *err, size_t errlen);

/* Hold one of provider's max concurrent slots (a flock on one of the files
 * dir/PROVIDER.N.slot, released by the kernel if the process dies): *fd is
 * the held slot, or -1 when all are busy. */
int route_slot_take(const char *dir, const char *provider, long max, int *fd, char *err, size_t errlen);
void route_slot_release(int fd);

/* Sweep dir: delete entries written max_age_ms or more before now_ms (or
 * unreadable), and temporary files a crashed writer left more than 10
 * minutes ago. At most once an hour (a stamp file in dir records the last
 * sweep) unless force; *removed (may be NULL) counts the files deleted. */
int route_cache_prune(const char *dir, int64_t now_ms, int64_t max_age_ms, bool force, size_t *removed, char *err,
                      size_t errlen);

typedef struct route_side_metrics {
    uint64_t requests, successes, failures, cache_hits, cache_misses;
    uint64_t in_tokens, out_tokens;
    double total_ms;
} route_side_metrics;

enum { ROUTE_BENCH_FAILURES = 3, ROUTE_BENCH_MS = 5000, ROUTE_MAX_HEALTH = 16 };

/* Consecutive failures of one provider; after ROUTE_BENCH_FAILURES it is
 * tried last for ROUTE_BENCH_MS (benched, never dropped). */
typedef struct route_health {
    char provider[32];
    unsigned failures;
    int64_t benched_until_ms;
} route_health;

/* State that outlives one request, owned by the caller. Zero it to start. */
typedef struct route_runtime {
    route_side_metrics embedded, external;
    route_health health[ROUTE_MAX_HEALTH];
    size_t n_health;
    route_cache *cache;       /* NULL: no caching in memory */
    const char *cache_dir;    /* NULL: no cache shared on disk (route_cache_dir) */
    const char *cache_salt;   /* mixed into every cache key: what else picks the answer
                               * (e.g. the model file a default model resolves to); may be NULL */
    const char *ledger_path;  /* NULL: usage not recorded */
    const char *limits_dir;   /* NULL: no local rate or concurrency limits (route_limits_dir) */
    long max_wait_ms;         /* longest single wait for a limit or a retry; 0: ROUTE_MAX_WAIT_MS */
    route_reservation *reservation; /* NULL: max_daily_cost not held across processes; else external
                               * calls hold their cost (route_budget_hold) and settle it in the ledger */
    int64_t (*now_ms)(void *user); /* NULL: the monotonic clock */
    void (*sleep_ms)(void *user, int64_t ms); /* NULL: nanosleep */
    void *clock_user;
} route_runtime;

/* Retries of one external candidate after a transient failure: waits of
 * ROUTE_BACKOFF_MS doubling each time, with jitter, or the provider's
 * Retry-After; a wait longer than max_wait_ms moves on to the fallback. */
enum { ROUTE_MAX_RETRIES = 2, ROUTE_BACKOFF_MS = 500, ROUTE_MAX_WAIT_MS = 5000 };

enum { ROUTE_MAX_ATTEMPTS = 8 };

/* What the router measured of a local answer (a hybrid draft or an
 * embedded route's answer) to decide whether it needs a better one. */
typedef struct route_judgement {
    double confidence;   /* [0,1]: exp(mean_logprob) or the backend's own; -1 unknown */
    bool has_logprob;
    double mean_logprob; /* nats per output token, when has_logprob */
    double threshold;    /* the model's confidence_threshold, else fallback_threshold */
    bool truncated;      /* cut at the token or context limit */
    bool refused;        /* opens like a refusal ("I'm sorry", "As an AI", ...) */
    bool empty;          /* nothing but white space */
    bool weak;           /* truncated, refused, empty or confidence < threshold */
    char refusal[24];    /* the opening that matched */
} route_judgement;

/* Judge text with what its backend reported; local answers are judged on
 * every signal, external ones on their reported confidence only. */
void route_judge(const char *text, const route_reply *reply, double threshold, bool local, route_judgement *out);

/* The signals of j in one line: "confidence 0.12 (mean log-probability
 * -2.118 nats/token) below the threshold 0.70; cut at the length limit". */
void route_judgement_describe(const route_judgement *j, char *buf, size_t n);

/* The confidence threshold that applies to model m. */
double route_model_threshold(const route_config *cfg, const route_model *m);

typedef struct route_attempt {
    route_target target;   /* EMBEDDED or EXTERNAL */
    char provider[32];
    char model[96];
    int status;            /* 0 ok */
    char error[160];
    bool cached;
    bool low_confidence;   /* answered, but judged to need a better answer */
    route_judgement judged; /* answered calls (confidence -1 when unknown, e.g. cached) */
    uint64_t in_tokens, out_tokens;
    double cost, ms;
    bool cost_known;
    double load_ms;        /* embedded: what the backend measured (route_reply) */
    uint64_t peak_rss, model_bytes, kv_bytes;
} route_attempt;

/* Hybrid's local draft and why it was enhanced or kept. */
typedef struct route_draft {
    bool ran;               /* a draft answered (else the other fields are empty) */
    char *text;             /* the draft itself, malloc'd, even when an enhancement replaced it */
    uint64_t tokens;        /* its output tokens */
    bool cached;            /* from the answer cache: judged when it was stored */
    route_judgement judged;
    bool needs_enhancement; /* weak, or confidence unknown (never for a cached draft) */
    char why[400];          /* why the enhancement ran or not, and how it went */
} route_draft;

typedef struct route_result {
    char *text;            /* the answer, malloc'd */
    route_target served_by;
    char provider[32];
    char model[96];
    bool cached, fell_back, enhanced; /* enhanced: hybrid's external step answered */
    route_draft draft;     /* hybrid only */
    route_attempt attempts[ROUTE_MAX_ATTEMPTS];
    size_t n_attempts;
    double total_cost;
    bool cost_known;
} route_result;

/* Run a decision: hybrid = local draft then external enhancement (skipped
 * when the draft is judged good: route_judge); a failure or a weak local answer
 * moves on to the fallback and then other candidates, up to
 * 1 + max_fallback_attempts calls; private requests never reach the
 * external backend. Records usage in rt->ledger_path. */
int route_execute(const route_config *cfg, const route_request *req, const route_decision *d, const route_backends *b,
                  route_runtime *rt, route_result *out, char *err, size_t errlen);
void route_result_free(route_result *r);

/* =================================================================
 * Model store and catalogue (catalog.c, store.c, store_install.c,
 * store_net.c): which local GGUF models exist, which are installed in
 * $RHEMA_HOME/models, and installing, updating, removing and checking
 * them. Codes below extend route_status; route_store_status_str names all.
 * ================================================================= */

enum {
    ROUTE_ERR_NOTFOUND = -20, /* no such model in the catalogue or the store */
    ROUTE_ERR_CHECKSUM = -21, /* sha256 differs from the expected one */
    ROUTE_ERR_NOSPACE = -22,  /* not enough free disk space */
    ROUTE_ERR_NET = -23,      /* the download failed (a .part file is kept to resume) */
    ROUTE_ERR_MODEL = -24,    /* not a valid GGUF, or it does not load or run */
    ROUTE_ERR_BUSY = -25,     /* another process is installing or removing it */
};

const char *route_store_status_str(int status);

/* One model the catalogue knows. Strings are never NULL ("" when unknown). */
typedef struct route_catalog_entry {
    const char *name;         /* "qwen2.5-0.5b-instruct" */
    const char *description;
    const char *architecture; /* GGUF general.architecture: "qwen2" */
    const char *quantization; /* "Q4_K_M" */
    const char *use_case;     /* "embedded", "code", "chat" */
    const char *license;
    const char *version;      /* catalogue revision; a new one means `update` */
    const char *url;          /* https download URL */
    const char *sha256;       /* 64 lowercase hex digits, or "" */
    uint64_t size;            /* approximate download size in bytes, 0 unknown */
    uint32_t context_length;
    bool user;                /* from registry.yaml */
} route_catalog_entry;

typedef struct route_catalog route_catalog;

/* The built-in models plus the entries of registry (YAML; NULL or a
 * missing file: built-in only). A registry entry with a built-in's name
 * replaces it. Messages read "FILE:LINE:COL: what is wrong". */
int route_catalog_load(const char *registry, route_catalog **out, char *err, size_t errlen);
void route_catalog_free(route_catalog *c);
size_t route_catalog_count(const route_catalog *c);
const route_catalog_entry *route_catalog_get(const route_catalog *c, size_t i);
/* NULL when unknown; *suggest (may be NULL) gets the nearest name or NULL. */
const route_catalog_entry *route_catalog_find(const route_catalog *c, const char *name,
                                              const char **suggest);
/* Name of the default embedded model (registry `default:` or built-in). */
const char *route_catalog_default(const route_catalog *c);

/* What the manifest records for one installed model. */
typedef struct route_installed {
    char name[64];
    char version[64];
    char file[160];      /* file name inside the models folder */
    char sha256[65];
    uint64_t size;
    int64_t installed_at; /* unix seconds */
    char source[512];    /* URL or local path it came from */
    char verified[16];   /* whose digest it matched: given, catalogue, server, none */
    bool present;        /* the file exists with the recorded size (list/get) */
} route_installed;

typedef struct route_store route_store;

/* $RHEMA_HOME, else ~/.rhema. */
int route_store_home(char *out, size_t outlen, char *err, size_t errlen);
/* Open (creating home/models) and load home/registry.yaml. home NULL:
 * route_store_home. */
int route_store_open(const char *home, route_store **out, char *err, size_t errlen);
void route_store_close(route_store *s);
const char *route_store_models_dir(const route_store *s);
const route_catalog *route_store_catalog(const route_store *s);

/* Installed models, sorted by name; *out is malloc'd (free()). */
int route_store_list(route_store *s, route_installed **out, size_t *n, char *err, size_t errlen);
/* One installed model; ROUTE_ERR_NOTFOUND when not installed. */
int route_store_get(route_store *s, const char *name, route_installed *out, char *err,
                    size_t errlen);
/* Full path of an installed model's file. */
int route_store_path(const route_store *s, const route_installed *m, char *out, size_t outlen,
                     char *err, size_t errlen);
/* Forget the model and delete its file and any partial download. */
int route_store_remove(route_store *s, const char *name, char *err, size_t errlen);
/* Hash the installed file and compare with the manifest (ROUTE_ERR_CHECKSUM). */
int route_store_verify(route_store *s, const char *name, char *err, size_t errlen);
/* sha256 of a file as 64 lowercase hex digits. */
int route_store_sha256_file(const char *path, char hex[65], char *err, size_t errlen);

typedef struct route_model_check_info {
    char arch[32];
    uint32_t n_vocab, n_layer;
    double load_ms, forward_ms;
} route_model_check_info;

/* Load path with the engine and run one forward pass over one token; the
 * logits must be finite. info may be NULL. ROUTE_ERR_MODEL on failure. */
int route_model_check(const char *path, route_model_check_info *info, char *err, size_t errlen);

/* ---- Downloads go through a fetcher, so the store logic is testable. */

/* What the server answered, before the body. */
typedef struct route_fetch_head {
    int status;          /* final HTTP status after redirects */
    int64_t total;       /* size of the whole file, -1 unknown */
    bool partial;        /* 206: the body starts at the offset asked for */
    char sha256[65];     /* digest the server publishes (ETag), "" none */
} route_fetch_head;

typedef struct route_fetch_sink {
    /* Return 0 to go on, or a route status to stop the transfer with it. */
    int (*head)(void *ctx, const route_fetch_head *h, char *err, size_t errlen);
    int (*data)(void *ctx, const void *p, size_t n, char *err, size_t errlen);
    void *ctx;
} route_fetch_sink;

typedef struct route_fetcher {
    /* GET url from byte offset (0: all), calling sink->head once, then
     * sink->data per piece. Returns 0 when the body ended as announced,
     * the sink's status when it stopped, ROUTE_ERR_NET when the transfer
     * failed (message says why). */
    int (*fetch)(void *self, const char *url, uint64_t offset, const route_fetch_sink *sink,
                 char *err, size_t errlen);
    void *self;
} route_fetcher;

/* The real fetcher over net's HTTPS client; ca_file NULL: the system
 * bundle. Free with route_store_net_fetcher_free. */
int route_store_net_fetcher_new(const char *ca_file, route_fetcher *out, char *err, size_t errlen);
void route_store_net_fetcher_free(route_fetcher *f);

typedef void (*route_progress_fn)(void *user, uint64_t done, uint64_t total);
/* A check run on the new file before it is switched to: 0 accepts it. */
typedef int (*route_check_fn)(void *user, const char *path, char *err, size_t errlen);

typedef struct route_install_opts {
    const char *url;      /* instead of the catalogue's URL */
    const char *file;     /* install this local GGUF instead of downloading */
    const char *sha256;   /* expected digest, instead of the catalogue's */
    const route_fetcher *fetcher; /* needed for downloads */
    route_progress_fn progress;
    void *progress_user;
    route_check_fn check; /* NULL: none for install, route_model_check for update */
    void *check_user;
    int retries;          /* resumed attempts after a failed transfer; 0: 3, -1: none */
    bool force;           /* install again even when that version is there */
} route_install_opts;

/* Download (or copy opts->file) into NAME@VERSION.gguf.part, resuming a
 * .part left by an interrupted run; check free space first; verify the
 * sha256 (given, catalogue or server digest) and the GGUF structure; only
 * then rename it into place and record it in the manifest. A name outside
 * the catalogue needs opts->url or opts->file. An installed model (any
 * version) is left as it is and *out describes it, unless opts->force. */
int route_store_install(route_store *s, const char *name, const route_install_opts *o,
                        route_installed *out, char *err, size_t errlen);
/* Install the catalogue's newer version beside the installed one, check
 * that it loads and runs, switch the manifest to it, then delete the old
 * file. On any failure the old version stays in use. *changed (may be
 * NULL) says whether a new version was installed. */
int route_store_update(route_store *s, const char *name, const route_install_opts *o,
                       route_installed *out, bool *changed, char *err, size_t errlen);

#endif
