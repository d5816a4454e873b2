/* Running a routing decision through caller-supplied backends: the exact
 * cache, hybrid drafting and enhancement, the fallback chain with benched
 * (failing) providers tried last, local rate and concurrency limits,
 * retries with backoff, metrics and the usage ledger. */
#include "router/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cand {
    route_target target; /* EMBEDDED or EXTERNAL */
    const route_provider *prov;
    const route_model *mcfg;
    const char *model;
} cand;

typedef struct run {
    const route_config *cfg;
    const route_decision *d;
    const route_backends *b;
    route_runtime *rt;
    route_result *out;
    long max_output;
    uint64_t rng; /* backoff jitter */
    char last_err[320];
    bool can_escalate; /* a weak local answer would go to an external model */
} run;

static int64_t now_ms(const route_runtime *rt)
{
    if (rt->now_ms) return rt->now_ms(rt->clock_user);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static route_health *health_of(route_runtime *rt, const char *provider)
{
    for (size_t i = 0; i < rt->n_health; i++)
        if (!strcmp(rt->health[i].provider, provider)) return &rt->health[i];
    if (rt->n_health == ROUTE_MAX_HEALTH) return NULL;
    route_health *h = &rt->health[rt->n_health++];
    *h = (route_health){0};
    route_copy(h->provider, sizeof h->provider, provider);
    return h;
}

static bool is_benched(route_runtime *rt, const cand *c, int64_t now)
{
    if (c->target != ROUTE_TO_EXTERNAL) return false;
    route_health *h = health_of(rt, c->prov->name);
    return h && h->benched_until_ms > now;
}

static const route_provider *provider_named(const route_config *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->n_providers; i++)
        if (!strcmp(cfg->providers[i].name, name)) return &cfg->providers[i];
    return NULL;
}

static void add_cand(const route_config *cfg, cand *list, size_t *n, size_t max, route_target t, const char *provider,
                     const char *model)
{
    cand c = {.target = t, .model = model};
    if (t == ROUTE_TO_EMBEDDED) {
        if (!(c.mcfg = route_model_named(cfg, model))) return;
    } else if (!(c.prov = provider_named(cfg, provider)) || !model || !*model) {
        return;
    }
    for (size_t i = 0; i < *n; i++)
        if (list[i].target == t && list[i].prov == c.prov && !strcmp(list[i].model, model)) return;
    if (*n < max) list[(*n)++] = c;
}

/* Primary first, then the decision's fallback, then (when the request may
 * leave) the other providers by priority, then the local model; benched
 * providers go last instead of being dropped. */
static size_t plan(run *r, bool may_leave, cand *list, size_t max)
{
    const route_config *cfg = r->cfg;
    const route_decision *d = r->d;
    size_t n = 0;
    route_target first = d->target == ROUTE_TO_HYBRID ? ROUTE_TO_EXTERNAL : d->target;
    add_cand(cfg, list, &n, max, first, d->provider, d->model);
    if (cfg->enable_fallback) {
        if (d->has_fallback) {
            route_target fb = d->fb_target == ROUTE_TO_HYBRID ? ROUTE_TO_EXTERNAL : d->fb_target;
            add_cand(cfg, list, &n, max, fb, d->fb_provider, d->fb_model);
        }
        for (long prio = 0; may_leave && prio <= 1000 && n < max; prio++)
            for (size_t i = 0; i < cfg->n_providers; i++)
                if (cfg->providers[i].priority == prio)
                    add_cand(cfg, list, &n, max, ROUTE_TO_EXTERNAL, cfg->providers[i].name, cfg->providers[i].models[0]);
        add_cand(cfg, list, &n, max, ROUTE_TO_EMBEDDED, NULL, d->embedded_model[0] ? d->embedded_model : route_default_model(cfg, &d->cls)->name);
    }
    size_t limit = cfg->enable_fallback ? 1 + (size_t)cfg->max_fallback_attempts : 1;
    if (n > limit) n = limit;
    int64_t now = now_ms(r->rt);
    cand sorted[ROUTE_MAX_ATTEMPTS];
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (is_benched(r->rt, &list[i], now) == (pass == 1)) sorted[k++] = list[i];
    memcpy(list, sorted, n * sizeof *list);
    return n;
}

