// attention.cu: GATConv's attention for S steps at once: per-head score dot products,
// the edge scores, their softmax over each target's incoming edges (one thread per
// (step, target, head) segment, atomic-free) and the backwards, and the head mean.
// Mirrors the GAT primitives of cpu::backend (head_dot, head_dot_t, head_mean,
// head_mean_t, gat_scores, gat_scores_backward, segment_softmax,
// segment_softmax_backward).
//
// Layout: node rows s * num_nodes + i; per-head values innermost: a node's score
// a[(s * num_nodes + i) * heads + h], an edge's value v[(s * num_edges + e) * heads + h],
// a self-loop's l[(s * num_nodes + i) * heads + h]. With `loops` (a conv that adds its
// own self-loops), input self-loop edges (src == dst) are replaced: their scores and
// coefficients are 0 and they are left out of every softmax.
#include "prelude.cuh"

// Mirrors cpu::backend head_dot: out[r, h] = Σ_c x[r, h C + c] att[h C + c], channels in
// order (GAT's per-head source and target scores).
GI_KERNEL void head_dot(const float* __restrict__ x, const float* __restrict__ att,
                        float* __restrict__ out, long long rows, int heads, int channels) {
    GI_GRID_STRIDE(k, rows * heads) {
        long long r = k / heads;
        int h = int(k % heads);
        const float* xr = x + r * heads * channels + h * channels;
        const float* a = att + h * channels;
        float s = 0.0f;
        for (int c = 0; c < channels; ++c) s += xr[c] * a[c];
        out[k] = s;
    }
}

// Mirrors cpu::backend head_dot_t: dx[r, h C + c] += d[r, h] att[h C + c].
GI_KERNEL void head_dot_t(const float* __restrict__ d, const float* __restrict__ att,
                          float* __restrict__ dx, long long rows, int heads, int channels) {
    int hc = heads * channels;
    GI_GRID_STRIDE(k, rows * hc) {
        long long r = k / hc;
        int j = int(k % hc);
        dx[k] += d[r * heads + j / channels] * att[j];
    }
}

// Mirrors cpu::backend head_mean (GAT with concat=False):
// out[r, c] = (Σ_h x[r, h C + c]) / H, heads in order.
GI_KERNEL void head_mean(const float* __restrict__ x, float* __restrict__ out, long long rows,
                         int heads, int channels) {
    GI_GRID_STRIDE(k, rows * channels) {
        long long r = k / channels;
        int c = int(k % channels);
        const float* xr = x + r * heads * channels;
        float s = 0.0f;
        for (int h = 0; h < heads; ++h) s += xr[h * channels + c];
        out[k] = s / float(heads);
    }
}

// Mirrors cpu::backend head_mean_t: dx[r, h C + c] = d[r, c] / H.
GI_KERNEL void head_mean_t(const float* __restrict__ d, float* __restrict__ dx, long long rows,
                           int heads, int channels) {
    int hc = heads * channels;
    GI_GRID_STRIDE(k, rows * hc) {
        long long r = k / hc;
        int c = int(k % hc) % channels;
        dx[k] = d[r * channels + c] / float(heads);
    }
}

__device__ __forceinline__ float gi_leaky(float x, float slope) { return x > 0.0f ? x : slope * x; }
__device__ __forceinline__ float gi_leaky_grad(float y, float slope) {
    return y > 0.0f ? 1.0f : slope;
}

// Mirrors cpu::backend gat_scores: items 0 .. S E H are the edges,
//   out_edge[(s E + e) H + h] = leaky_relu(a_src[(s N + src_e) H + h] + a_dst[(s N + dst_e) H + h])
// (0 for a replaced input self-loop), and, with loops, items S E H .. S E H + S N H the
// self-loops, out_loop[(s N + i) H + h] = leaky_relu(a_src[..i..] + a_dst[..i..]).
GI_KERNEL void gat_scores(const int* __restrict__ src, const int* __restrict__ dst,
                          const float* __restrict__ a_src, const float* __restrict__ a_dst,
                          float* __restrict__ out_edge, float* __restrict__ out_loop,
                          int num_nodes, int num_edges, int steps, int heads, int loops,
                          float slope) {
    long long edge_items = (long long)steps * num_edges * heads;
    long long loop_items = loops ? (long long)steps * num_nodes * heads : 0;
    GI_GRID_STRIDE(k, edge_items + loop_items) {
        if (k < edge_items) {
            long long se = k / heads;
            int h = int(k % heads);
            int s = int(se / num_edges), e = int(se % num_edges);
            int a = src[e], b = dst[e];
            long long row = (long long)s * num_nodes;
            out_edge[k] = loops && a == b ? 0.0f
                                          : gi_leaky(a_src[(row + a) * heads + h] +
                                                         a_dst[(row + b) * heads + h],
                                                     slope);
        } else {
            long long j = k - edge_items;
            out_loop[j] = gi_leaky(a_src[j] + a_dst[j], slope);
        }
    }
}

