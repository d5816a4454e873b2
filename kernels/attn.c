/* Single-query attention over an F16 KV cache with the reference engine's
 * F16 accumulation: the portable loop, or the kernel set's version. */
#include "kernels/kernels.h"
#include "kernels/simd_internal.h"

#include <math.h>

static float f16_round(float x)
{
    return kern_f16_to_f32(kern_f32_to_f16(x));
}

static void attn_f16_portable(const float *q, const uint16_t *k, const uint16_t *v,
                              size_t stride, size_t n_kv, size_t hd, float scale, float *out)
{
    float qv[KERN_ATTN_MAX_HD], acc[KERN_ATTN_MAX_HD];
    for (size_t i = 0; i < hd; i++) {
        qv[i] = f16_round(q[i]);
        acc[i] = 0.0f;
    }
    float mx = -INFINITY, sum = 0.0f;
    for (size_t p = 0; p < n_kv; p++) {
        const uint16_t *kp = k + p * stride, *vp = v + p * stride;
        float s = 0.0f;
        for (size_t i = 0; i < hd; i++)
            s += qv[i] * kern_f16_to_f32(kp[i]);
        s *= scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > mx) {
            ms = kern_expf_softmax(mx - s);
            mx = s;
            for (size_t i = 0; i < hd; i++)
                acc[i] = f16_round(acc[i] * ms);
        } else {
            vs = kern_expf_softmax(s - mx);
        }
        for (size_t i = 0; i < hd; i++)
            acc[i] = f16_round(acc[i] + kern_f16_to_f32(vp[i]) * vs);
        sum = sum * ms + vs;
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < hd; i++)
        out[i] = acc[i] * inv;
}

void kern_attn_f16(const kern_cpu *cpu, size_t nq, const float *q, const uint16_t *k, const uint16_t *v,
                   size_t stride, size_t n_kv, size_t hd, float scale, float *out)
{
    if (cpu && cpu->ops && cpu->ops->attn_f16) {
        cpu->ops->attn_f16(nq, q, k, v, stride, n_kv, hd, scale, out);
        return;
    }
    for (size_t i = 0; i < nq; i++)
        attn_f16_portable(q + i * hd, k, v, stride, n_kv, hd, scale, out + i * hd);
}
