/* `rhema ai tasks benchmark`: prompt-processing and generation speed of the
 * embedded engine on a model, next to the memory bandwidth this machine
 * measures and the generation speed that bandwidth allows (every weight is
 * read once per generated token). On a shared machine the bandwidth moves
 * over time (here between about 30 and 65 GB/s, within seconds), so a
 * generation run's limit must be measured while it runs: after every token
 * the same threads read the memory the token's products stream through
 * (eng_model_stream), the probe's ways of reading in turn, and the run's
 * bandwidth is those bytes over their seconds for the fastest way. Token
 * and probe times are kept apart, so the probe costs the speeds nothing.
 *
 * The probe reads the token's own pages, whole, in the token's order: on
 * a virtual machine memory is not uniform (on an AMD EPYC here, 32 MB
 * regions of one buffer read at 0.84-1.11 of their mean, and a buffer of
 * its own read at 0.91-1.20 of the weights' speed from one process to the
 * next), and a pass over all of them leaves the caches as a token does,
 * so neither the next token nor the probe finds the other's lines. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

typedef struct bench_opts {
    const char *model;
    long pp, tg, threads, reps, depth, batch;
} bench_opts;

typedef struct stat {
    double mean, sd;
} stat;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds this process has used (all threads). */
static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* OpenBLAS's threads spin for a while once started (2^28 cycles, about
 * 0.13 s here) before they sleep, and the CPU time of the process counts
 * them: a 1-thread run of a small model, timed within that, read 199% of
 * its core. Wait (at most two seconds) until the process has taken no CPU
 * over three sleeps of this thread in a row (a thread that starts late
 * spins late). */
static void wait_idle(void)
{
    for (int i = 0, idle = 0; i < 200 && idle < 3; i++) {
        double c0 = cpu_s();
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
        idle = cpu_s() - c0 < 0.002 ? idle + 1 : 0;
    }
}

/* Per repetition: tokens/s, the share of threads x wall time the process
 * got (below 1 when other processes hold the cores), and the bandwidth
 * measured during the generation run. */
typedef struct bench_runs {
    double *pp_tps, *tg_tps, *pp_share, *tg_share, *bw;
} bench_runs;

/* What the probe reads: the memory a token's products stream through. */
typedef struct probe {
    const kern_cpu *cpu;
    const uint8_t *at;
    size_t bytes;
} probe;

static stat mean_sd(const double *v, size_t n)
{
    stat s = {0, 0};
    for (size_t i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (double)(n - 1)) : 0.0;
    return s;
}

/* Bytes one generated token reads: every weight tensor but the token
 * embedding (one row of it), which the output head reads in full when the
 * model ties the two; and the keys and values of the positions it attends
 * to (F16), on average over a run of o->tg tokens after o->depth. */
static uint64_t bytes_per_token(const eng_model *m, const bench_opts *o)
{
    const gguf_file *f = eng_model_file(m);
    const eng_hparams *hp = eng_model_hparams(m);
    uint64_t total = 0;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    for (uint64_t i = 0; i < f->n_tensors; i++)
        total += f->tensors[i].nbytes;
    if (emb && gguf_find_tensor(f, "output.weight"))
        total -= emb->nbytes - gguf_row_size(emb->type, emb->ne[0]);
    uint64_t kv_pos = (uint64_t)hp->n_layer * 2 * hp->n_head_kv * hp->head_dim * 2;
    return total + kv_pos * (uint64_t)(2 * o->depth + o->tg + 1) / 2;
}

/* o->depth tokens into a fresh context, not timed. */
static int fill_depth(eng_ctx *ctx, const bench_opts *o, const int32_t *fill, char *err, size_t errlen)
{
    return o->depth ? eng_eval(ctx, fill, (size_t)o->depth, false, err, errlen) : 0;
}

/* One generation run after o->depth tokens: tokens/s, the cores' share
 * and the bandwidth the probe passes between the tokens read. */
