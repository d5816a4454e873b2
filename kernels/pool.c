/* A persistent thread pool. A job is published as a new generation; every
 * thread (the caller too) claims chunks of the item range with a
 * compare-and-swap on one word holding the generation and the next chunk,
 * so a worker that wakes late can neither take a chunk of a newer job with
 * an older job's function nor hold the caller up: the caller waits only
 * for chunks that some thread has claimed and is running. Idle workers
 * spin briefly, then sleep on a condition variable, leaving the cores to
 * others on a shared machine.
 *
 * A job by parts (kern_pool_for_parts) gives each thread one contiguous
 * part, claimed chunk by chunk from its front through a word of its own
 * that also carries the generation; a thread out of work takes chunks from
 * the back of the other parts through the same words.
 *
 * A thread waiting (for a job, or for the others to finish one) reads
 * ahead the range kern_pool_prefetch last named for it: the start of its
 * part of the next product, so that memory does not sit idle while one
 * thread works alone between products. */
#include "kernels/kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Spin iterations before sleeping: covers the gap between the products of
 * one token without burning a core for long when idle. */
#define SPIN_WAIT 4000

/* A part's claim word: the generation's low 24 bits, the next chunk from
 * the front, the end of the chunks left. */
#define PART_BITS 20
#define PART_MAX ((1u << PART_BITS) - 1)

typedef struct part {
    _Alignas(64) atomic_uint_fast64_t w; /* a cache line each */
    /* the range to read ahead while idle, renewed when seq changes */
    atomic_uint pf_seq;
    atomic_uintptr_t pf_addr;
    atomic_size_t pf_len;
} part;

/* Where a thread is in reading ahead. */
typedef struct ahead {
    unsigned seq;
    const char *at;
    size_t left;
} ahead;

/* Bytes read ahead per idle step. */
#define AHEAD_STEP 512

struct kern_pool {
    unsigned n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;        /* bumped for every job, and at shutdown */
    atomic_uint_fast64_t ticket; /* generation << 32 | next chunk */
    atomic_size_t done;     /* items finished in the current job */
    atomic_bool stop;
    part *parts;            /* one per thread */
    ahead caller_ahead;     /* the calling thread's reading ahead */
    /* the current job, written before its generation is published */
    kern_task_fn fn;
    void *arg;
    size_t n_items, chunk, n_chunks;
};

