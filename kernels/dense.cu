// dense.cu: dense layers, ReLU and log-softmax over many rows.
// Rows are (step, node) or (step, graph) instances; weights are row-major [out, in].
#include "prelude.cuh"

// Mirrors cpu::dense::linear_forward (and the conv layers' products in
// cpu::network::Network::forward) + relu:
//   Y[r, o] = act(b[o] + Σ_i X[r, i] W[o, i] + Σ_i X2[r, i] W2[o, i])
// with the weights given transposed, WT = Wᵀ [in, out], so that the threads of a
// warp (consecutive o) read consecutive addresses.
// X2/W2T may be null (no second product), b may be null (no bias); act is ReLU when relu != 0.
// One thread per output element; the sums run over i in order.
GI_KERNEL void linear_forward(const float* __restrict__ X, const float* __restrict__ WT,
                              const float* __restrict__ b, const float* __restrict__ X2,
                              const float* __restrict__ W2T, float* __restrict__ Y,
                              long long rows, int in_dim, int out_dim, int relu) {
    GI_GRID_STRIDE(k, rows * out_dim) {
        long long r = k / out_dim;
        int o = int(k % out_dim);
        const float* x = X + r * in_dim;
        float acc = 0.0f;
        for (int i = 0; i < in_dim; ++i) acc += x[i] * WT[(long long)i * out_dim + o];
        if (X2 != nullptr) {
            const float* x2 = X2 + r * in_dim;
            float acc2 = 0.0f;
            for (int i = 0; i < in_dim; ++i) acc2 += x2[i] * W2T[(long long)i * out_dim + o];
            acc += acc2;
        }
        if (b != nullptr) acc += b[o];
        Y[k] = relu && acc <= 0.0f ? 0.0f : acc;
    }
}

// Mirrors cpu::dense::linear_backward_input + relu_backward:
//   dX[r, i] (+)= [mask[r, i] > 0] Σ_o dY[r, o] W[o, i]
// mask may be null (no ReLU between); accumulate != 0 adds to dX instead of overwriting.
GI_KERNEL void linear_backward_input(const float* __restrict__ dY, const float* __restrict__ W,
                                     const float* __restrict__ mask, float* __restrict__ dX,
                                     long long rows, int in_dim, int out_dim, int accumulate) {
    GI_GRID_STRIDE(k, rows * in_dim) {
        long long r = k / in_dim;
        int i = int(k % in_dim);
        const float* dy = dY + r * out_dim;
        float acc = 0.0f;
        for (int o = 0; o < out_dim; ++o) acc += dy[o] * W[(long long)o * in_dim + i];
        if (mask != nullptr && mask[k] <= 0.0f) acc = 0.0f;
        dX[k] = accumulate ? dX[k] + acc : acc;
    }
}

// Mirrors cpu::dense::relu_backward, out of place: out[k] = h[k] > 0 ? g[k] : 0.
GI_KERNEL void relu_backward(const float* __restrict__ h, const float* __restrict__ g,
                             float* __restrict__ out, long long len) {
    GI_GRID_STRIDE(k, len) { out[k] = h[k] > 0.0f ? g[k] : 0.0f; }
}

// Mirrors cpu::dense::log_softmax and log_softmax_target_grad, one thread per row.
// Row r is instance (step s, graph g) with g = r % num_graphs; its target is target[g].
// dZ may be null (forward only). The target's gradient 1 - p_t is the sum of the other
// probabilities, which keeps its precision when p_t is close to 1.
GI_KERNEL void log_softmax_grad(const float* __restrict__ Z, const int* __restrict__ target,
                                float* __restrict__ logp, float* __restrict__ dZ, long long rows,
                                int num_graphs, int classes) {
    GI_GRID_STRIDE(r, rows) {
        const float* z = Z + r * classes;
        float m = z[0];
        for (int c = 1; c < classes; ++c) m = fmaxf(m, z[c]);
        float s = 0.0f;
        for (int c = 0; c < classes; ++c) s += expf(z[c] - m);
        float lse = m + logf(s);
        for (int c = 0; c < classes; ++c) logp[r * classes + c] = z[c] - lse;
        if (dZ != nullptr) {
            int t = target[r % num_graphs];
            float rest = 0.0f;
            for (int c = 0; c < classes; ++c) {
                float p = expf(z[c] - lse);
                dZ[r * classes + c] = -p;
                if (c != t) rest += p;
            }
            dZ[r * classes + t] = rest;
        }
    }
}
