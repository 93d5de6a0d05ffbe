// fused.cu: the whole Integrated Gradients computation of one graph in one block.
//
// One block per graph (grid-stride over the chunk's graphs). For every step the
// block runs the forward pass through all conv layers, the pooling and the head,
// then the backward pass of the target log-probability to the edge weights or the
// node features, and adds the step's weighted gradient to the graph's sum. All
// activations live in shared memory; only the results go to global memory:
// the attributions, F(input), F(baseline) and the convergence delta.
//
// Mirrors cpu::attribute (integrate, attribute) with cpu::network (forward,
// backward); the layered kernels compute the same numbers step-major.
//
// Parameters are packed by the host, layer by layer: lin_rel.weight [out, in],
// lin_rel.bias [out], lin_root.weight [out, in]; then lin1.weight, lin1.bias,
// lin2.weight, lin2.bias; then, layer by layer, lin_rel.weight and lin_root.weight
// transposed to [in, out] (for the forward products' coalesced reads).
// `dims` = [L, d_0 = F, d_1, ..., d_L, hidden, classes, offset of the transposed
// weights in the parameters] (the offset comes from the host: computing it here
// cost the f32 kernel 16 registers).
//
// Shared memory, for a graph of n nodes and e edges, D = max width: first in f32,
//   three n * D work buffers, P and Q (n * d_1 each, edge mode with the shortcut),
//   e edge-gradient slots, and 4 * D + 2 * hidden + 3 * classes + 2 for the head;
//   then in the storage type S (f32, bf16 or f16: kernels fused_ig, fused_ig_bf16,
//   fused_ig_f16) h_0 .. h_L (n * d_l each). Narrow storage rounds the
//   activations each time they are written; gradients and sums stay f32. The host
//   computes the same size (src/cuda/fused.rs) and sends graphs that do not fit to
//   the layered path.
#include "prelude.cuh"

#define GI_MODE_EDGES 0
#define GI_MODE_NODES 1

#define GI_FINISH_IG 0
#define GI_FINISH_SALIENCY 1
#define GI_FINISH_IXG 2
#define GI_FINISH_GRAD 3

struct FusedNet {
    const float* p;
    const int* dims;
    int layers, hidden, classes, dmax;
    __device__ int width(int l) const { return dims[1 + l]; }
    // Offsets of layer l's parameters.
    __device__ int conv_offset(int l) const {
        int off = 0;
        for (int k = 0; k < l; ++k) off += 2 * width(k + 1) * width(k) + width(k + 1);
        return off;
    }
    __device__ const float* rel_w(int l) const { return p + conv_offset(l); }
    __device__ const float* rel_b(int l) const { return rel_w(l) + width(l + 1) * width(l); }
    __device__ const float* root_w(int l) const { return rel_b(l) + width(l + 1); }
    __device__ const float* lin1_w() const { return p + conv_offset(layers); }
    __device__ const float* lin1_b() const { return lin1_w() + hidden * width(layers); }
    __device__ const float* lin2_w() const { return lin1_b() + hidden; }
    __device__ const float* lin2_b() const { return lin2_w() + classes * hidden; }
    // Layer l's two weights again, transposed to [in, out], after everything else: the
    // forward products read them, so that the threads of a warp (consecutive outputs)
    // read consecutive addresses. The backward products read the [out, in] copies,
    // which are already consecutive in their threads' index.
    __device__ const float* rel_wt(int l) const {
        int off = dims[layers + 4];
        for (int k = 0; k < l; ++k) off += 2 * width(k + 1) * width(k);
        return p + off;
    }
    __device__ const float* root_wt(int l) const { return rel_wt(l) + width(l + 1) * width(l); }
};

struct FusedGraph {
    int n0, n, e0, e;
    const int* in_ptr;   // chunk CSR by destination (chunk node ids)
    const int* in_src;
    const int* out_ptr;  // chunk CSR by source
    const int* out_dst;
    const int* src;
    const int* dst;
};