typedef struct worker_arg {
    kern_pool *p;
    unsigned tid;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Run chunks of generation g until none is left; the items run. The job's
 * fields are read between loading the ticket and claiming from it: a
 * successful claim proves the ticket was not yet closed for the next job,
 * so they were g's. */
static size_t run_chunks(kern_pool *p, unsigned g, unsigned tid)
{
    size_t ran = 0;
    for (;;) {
        uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if ((unsigned)(t >> 32) != g)
            return ran;
        kern_task_fn fn = p->fn;
        void *arg = p->arg;
        size_t n = p->n_items, chunk = p->chunk, n_chunks = p->n_chunks;
        if ((t & 0xffffffffu) >= n_chunks)
            return ran;
        if (!atomic_compare_exchange_strong_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue;
        size_t b = (size_t)(t & 0xffffffffu) * chunk;
        size_t e = n - b < chunk ? n : b + chunk;
        fn(arg, b, e, tid);
        ran += e - b;
    }
}

static uint64_t part_word(unsigned g, size_t front, size_t back)
{
    return (uint64_t)(g & 0xffffffu) << (2 * PART_BITS) | (uint64_t)front << PART_BITS | back;
}

/* Run chunks of generation g's parts: this thread's own from the front,
 * then the others' from the back, until none is left; the items run. As
 * in run_chunks, a successful claim proves the job's fields were g's. */
static size_t run_parts(kern_pool *p, unsigned g, unsigned tid)
{
    size_t ran = 0;
    for (unsigned k = 0; k < p->n; k++) {
        atomic_uint_fast64_t *pw = &p->parts[(tid + k) % p->n].w;
        for (;;) {
            uint64_t w = atomic_load_explicit(pw, memory_order_acquire);
            if ((unsigned)(w >> (2 * PART_BITS)) != (g & 0xffffffu))
                return ran;
            kern_task_fn fn = p->fn;
            void *arg = p->arg;
            size_t n = p->n_items, chunk = p->chunk;
            size_t front = (w >> PART_BITS) & PART_MAX, back = w & PART_MAX;
            if (front >= back)
                break;
            uint64_t claim = k == 0 ? w + ((uint64_t)1 << PART_BITS) : w - 1;
            if (!atomic_compare_exchange_strong_explicit(pw, &w, claim, memory_order_acq_rel,
                                                         memory_order_acquire))
                continue;
            size_t b = (k == 0 ? front : back - 1) * chunk;
            size_t e = n - b < chunk ? n : b + chunk;
            fn(arg, b, e, tid);
            ran += e - b;
        }
    }
    return ran;
}

/* Count a thread's items of a job as done, once it has no more to run:
 * one write to the line the caller polls per thread and job, not per
 * chunk (each costs a transfer between cores, a third of a microsecond
 * when the host places the two far apart). */
static void finish(kern_pool *p, size_t ran)
{
    if (ran)
        atomic_fetch_add_explicit(&p->done, ran, memory_order_release);
}

/* One step of waiting: the next AHEAD_STEP bytes of the range named for
 * thread tid (a prefetch never faults, so a stale range is harmless), or a
 * pause when there is none. */
static void idle_step(kern_pool *p, unsigned tid, ahead *a)
{
    part *pt = &p->parts[tid];
    unsigned seq = atomic_load_explicit(&pt->pf_seq, memory_order_acquire);
    if (seq != a->seq) {
        a->seq = seq;
        a->at = (const char *)atomic_load_explicit(&pt->pf_addr, memory_order_relaxed);
        a->left = atomic_load_explicit(&pt->pf_len, memory_order_relaxed);
    }
    if (!a->left) {
        cpu_relax();
        return;
    }
    size_t n = a->left < AHEAD_STEP ? a->left : AHEAD_STEP;
    for (size_t i = 0; i < n; i += 64)
        __builtin_prefetch(a->at + i, 0, 2);
    a->at += n;
    a->left -= n;
}

static unsigned wait_gen(kern_pool *p, unsigned seen, unsigned tid, ahead *a)
{
    for (int i = 0; i < SPIN_WAIT; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
        idle_step(p, tid, a);
    }
    pthread_mutex_lock(&p->mu);
    unsigned g;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker(void *v)
{
    worker_arg *wa = v;
    kern_pool *p = wa->p;
    unsigned tid = wa->tid;
    free(wa);
    unsigned seen = 0;
    ahead a = {0, NULL, 0};
    for (;;) {
        seen = wait_gen(p, seen, tid, &a);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        finish(p, run_chunks(p, seen, tid) + run_parts(p, seen, tid));
    }
}

unsigned kern_physical_cores(void)
{
    /* distinct (package, core) pairs among the online CPUs */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        return 1;
    unsigned seen_n = 0;
    long keys[1024];
    for (long c = 0; c < ncpu && c < 1024; c++) {
        char path[128];
        long pkg = 0, core = c;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", c);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1)
                core = c;
            fclose(f);
        }
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", c);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1)
                pkg = 0;
            fclose(f);
        }
        long key = pkg * 1000003L + core;
        bool dup = false;
        for (unsigned i = 0; i < seen_n && !dup; i++)
            dup = keys[i] == key;
        if (!dup)
            keys[seen_n++] = key;
    }
    return seen_n ? seen_n : 1;
}

int kern_pool_new(kern_pool **out, unsigned n_threads, char *err, size_t errlen)
{
    *out = NULL;
    if (n_threads == 0)
        n_threads = kern_physical_cores();
    if (n_threads > 1024)
        n_threads = 1024;
    kern_pool *p = calloc(1, sizeof *p);
    pthread_t *th = calloc(n_threads, sizeof *th);
    part *parts = aligned_alloc(64, n_threads * sizeof *parts);
    if (!p || !th || !parts) {
        free(p);
        free(th);
        free(parts);
        if (err && errlen)
            snprintf(err, errlen, "out of memory for a pool of %u threads", n_threads);
        return KERN_ENOMEM;
    }
    p->th = th;
    p->parts = parts;
    for (unsigned t = 0; t < n_threads; t++) {
        atomic_init(&parts[t].w, 0);
        atomic_init(&parts[t].pf_seq, 0);
        atomic_init(&parts[t].pf_addr, 0);
        atomic_init(&parts[t].pf_len, 0);
    }
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* without attributes, the platform's default stack */
    pthread_attr_t attr;
    const bool has_attr = pthread_attr_init(&attr) == 0;
    if (has_attr)
        pthread_attr_setstacksize(&attr, KERN_POOL_STACK);
    for (unsigned t = 1; t < n_threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa)
            *wa = (worker_arg){p, t};
        if (!wa || pthread_create(&p->th[t], has_attr ? &attr : NULL, worker, wa) != 0) {
            if (has_attr)
                pthread_attr_destroy(&attr);
            free(wa);
            kern_pool_free(p);
            if (err && errlen)
                snprintf(err, errlen, "cannot start worker thread %u of %u", t, n_threads);
            return KERN_ETHREAD;
        }
        p->n = t + 1;
    }
    if (has_attr)
        pthread_attr_destroy(&attr);
    *out = p;
    return KERN_OK;
}