// Mirrors cpu::backend gat_scores_backward, one thread per (step, node, head):
//   d_src[s, i, h] = Σ_{e: src_e = i} g_e (+ g_loop(i)),  d_dst[s, i, h] = Σ_{e: dst_e = i} g_e (+ g_loop(i))
// with g = d_score * leaky_relu'(score), over the outgoing CSR (by source, then edge id) and
// the incoming CSR (by target, source, edge id), skipping replaced self-loops. Written, not
// accumulated. Atomic-free.
GI_KERNEL void gat_scores_backward(const int* __restrict__ in_ptr, const int* __restrict__ in_eid,
                                   const int* __restrict__ out_ptr,
                                   const int* __restrict__ out_eid, const int* __restrict__ src,
                                   const int* __restrict__ dst,
                                   const float* __restrict__ score_edge,
                                   const float* __restrict__ score_loop,
                                   const float* __restrict__ d_edge,
                                   const float* __restrict__ d_loop, float* __restrict__ d_src,
                                   float* __restrict__ d_dst, int num_nodes, int num_edges,
                                   int steps, int heads, int loops, float slope) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * heads) {
        long long row = k / heads;
        int h = int(k % heads);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        long long eb = (long long)s * num_edges;
        float gs = 0.0f, gd = 0.0f;
        for (int q = out_ptr[i]; q < out_ptr[i + 1]; ++q) {
            int e = out_eid[q];
            if (loops && src[e] == dst[e]) continue;
            long long j = (eb + e) * heads + h;
            gs += d_edge[j] * gi_leaky_grad(score_edge[j], slope);
        }
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            if (loops && src[e] == dst[e]) continue;
            long long j = (eb + e) * heads + h;
            gd += d_edge[j] * gi_leaky_grad(score_edge[j], slope);
        }
        if (loops) {
            float g = d_loop[k] * gi_leaky_grad(score_loop[k], slope);
            gs += g;
            gd += g;
        }
        d_src[k] = gs;
        d_dst[k] = gd;
    }
}

// Mirrors cpu::backend segment_softmax (PyG's softmax: exp(v − max) / (Σ exp + 1e-16)) over
// each target's incoming edges in CSR order, then its own self-loop with loops. One thread
// per (step, target, head) segment writes every coefficient of its segment (replaced
// self-loops get 0), so every edge's coefficient is written once. Atomic-free.
GI_KERNEL void segment_softmax(const int* __restrict__ in_ptr, const int* __restrict__ in_eid,
                               const int* __restrict__ src, const int* __restrict__ dst,
                               const float* __restrict__ score_edge,
                               const float* __restrict__ score_loop,
                               float* __restrict__ out_edge, float* __restrict__ out_loop,
                               int num_nodes, int num_edges, int steps, int heads, int loops) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * heads) {
        long long row = k / heads;
        int h = int(k % heads);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        long long eb = (long long)s * num_edges;
        float m = -GI_INFINITY;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            if (loops && src[e] == dst[e]) continue;
            m = fmaxf(m, score_edge[(eb + e) * heads + h]);
        }
        if (loops) m = fmaxf(m, score_loop[k]);
        float sum = 0.0f;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            if (loops && src[e] == dst[e]) continue;
            sum += expf(score_edge[(eb + e) * heads + h] - m);
        }
        if (loops) sum += expf(score_loop[k] - m);
        float denom = sum + 1e-16f;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            long long j = (eb + e) * heads + h;
            out_edge[j] = loops && src[e] == dst[e] ? 0.0f : expf(score_edge[j] - m) / denom;
        }
        if (loops) out_loop[k] = expf(score_loop[k] - m) / denom;
    }
}

// Mirrors cpu::backend segment_softmax_backward, from the coefficients alpha:
//   d_score = alpha (d_alpha − Σ_segment alpha d_alpha)
// one thread per (step, target, head) segment, as segment_softmax. Atomic-free.
GI_KERNEL void segment_softmax_backward(const int* __restrict__ in_ptr,
                                        const int* __restrict__ in_eid,
                                        const int* __restrict__ src, const int* __restrict__ dst,
                                        const float* __restrict__ alpha_edge,
                                        const float* __restrict__ alpha_loop,
                                        const float* __restrict__ d_edge,
                                        const float* __restrict__ d_loop,
                                        float* __restrict__ out_edge, float* __restrict__ out_loop,
                                        int num_nodes, int num_edges, int steps, int heads,
                                        int loops) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * heads) {
        long long row = k / heads;
        int h = int(k % heads);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        long long eb = (long long)s * num_edges;
        float dot = 0.0f;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            if (loops && src[e] == dst[e]) continue;
            long long j = (eb + e) * heads + h;
            dot += alpha_edge[j] * d_edge[j];
        }
        if (loops) dot += alpha_loop[k] * d_loop[k];
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            int e = in_eid[q];
            long long j = (eb + e) * heads + h;
            out_edge[j] = loops && src[e] == dst[e] ? 0.0f : alpha_edge[j] * (d_edge[j] - dot);
        }
        if (loops) out_loop[k] = alpha_loop[k] * (d_loop[k] - dot);
    }
}