// The block's shared memory. S is the storage type of the activations h_l (float,
// gi_bf16 or gi_f16); everything else (the shortcut's P and Q, whose sum cancels, and
// the gradients) is f32, and all arithmetic is f32.
template <typename S>
struct FusedSmem {
    S* h0;  // h_0 .. h_L back to back
    int n;
    // h_l, the input of conv layer l + 1 (computed, so no pointer array lands in local memory).
    __device__ S* hl(const FusedNet& net, int l) const {
        S* p = h0;
        for (int k = 0; k < l; ++k) p += n * net.width(k);
        return p;
    }
    float *a, *b, *c, *P, *Q, *dw;
    float *pooled, *ties, *dpooled, *tmp, *z1, *dz1, *logit, *logp, *dz2, *scalar;
};

// Forward pass of one step. h[0] holds the node features. With `shortcut`, layer 1 is
// relu(w * P + Q) (edge mode: P = W_rel A x, Q = W_root x + b, computed once per graph).
template <typename S>
__device__ void fused_forward(const FusedNet& net, const FusedGraph& g, FusedSmem<S>& s, float w,
                              bool shortcut, int pool_mode) {
    int t = threadIdx.x, T = blockDim.x;
    for (int l = 0; l < net.layers; ++l) {
        int din = net.width(l), dout = net.width(l + 1);
        const S* hin = s.hl(net, l);
        S* hout = s.hl(net, l + 1);
        if (l == 0 && shortcut) {
            for (int k = t; k < g.n * dout; k += T) {
                float v = w * s.P[k] + s.Q[k];
                hout[k] = gi_store<S>(v > 0.0f ? v : 0.0f);
            }
            __syncthreads();
            continue;
        }
        // Aggregate incoming messages, in CSR order (destination, source, edge id).
        for (int k = t; k < g.n * din; k += T) {
            int i = k / din, c = k % din;
            float acc = 0.0f;
            for (int q = g.in_ptr[g.n0 + i]; q < g.in_ptr[g.n0 + i + 1]; ++q) {
                float m = w * gi_load(hin[(g.in_src[q] - g.n0) * din + c]);
                acc += m;
            }
            s.a[k] = acc;
        }
        __syncthreads();
        const float* wrt = net.rel_wt(l);
        const float* br = net.rel_b(l);
        const float* wot = net.root_wt(l);
        for (int k = t; k < g.n * dout; k += T) {
            int i = k / dout, o = k % dout;
            float acc = 0.0f, acc2 = 0.0f;
            for (int c = 0; c < din; ++c) acc += s.a[i * din + c] * wrt[c * dout + o];
            for (int c = 0; c < din; ++c) acc2 += gi_load(hin[i * din + c]) * wot[c * dout + o];
            float v = acc + acc2 + br[o];
            hout[k] = gi_store<S>(v > 0.0f ? v : 0.0f);
        }
        __syncthreads();
    }
    // Pooling: one thread per channel, nodes in order; max pooling counts ties.
    int d = net.width(net.layers);
    const S* hl = s.hl(net, net.layers);
    for (int c = t; c < d; c += T) {
        float acc = pool_mode == 2 ? gi_load(hl[c]) : 0.0f, k = pool_mode == 2 ? 1.0f : 0.0f;
        for (int i = pool_mode == 2 ? 1 : 0; i < g.n; ++i) {
            float v = gi_load(hl[i * d + c]);
            if (pool_mode != 2) {
                acc += v;
            } else if (v > acc) {
                acc = v;
                k = 1.0f;
            } else if (v == acc) {
                k += 1.0f;
            }
        }
        if (pool_mode == 1) acc /= float(g.n);
        s.pooled[c] = acc;
        s.ties[c] = k;
    }
    __syncthreads();
    for (int j = t; j < net.hidden; j += T) {
        const float* w1 = net.lin1_w() + j * d;
        float acc = 0.0f;
        for (int c = 0; c < d; ++c) acc += s.pooled[c] * w1[c];
        acc += net.lin1_b()[j];
        s.z1[j] = acc > 0.0f ? acc : 0.0f;
    }
    __syncthreads();
    for (int o = t; o < net.classes; o += T) {
        const float* w2 = net.lin2_w() + o * net.hidden;
        float acc = 0.0f;
        for (int j = 0; j < net.hidden; ++j) acc += s.z1[j] * w2[j];
        s.logit[o] = acc + net.lin2_b()[o];
    }
    __syncthreads();
    if (t == 0) {
        float m = s.logit[0];
        for (int c = 1; c < net.classes; ++c) m = fmaxf(m, s.logit[c]);
        float z = 0.0f;
        for (int c = 0; c < net.classes; ++c) z += expf(s.logit[c] - m);
        float lse = m + logf(z);
        for (int c = 0; c < net.classes; ++c) s.logp[c] = s.logit[c] - lse;
    }
    __syncthreads();
}