static void publish(kern_pool *p, unsigned g)
{
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->gen, g, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kern_pool_free(kern_pool *p)
{
    if (!p)
        return;
    atomic_store_explicit(&p->stop, true, memory_order_release);
    publish(p, atomic_load_explicit(&p->gen, memory_order_relaxed) + 1);
    for (unsigned t = 1; t < p->n; t++)
        pthread_join(p->th[t], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->th);
    free(p->parts);
    free(p);
}

unsigned kern_pool_threads(const kern_pool *p)
{
    return p ? p->n : 1;
}

/* Close every way of claiming work (under the new generation, so that no
 * late worker holding an older one can claim) before the job's fields
 * change, then write them. The caller opens the ticket or the parts. */
static unsigned begin_job(kern_pool *p, kern_task_fn fn, void *arg, size_t n, size_t chunk)
{
    unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->ticket, (uint64_t)g << 32 | 0xffffffffu, memory_order_relaxed);
    for (unsigned t = 0; t < p->n; t++)
        atomic_store_explicit(&p->parts[t].w, part_word(g, 0, 0), memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    p->fn = fn;
    p->arg = arg;
    p->n_items = n;
    p->chunk = chunk;
    p->n_chunks = (n + chunk - 1) / chunk;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    return g;
}

/* only chunks claimed by running threads are left */
static void wait_done(kern_pool *p, size_t n)
{
    for (unsigned i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n; i++) {
        if (i < SPIN_WAIT)
            idle_step(p, 0, &p->caller_ahead);
        else
            sched_yield();
    }
}

void kern_pool_prefetch(kern_pool *p, unsigned tid, const void *addr, size_t len)
{
    if (!p || tid >= p->n)
        return;
    part *pt = &p->parts[tid];
    atomic_store_explicit(&pt->pf_addr, (uintptr_t)addr, memory_order_relaxed);
    atomic_store_explicit(&pt->pf_len, len, memory_order_relaxed);
    /* only the caller writes it: a store, not a locked add that would wait
     * for the line */
    unsigned seq = atomic_load_explicit(&pt->pf_seq, memory_order_relaxed);
    atomic_store_explicit(&pt->pf_seq, seq + 1, memory_order_release);
}

void kern_pool_for(kern_pool *p, size_t n, size_t grain, kern_task_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    if (!p || p->n == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    /* a few chunks per thread balance cores that other processes share */
    size_t chunk = n / ((size_t)p->n * 8);
    chunk = chunk < grain ? grain : (chunk + grain - 1) / grain * grain;
    if (n / chunk >= 0xffffffffu) {
        fn(arg, 0, n, 0);
        return;
    }
    unsigned g = begin_job(p, fn, arg, n, chunk);
    atomic_store_explicit(&p->ticket, (uint64_t)g << 32, memory_order_release);
    publish(p, g);
    finish(p, run_chunks(p, g, 0));
    wait_done(p, n);
}

void kern_pool_part(const kern_pool *p, size_t n_chunks, unsigned tid, size_t *c0, size_t *c1)
{
    unsigned nt = kern_pool_threads(p);
    *c0 = n_chunks * tid / nt;
    *c1 = n_chunks * (tid + 1) / nt;
}

void kern_pool_for_parts(kern_pool *p, size_t n, size_t grain, kern_task_fn fn, void *arg)
{
    if (grain == 0)
        grain = 1;
    size_t n_chunks = (n + grain - 1) / grain;
    if (!p || p->n == 1 || n_chunks <= 1 || n_chunks > PART_MAX) {
        kern_pool_for(p, n, grain, fn, arg);
        return;
    }
    unsigned g = begin_job(p, fn, arg, n, grain);
    for (unsigned t = 0; t < p->n; t++) {
        size_t c0, c1;
        kern_pool_part(p, n_chunks, t, &c0, &c1);
        atomic_store_explicit(&p->parts[t].w, part_word(g, c0, c1), memory_order_release);
    }
    publish(p, g);
    finish(p, run_parts(p, g, 0));
    wait_done(p, n);
}
