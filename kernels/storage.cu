// storage.cu: the narrow storage types of prelude.cuh (gi_bf16, gi_f16), exposed for
// tests: every value rounded to the storage type and widened back, exactly as the
// fused kernel stores and reloads its activations.
#include "prelude.cuh"

// out[i] = gi_load(gi_store<S>(x[i])), S chosen by `storage` (GI_STORAGE_*).
GI_KERNEL void round_through_storage(const float* __restrict__ x, float* __restrict__ out,
                                     long long n, int storage) {
    GI_GRID_STRIDE(i, n) {
        float v = x[i];
        if (storage == GI_STORAGE_BF16) {
            v = gi_load(gi_store<gi_bf16>(v));
        } else if (storage == GI_STORAGE_F16) {
            v = gi_load(gi_store<gi_f16>(v));
        }
        out[i] = v;
    }
}
