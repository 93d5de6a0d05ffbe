// pooling.cu: the readouts for S steps at once: global add/mean/max pooling over each
// graph's nodes (graph tasks) and the explained node's row (node tasks), and their
// backwards. Instance q = s * num_graphs + g is graph g at step s; its nodes are rows
// s * num_nodes + node_ptr[g] .. s * num_nodes + node_ptr[g+1].
#include "prelude.cuh"

#define GI_POOL_ADD 0
#define GI_POOL_MEAN 1
#define GI_POOL_MAX 2

// Mirrors cpu::pooling::pool_forward. One block per instance (grid-stride). The block's
// warps split the nodes (warp w takes nodes w, w + W, ...), lanes split the channels; the
// per-warp partials meet in shared memory and warp 0 combines them in warp order, so the
// result is deterministic. For max pooling it also counts, per channel, the nodes that
// reach the maximum (ties), which the backward pass divides the gradient by.
// Dynamic shared memory: 2 * (blockDim.x / 32) * dim floats. blockDim.x must be a multiple of 32.
GI_KERNEL void pool_forward(const int* __restrict__ node_ptr, const float* __restrict__ h,
                            float* __restrict__ pooled, float* __restrict__ ties, int num_graphs,
                            int num_nodes, int steps, int dim, int mode) {
    GI_DYNAMIC_SHARED(float, part);
    int warps = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* cnt = part + warps * dim;
    for (long long q = blockIdx.x; q < (long long)steps * num_graphs; q += gridDim.x) {
        int s = int(q / num_graphs), g = int(q % num_graphs);
        const float* hs = h + (long long)s * num_nodes * dim;
        int n0 = node_ptr[g], n1 = node_ptr[g + 1];
        for (int c = lane; c < dim; c += 32) {
            float acc = mode == GI_POOL_MAX ? -GI_INFINITY : 0.0f;
            float k = 0.0f;
            for (int i = n0 + w; i < n1; i += warps) {
                float v = hs[(long long)i * dim + c];
                if (mode != GI_POOL_MAX) {
                    acc += v;
                } else if (v > acc) {
                    acc = v;
                    k = 1.0f;
                } else if (v == acc) {
                    k += 1.0f;
                }
            }
            part[w * dim + c] = acc;
            cnt[w * dim + c] = k;
        }
        __syncthreads();
        if (w == 0) {
            for (int c = lane; c < dim; c += 32) {
                float acc = part[c], k = cnt[c];
                for (int o = 1; o < warps; ++o) {
                    float v = part[o * dim + c];
                    if (mode != GI_POOL_MAX) {
                        acc += v;
                    } else if (v > acc) {
                        acc = v;
                        k = cnt[o * dim + c];
                    } else if (v == acc) {
                        k += cnt[o * dim + c];
                    }
                }
                if (mode == GI_POOL_MEAN) acc /= float(n1 - n0);
                pooled[q * dim + c] = acc;
                if (ties != nullptr) ties[q * dim + c] = k;
            }
        }
        __syncthreads();
    }
}

// Mirrors cpu::pooling::pool_backward:
//   dh[s, i, c] = dpooled[q, c] * (1 | 1/n | [h == pooled] / ties)
// node_graph[i] is the graph of node i. With add pooling and dpooled = r it is also the
// broadcast of r[q, c] to every node (Excitation Backprop).
GI_KERNEL void pool_backward(const int* __restrict__ node_ptr, const int* __restrict__ node_graph,
                             const float* __restrict__ h, const float* __restrict__ pooled,
                             const float* __restrict__ ties, const float* __restrict__ dpooled,
                             float* __restrict__ dh, int num_graphs, int num_nodes, int steps,
                             int dim, int mode) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        int g = node_graph[i];
        long long q = (long long)s * num_graphs + g;
        float d = dpooled[q * dim + c];
        if (mode == GI_POOL_ADD) {
            dh[k] = d;
        } else if (mode == GI_POOL_MEAN) {
            dh[k] = d / float(node_ptr[g + 1] - node_ptr[g]);
        } else {
            dh[k] = h[k] == pooled[q * dim + c] ? d / ties[q * dim + c] : 0.0f;
        }
    }
}

// Mirrors cpu::backend select_centers (node tasks): the explained node's row of every
// instance, out[s * G + g, c] = h[s * N + center[g], c], center[g] being a node of graph g
// (checked by the host).
GI_KERNEL void select_centers(const int* __restrict__ center, const float* __restrict__ h,
                              float* __restrict__ out, int num_graphs, int num_nodes, int steps,
                              int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_graphs * dim) {
        long long q = k / dim;
        int c = int(k % dim);
        int s = int(q / num_graphs), g = int(q % num_graphs);
        out[k] = h[((long long)s * num_nodes + center[g]) * dim + c];
    }
}

// Mirrors cpu::backend select_centers_t: dh is 0 but for the centres' rows, which get d.
GI_KERNEL void select_centers_t(const int* __restrict__ node_graph, const int* __restrict__ center,
                                const float* __restrict__ d, float* __restrict__ dh,
                                int num_graphs, int num_nodes, int steps, int dim) {
    GI_GRID_STRIDE(k, (long long)steps * num_nodes * dim) {
        long long row = k / dim;
        int c = int(k % dim);
        int s = int(row / num_nodes), i = int(row % num_nodes);
        int g = node_graph[i];
        dh[k] = center[g] == i ? d[((long long)s * num_graphs + g) * dim + c] : 0.0f;
    }
}