/* Everything that picks the answer: route, provider and where it lives,
 * model and its file, the answer length, the caller's salt, the prompt.
 * A local answer to a request that cannot escalate is marked (F): it may
 * be stored though weak, so it must not serve a request that could. */
static char *cache_key(const run *r, const cand *c, const char *prompt)
{
    const char *prov = c->prov ? c->prov->name : "", *where = c->prov ? c->prov->base_url : c->mcfg->model_path;
    const char *salt = r->rt->cache_salt ? r->rt->cache_salt : "";
    const char *final = c->target == ROUTE_TO_EMBEDDED && !r->can_escalate ? "F" : "";
    size_t len = strlen(prov) + strlen(where) + strlen(c->model) + strlen(salt) + strlen(prompt) + 48;
    char *key = malloc(len);
    if (key)
        snprintf(key, len, "K1\x1f%d%s\x1f%s\x1f%s\x1f%s\x1f%ld\x1f%s\x1f%s", (int)c->target, final, prov, where,
                 c->model, r->max_output, salt, prompt);
    return key;
}

static int64_t cache_ttl_ms(const cand *c)
{
    if (c->target == ROUTE_TO_EMBEDDED) return c->mcfg->enable_caching ? (int64_t)c->mcfg->cache_ttl_seconds * 1000 : 0;
    return c->prov->enable_caching ? (int64_t)c->prov->cache_ttl_seconds * 1000 : 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cached answer (malloc'd) from memory, else from the shared folder. */
static char *cache_lookup(const run *r, const char *key, int64_t ttl, int64_t now)
{
    const char *hit = route_cache_get(r->rt->cache, key, now);
    if (hit) return strdup(hit);
    char *text = NULL;
    if (r->rt->cache_dir) route_cache_load(r->rt->cache_dir, key, wall_ms(), ttl, &text, NULL, 0);
    return text;
}

/* Metrics, and one ledger line per call: answered, failed, or served from
 * the cache (no cost, tokens estimated) so savings and failures show. */
static void record(run *r, const route_attempt *a)
{
    route_side_metrics *m = a->target == ROUTE_TO_EMBEDDED ? &r->rt->embedded : &r->rt->external;
    m->requests++;
    if (a->cached) {
        m->cache_hits++;
        m->successes++;
    } else {
        if (r->rt->cache || r->rt->cache_dir) m->cache_misses++;
        m->total_ms += a->ms;
        if (a->status) {
            m->failures++;
        } else {
            m->successes++;
            m->in_tokens += a->in_tokens;
            m->out_tokens += a->out_tokens;
        }
    }
    if (!r->rt->ledger_path) return;
    route_usage u = {.time = (int64_t)time(NULL), .target = a->target, .in_tokens = a->in_tokens,
                     .out_tokens = a->out_tokens, .cost = a->cost, .cost_known = a->cost_known, .ms = a->ms,
                     .cached = a->cached, .failed = a->status != 0, .load_ms = a->load_ms, .peak_rss = a->peak_rss,
                     .model_bytes = a->model_bytes, .kv_bytes = a->kv_bytes};
    route_copy(u.provider, sizeof u.provider, a->provider);
    route_copy(u.model, sizeof u.model, a->model);
    /* The answer is already here: a ledger problem must not lose it. An
     * external answer's record replaces what its reservation held. */
    route_reservation *held = r->rt->reservation;
    if (held && held->held && a->target == ROUTE_TO_EXTERNAL && !a->status)
        route_budget_settle(r->rt->ledger_path, held, &u, NULL, 0);
    else
        route_ledger_append(r->rt->ledger_path, &u, NULL, 0);
}

/* Bench a provider after repeated failures; a success clears the count.
 * Timeouts the caller chose are not the provider's fault. */
static void update_health(run *r, const cand *c, int status, bool caller_timeout)
{
    if (c->target != ROUTE_TO_EXTERNAL || (status && caller_timeout)) return;
    route_health *h = health_of(r->rt, c->prov->name);
    if (!h) return;
    if (!status) {
        h->failures = 0;
        return;
    }
    if (++h->failures >= ROUTE_BENCH_FAILURES) {
        h->benched_until_ms = now_ms(r->rt) + ROUTE_BENCH_MS;
        h->failures = 0;
    }
}

static route_attempt *new_attempt(run *r, const cand *c)
{
    route_attempt *a = &r->out->attempts[r->out->n_attempts++];
    *a = (route_attempt){.target = c->target, .cost_known = true, .judged.confidence = -1};
    route_copy(a->provider, sizeof a->provider, c->prov ? c->prov->name : "");
    route_copy(a->model, sizeof a->model, c->model);
    return a;
}

static int64_t max_wait(const run *r) { return r->rt->max_wait_ms > 0 ? r->rt->max_wait_ms : ROUTE_MAX_WAIT_MS; }

static void pause_ms(run *r, int64_t ms)
{
    if (ms <= 0) return;
    if (r->rt->sleep_ms) {
        r->rt->sleep_ms(r->rt->clock_user, ms);
        return;
    }
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Wait (at most max_wait) for a free concurrency slot and a request from
 * the provider's per-minute budget, both shared with other processes.
 * Returns 0 with *slot held (or -1 when unlimited), else why in msg. */
static int gate(run *r, const cand *c, int *slot, char *msg, size_t n)
{
    const route_provider *p = c->prov;
    const char *dir = r->rt->limits_dir;
    *slot = -1;
    if (!dir || c->target != ROUTE_TO_EXTERNAL || !p->enable_rate_limiting) return ROUTE_OK;
    int64_t bound = max_wait(r), waited = 0, wait;
    for (;;) {
        if (route_slot_take(dir, p->name, p->max_concurrent_requests, slot, msg, n)) return ROUTE_ERR_BACKEND;
        if (*slot >= 0) break;
        if (waited >= bound) {
            snprintf(msg, n, "local limit: all %ld concurrent requests to %s (max_concurrent_requests) stayed busy "
                     "for %.1f s; moving on", p->max_concurrent_requests, p->name, (double)waited / 1000);
            return ROUTE_ERR_BACKEND;
        }
        pause_ms(r, 50);
        waited += 50;
    }
    for (;;) {
        int rc = route_rate_take(dir, p->name, p->rate_limit_per_minute, wall_ms(), &wait, msg, n);
        if (!rc && !wait) return ROUTE_OK;
        if (!rc && waited + wait > bound)
            snprintf(msg, n, "local limit: at most %ld requests a minute to %s (rate_limit_per_minute); the next "
                     "is free in %.1f s, longer than the %.1f s wait allowed; moving on", p->rate_limit_per_minute,
                     p->name, (double)wait / 1000, (double)bound / 1000);
        if (rc || waited + wait > bound) {
            route_slot_release(*slot);
            *slot = -1;
            return ROUTE_ERR_BACKEND;
        }
        pause_ms(r, wait);
        waited += wait;
    }
}

/* An external call first holds its cost against max_daily_cost, shared
 * with other processes: it renews the reservation the decision took, or
 * takes one for a fallback the decision did not plan. */
static int hold_budget(run *r, const cand *c, const char *prompt, char *msg, size_t n)
{
    route_reservation *res = r->rt->reservation;
    if (!res || !r->rt->ledger_path || c->target != ROUTE_TO_EXTERNAL || r->cfg->max_daily_cost <= 0) return ROUTE_OK;
    double pin, pout, usd = 0;
    if (!res->held) {
        if (!route_price_lookup(r->cfg, c->prov->name, c->model, &pin, &pout)) {
            snprintf(msg, n, "budget: no price known for %s/%s, so max_daily_cost cannot be checked", c->prov->name, c->model);
            return ROUTE_ERR_BUDGET;
        }
        usd = route_cost(pin, pout, route_estimate_tokens(prompt, strlen(prompt)),
                         r->max_output > 0 ? (uint64_t)r->max_output : ROUTE_EST_OUTPUT_TOKENS);
    }
    return route_budget_hold(r->cfg, r->rt->ledger_path, wall_ms(), res, usd, msg, n);
}

/* Exponential backoff with jitter (half to all of the doubled delay), so
 * processes that failed together do not retry together. */
static int64_t backoff_ms(run *r, int retry)
{
    int64_t d = (int64_t)ROUTE_BACKOFF_MS << retry;
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return d / 2 + (int64_t)(r->rng % (uint64_t)(d / 2 + 1));
}

/* One backend call into a and reply. Returns how long to wait before
 * retrying, or -1 for no retry. */
static int64_t call_once(run *r, const cand *c, route_backend_fn fn, const char *prompt, int retry, route_attempt *a,
                         route_reply *reply)
{
    route_call call = {c->target, c->mcfg, c->prov, c->model, prompt, r->max_output};
    char err[160] = "";
    int slot;
    int64_t start = now_ms(r->rt), delay = -1;
    *reply = (route_reply){.confidence = -1};
    if (hold_budget(r, c, prompt, err, sizeof err) || gate(r, c, &slot, err, sizeof err)) {
        a->status = ROUTE_ERR_BACKEND; /* a budget or a local limit: not the provider's fault */
    } else {
        a->status = fn(r->b->user, &call, reply, err, sizeof err) ? ROUTE_ERR_BACKEND : ROUTE_OK;
        route_slot_release(slot);
        if (!a->status && !reply->text) {
            a->status = ROUTE_ERR_BACKEND;
            route_copy(err, sizeof err, "the backend returned no text");
        }
        update_health(r, c, a->status, reply->caller_timeout);
    }
    a->ms = (double)(now_ms(r->rt) - start);
    if (!a->status) return -1;
    char note[96] = "";
    if (reply->transient && c->target == ROUTE_TO_EXTERNAL && retry < ROUTE_MAX_RETRIES) {
        delay = reply->retry_after_ms > 0 ? reply->retry_after_ms : backoff_ms(r, retry);
        if (delay > max_wait(r)) {
            snprintf(note, sizeof note, "; waiting %.1f s is more than allowed, moving on", (double)delay / 1000);
            delay = -1;
        } else {
            snprintf(note, sizeof note, "; retrying in %.1f s", (double)delay / 1000);
        }
    }
    snprintf(a->error, sizeof a->error, "%s%s", err[0] ? err : "failed", note);
    snprintf(r->last_err, sizeof r->last_err, "%s %s: %s", route_target_name(c->target), c->model, a->error);
    return delay;
}

/* One candidate, answered from the cache or by its backend (retried after
 * transient failures); on success *text is a malloc'd answer and *ap its
 * attempt, judged. A hybrid draft (draft) of unknown confidence is weak too. */
static int attempt(run *r, const cand *c, const char *prompt, bool draft, char **text, route_attempt **ap)
{
    route_result *out = r->out;
    *text = NULL;
    if (out->n_attempts == ROUTE_MAX_ATTEMPTS) return ROUTE_ERR_BACKEND;
    route_attempt *a = *ap = new_attempt(r, c);
    route_backend_fn fn = c->target == ROUTE_TO_EMBEDDED ? r->b->embedded : r->b->external;
    if (!fn) {
        a->status = ROUTE_ERR_BACKEND;
        snprintf(a->error, sizeof a->error, "no %s backend available", route_target_name(c->target));
        route_copy(r->last_err, sizeof r->last_err, a->error);
        return a->status;
    }
    int64_t ttl = cache_ttl_ms(c);
    char *key = ttl > 0 && (r->rt->cache || r->rt->cache_dir) ? cache_key(r, c, prompt) : NULL;
    char *hit = key ? cache_lookup(r, key, ttl, now_ms(r->rt)) : NULL;
    if (hit) {
        a->cached = true;
        a->judged.threshold = c->mcfg ? route_model_threshold(r->cfg, c->mcfg) : r->cfg->fallback_threshold;
        a->in_tokens = route_estimate_tokens(prompt, strlen(prompt));
        a->out_tokens = route_estimate_tokens(hit, strlen(hit));
        *text = hit;
        free(key);
        record(r, a);
        return ROUTE_OK;
    }
    route_reply reply;
    for (int retry = 0;; retry++) {
        int64_t delay = call_once(r, c, fn, prompt, retry, a, &reply);
        if (!a->status) break;
        free(reply.text);
        record(r, a);
        if (delay < 0 || out->n_attempts == ROUTE_MAX_ATTEMPTS) {
            free(key);
            return a->status;
        }
        pause_ms(r, delay);
        a = *ap = new_attempt(r, c);
    }
    a->in_tokens = reply.in_tokens;
    a->out_tokens = reply.out_tokens;
    a->load_ms = reply.load_ms;
    a->peak_rss = reply.peak_rss;
    a->model_bytes = reply.model_bytes;
    a->kv_bytes = reply.kv_bytes;
    if (c->target == ROUTE_TO_EXTERNAL) {
        double pin, pout;
        a->cost_known = route_price_lookup(r->cfg, c->prov->name, c->model, &pin, &pout);
        if (a->cost_known) a->cost = route_cost(pin, pout, reply.in_tokens, reply.out_tokens);
    }
    bool local = c->target == ROUTE_TO_EMBEDDED;
    route_judge(reply.text, &reply, local ? route_model_threshold(r->cfg, c->mcfg) : r->cfg->fallback_threshold, local,
                &a->judged);
    a->low_confidence = a->judged.weak || (draft && a->judged.confidence < 0);
    /* A cache that cannot be written only costs the next caller a call; a
     * weak answer is not kept, or it would skip the escalation next time,
     * unless the request could not escalate anyway: then it is the answer. */
    bool keep = key && (!a->low_confidence || (local && !r->can_escalate));
    if (keep && r->rt->cache) route_cache_put(r->rt->cache, key, reply.text, now_ms(r->rt), ttl);
    if (keep && r->rt->cache_dir) route_cache_store(r->rt->cache_dir, key, reply.text, wall_ms(), NULL, 0);
    free(key);
    record(r, a);
    *text = reply.text;
    return ROUTE_OK;
}

static void serve(run *r, const cand *c, char *text)
{
    route_result *out = r->out;
    free(out->text);
    out->text = text;
    out->served_by = c->target;
    route_copy(out->provider, sizeof out->provider, c->prov ? c->prov->name : "");
    route_copy(out->model, sizeof out->model, c->model);
    out->cached = out->attempts[out->n_attempts - 1].cached;
}

static char *join_prompt(const char *fmt, const char *a, const char *b)
{
    size_t len = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *p = malloc(len);
    if (p) snprintf(p, len, fmt, a, b);
    return p;
}

/* Why a request that needs a better answer cannot get one from outside. */
static const char *kept_home(const run *r)
{
    if (r->d->is_private) return "the request is private";
    if (r->d->budget_local) return "a budget keeps it local";
    if (r->cfg->strategy == ROUTE_STRAT_LOCAL_ONLY) return "routing_strategy is local_only";
    return "it may not leave this machine";
}

/* Hybrid: a local draft, enhanced externally when it is weak (or its
 * confidence unknown); the draft, its signals and why go to out->draft.
 * Returns true when it produced the answer. */
static bool run_hybrid(run *r, const char *prompt, bool may_leave)
{
    const route_decision *d = r->d;
    route_draft *dr = &r->out->draft;
    cand local = {ROUTE_TO_EMBEDDED, NULL, route_model_named(r->cfg, d->embedded_model), d->embedded_model};
    char *draft, signals[240];
    route_attempt *a;
    if (!local.mcfg || attempt(r, &local, prompt, true, &draft, &a)) return false;
    *dr = (route_draft){.ran = true, .text = strdup(draft), .tokens = a->out_tokens, .cached = a->cached,
                        .judged = a->judged, .needs_enhancement = !a->cached && a->low_confidence};
    serve(r, &local, draft);
    route_judgement_describe(&a->judged, signals, sizeof signals);
    if (a->cached) {
        snprintf(dr->why, sizeof dr->why, "draft kept: from the answer cache, which holds only drafts that needed no "
                 "enhancement");
        return true;
    }
    if (!dr->needs_enhancement) {
        snprintf(dr->why, sizeof dr->why, "draft kept: %s", signals);
        return true;
    }
    cand remote = {ROUTE_TO_EXTERNAL, provider_named(r->cfg, d->provider), NULL, d->model};
    if (!may_leave || !remote.prov) {
        snprintf(dr->why, sizeof dr->why, "draft needs enhancement (%s), but %s: the draft stands", signals,
                 may_leave ? "no external provider is configured" : kept_home(r));
        return true;
    }
    char *ask = join_prompt("Improve this draft answer to the task: keep what is right, fix what is wrong, "
                            "and answer the task fully.\n\nTask:\n%s\n\nDraft answer:\n%s", prompt, dr->text ? dr->text : "");
    char *better;
    if (ask && !attempt(r, &remote, ask, false, &better, &a)) {
        serve(r, &remote, better);
        r->out->enhanced = true;
        snprintf(dr->why, sizeof dr->why, "enhanced by %s/%s: the draft needed it (%s)", remote.prov->name, remote.model,
                 signals);
    } else {
        r->out->fell_back = true; /* the external step failed: the draft stands */
        snprintf(dr->why, sizeof dr->why, "draft needs enhancement (%s), but %s/%s failed: the draft stands", signals,
                 remote.prov->name, remote.model);
    }
    free(ask);
    return true;
}

int route_execute(const route_config *cfg, const route_request *req, const route_decision *d, const route_backends *b,
                  route_runtime *rt, route_result *out, char *err, size_t errlen)
{
    if (!cfg || !req || !req->prompt || !d || !b || !rt || !out)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "route_execute: missing argument");
    memset(out, 0, sizeof *out);
    bool may_leave = !d->is_private && !d->budget_local && cfg->strategy != ROUTE_STRAT_LOCAL_ONLY;
    bool can_escalate = may_leave && b->external && cfg->n_providers && (d->target == ROUTE_TO_HYBRID || cfg->enable_fallback);
    run r = {cfg, d, b, rt, out, req->max_output_tokens, ((uint64_t)wall_ms() ^ (uint64_t)getpid() << 32) * 2654435761u | 1, "",
             can_escalate};
    char *prompt = req->context ? join_prompt("Context:\n%s\n\nTask:\n%s", req->context, req->prompt) : strdup(req->prompt);
    if (!prompt) return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    if (d->target == ROUTE_TO_HYBRID && run_hybrid(&r, prompt, may_leave)) goto done;
    cand list[ROUTE_MAX_ATTEMPTS];
    size_t n = plan(&r, may_leave, list, ROUTE_MAX_ATTEMPTS);
    char *kept = NULL; /* a weak local answer, served if nothing better comes */
    cand kept_c = {0};
    for (size_t i = 0; i < n && !out->text; i++) {
        if (list[i].target == ROUTE_TO_EXTERNAL && !may_leave) continue;
        char *text;
        route_attempt *a;
        if (attempt(&r, &list[i], prompt, false, &text, &a)) continue;
        if (a->low_confidence && i + 1 < n && !kept) {
            kept = text;
            kept_c = list[i];
            continue;
        }
        serve(&r, &list[i], text);
        out->fell_back = i > 0;
    }
    if (!out->text && kept) {
        out->text = kept;
        kept = NULL;
        out->served_by = kept_c.target;
        route_copy(out->provider, sizeof out->provider, kept_c.prov ? kept_c.prov->name : "");
        route_copy(out->model, sizeof out->model, kept_c.model);
        out->fell_back = true;
    }
    free(kept);
done:
    /* Held for a call that never settled it: it failed, or never went out. */
    if (rt->reservation && rt->ledger_path) route_budget_release(rt->ledger_path, rt->reservation, NULL, 0);
    free(prompt);
    out->cost_known = true;
    for (size_t i = 0; i < out->n_attempts; i++) {
        out->total_cost += out->attempts[i].cost;
        out->cost_known &= out->attempts[i].cost_known;
    }
    if (!out->text)
        return route_fail(err, errlen, ROUTE_ERR_BACKEND, "all %zu attempts failed; last: %s", out->n_attempts,
                          r.last_err[0] ? r.last_err : "no backend could take the request");
    return ROUTE_OK;
}

void route_result_free(route_result *r)
{
    if (!r) return;
    free(r->text);
    free(r->draft.text);
    r->text = r->draft.text = NULL;
}
