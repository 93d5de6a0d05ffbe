// message_passing.cu: scatter-add message passing for S steps of a batch at once.
// Activations are step-major: row s * num_nodes + i is node i at step s. The graph
// structure is shared by all steps. The weight of edge e at step s is step_w[s]
// (alpha_s for edge-mask IG, 1 otherwise), or, when edge_w is not null, edge_w[s, e]
// (per-edge weights: SmoothGrad's noisy edge masks, the metrics' hard masks). The CSRs
// carry each slot's edge id (in_eid, out_eid) for that lookup.
#include "prelude.cuh"

// Mirrors cpu::message_passing::scatter_add_forward:
//   agg[s, i, c] = Σ_{k in in_ptr[i]..in_ptr[i+1]} w(s, in_eid[k]) * h[s, in_src[k], c]
// over the CSR of incoming edges sorted by (destination, source, edge id), so every
// node sums its messages in the CPU reference's (and PyG's) order. Atomic-free.
GI_KERNEL void mp_forward(const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                          const int* __restrict__ in_eid, const float* __restrict__ step_w,
                          const float* __restrict__ edge_w, const float* __restrict__ h,
                          float* __restrict__ agg, int num_nodes, int num_edges, int steps,
                          int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        const float* hs = h + (long long)s * num_nodes * dim;
        float acc = 0.0f;
        if (edge_w == nullptr) {
            float w = step_w[s];
            for (int e = in_ptr[i]; e < in_ptr[i + 1]; ++e) {
                float m = w * hs[(long long)in_src[e] * dim + c];
                acc += m;
            }
        } else {
            const float* ws = edge_w + (long long)s * num_edges;
            for (int e = in_ptr[i]; e < in_ptr[i + 1]; ++e) {
                float m = ws[in_eid[e]] * hs[(long long)in_src[e] * dim + c];
                acc += m;
            }
        }
        agg[k] = acc;
    }
}

// Mirrors cpu::message_passing::scatter_add_backward_input (plus the ReLU mask of the
// layer below): dh[s, j, c] = [mask > 0] (dh[s, j, c] + Σ_{k in out_ptr[j]..} w(s, out_eid[k]) g_agg[s, out_dst[k], c])
// over the transposed CSR (edges by source, then edge id). dh holds the root-weight part on
// entry. mask may be null. Atomic-free.
GI_KERNEL void mp_backward_input(const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                                 const int* __restrict__ out_eid, const float* __restrict__ step_w,
                                 const float* __restrict__ edge_w, const float* __restrict__ g_agg,
                                 const float* __restrict__ mask, float* __restrict__ dh,
                                 int num_nodes, int num_edges, int steps, int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), j = int(row % num_nodes);
        const float* gs = g_agg + (long long)s * num_nodes * dim;
        float acc = dh[k];
        if (edge_w == nullptr) {
            float w = step_w[s];
            if (w != 0.0f) {
                for (int e = out_ptr[j]; e < out_ptr[j + 1]; ++e)
                    acc += w * gs[(long long)out_dst[e] * dim + c];
            }
        } else {
            const float* ws = edge_w + (long long)s * num_edges;
            for (int e = out_ptr[j]; e < out_ptr[j + 1]; ++e)
                acc += ws[out_eid[e]] * gs[(long long)out_dst[e] * dim + c];
        }
        if (mask != nullptr && mask[k] <= 0.0f) acc = 0.0f;
        dh[k] = acc;
    }
}

// Mirrors cpu::message_passing::scatter_add_backward_weight:
//   dw[s, e] += <g_agg[s, dst_e, :], h[s, src_e, :]>
// One thread per (step, edge), channels summed in order; each layer adds its term
// in turn, so the result does not depend on timing. Atomic-free.
GI_KERNEL void mp_backward_weight(const int* __restrict__ src, const int* __restrict__ dst,
                                  const float* __restrict__ g_agg, const float* __restrict__ h,
                                  float* __restrict__ dw, int num_nodes, int num_edges, int steps,
                                  int dim) {
    GI_GRID_STRIDE(item, (long long)steps * num_edges) {
        int s = int(item / num_edges), e = int(item % num_edges);
        const float* g = g_agg + ((long long)s * num_nodes + dst[e]) * dim;
        const float* x = h + ((long long)s * num_nodes + src[e]) * dim;
        float part = 0.0f;
        for (int c = 0; c < dim; ++c) part += g[c] * x[c];
        dw[item] += part;
    }
}