static int gen_run(eng_ctx *ctx, kern_pool *pool, const probe *pr, const bench_opts *o, const int32_t *toks,
                   bench_runs *br, long rep, char *err, size_t errlen)
{
    double tok_s = 0.0, tok_cpu = 0.0, probe_s[KERN_READ_WAYS] = {0}, probe_bytes[KERN_READ_WAYS] = {0};
    eng_ctx_reset(ctx);
    if (fill_depth(ctx, o, toks + o->pp, err, errlen))
        return -1;
    for (long i = 0; i < o->tg; i++) {
        double t0 = now_s(), c0 = cpu_s();
        if (eng_eval(ctx, &toks[i % o->pp], 1, false, err, errlen))
            return -1;
        tok_s += now_s() - t0;
        tok_cpu += cpu_s() - c0;
        /* the probe's ways of reading in turn, one pass each */
        unsigned way = (unsigned)i % KERN_READ_WAYS;
        probe_s[way] += kern_read_pass(pool, pr->cpu, pr->at, pr->bytes, way);
        probe_bytes[way] += (double)(pr->bytes / 4096 * 4096);
    }
    br->tg_tps[rep] = (double)o->tg / tok_s;
    br->tg_share[rep] = tok_cpu / (tok_s * (double)o->threads);
    br->bw[rep] = 0.0;
    for (unsigned way = 0; way < KERN_READ_WAYS; way++)
        if (probe_s[way] > 0 && probe_bytes[way] / probe_s[way] > br->bw[rep])
            br->bw[rep] = probe_bytes[way] / probe_s[way];
    return 0;
}

