// excitation.cu: the pieces of Excitation Backprop (Zhang et al. 2016; Pope et al. 2019)
// that the other kernel files lack. The top-down pass of cpu::excitation, layer by layer,
// is written on the device as
//   Z = W⁺ a          (the layer's forward with positive weights, no bias: linear_forward,
//                      and for a GraphConv layer mp_forward plus two products),
//   R = P / Z          (eb_ratio: 0 where P or Z is 0, as the CPU skips those parents),
//   P_child = a ⊙ W⁺ᵀ R (linear_backward_input, mp_backward_input, then an elementwise
//                      product),
// which sums the same terms as the CPU's loop over parents.
#include "prelude.cuh"

// r[k] = mass[k] / z[k], or 0 where mass[k] == 0 or z[k] == 0 (a parent with no mass,
// or whose children carry no excitation, passes nothing). Mirrors the skips of
// cpu::excitation (dense_down, the pooling and the conv layers).
GI_KERNEL void eb_ratio(const float* __restrict__ mass, const float* __restrict__ z,
                        float* __restrict__ r, long long len) {
    GI_GRID_STRIDE(k, len) {
        float m = mass[k], d = z[k];
        r[k] = (m != 0.0f && d != 0.0f) ? m / d : 0.0f;
    }
}

// The score of each node: the mass that reaches its input features, out[i] = Σ_f p[i, f]
// (features in order). Mirrors the end of cpu::excitation::excitation.
GI_KERNEL void eb_node_mass(const float* __restrict__ p, float* __restrict__ out,
                            int num_nodes, int dim) {
    GI_GRID_STRIDE(i, num_nodes) {
        const float* row = p + i * dim;
        float s = 0.0f;
        for (int c = 0; c < dim; ++c) s += row[c];
        out[i] = s;
    }
}
