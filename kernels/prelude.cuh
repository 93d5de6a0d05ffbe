// prelude.cuh: the one header every kernel file includes.
//
// Under nvcc or NVRTC this is plain CUDA. Compiled as host C++ (interpret
// mode, g++ -std=c++20 through the `cc` crate) it pulls in
// interpret/runtime.hpp, which supplies the built-ins below on the CPU, with
// every CUDA thread of a block running as a fiber (its own stack; the fibers of a
// launch take turns at the barriers).
//
// The CUDA subset kernels may use (anything else fails to compile in
// interpret mode, loudly):
//   - kernels: `GI_KERNEL void name(args)` (extern "C" __global__), with
//     pointer, int, long long and float arguments; __device__ helpers;
//   - threadIdx, blockIdx, blockDim, gridDim (all three dimensions);
//   - __syncthreads(); __syncwarp() (full mask);
//   - warp shuffles __shfl_sync, __shfl_down_sync, __shfl_xor_sync (width 32) and
//     votes __ballot_sync, __any_sync, __all_sync, on full warps (mask 0xffffffff,
//     blockDim a multiple of 32, all 32 lanes calling);
//   - atomicAdd on int, unsigned, float and double; atomicMax on int and unsigned;
//   - static `__shared__` arrays, and dynamic shared memory through
//     GI_DYNAMIC_SHARED(type, name) (instead of `extern __shared__`);
//   - math: expf, expm1f, logf, sqrtf, tanhf, fabsf, fmaxf, fminf, exp, log,
//     fabs, fmax, fmin, __int_as_float, __float_as_int; GI_INFINITY for +inf;
//   - no early `return` before a __syncthreads that other threads reach.
// Threads that leave the kernel stop taking part in __syncthreads (as on
// Volta and later GPUs).
//
// Sanitizer mode (`bash scripts/sanitize.sh` builds its library and runs the
// interpret-mode tests with it, GRAPH_IG_SANITIZE naming it; docs/sanitizer.md)
// checks what a CPU run otherwise hides, and names the kernel, block, thread, buffer
// (argument position and name) and index, or the barrier's line:
//   - memcheck: every access through a pointer, to global or shared memory, is
//     bounds-checked; a bad one (out of bounds, null, misaligned, a write to an
//     argument the kernel declares const) stops the launch;
//   - racecheck: two threads of a launch touch the same location, one of them
//     writing, with no __syncthreads between them (in one warp: no __syncthreads or
//     __syncwarp; shuffles do not order memory), or from different blocks of the
//     grid (never ordered); atomics do not race with each other;
//   - initcheck: shared memory starts each block poisoned (signalling NaNs, 0xff
//     bytes for integers) and reading a byte not yet written in the block is a
//     finding; device buffers from Gpu::alloc start poisoned too (zeros() stays a
//     memset), so an output left partly unwritten differs from the CPU reference;
//   - synccheck: a __syncthreads (warp primitive) that the block's threads (the
//     warp's lanes) reach at different lines, or while some have left the kernel
//     (the early-return rule above), and a block whose threads all wait forever;
//   - blocks run in a seeded random order, several at a time (the seed is printed;
//     GRAPH_IG_SANITIZE_SEED repeats it, GRAPH_IG_SANITIZE_BLOCKS sets how many).
// Its library is a rewritten copy of each kernel file (build/sanitize.rs): pointers to
// element types become checked pointers and `__shared__` declarations per-block
// arrays. What that asks of a kernel (anything else fails to compile there, loudly):
//   - elements of 2, 4 or 8 bytes (float, int, long long, double, gi_bf16, gi_f16);
//   - static shared memory as `__shared__ T name[N];` or `__shared__ T name;`;
//   - a read `p[i]` kept in a variable of the element type: `auto v = p[i]` holds a
//     checked reference there, read only where v is used.
// Pointers to structs are not checked.
//
// Narrow storage (bf16, f16) uses the gi_bf16 / gi_f16 types below, converted
// with integer bit operations, so that a GPU and interpret mode round every
// value identically (NVIDIA's cuda_fp16.h / cuda_bf16.h are not needed).
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

#define GI_KERNEL extern "C" __global__
#define GI_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define GI_INFINITY __int_as_float(0x7f800000)