// Backward pass of log_probs[target] after fused_forward with the same w. Edge mode adds
// the edge-weight gradient to s.dw (zeroed by the caller); node mode leaves the
// node-feature gradient in the returned buffer.
template <typename S>
__device__ float* fused_backward(const FusedNet& net, const FusedGraph& g, FusedSmem<S>& s, float w,
                                 int target, int mode, int pool_mode) {
    int t = threadIdx.x, T = blockDim.x;
    if (t == 0) {
        float rest = 0.0f;
        for (int c = 0; c < net.classes; ++c) {
            float p = expf(s.logp[c]);
            s.dz2[c] = -p;
            if (c != target) rest += p;
        }
        s.dz2[target] = rest;
    }
    __syncthreads();
    for (int j = t; j < net.hidden; j += T) {
        float acc = 0.0f;
        for (int o = 0; o < net.classes; ++o) acc += s.dz2[o] * net.lin2_w()[o * net.hidden + j];
        s.dz1[j] = s.z1[j] > 0.0f ? acc : 0.0f;
    }
    __syncthreads();
    int d = net.width(net.layers);
    for (int c = t; c < d; c += T) {
        float acc = 0.0f;
        for (int j = 0; j < net.hidden; ++j) acc += s.dz1[j] * net.lin1_w()[j * d + c];
        s.dpooled[c] = acc;
    }
    __syncthreads();
    float* dh = s.b;
    float* dprev = s.c;
    const S* hl = s.hl(net, net.layers);
    for (int k = t; k < g.n * d; k += T) {
        int c = k % d;
        float v = gi_load(hl[k]), out;
        if (pool_mode == 0) {
            out = s.dpooled[c];
        } else if (pool_mode == 1) {
            out = s.dpooled[c] / float(g.n);
        } else {
            out = v == s.pooled[c] ? s.dpooled[c] / s.ties[c] : 0.0f;
        }
        dh[k] = v > 0.0f ? out : 0.0f;
    }
    __syncthreads();
    for (int l = net.layers - 1; l >= 0; --l) {
        int din = net.width(l), dout = net.width(l + 1);
        const float* wr = net.rel_w(l);
        const float* wo = net.root_w(l);
        float* dagg = s.a;
        for (int k = t; k < g.n * din; k += T) {
            int i = k / din, c = k % din;
            float acc = 0.0f;
            for (int o = 0; o < dout; ++o) acc += dh[i * dout + o] * wr[o * din + c];
            dagg[k] = acc;
        }
        __syncthreads();
        if (mode == GI_MODE_EDGES) {
            const S* hin = s.hl(net, l);
            for (int q = t; q < g.e; q += T) {
                int si = g.src[g.e0 + q] - g.n0, di = g.dst[g.e0 + q] - g.n0;
                float acc = 0.0f;
                // Each edge starts at its own channel: with rows of 32 floats, channel c of
                // every row is in bank c, so a common start would make the warp's reads
                // 32-way bank conflicts. (This changes the order of the sum, not its terms.)
                int c = q % din;
                for (int j = 0; j < din; ++j) {
                    acc += dagg[di * din + c] * gi_load(hin[si * din + c]);
                    c = c + 1 == din ? 0 : c + 1;
                }
                s.dw[q] += acc;
            }
            __syncthreads();
            if (l == 0) break;
        }
        for (int k = t; k < g.n * din; k += T) {
            int j = k / din, c = k % din;
            float acc = 0.0f;
            for (int o = 0; o < dout; ++o) acc += dh[j * dout + o] * wo[o * din + c];
            if (w != 0.0f) {
                for (int q = g.out_ptr[g.n0 + j]; q < g.out_ptr[g.n0 + j + 1]; ++q)
                    acc += w * dagg[(g.out_dst[q] - g.n0) * din + c];
            }
            if (l > 0 && gi_load(s.hl(net, l)[k]) <= 0.0f) acc = 0.0f;
            dprev[k] = acc;
        }
        __syncthreads();
        float* swap = dh;
        dh = dprev;
        dprev = swap;
    }
    return dh;
}

