// message_passing.cu: message passing with per-edge coefficients for S steps of a batch
// at once. Activations are step-major: row s * num_nodes + i is node i at step s. The
// graph structure is shared by all steps; the CSRs carry each slot's edge id.
//
// The coefficient of edge e at step s, head h (nn::backend::Coef) is
//   mask(s, e) * fixed[e] * att[(s * num_edges + e) * heads + h]
// where mask(s, e) is mask_step[s] (one value per step) or mask_edge[s * num_edges + e],
// and a null fixed or att is 1. With `loops` (a conv that adds its own self-loops), node
// i at step s also gets its own term with coefficient
//   loop_fixed[i] * loop_att[(s * num_nodes + i) * heads + h]
// (null factors are 1). Channel c of a dim-wide row belongs to head c / (dim / heads).
// Every kernel is atomic-free: each output element has one thread, which sums its terms
// in a fixed order.
#include "prelude.cuh"

// The mask value of edge e at step s.
__device__ __forceinline__ float gi_mask(const float* __restrict__ mask_step,
                                         const float* __restrict__ mask_edge, int s, int e,
                                         int num_edges) {
    return mask_edge != nullptr ? mask_edge[(long long)s * num_edges + e] : mask_step[s];
}

// The coefficient of edge e at step s, head h, multiplied in the CPU's order.
__device__ __forceinline__ float gi_coef(const float* __restrict__ mask_step,
                                         const float* __restrict__ mask_edge,
                                         const float* __restrict__ fixed,
                                         const float* __restrict__ att, int s, int e, int h,
                                         int num_edges, int heads) {
    float v = gi_mask(mask_step, mask_edge, s, e, num_edges);
    if (fixed != nullptr) v *= fixed[e];
    if (att != nullptr) v *= att[((long long)s * num_edges + e) * heads + h];
    return v;
}

// The self-loop coefficient of node i at step s, head h.
__device__ __forceinline__ float gi_loop_coef(const float* __restrict__ loop_fixed,
                                              const float* __restrict__ loop_att, int s, int i,
                                              int h, int num_nodes, int heads) {
    float v = 1.0f;
    if (loop_fixed != nullptr) v *= loop_fixed[i];
    if (loop_att != nullptr) v *= loop_att[((long long)s * num_nodes + i) * heads + h];
    return v;
}

// Mirrors cpu::backend propagate:
//   out[s, i, c] = Σ_{k in in_ptr[i]..in_ptr[i+1]} coef(s, in_eid[k], h) x[s, in_src[k], c]
//                  (+ loop(s, i, h) x[s, i, c])
// over the CSR of incoming edges sorted by (target, source, edge id): every node sums its
// messages in the CPU reference's (and PyG's) order, each message formed before it is added.
GI_KERNEL void mp_propagate(const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                            const int* __restrict__ in_eid, const float* __restrict__ mask_step,
                            const float* __restrict__ mask_edge, const float* __restrict__ fixed,
                            const float* __restrict__ att, const float* __restrict__ loop_fixed,
                            const float* __restrict__ loop_att, const float* __restrict__ x,
                            float* __restrict__ out, int num_nodes, int num_edges, int steps,
                            int dim, int heads, int loops) {
    int ch = dim / heads;
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim), h = c / ch;
        int s = int(row / num_nodes), i = int(row % num_nodes);
        const float* xs = x + (long long)s * num_nodes * dim;
        float acc = 0.0f;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            float w = gi_coef(mask_step, mask_edge, fixed, att, s, in_eid[q], h, num_edges, heads);
            float m = w * xs[(long long)in_src[q] * dim + c];
            acc += m;
        }
        if (loops) {
            float m = gi_loop_coef(loop_fixed, loop_att, s, i, h, num_nodes, heads) * x[k];
            acc += m;
        }
        out[k] = acc;
    }
}

