// elementwise.cu: activations, per-channel affine maps, row norms and elementwise
// arithmetic over flat buffers (rows of `dim` values, step-major). Mirrors the
// dense-and-elementwise primitives of cpu::backend (act, act_backward, channel_affine,
// add_bias, add_scaled, mul, ratio, row_sums, relu_norms, l2_normalize,
// l2_normalize_backward) and its copy.
#include "prelude.cuh"

#define GI_ACT_RELU 0
#define GI_ACT_ELU 1
#define GI_ACT_LEAKY_RELU 2
#define GI_ACT_TANH 3
#define GI_ACT_SIGMOID 4

// The activation of x (model::Act::f); `param` is ELU's alpha or leaky ReLU's slope.
__device__ __forceinline__ float gi_act(int kind, float param, float x) {
    switch (kind) {
        case GI_ACT_RELU:
            return fmaxf(x, 0.0f);
        case GI_ACT_ELU:
            return x > 0.0f ? x : param * expm1f(x);
        case GI_ACT_LEAKY_RELU:
            return x > 0.0f ? x : param * x;
        case GI_ACT_TANH:
            return tanhf(x);
        default:
            return 1.0f / (1.0f + expf(-x));
    }
}

// The activation's derivative at the point whose output is y (model::Act::df: every
// activation here is monotone; at 0 ReLU's is 0 and leaky ReLU's is its slope).
__device__ __forceinline__ float gi_act_grad(int kind, float param, float y) {
    switch (kind) {
        case GI_ACT_RELU:
            return y > 0.0f ? 1.0f : 0.0f;
        case GI_ACT_ELU:
            return y > 0.0f ? 1.0f : y + param;
        case GI_ACT_LEAKY_RELU:
            return y > 0.0f ? 1.0f : param;
        case GI_ACT_TANH:
            return 1.0f - y * y;
        default:
            return y * (1.0f - y);
    }
}

// Mirrors cpu::backend act: x = act(x) in place.
GI_KERNEL void act_forward(float* __restrict__ x, long long len, int kind, float param) {
    GI_GRID_STRIDE(k, len) { x[k] = gi_act(kind, param, x[k]); }
}

// Mirrors cpu::backend act_backward: d = d * act'(y) in place, from the activation's
// output y; ReLU zeroes d where y <= 0 and leaves it alone elsewhere, as the CPU does.
GI_KERNEL void act_backward(const float* __restrict__ y, float* __restrict__ d, long long len,
                            int kind, float param) {
    GI_GRID_STRIDE(k, len) {
        if (kind == GI_ACT_RELU) {
            if (y[k] <= 0.0f) d[k] = 0.0f;
        } else {
            d[k] *= gi_act_grad(kind, param, y[k]);
        }
    }
}

// Mirrors cpu::backend channel_affine and add_bias: x[r, c] = scale[c] x[r, c] + shift[c]
// in place; scale null means 1 (add_bias), shift null means no shift.
GI_KERNEL void channel_affine(float* __restrict__ x, const float* __restrict__ scale,
                              const float* __restrict__ shift, long long rows, int dim) {
    GI_GRID_STRIDE(k, rows * dim) {
        int c = int(k % dim);
        float v = scale != nullptr ? scale[c] * x[k] : x[k];
        x[k] = shift != nullptr ? v + shift[c] : v;
    }
}

// Mirrors cpu::backend add_scaled: y += a x.
GI_KERNEL void add_scaled(const float* __restrict__ x, float* __restrict__ y, long long len,
                          float a) {
    GI_GRID_STRIDE(k, len) { y[k] += a * x[k]; }
}

// Mirrors cpu::backend mul: out = x * y.
GI_KERNEL void ew_mul(const float* __restrict__ x, const float* __restrict__ y,
                      float* __restrict__ out, long long len) {
    GI_GRID_STRIDE(k, len) { out[k] = x[k] * y[k]; }
}

// Mirrors cpu::backend ratio (Excitation Backprop's): out = p / z, or 0 where p or z is 0
// (a parent with no mass, or whose children carry no excitation, passes nothing).
GI_KERNEL void ew_ratio(const float* __restrict__ p, const float* __restrict__ z,
                        float* __restrict__ out, long long len) {
    GI_GRID_STRIDE(k, len) {
        float m = p[k], d = z[k];
        out[k] = (m != 0.0f && d != 0.0f) ? m / d : 0.0f;
    }
}

// Mirrors cpu::backend copy: out = x.
GI_KERNEL void ew_copy(const float* __restrict__ x, float* __restrict__ out, long long len) {
    GI_GRID_STRIDE(k, len) { out[k] = x[k]; }
}

// Mirrors cpu::backend row_sums (Excitation Backprop's node mass): out[r] = Σ_c x[r, c],
// channels in order. One thread per row.
GI_KERNEL void row_sums(const float* __restrict__ x, float* __restrict__ out, long long rows,
                        int dim) {
    GI_GRID_STRIDE(r, rows) {
        const float* row = x + r * dim;
        float s = 0.0f;
        for (int c = 0; c < dim; ++c) s += row[c];
        out[r] = s;
    }
}

// Mirrors cpu::backend relu_norms (the contrastive gradient's node score):
// out[r] = ‖ReLU(x[r, :])‖₂. One thread per row.
GI_KERNEL void relu_norms(const float* __restrict__ x, float* __restrict__ out, long long rows,
                          int dim) {
    GI_GRID_STRIDE(r, rows) {
        const float* row = x + r * dim;
        float s = 0.0f;
        for (int c = 0; c < dim; ++c) {
            float v = fmaxf(row[c], 0.0f);
            s += v * v;
        }
        out[r] = sqrtf(s);
    }
}

// Mirrors cpu::backend l2_normalize (F.normalize): x[r, :] /= max(‖x[r, :]‖₂, 1e-12) in
// place. One thread per row.
GI_KERNEL void l2_normalize(float* __restrict__ x, long long rows, int dim) {
    GI_GRID_STRIDE(r, rows) {
        float* row = x + r * dim;
        float s = 0.0f;
        for (int c = 0; c < dim; ++c) s += row[c] * row[c];
        float norm = fmaxf(sqrtf(s), 1e-12f);
        for (int c = 0; c < dim; ++c) row[c] /= norm;
    }
}

// Mirrors cpu::backend l2_normalize_backward in place on d, from the input x:
//   d = (d − y ⟨y, d⟩) / ‖x‖ with y = x / ‖x‖, or d / 1e-12 where ‖x‖ <= 1e-12.
// One thread per row.
GI_KERNEL void l2_normalize_backward(const float* __restrict__ x, float* __restrict__ d,
                                     long long rows, int dim) {
    GI_GRID_STRIDE(r, rows) {
        const float* xr = x + r * dim;
        float* dr = d + r * dim;
        float s = 0.0f, xd = 0.0f;
        for (int c = 0; c < dim; ++c) {
            s += xr[c] * xr[c];
            xd += xr[c] * dr[c];
        }
        float norm = sqrtf(s);
        if (norm > 1e-12f) {
            float yd = xd / norm;
            for (int c = 0; c < dim; ++c) dr[c] = (dr[c] - xr[c] / norm * yd) / norm;
        } else {
            for (int c = 0; c < dim; ++c) dr[c] /= 1e-12f;
        }
    }
}