// Integrated Gradients (or saliency / input x gradient with one step of alpha 1)
// for every graph of the chunk.
//   mode: GI_MODE_EDGES (edge mask, input 1, baseline 0) or GI_MODE_NODES
//         (features, baseline `base`, null = zeros; edge weights 1).
//   finish: GI_FINISH_IG (sum * (input - baseline)), _SALIENCY (|sum|), _IXG (sum * input),
//           _GRAD (the sum itself: IG without multiply_by_inputs).
//   target[g]: the class explained for graph g.
//   attr: [E] (edges) or [N, F] (nodes); delta, f_in, f_base: [G].
template <typename S>
__device__ void fused_ig_body(float* smem, const int* __restrict__ node_ptr, const int* __restrict__ edge_ptr,
                        const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                        const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                        const int* __restrict__ src, const int* __restrict__ dst,
                        const float* __restrict__ x, const float* __restrict__ base,
                        const float* __restrict__ params, const int* __restrict__ dims,
                        const float* __restrict__ alphas, const float* __restrict__ weights,
                        int steps, const int* __restrict__ target, float* __restrict__ attr,
                        float* __restrict__ delta, float* __restrict__ f_in,
                        float* __restrict__ f_base, int num_graphs, int mode, int finish,
                        int pool_mode, int shortcut) {
    int t = threadIdx.x, T = blockDim.x;
    FusedNet net;
    net.p = params;
    net.dims = dims;
    net.layers = dims[0];
    net.hidden = dims[net.layers + 2];
    net.classes = dims[net.layers + 3];
    net.dmax = net.hidden;
    for (int l = 0; l <= net.layers; ++l) net.dmax = net.width(l) > net.dmax ? net.width(l) : net.dmax;
    int f = net.width(0), d1 = net.width(1), D = net.dmax;
    for (int gi = blockIdx.x; gi < num_graphs; gi += gridDim.x) {
        FusedGraph g;
        g.n0 = node_ptr[gi];
        g.n = node_ptr[gi + 1] - g.n0;
        g.e0 = edge_ptr[gi];
        g.e = edge_ptr[gi + 1] - g.e0;
        g.in_ptr = in_ptr;
        g.in_src = in_src;
        g.out_ptr = out_ptr;
        g.out_dst = out_dst;
        g.src = src;
        g.dst = dst;
        // Carve shared memory (the same layout as the host's size computation).
        // f32 buffers first, then the storage-type ones, so every array stays aligned.
        FusedSmem<S> s;
        float* p = smem;
        s.n = g.n;
        s.a = p; p += g.n * D;
        s.b = p; p += g.n * D;
        s.c = p; p += g.n * D;
        s.P = p; p += g.n * d1;
        s.Q = p; p += g.n * d1;
        s.dw = p; p += g.e;
        s.pooled = p; p += D;
        s.ties = p; p += D;
        s.dpooled = p; p += D;
        s.tmp = p; p += D;
        s.z1 = p; p += net.hidden;
        s.dz1 = p; p += net.hidden;
        s.logit = p; p += net.classes;
        s.logp = p; p += net.classes;
        s.dz2 = p; p += net.classes;
        s.scalar = p; p += 2;
        S* q = reinterpret_cast<S*>(p);
        s.h0 = q;
        const float* xg = x + (long long)g.n0 * f;
        const float* bg = base != nullptr ? base + (long long)g.n0 * f : nullptr;
        int tgt = target[gi];
        bool edges = mode == GI_MODE_EDGES;
        bool use_shortcut = edges && shortcut != 0;
        // Node features of the real input (edge mode keeps them for every step).
        for (int k = t; k < g.n * f; k += T) s.hl(net, 0)[k] = gi_store<S>(xg[k]);
        __syncthreads();
        if (use_shortcut) {
            // P = W_rel (A x) and Q = W_root x + b of layer 1, once per graph.
            for (int k = t; k < g.n * f; k += T) {
                int i = k / f, c = k % f;
                float acc = 0.0f;
                for (int q = in_ptr[g.n0 + i]; q < in_ptr[g.n0 + i + 1]; ++q) acc += gi_load(s.hl(net, 0)[(in_src[q] - g.n0) * f + c]);
                s.a[k] = acc;
            }
            __syncthreads();
            const float* wrt0 = net.rel_wt(0);
            const float* wot0 = net.root_wt(0);
            for (int k = t; k < g.n * d1; k += T) {
                int i = k / d1, o = k % d1;
                float acc = 0.0f, acc2 = 0.0f;
                for (int c = 0; c < f; ++c) acc += s.a[i * f + c] * wrt0[c * d1 + o];
                for (int c = 0; c < f; ++c) acc2 += gi_load(s.hl(net, 0)[i * f + c]) * wot0[c * d1 + o];
                s.P[k] = acc;
                s.Q[k] = acc2 + net.rel_b(0)[o];
            }
            __syncthreads();
        }
        // F at the input and at the baseline.
        fused_forward(net, g, s, 1.0f, use_shortcut, pool_mode);
        if (t == 0) s.scalar[0] = s.logp[tgt];
        __syncthreads();
        if (!edges) {
            for (int k = t; k < g.n * f; k += T) s.hl(net, 0)[k] = gi_store<S>(bg != nullptr ? bg[k] : 0.0f);
            __syncthreads();
        }
        fused_forward(net, g, s, edges ? 0.0f : 1.0f, use_shortcut, pool_mode);
        if (t == 0) s.scalar[1] = s.logp[tgt];
        __syncthreads();
        // The weighted sum of the gradients over the steps, in the graph's output slots.
        float* out = edges ? attr + g.e0 : attr + (long long)g.n0 * f;
        int len = edges ? g.e : g.n * f;
        for (int k = t; k < len; k += T) out[k] = 0.0f;
        for (int st = 0; st < steps; ++st) {
            float alpha = alphas[st];
            if (!edges) {
                for (int k = t; k < g.n * f; k += T) {
                    float b = bg != nullptr ? bg[k] : 0.0f;
                    s.hl(net, 0)[k] = gi_store<S>(b + alpha * (xg[k] - b));
                }
            } else {
                for (int q = t; q < g.e; q += T) s.dw[q] = 0.0f;
            }
            __syncthreads();
            float w = edges ? alpha : 1.0f;
            fused_forward(net, g, s, w, use_shortcut, pool_mode);
            float* grad = fused_backward(net, g, s, w, tgt, mode, pool_mode);
            if (edges) grad = s.dw;
            float ws = weights[st];
            for (int k = t; k < len; k += T) out[k] += ws * grad[k];
            __syncthreads();
        }
        // The attribution, and delta = Σ attr − (F(input) − F(baseline)).
        float part = 0.0f;
        for (int k = t; k < len; k += T) {
            float a = out[k];
            if (finish == GI_FINISH_SALIENCY) {
                a = fabsf(a);
            } else if (!edges && finish == GI_FINISH_IG) {
                float b = bg != nullptr ? bg[k] : 0.0f;
                a *= xg[k] - b;
            } else if (!edges && finish == GI_FINISH_IXG) {
                a *= xg[k];
            }
            out[k] = a;
            part += a;
        }
        // Deterministic block sum: per-thread partials, then thread 0 in thread order.
        // Thread 0 alone clears the sum (every thread writing it would be a race).
        if (t == 0) s.tmp[0] = 0.0f;
        __syncthreads();
        float* partials = s.a;  // n * D >= blockDim is not guaranteed: fold into D slots
        for (int r = 0; r < T; r += D) {
            if (t >= r && t < r + D) partials[t - r] = part;
            __syncthreads();
            if (t == 0) {
                int m = T - r < D ? T - r : D;
                for (int k = 0; k < m; ++k) s.tmp[0] += partials[k];
            }
            __syncthreads();
        }
        if (t == 0) {
            f_in[gi] = s.scalar[0];
            f_base[gi] = s.scalar[1];
            delta[gi] = s.tmp[0] - (s.scalar[0] - s.scalar[1]);
        }
        __syncthreads();
    }
}

