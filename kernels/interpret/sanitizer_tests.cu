// sanitizer_tests.cu: tiny kernels with planted bugs, compiled into the sanitizer
// library only (never part of the CUDA build or of plain interpret mode). tests/sanitizer.rs launches
// each and checks that the sanitizer names the kernel and the bug; san_clean and the
// flag-off launches check that correct code passes.
#include "prelude.cuh"

// Correct: a block sum through dynamic shared memory, a warp shuffle tree, a static
// __shared__ scalar, and an atomic total of all blocks. y[b] = block b's sum of x,
// y[gridDim.x] += every block's sum.
GI_KERNEL void san_clean(const float* __restrict__ x, float* __restrict__ y, int n) {
    GI_DYNAMIC_SHARED(float, part);
    __shared__ float total;
    int t = threadIdx.x;
    float s = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) s += x[i];
    part[t] = s;
    __syncthreads();
    if (t < 32) {
        float v = 0.0f;
        for (int k = t; k < int(blockDim.x); k += 32) v += part[k];
        for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
        if (t == 0) total = v;
    }
    __syncthreads();
    if (t == 0) {
        y[blockIdx.x] = total;
        atomicAdd(y + gridDim.x, total);
    }
}

// memcheck: reads one element past x (x holds n elements).
GI_KERNEL void san_oob(const float* __restrict__ x, float* __restrict__ y, int n) {
    GI_GRID_STRIDE(i, n) { y[i] = x[i + 1]; }
}

// memcheck on a static shared array: 32 slots, blockDim.x threads write one each.
GI_KERNEL void san_static_oob(float* __restrict__ y) {
    __shared__ float buf[32];
    buf[threadIdx.x] = 1.0f;
    __syncthreads();
    y[blockIdx.x * blockDim.x + threadIdx.x] = buf[threadIdx.x % 32];
}

// memcheck: a write through a pointer cast from an argument declared const.
GI_KERNEL void san_const_write(const float* __restrict__ x, int n) {
    float* w = const_cast<float*>(x);
    GI_GRID_STRIDE(i, n) { w[i] = 0.0f; }
}

// racecheck: each thread writes its shared slot and reads a slot of the next warp,
// with the __syncthreads between them left out unless `sync`.
GI_KERNEL void san_missing_barrier(float* __restrict__ y, int sync) {
    GI_DYNAMIC_SHARED(float, s);
    int t = threadIdx.x;
    s[t] = float(t);
    if (sync) __syncthreads();
    y[blockIdx.x * blockDim.x + t] = s[(t + 32) % blockDim.x];
}

// racecheck, warp-synchronous: warp 0 exchanges values through shared memory with the
// __syncwarp left out unless `sync`.
GI_KERNEL void san_warp(float* __restrict__ y, int sync) {
    __shared__ float buf[32];
    int lane = threadIdx.x % 32;
    if (threadIdx.x < 32) {
        buf[lane] = float(lane);
        if (sync) __syncwarp();
        y[blockIdx.x * 32 + lane] = buf[(lane + 1) % 32];
    }
}

// initcheck: the second half of the dynamic shared memory (2 * blockDim.x floats) is
// read but never written.
GI_KERNEL void san_uninit(float* __restrict__ y) {
    GI_DYNAMIC_SHARED(float, s);
    int t = threadIdx.x;
    s[t] = 1.0f;
    __syncthreads();
    y[blockIdx.x * blockDim.x + t] = s[t] + s[t + blockDim.x];
}

// synccheck: a __syncthreads that only threads 0-15 reach. With `later`, the others
// wait at a second one; without, they leave the kernel.
GI_KERNEL void san_divergent(float* __restrict__ y, int later) {
    if (threadIdx.x < 16) __syncthreads();
    if (later) __syncthreads();
    y[blockIdx.x * blockDim.x + threadIdx.x] = 1.0f;
}

// synccheck: threads 0-15 wait at __syncthreads while the rest of their warp waits at
// a shuffle: neither can complete.
GI_KERNEL void san_deadlock(float* __restrict__ y) {
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        y[blockIdx.x * blockDim.x + threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
    }
}

// racecheck across blocks: block b writes y[b] and reads block b + 1's output.
GI_KERNEL void san_cross_block(float* __restrict__ y) {
    if (threadIdx.x == 0) {
        y[blockIdx.x] = float(blockIdx.x + 1);
        y[gridDim.x + blockIdx.x] = y[(blockIdx.x + 1) % gridDim.x];
    }
}

// Atomics never race with each other; with `mixed`, thread 0 of each block also reads
// the total plainly while the others add to it.
GI_KERNEL void san_atomics(float* __restrict__ y, int mixed) {
    atomicAdd(y, 1.0f);
    if (mixed && threadIdx.x == 0) y[1 + blockIdx.x] = y[0];
}

// The block schedule: each block takes the next slot and writes its index there, so
// order[1..] is the order in which the blocks ran.
GI_KERNEL void san_order(float* __restrict__ order) {
    if (threadIdx.x == 0) {
        int slot = int(atomicAdd(order, 1.0f));
        order[1 + slot] = float(blockIdx.x);
    }
}