// Mirrors cpu::backend propagate_t, the transpose:
//   dx[s, j, c] (+)= Σ_{k in out_ptr[j]..out_ptr[j+1]} coef(s, out_eid[k], h) d[s, out_dst[k], c]
//                    (+ loop(s, j, h) d[s, j, c])
// over the CSR of outgoing edges (by source, then edge id: the CPU's edge order), after
// dx's value (accumulate != 0) or 0. Edges with coefficient 0 add nothing, as on the CPU.
GI_KERNEL void mp_propagate_t(const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                              const int* __restrict__ out_eid,
                              const float* __restrict__ mask_step,
                              const float* __restrict__ mask_edge,
                              const float* __restrict__ fixed, const float* __restrict__ att,
                              const float* __restrict__ loop_fixed,
                              const float* __restrict__ loop_att, const float* __restrict__ d,
                              float* __restrict__ dx, int num_nodes, int num_edges, int steps,
                              int dim, int heads, int loops, int accumulate) {
    int ch = dim / heads;
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim), h = c / ch;
        int s = int(row / num_nodes), j = int(row % num_nodes);
        const float* ds = d + (long long)s * num_nodes * dim;
        float acc = accumulate ? dx[k] : 0.0f;
        for (int q = out_ptr[j]; q < out_ptr[j + 1]; ++q) {
            float w = gi_coef(mask_step, mask_edge, fixed, att, s, out_eid[q], h, num_edges, heads);
            if (w != 0.0f) acc += w * ds[(long long)out_dst[q] * dim + c];
        }
        if (loops) acc += gi_loop_coef(loop_fixed, loop_att, s, j, h, num_nodes, heads) * d[k];
        dx[k] = acc;
    }
}

// Mirrors the edge part of cpu::backend propagate_coef_grad, one thread per (step, edge),
// with dot(s, e, h) = Σ_{c of head h} d[s, dst_e, c] x[s, src_e, c] (channels in order):
//   dmask[s, e] += Σ_h fixed[e] att(s, e, h) dot(s, e, h)          (dmask may be null)
//   datt[(s E + e) H + h] = mask(s, e) fixed[e] dot(s, e, h)        (datt may be null)
GI_KERNEL void mp_coef_grad(const int* __restrict__ src, const int* __restrict__ dst,
                            const float* __restrict__ mask_step,
                            const float* __restrict__ mask_edge, const float* __restrict__ fixed,
                            const float* __restrict__ att, const float* __restrict__ d,
                            const float* __restrict__ x, float* __restrict__ dmask,
                            float* __restrict__ datt, int num_nodes, int num_edges, int steps,
                            int dim, int heads) {
    int ch = dim / heads;
    GI_GRID_STRIDE(item, (long long)steps * num_edges) {
        int s = int(item / num_edges), e = int(item % num_edges);
        const float* g = d + ((long long)s * num_nodes + dst[e]) * dim;
        const float* xs = x + ((long long)s * num_nodes + src[e]) * dim;
        float f = fixed != nullptr ? fixed[e] : 1.0f;
        float dm = 0.0f;
        for (int h = 0; h < heads; ++h) {
            float dt = 0.0f;
            for (int c = h * ch; c < (h + 1) * ch; ++c) dt += g[c] * xs[c];
            float a = att != nullptr ? att[item * heads + h] : 1.0f;
            dm += f * a * dt;
            if (datt != nullptr)
                datt[item * heads + h] = gi_mask(mask_step, mask_edge, s, e, num_edges) * f * dt;
        }
        if (dmask != nullptr) dmask[item] += dm;
    }
}

// Mirrors the self-loop part of cpu::backend propagate_coef_grad, one thread per
// (step, node, head): datt_loop[(s N + i) H + h] = loop_fixed[i] Σ_{c of head h} d[s, i, c] x[s, i, c].
GI_KERNEL void mp_loop_coef_grad(const float* __restrict__ loop_fixed,
                                 const float* __restrict__ d, const float* __restrict__ x,
                                 float* __restrict__ datt_loop, int num_nodes, int steps, int dim,
                                 int heads) {
    int ch = dim / heads;
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * heads) {
        long long row = k / heads;
        int h = int(k % heads), i = int(row % num_nodes);
        const float* dr = d + row * dim + h * ch;
        const float* xr = x + row * dim + h * ch;
        float dt = 0.0f;
        for (int c = 0; c < ch; ++c) dt += dr[c] * xr[c];
        datt_loop[k] = (loop_fixed != nullptr ? loop_fixed[i] : 1.0f) * dt;
    }
}

