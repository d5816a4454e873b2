/* Element-wise work between the products: the feed-forward block's
 * activation and the KV cache's F16 rows, by the portable loop or the
 * kernel set's vector form. */
#include "kernels/kernels.h"
#include "kernels/simd_internal.h"

#include <math.h>

static float silu(float x)
{
    /* below this expf(-x) overflows to inf and x / inf is -0 anyway; the
     * library's overflow path is slow */
    if (x < -88.75f)
        return -0.0f;
    return x / (1.0f + expf(-x));
}

void kern_f32_to_f16_row(const kern_cpu *cpu, const float *x, uint16_t *y, size_t n)
{
    if (cpu && cpu->ops && cpu->ops->f32_to_f16) {
        cpu->ops->f32_to_f16(x, y, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = kern_f32_to_f16(x[i]);
}

void kern_silu_mul(const kern_cpu *cpu, const float *gate, const float *up, float *out, size_t n)
{
    if (cpu && cpu->ops && cpu->ops->silu_mul) {
        cpu->ops->silu_mul(gate, up, out, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = silu(gate[i]) * up[i];
}
