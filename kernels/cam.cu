// cam.cu: Grad-CAM of Pope et al. (CVPR 2019) on the device, one conv block at a time.
// One step (the real input) per graph; rows are the chunk's nodes, node_ptr[g]..node_ptr[g+1]
// being graph g's.
#include "prelude.cuh"

// Mirrors cpu::backend grad_cam_layer, one conv block at a time:
//   alpha[g, k] = (1/n_g) Σ_{i in g} grad[i, k]           (nodes in order)
//   score[i]   += ReLU(Σ_k alpha[g, k] h[i, k]) * scale    (channels in order)
// grad is the gradient of the class score wrt the block's output h (after its activations).
// One block per graph (grid-stride); dynamic shared memory: dim floats. Atomic-free.
GI_KERNEL void grad_cam_layer(const int* __restrict__ node_ptr, const float* __restrict__ h,
                              const float* __restrict__ grad, float* __restrict__ score,
                              int num_graphs, int dim, float scale) {
    GI_DYNAMIC_SHARED(float, alpha);
    for (int g = blockIdx.x; g < num_graphs; g += gridDim.x) {
        int n0 = node_ptr[g], n1 = node_ptr[g + 1];
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float a = 0.0f;
            for (int i = n0; i < n1; ++i) a += grad[(long long)i * dim + c];
            alpha[c] = a / float(n1 - n0);
        }
        __syncthreads();
        for (int i = n0 + threadIdx.x; i < n1; i += blockDim.x) {
            const float* hi = h + (long long)i * dim;
            float s = 0.0f;
            for (int c = 0; c < dim; ++c) s += alpha[c] * hi[c];
            score[i] += fmaxf(s, 0.0f) * scale;
        }
        __syncthreads();
    }
}