// Mirrors cpu::backend propagate_max (one head, no loops):
//   out[s, i, c] = max_{e=(j→i)} coef(s, e) x[s, j, c]  (0 without incoming edges)
//   ties[s, i, c] = the number of edges that reach it
// over the incoming CSR.
GI_KERNEL void mp_max(const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                      const int* __restrict__ in_eid, const float* __restrict__ mask_step,
                      const float* __restrict__ mask_edge, const float* __restrict__ fixed,
                      const float* __restrict__ x, float* __restrict__ out,
                      float* __restrict__ ties, int num_nodes, int num_edges, int steps,
                      int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        const float* xs = x + (long long)s * num_nodes * dim;
        float m = -GI_INFINITY, n = 0.0f;
        for (int q = in_ptr[i]; q < in_ptr[i + 1]; ++q) {
            float w = gi_coef(mask_step, mask_edge, fixed, nullptr, s, in_eid[q], 0, num_edges, 1);
            float v = w * xs[(long long)in_src[q] * dim + c];
            if (v > m) {
                m = v;
                n = 1.0f;
            } else if (v == m) {
                n += 1.0f;
            }
        }
        out[k] = n > 0.0f ? m : 0.0f;
        ties[k] = n;
    }
}

// Mirrors the input part of cpu::backend propagate_max_backward: each maximum's gradient is
// split evenly among the edges that reach it,
//   dx[s, j, c] += Σ_{e=(j→i) reaching max[s, i, c]} coef(s, e) d[s, i, c] / ties[s, i, c]
// over the outgoing CSR (the CPU's edge order).
GI_KERNEL void mp_max_backward_input(const int* __restrict__ out_ptr,
                                     const int* __restrict__ out_dst,
                                     const int* __restrict__ out_eid,
                                     const float* __restrict__ mask_step,
                                     const float* __restrict__ mask_edge,
                                     const float* __restrict__ fixed, const float* __restrict__ x,
                                     const float* __restrict__ max, const float* __restrict__ ties,
                                     const float* __restrict__ d, float* __restrict__ dx,
                                     int num_nodes, int num_edges, int steps, int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), j = int(row % num_nodes);
        long long base = (long long)s * num_nodes * dim + c;
        float xs = x[k], acc = dx[k];
        for (int q = out_ptr[j]; q < out_ptr[j + 1]; ++q) {
            float w = gi_coef(mask_step, mask_edge, fixed, nullptr, s, out_eid[q], 0, num_edges, 1);
            long long t = base + (long long)out_dst[q] * dim;
            if (ties[t] > 0.0f && w * xs == max[t]) acc += w * (d[t] / ties[t]);
        }
        dx[k] = acc;
    }
}

// Mirrors the mask part of cpu::backend propagate_max_backward, one thread per (step, edge):
//   dmask[s, e] += fixed[e] Σ_c [coef(s, e) x[s, j, c] reaches max[s, i, c]] x[s, j, c] d[s, i, c] / ties
// channels in order.
GI_KERNEL void mp_max_backward_mask(const int* __restrict__ src, const int* __restrict__ dst,
                                    const float* __restrict__ mask_step,
                                    const float* __restrict__ mask_edge,
                                    const float* __restrict__ fixed, const float* __restrict__ x,
                                    const float* __restrict__ max, const float* __restrict__ ties,
                                    const float* __restrict__ d, float* __restrict__ dmask,
                                    int num_nodes, int num_edges, int steps, int dim) {
    GI_GRID_STRIDE(item, (long long)steps * num_edges) {
        int s = int(item / num_edges), e = int(item % num_edges);
        float w = gi_coef(mask_step, mask_edge, fixed, nullptr, s, e, 0, num_edges, 1);
        const float* xs = x + ((long long)s * num_nodes + src[e]) * dim;
        long long t = ((long long)s * num_nodes + dst[e]) * dim;
        float dm = 0.0f;
        for (int c = 0; c < dim; ++c) {
            if (ties[t + c] > 0.0f && w * xs[c] == max[t + c]) dm += xs[c] * (d[t + c] / ties[t + c]);
        }
        dmask[item] += (fixed != nullptr ? fixed[e] : 1.0f) * dm;
    }
}