#else

#include "interpret/runtime.hpp"
#define GI_KERNEL extern "C"
#ifdef GI_SANITIZE
#define GI_DYNAMIC_SHARED(type, name) ::gi::ptr<type> name = ::gi::dynamic_shared<type>()
#else
#define GI_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::gi::dynamic_shared())
#endif
#define GI_INFINITY __int_as_float(0x7f800000)

#endif

// A grid-stride loop over `n` work items: every kernel is correct for any grid size.
#define GI_GRID_STRIDE(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)gridDim.x * blockDim.x)

// ---------------------------------------------------------------------------
// Storage types: values kept in memory as bf16 or f16 while all arithmetic is
// f32. gi_store<S>(v) rounds to nearest, ties to even (overflow to inf, NaN
// stays NaN, f16 subnormals kept), exactly as the `half` crate's
// bf16::from_f32 / f16::from_f32; gi_load(v) widens exactly. float is its own
// storage type. tests/storage.rs checks the bits against the `half` crate.
struct gi_bf16 {
    unsigned short bits;
};
struct gi_f16 {
    unsigned short bits;
};

__device__ __forceinline__ float gi_load(float v) { return v; }
__device__ __forceinline__ float gi_load(gi_bf16 v) {
    return __int_as_float(int(unsigned(v.bits) << 16));
}
__device__ __forceinline__ float gi_load(gi_f16 v) {
    unsigned sign = unsigned(v.bits & 0x8000u) << 16;
    unsigned exp = v.bits & 0x7c00u, man = v.bits & 0x03ffu;
    if (exp == 0x7c00u)  // inf, or NaN (made quiet)
        return __int_as_float(int(sign | (man != 0u ? 0x7fc00000u : 0x7f800000u) | (man << 13)));
    if (exp == 0u) {
        // Zero or subnormal: man * 2^-24, exact in f32.
        float m = float(man) * 5.9604644775390625e-8f;
        return sign != 0u ? -m : m;
    }
    return __int_as_float(int(sign | (((exp >> 10) + 112u) << 23) | (man << 13)));
}

template <typename S>
__device__ __forceinline__ S gi_store(float v);
template <>
__device__ __forceinline__ float gi_store<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ gi_bf16 gi_store<gi_bf16>(float v) {
    unsigned u = unsigned(__float_as_int(v));
    gi_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x40u);  // NaN: keep it quiet
        return r;
    }
    unsigned half = u >> 16, round = u & 0xffffu;
    if (round > 0x8000u || (round == 0x8000u && (half & 1u) != 0u)) half += 1u;
    r.bits = (unsigned short)half;
    return r;
}
template <>
__device__ __forceinline__ gi_f16 gi_store<gi_f16>(float v) {
    unsigned x = unsigned(__float_as_int(v));
    unsigned sign = (x & 0x80000000u) >> 16, exp = x & 0x7f800000u, man = x & 0x007fffffu;
    gi_f16 r;
    if (exp == 0x7f800000u) {  // inf or NaN
        r.bits = (unsigned short)(sign | 0x7c00u | (man != 0u ? 0x0200u : 0u) | (man >> 13));
        return r;
    }
    int e = int(exp >> 23) - 127 + 15;
    if (e >= 0x1f) {  // overflow
        r.bits = (unsigned short)(sign | 0x7c00u);
        return r;
    }
    if (e <= 0) {  // subnormal or zero
        if (14 - e > 24) {
            r.bits = (unsigned short)sign;
            return r;
        }
        man |= 0x00800000u;
        unsigned hm = man >> (14 - e);
        unsigned rb = 1u << (13 - e);
        if ((man & rb) != 0u && (man & (3u * rb - 1u)) != 0u) hm += 1u;
        r.bits = (unsigned short)(sign | hm);
        return r;
    }
    unsigned h = sign | (unsigned(e) << 10) | (man >> 13);
    if ((man & 0x1000u) != 0u && (man & 0x2fffu) != 0u) h += 1u;
    r.bits = (unsigned short)h;
    return r;
}

// Storage kinds as the host passes them.
#define GI_STORAGE_F32 0
#define GI_STORAGE_BF16 1
#define GI_STORAGE_F16 2
