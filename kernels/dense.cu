// dense.cu: dense layers and the model's output rows over many rows.
// Rows are (step, node) or (step, graph) instances, step-major; weights are row-major
// [out, in]. Mirrors the dense primitives of cpu::backend (linear, linear2, linear_t,
// output, output_seed).
#include "prelude.cuh"

// Mirrors cpu::backend linear and linear2:
//   Y[r, o] = b[o] + Σ_i X[r, i] W[o, i] + Σ_i X2[r, i] W2[o, i]
// summed in that order (the bias, then the first product's terms in input order, then the
// second's), as the CPU accumulates into its output. The weights are given transposed,
// WT = Wᵀ [in, out], so that the threads of a warp (consecutive o) read consecutive
// addresses. X2/W2T may be null (no second product), b may be null (no bias).
// One thread per output element.
GI_KERNEL void linear_forward(const float* __restrict__ X, const float* __restrict__ WT,
                              const float* __restrict__ b, const float* __restrict__ X2,
                              const float* __restrict__ W2T, float* __restrict__ Y,
                              long long rows, int in_dim, int out_dim) {
    GI_GRID_STRIDE(k, rows * out_dim) {
        long long r = k / out_dim;
        int o = int(k % out_dim);
        float acc = b != nullptr ? b[o] : 0.0f;
        const float* x = X + r * in_dim;
        for (int i = 0; i < in_dim; ++i) acc += x[i] * WT[(long long)i * out_dim + o];
        if (X2 != nullptr) {
            const float* x2 = X2 + r * in_dim;
            for (int i = 0; i < in_dim; ++i) acc += x2[i] * W2T[(long long)i * out_dim + o];
        }
        Y[k] = acc;
    }
}

// Mirrors cpu::backend linear_t: dX[r, i] (+)= Σ_o dY[r, o] W[o, i], terms in output
// order after dX's value (accumulate != 0) or 0.
GI_KERNEL void linear_backward_input(const float* __restrict__ dY, const float* __restrict__ W,
                                     float* __restrict__ dX, long long rows, int in_dim,
                                     int out_dim, int accumulate) {
    GI_GRID_STRIDE(k, rows * in_dim) {
        long long r = k / in_dim;
        int i = int(k % in_dim);
        const float* dy = dY + r * out_dim;
        float acc = accumulate ? dX[k] : 0.0f;
        for (int o = 0; o < out_dim; ++o) acc += dy[o] * W[(long long)o * in_dim + i];
        dX[k] = acc;
    }
}

#define GI_OUTPUT_LOG_SOFTMAX 0
#define GI_OUTPUT_SOFTMAX 1
#define GI_OUTPUT_LOGITS 2

// Mirrors cpu::backend output (cpu::dense::log_softmax), one thread per row:
// log_softmax, softmax (the exponential of log_softmax) or the logits themselves.
GI_KERNEL void output_rows(const float* __restrict__ Z, float* __restrict__ out, long long rows,
                           int classes, int kind) {
    GI_GRID_STRIDE(r, rows) {
        const float* z = Z + r * classes;
        float* o = out + r * classes;
        if (kind == GI_OUTPUT_LOGITS) {
            for (int c = 0; c < classes; ++c) o[c] = z[c];
            continue;
        }
        float m = -GI_INFINITY;
        for (int c = 0; c < classes; ++c) m = fmaxf(m, z[c]);
        float s = 0.0f;
        for (int c = 0; c < classes; ++c) s += expf(z[c] - m);
        float lse = m + logf(s);
        for (int c = 0; c < classes; ++c) {
            float lp = z[c] - lse;
            o[c] = kind == GI_OUTPUT_SOFTMAX ? expf(lp) : lp;
        }
    }
}

#define GI_SEED_LOG_SOFTMAX 0
#define GI_SEED_SOFTMAX 1
#define GI_SEED_ONE_HOT 2

// Mirrors cpu::backend output_seed, one thread per row: the gradient wrt the logits of
// row r's target entry, the target being target[r % num_graphs], from the output rows:
//   log_softmax: -p_c, and Σ_{c≠t} p_c at the target (cpu::dense::log_softmax_target_grad,
//                which keeps its precision when p_t is close to 1);
//   softmax:     -p_t p_c, and p_t Σ_{c≠t} p_c at the target;
//   one-hot:     1 at the target (the logits' own seed, and the class score's).
// The host checked every target against `classes`.
GI_KERNEL void output_seed(const float* __restrict__ out, const int* __restrict__ target,
                           float* __restrict__ dZ, long long rows, int num_graphs, int classes,
                           int kind) {
    GI_GRID_STRIDE(r, rows) {
        const float* o = out + r * classes;
        float* d = dZ + r * classes;
        int t = target[r % num_graphs];
        if (kind == GI_SEED_ONE_HOT) {
            for (int c = 0; c < classes; ++c) d[c] = c == t ? 1.0f : 0.0f;
        } else if (kind == GI_SEED_LOG_SOFTMAX) {
            float rest = 0.0f;
            for (int c = 0; c < classes; ++c) {
                float p = expf(o[c]);
                d[c] = -p;
                if (c != t) rest += p;
            }
            d[t] = rest;
        } else {
            float pt = o[t], rest = 0.0f;
            for (int c = 0; c < classes; ++c) {
                if (c != t) rest += o[c];
                d[c] = -pt * o[c];
            }
            d[t] = pt * rest;
        }
    }
}
