// prelude.cuh: the one header every kernel file includes.
//
// Under nvcc or NVRTC this is plain CUDA. Compiled as host C++ (interpret
// mode, g++ -std=c++20 through the `cc` crate) it pulls in
// interpret/runtime.hpp, which supplies the built-ins below on the CPU, with
// every CUDA thread of a block running as a real OS thread.
//
// The CUDA subset kernels may use (anything else fails to compile in
// interpret mode, loudly):
//   - kernels: `GI_KERNEL void name(args)` (extern "C" __global__), with
//     pointer, int, long long and float arguments; __device__ helpers;
//   - threadIdx, blockIdx, blockDim, gridDim (all three dimensions);
//   - __syncthreads();
//   - warp shuffles __shfl_sync, __shfl_down_sync, __shfl_xor_sync and votes
//     __ballot_sync, __any_sync, __all_sync, on full warps (mask 0xffffffff,
//     blockDim a multiple of 32, all 32 lanes calling);
//   - atomicAdd on int, unsigned, float and double; atomicMax on int and unsigned;
//   - static `__shared__` arrays, and dynamic shared memory through
//     GI_DYNAMIC_SHARED(type, name) (instead of `extern __shared__`);
//   - math: expf, logf, sqrtf, fabsf, fmaxf, fminf, exp, log, fabs, fmax,
//     fmin, __int_as_float, __float_as_int; GI_INFINITY for +inf;
//   - no early `return` before a __syncthreads that other threads reach.
// Threads that leave the kernel stop taking part in __syncthreads (as on
// Volta and later GPUs).
//
// half and bf16 types are not used by the kernels yet; NVIDIA's
// cuda_fp16.h / cuda_bf16.h (shipped by the NVRTC wheels) work in host code
// when they are.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

#define GI_KERNEL extern "C" __global__
#define GI_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define GI_INFINITY __int_as_float(0x7f800000)

#else

#include "interpret/runtime.hpp"
#define GI_KERNEL extern "C"
#define GI_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::gi::dynamic_shared())
#define GI_INFINITY __int_as_float(0x7f800000)

#endif

// A grid-stride loop over `n` work items: every kernel is correct for any grid size.
#define GI_GRID_STRIDE(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)gridDim.x * blockDim.x)