// f32 activations.
GI_KERNEL void fused_ig(const int* __restrict__ node_ptr, const int* __restrict__ edge_ptr,
                        const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                        const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                        const int* __restrict__ src, const int* __restrict__ dst,
                        const float* __restrict__ x, const float* __restrict__ base,
                        const float* __restrict__ params, const int* __restrict__ dims,
                        const float* __restrict__ alphas, const float* __restrict__ weights,
                        int steps, const int* __restrict__ target, float* __restrict__ attr,
                        float* __restrict__ delta, float* __restrict__ f_in,
                        float* __restrict__ f_base, int num_graphs, int mode, int finish,
                        int pool_mode, int shortcut) {
    GI_DYNAMIC_SHARED(float, smem);
    fused_ig_body<float>(smem, node_ptr, edge_ptr, in_ptr, in_src, out_ptr, out_dst, src, dst, x, base, params, dims, alphas, weights, steps, target, attr, delta, f_in, f_base, num_graphs, mode, finish, pool_mode, shortcut);
}

// activations stored as bf16.
GI_KERNEL void fused_ig_bf16(const int* __restrict__ node_ptr, const int* __restrict__ edge_ptr,
                        const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                        const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                        const int* __restrict__ src, const int* __restrict__ dst,
                        const float* __restrict__ x, const float* __restrict__ base,
                        const float* __restrict__ params, const int* __restrict__ dims,
                        const float* __restrict__ alphas, const float* __restrict__ weights,
                        int steps, const int* __restrict__ target, float* __restrict__ attr,
                        float* __restrict__ delta, float* __restrict__ f_in,
                        float* __restrict__ f_base, int num_graphs, int mode, int finish,
                        int pool_mode, int shortcut) {
    GI_DYNAMIC_SHARED(float, smem);
    fused_ig_body<gi_bf16>(smem, node_ptr, edge_ptr, in_ptr, in_src, out_ptr, out_dst, src, dst, x, base, params, dims, alphas, weights, steps, target, attr, delta, f_in, f_base, num_graphs, mode, finish, pool_mode, shortcut);
}

// activations stored as f16.
GI_KERNEL void fused_ig_f16(const int* __restrict__ node_ptr, const int* __restrict__ edge_ptr,
                        const int* __restrict__ in_ptr, const int* __restrict__ in_src,
                        const int* __restrict__ out_ptr, const int* __restrict__ out_dst,
                        const int* __restrict__ src, const int* __restrict__ dst,
                        const float* __restrict__ x, const float* __restrict__ base,
                        const float* __restrict__ params, const int* __restrict__ dims,
                        const float* __restrict__ alphas, const float* __restrict__ weights,
                        int steps, const int* __restrict__ target, float* __restrict__ attr,
                        float* __restrict__ delta, float* __restrict__ f_in,
                        float* __restrict__ f_base, int num_graphs, int mode, int finish,
                        int pool_mode, int shortcut) {
    GI_DYNAMIC_SHARED(float, smem);
    fused_ig_body<gi_f16>(smem, node_ptr, edge_ptr, in_ptr, in_src, out_ptr, out_dst, src, dst, x, base, params, dims, alphas, weights, steps, target, attr, delta, f_in, f_base, num_graphs, mode, finish, pool_mode, shortcut);
}