/* Timed passes: rep < 0 is the warm-up that pages the weights in. */
static int run_reps(eng_ctx *ctx, kern_pool *pool, const probe *pr, const bench_opts *o, uint32_t n_vocab,
                    bench_runs *br, char *err, size_t errlen)
{
    /* the prompt, then the tokens that fill the context to the depth */
    size_t n = (size_t)(o->pp + o->depth);
    int32_t *toks = malloc(n * sizeof *toks);
    if (!toks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        toks[i] = (int32_t)(((uint64_t)i * 7919u + 17u) % n_vocab);
    int rc = 0;
    for (long rep = -1; rep < o->reps && rc == 0; rep++) {
        eng_ctx_reset(ctx);
        if (rep >= 0 && (rc = fill_depth(ctx, o, toks + o->pp, err, errlen)))
            break;
        double t0 = now_s(), c0 = cpu_s();
        rc = eng_eval(ctx, toks, rep < 0 ? 1 : (size_t)o->pp, false, err, errlen);
        double t1 = now_s(), c1 = cpu_s();
        if (rc || rep < 0)
            continue;
        br->pp_tps[rep] = (double)o->pp / (t1 - t0);
        br->pp_share[rep] = (c1 - c0) / ((t1 - t0) * (double)o->threads);
        rc = gen_run(ctx, pool, pr, o, toks, br, rep, err, errlen);
    }
    free(toks);
    return rc;
}

/* Run i's generation speed over the limit the bandwidth measured during
 * it implies. */
static double run_fraction(const bench_runs *br, size_t i, uint64_t bpt)
{
    /* no bandwidth: a model of less than a page, which no pass reads */
    return bpt > 0 && br->bw[i] > 0 ? br->tg_tps[i] / (br->bw[i] / (double)bpt) : 0.0;
}

static void print_result(const bench_opts *o, bool json, const char *isa, const bench_runs *br, uint64_t bpt)
{
    size_t n = (size_t)o->reps;
    stat pp = mean_sd(br->pp_tps, n), tg = mean_sd(br->tg_tps, n), bw = mean_sd(br->bw, n);
    double pp_share = mean_sd(br->pp_share, n).mean, tg_share = mean_sd(br->tg_share, n).mean;
    double limit = (double)bpt > 0 ? bw.mean / (double)bpt : 0.0;
    /* each run against the limit measured next to it */
    double frac = 0.0;
    for (size_t i = 0; i < n; i++)
        frac += run_fraction(br, i, bpt) / (double)n;
    if (json) {
        printf("{\"model\":\"");
        for (const char *p = o->model; *p; p++)
            printf((*p == '"' || *p == '\\') ? "\\%c" : ((unsigned char)*p < 0x20 ? "?" : "%c"), *p);
        printf("\",\"kernels\":\"%s\",\"threads\":%ld,\"pp_tokens\":%ld,\"tg_tokens\":%ld,"
               "\"depth\":%ld,\"batch\":%ld,\"reps\":%ld,\"pp_tps\":%.3f,\"pp_tps_sd\":%.3f,"
               "\"tg_tps\":%.3f,\"tg_tps_sd\":%.3f,"
               "\"bandwidth_gbs\":%.3f,\"bandwidth_gbs_sd\":%.3f,\"bytes_per_token\":%" PRIu64
               ",\"tg_limit_tps\":%.3f,\"tg_fraction\":%.6f,\"pp_cpu_share\":%.3f,\"tg_cpu_share\":%.3f,"
               "\"runs\":[",
               isa, o->threads, o->pp, o->tg, o->depth, o->batch, o->reps, pp.mean, pp.sd, tg.mean, tg.sd,
               bw.mean / 1e9, bw.sd / 1e9, bpt, limit, frac, pp_share, tg_share);
        /* each run with its own bandwidth, so that runs can be split by
         * the regime they met */
        for (size_t i = 0; i < n; i++)
            printf("%s{\"pp_tps\":%.3f,\"tg_tps\":%.3f,\"bandwidth_gbs\":%.3f,\"tg_fraction\":%.6f}",
                   i ? "," : "", br->pp_tps[i], br->tg_tps[i], br->bw[i] / 1e9, run_fraction(br, i, bpt));
        printf("]}\n");
        return;
    }
    printf("model      %s\nkernels    %s, %ld threads, batches of %ld tokens, %ld repetitions\n", o->model,
           isa, o->threads, o->batch, o->reps);
    printf("pp%-5ld    %9.2f ± %.2f tokens/s  (got %.0f%% of %ld cores)\n", o->pp, pp.mean, pp.sd,
           100.0 * pp_share, o->threads);
    printf("tg%-5ld    %9.2f ± %.2f tokens/s  (got %.0f%% of %ld cores)\n", o->tg, tg.mean, tg.sd,
           100.0 * tg_share, o->threads);
    printf("bandwidth  %9.2f ± %.2f GB/s read (between the generated tokens)\n", bw.mean / 1e9, bw.sd / 1e9);
    if (o->depth)
        printf("depth      %9ld tokens in the context before each pass\n", o->depth);
    printf("read       %9.1f MiB per generated token (weights%s)\n", (double)bpt / 1048576.0,
           o->depth ? ", and keys and values" : "");
    printf("limit      %9.2f tokens/s; generation reaches %.1f%% of it\n", limit, 100.0 * frac);
    /* seen on a shared host whose speed moves within seconds, or whose
     * last level keeps part of a model read again and again */
    if (frac > 1.0)
        printf("note       the tokens read faster than the probe beside them: this limit is low "
               "for this run; run again\n");
}

static int run_bench(const cli_cmd *cmd, int argc, char **argv)
{
    const char *service = NULL, *kernels = NULL;
    bool json = false;
    bench_opts o = {NULL, 512, 128, 0, 3, 0, 0};
    const cli_opt opts[] = {
        {"service", 0, CLI_STR, &service, "NAME  the service to measure (only \"embedded\")"},
        {"model", 'm', CLI_STR, &o.model, "PATH  the GGUF model file"},
        {"prompt", 'p', CLI_INT, &o.pp, "N  prompt tokens evaluated in one batch (512)"},
        {"gen", 'n', CLI_INT, &o.tg, "N  tokens generated one at a time (128)"},
        {"threads", 't', CLI_INT, &o.threads, CLI_THREADS_HELP},
        {"reps", 'r', CLI_INT, &o.reps, "N  repetitions for mean and deviation (3)"},
        {"depth", 'd', CLI_INT, &o.depth, "N  tokens already in the context before each pass (0)"},
        {"batch", 'b', CLI_INT, &o.batch, "N  prompt tokens evaluated together (default 128)"},
        {"kernels", 0, CLI_STR, &kernels, CLI_KERNELS_HELP},
        CLI_OPT_JSON(json),
    };
    int npos;
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos);
    if (rc)
        return rc;
    if (service && strcmp(service, "embedded") != 0)
        return cli_usage_error(cmd, "--service %s: only the embedded engine can be benchmarked",
                               service);
    if (!o.model)
        return cli_usage_error(cmd, "--model PATH is required");
    if (o.pp < 1 || o.pp > 1000000 || o.tg < 1 || o.tg > 1000000)
        return cli_usage_error(cmd, "-p and -n take 1 to 1000000 tokens");
    if (o.depth < 0 || o.depth > 1000000)
        return cli_usage_error(cmd, "-d takes 0 to 1000000 tokens");
    if (o.batch < 0 || o.batch > 1000000)
        return cli_usage_error(cmd, "-b takes 1 to 1000000 tokens (0: the default)");
    if (o.reps < 1 || o.reps > 1000)
        return cli_usage_error(cmd, "-r takes 1 to 1000 repetitions");
    if (o.threads < 0 || o.threads > 1024)
        return cli_usage_error(cmd, "-t takes 1 to 1024 threads");
    if (o.threads == 0)
        o.threads = kern_physical_cores();
    kern_cpu cpu;
    if ((rc = cli_kernels(cmd, kernels, &cpu)))
        return rc;

    char err[512] = "out of memory";
    eng_model *m = NULL;
    eng_ctx *ctx = NULL;
    kern_pool *pool = NULL;
    rc = CLI_EXIT_FAIL;
    double *v = calloc(5 * (size_t)o.reps, sizeof *v);
    bench_runs br = {v, v + o.reps, v + 2 * o.reps, v + 3 * o.reps, v + 4 * o.reps};
    if (!v || eng_model_open(&m, o.model, err, sizeof err) != ENG_OK)
        goto done;
    /* the engine and the probe share one pool: no idle threads of the
     * other spinning on the cores while either runs */
    if (kern_pool_new(&pool, (unsigned)o.threads, err, sizeof err) != KERN_OK)
        goto done;
    eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = (uint32_t)(o.depth + (o.pp > o.tg ? o.pp : o.tg));
    cp.pool = pool;
    cp.cpu = &cpu;
    cp.n_batch = (uint32_t)o.batch;
    if (eng_ctx_new(&ctx, m, &cp, err, sizeof err) != ENG_OK)
        goto done;
    o.batch = eng_ctx_n_batch(ctx);
    probe pr = {.cpu = &cpu};
    pr.at = eng_model_stream(m, &cpu, &pr.bytes);
    wait_idle();
    if (run_reps(ctx, pool, &pr, &o, eng_model_hparams(m)->n_vocab, &br, err, sizeof err))
        goto done;
    print_result(&o, json, kern_cpu_name(&cpu), &br, bytes_per_token(m, &o));
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK)
        fprintf(stderr, "rhema: %s\n", err);
    eng_ctx_free(ctx);
    kern_pool_free(pool);
    eng_model_free(m);
    free(v);
    return rc;
}

const cli_cmd cli_cmd_tasks_benchmark = {
    "ai tasks benchmark",
    "--service embedded --model PATH [-p 512] [-n 128] [-d 0] [-b 128] [-t THREADS] [-r REPS] [--kernels SET] [--json]",
    "Measure prompt and generation tokens/s against the memory bandwidth limit.", run_bench};
