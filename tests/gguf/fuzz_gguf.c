/* libFuzzer harness: the GGUF reader on arbitrary bytes, then every lookup
 * a loader makes on what it accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file f;
    char err[512];
    /* A private copy sized exactly, so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (gguf_open_mem(&f, copy, size, "fuzz.gguf", err, sizeof err) == GGUF_OK) {
        volatile uint64_t sink = 0;
        for (uint64_t i = 0; i < f.n_kv; i++) {
            const gguf_kv *kv = &f.kv[i];
            if (kv->type != GGUF_V_ARRAY)
                continue;
            for (uint64_t k = 0; k < kv->v.arr.n && k < 64; k++) {
                if (kv->v.arr.type == GGUF_V_STRING) {
                    gguf_str s = gguf_arr_str(kv, k);
                    sink += s.len ? (uint8_t)s.ptr[s.len - 1] : 0;
                } else {
                    sink += (uint64_t)gguf_arr_int(kv, k) + (uint64_t)gguf_arr_float(kv, k);
                }
            }
        }
        for (uint64_t i = 0; i < f.n_tensors; i++) {
            const gguf_tensor *t = &f.tensors[i];
            if (t->nbytes)
                sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        uint32_t u;
        gguf_get_u32(&f, "general.alignment", &u, err, sizeof err);
        (void)sink;
        gguf_close(&f);
    }
    free(copy);
    return 0;
}
