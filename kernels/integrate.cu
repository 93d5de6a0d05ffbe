// integrate.cu: the Integrated Gradients plumbing around the network: path inputs,
// the weighted sum over steps, the final attribution and the convergence delta.
#include "prelude.cuh"

// Node features of every step: out[s, i, f] = base[i, f] + alphas[s] (x[i, f] - base[i, f]).
// base may be null (zeros). Mirrors the interpolation in cpu::attribute (node_grad).
GI_KERNEL void interpolate_features(const float* __restrict__ x, const float* __restrict__ base,
                                    const float* __restrict__ alphas, float* __restrict__ out,
                                    int num_nodes, int steps, int dim) {
    long long per_step = (long long)num_nodes * dim;
    GI_GRID_STRIDE(k, steps * per_step) {
        int s = int(k / per_step);
        long long j = k % per_step;
        float b = base != nullptr ? base[j] : 0.0f;
        out[k] = b + alphas[s] * (x[j] - b);
    }
}

// The weighted sum over steps, one step after another in order, so that splitting the
// steps into several launches gives the same bits: acc[j] += weights[s] * grad[s, j].
// Mirrors the accumulation in cpu::attribute (integrate).
GI_KERNEL void accumulate_steps(const float* __restrict__ grad, const float* __restrict__ weights,
                                float* __restrict__ acc, long long len, int steps) {
    GI_GRID_STRIDE(j, len) {
        float a = acc[j];
        for (int s = 0; s < steps; ++s) a += weights[s] * grad[(long long)s * len + j];
        acc[j] = a;
    }
}

#define GI_FINISH_TIMES_DIFF 0
#define GI_FINISH_ABS 1

// The attribution from the summed gradient: acc * diff (IG: diff = input - baseline;
// input x gradient: diff = input) or |acc| (saliency). diff may be null (all ones).
GI_KERNEL void finish_attribution(const float* __restrict__ acc, const float* __restrict__ diff,
                                  float* __restrict__ out, long long len, int mode) {
    GI_GRID_STRIDE(j, len) {
        float a = acc[j];
        out[j] = mode == GI_FINISH_ABS ? fabsf(a) : (diff != nullptr ? a * diff[j] : a);
    }
}

// Convergence delta per graph: Σ attributions of the graph − (F(input) − F(baseline)),
// F = log_probs[target]. The graph's attributions are attr[ptr[g] * width .. ptr[g+1] * width].
// One warp per graph: lane l adds values l, l + 32, ... in double, then a fixed shuffle
// tree adds the lanes, so the sum is deterministic. blockDim must be a multiple of 32.
// Mirrors `finish` in cpu::attribute.
GI_KERNEL void convergence_delta(const int* __restrict__ ptr, const float* __restrict__ attr,
                                 int width, const float* __restrict__ logp_in,
                                 const float* __restrict__ logp_base, const int* __restrict__ target,
                                 int classes, float* __restrict__ delta, int num_graphs) {
    int lane = threadIdx.x % 32;
    long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    long long warps = (long long)gridDim.x * blockDim.x / 32;
    // All lanes of a warp share `warp`, so every shuffle has the full warp.
    for (long long g = warp; g < num_graphs; g += warps) {
        double s = 0.0;
        for (long long j = (long long)ptr[g] * width + lane; j < (long long)ptr[g + 1] * width; j += 32)
            s += attr[j];
        for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
        if (lane == 0) {
            int t = target[g];
            double df = (double)logp_in[g * classes + t] - (double)logp_base[g * classes + t];
            delta[g] = float(s - df);
        }
    }
}

// SmoothGrad and VarGrad: the moments of the samples' gradients about a shift (the first
// sample's gradient, so that VarGrad's E[g²] − E[g]² does not cancel in f32):
//   sum[j] += Σ_s (grad[s, j] − shift[j]),  sq[j] += Σ_s (grad[s, j] − shift[j])²,
// samples in order, so that splitting them into several launches gives the same bits.
// Mirrors the sums over samples in cpu::attribute (which are exact enough in f64 unshifted).
GI_KERNEL void accumulate_moments(const float* __restrict__ grad, const float* __restrict__ shift,
                                  float* __restrict__ sum, float* __restrict__ sq, long long len,
                                  int steps) {
    GI_GRID_STRIDE(j, len) {
        float a = sum[j], b = sq[j], k = shift[j];
        for (int s = 0; s < steps; ++s) {
            float d = grad[(long long)s * len + j] - k;
            a += d;
            b += d * d;
        }
        sum[j] = a;
        sq[j] = b;
    }
}

#define GI_MOMENTS_MEAN 0
#define GI_MOMENTS_VARIANCE 1

// The attribution of n samples from their moments: the mean shift + sum/n (SmoothGrad) or
// the population variance sq/n − (sum/n)² (VarGrad, as captum's NoiseTunnel).
GI_KERNEL void finish_moments(const float* __restrict__ shift, const float* __restrict__ sum,
                              const float* __restrict__ sq, float* __restrict__ out, long long len,
                              int samples, int mode) {
    GI_GRID_STRIDE(j, len) {
        float m = sum[j] / float(samples);
        out[j] = mode == GI_MOMENTS_VARIANCE ? sq[j] / float(samples) - m * m : shift[j] + m;
    }
}
