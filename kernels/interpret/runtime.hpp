// runtime.hpp: the CUDA built-ins of the documented subset (see prelude.cuh)
// for host C++, used by interpret mode only.
//
// A launch runs the grid's blocks one after another. Each block's CUDA
// threads are real OS threads (created once per launch and reused for every
// block), so __syncthreads and warp shuffles synchronise exactly like on a
// GPU. Launches are serialised by a global mutex, which makes `static`
// (= __shared__) arrays private to the running block.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace gi {

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "graph-ig interpret mode: %s\n", what);
    std::abort();
}

// A barrier whose participants can leave (threads that exit the kernel).
// Waiters spin on a phase counter and yield the core: with many more CUDA
// threads than cores, handing the core to the threads still on their way is far
// cheaper than sleeping in the kernel and waking everyone.
class Barrier {
  public:
    void reset(int n) {
        std::lock_guard<std::mutex> g(m_);
        expected_ = n;
        arrived_ = 0;
    }
    void arrive_and_wait() {
        unsigned long long phase;
        {
            std::lock_guard<std::mutex> g(m_);
            phase = phase_.load(std::memory_order_relaxed);
            if (++arrived_ == expected_) {
                release();
                return;
            }
        }
        while (phase_.load(std::memory_order_acquire) == phase) std::this_thread::yield();
    }
    void leave() {
        std::lock_guard<std::mutex> g(m_);
        --expected_;
        if (expected_ > 0 && arrived_ == expected_) release();
    }

  private:
    void release() {
        arrived_ = 0;
        phase_.fetch_add(1, std::memory_order_release);
    }
    std::mutex m_;
    int expected_ = 0, arrived_ = 0;
    std::atomic<unsigned long long> phase_{0};
};

struct Block {
    dim3 grid, block;
    Barrier sync;                   // __syncthreads
    std::vector<Barrier> warps;     // one per warp, for shuffles and votes
    std::vector<uint64_t> lanes;    // shuffle exchange slots, 32 per warp
    std::vector<unsigned char> smem;
    int threads = 0;
};

struct ThreadState {
    dim3 thread, block;
    Block* ctx = nullptr;
    int linear = 0;
};

inline thread_local ThreadState self;

inline unsigned char* dynamic_shared() { return self.ctx->smem.data(); }

inline void check_full_warp(unsigned mask) {
    if (mask != 0xffffffffu) fail("warp intrinsics need the full mask 0xffffffff");
    if (self.ctx->threads % 32 != 0) fail("warp intrinsics need blockDim to be a multiple of 32");
}

// Every lane publishes `v`; after the warp barrier each reads lane `src`'s value.
template <typename T>
T exchange(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    Block* b = self.ctx;
    int warp = self.linear / 32, lane = self.linear % 32;
    uint64_t slot = 0;
    std::memcpy(&slot, &v, sizeof(T));
    b->lanes[warp * 32 + lane] = slot;
    b->warps[warp].arrive_and_wait();
    uint64_t got = b->lanes[warp * 32 + (src & 31)];
    b->warps[warp].arrive_and_wait();
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

inline std::mutex& launch_mutex() {
    static std::mutex m;
    return m;
}

// Runs `body` for every block of the grid, with block.x*y*z threads.
template <typename F>
void run_grid(dim3 grid, dim3 block, size_t smem_bytes, F&& body) {
    std::lock_guard<std::mutex> serial(launch_mutex());
    Block b;
    b.grid = grid;
    b.block = block;
    b.threads = int(block.x * block.y * block.z);
    if (b.threads <= 0 || b.threads > 1024) fail("block size must be 1..1024 threads");
    int nwarps = (b.threads + 31) / 32;
    b.warps = std::vector<Barrier>(nwarps);
    b.lanes.assign(size_t(nwarps) * 32, 0);
    b.smem.assign(smem_bytes, 0);
    Barrier block_end;  // all threads, between blocks
    block_end.reset(b.threads);
    auto reset_block = [&] {
        b.sync.reset(b.threads);
        for (int w = 0; w < nwarps; ++w) b.warps[w].reset(std::min(32, b.threads - 32 * w));
    };
    reset_block();
    std::vector<std::thread> pool;
    for (int t = 0; t < b.threads; ++t) {
        pool.emplace_back([&, t] {
            self.ctx = &b;
            self.linear = t;
            self.thread = dim3{unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                               unsigned(t) / (block.x * block.y)};
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        self.block = dim3{bx, by, bz};
                        body();
                        // This thread has left the kernel for this block.
                        b.sync.leave();
                        b.warps[t / 32].leave();
                        block_end.arrive_and_wait();
                        // Thread 0 re-arms the block barriers; the others wait for it.
                        if (t == 0) reset_block();
                        block_end.arrive_and_wait();
                    }
            self.ctx = nullptr;
        });
    }
    for (auto& th : pool) th.join();
}

// Unpacks a CUDA-style argument array (pointers to the argument values).
template <typename... Args, size_t... I>
std::tuple<Args...> unpack(void** args, std::index_sequence<I...>) {
    return std::tuple<Args...>(*static_cast<Args*>(args[I])...);
}

// What the host says each argument is: 1 = a device pointer, else the scalar's size
// in bytes. A mismatch with the kernel's signature (say an int where the kernel takes
// a long long) would only show on a real GPU, so interpret mode refuses it.
template <typename T>
constexpr unsigned char kind_of() {
    return std::is_pointer_v<T> ? 1 : (unsigned char)sizeof(T);
}

template <typename... Args>
void launch(void (*kernel)(Args...), const char* name, dim3 grid, dim3 block, size_t smem,
            void** args, const unsigned char* kinds, int nargs) {
    constexpr unsigned char want[] = {kind_of<Args>()..., 0};
    if (nargs != (int)sizeof...(Args)) {
        std::fprintf(stderr, "graph-ig interpret mode: %s takes %d arguments, the host passed %d\n",
                     name, (int)sizeof...(Args), nargs);
        std::abort();
    }
    for (int i = 0; i < nargs; ++i) {
        if (kinds[i] != want[i]) {
            std::fprintf(stderr,
                         "graph-ig interpret mode: %s argument %d is %s, the host passed %s\n", name,
                         i, want[i] == 1 ? "a pointer" : (want[i] == 8 ? "8 bytes" : "4 bytes"),
                         kinds[i] == 1 ? "a pointer" : (kinds[i] == 8 ? "8 bytes" : "4 bytes"));
            std::abort();
        }
    }
    auto values = unpack<Args...>(args, std::index_sequence_for<Args...>{});
    run_grid(grid, block, smem, [&] { std::apply(kernel, values); });
}

}  // namespace gi

// ---- the built-ins -------------------------------------------------------------
#define threadIdx (::gi::self.thread)
#define blockIdx (::gi::self.block)
#define blockDim (::gi::self.ctx->block)
#define gridDim (::gi::self.ctx->grid)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

inline void __syncthreads() { ::gi::self.ctx->sync.arrive_and_wait(); }

template <typename T>
T __shfl_sync(unsigned mask, T v, int src) {
    ::gi::check_full_warp(mask);
    return ::gi::exchange(v, src);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta) {
    ::gi::check_full_warp(mask);
    int lane = ::gi::self.linear % 32;
    T other = ::gi::exchange(v, int(lane + delta) & 31);
    return lane + int(delta) < 32 ? other : v;
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    ::gi::check_full_warp(mask);
    return ::gi::exchange(v, (::gi::self.linear % 32) ^ lane_mask);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    ::gi::check_full_warp(mask);
    unsigned bits = 0;
    for (int l = 0; l < 32; ++l) {
        // Each round broadcasts one lane's predicate.
        int p = ::gi::exchange(pred ? 1 : 0, l);
        if (p) bits |= 1u << l;
    }
    return bits;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == 0xffffffffu; }

template <typename T>
T gi_atomic_add(T* addr, T v) {
    std::atomic_ref<T> a(*addr);
    T old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {
    }
    return old;
}
inline int atomicAdd(int* a, int v) { return gi_atomic_add(a, v); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return gi_atomic_add(a, v); }
inline float atomicAdd(float* a, float v) { return gi_atomic_add(a, v); }
inline double atomicAdd(double* a, double v) { return gi_atomic_add(a, v); }
template <typename T>
T gi_atomic_max(T* addr, T v) {
    std::atomic_ref<T> a(*addr);
    T old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}
inline int atomicMax(int* a, int v) { return gi_atomic_max(a, v); }
inline unsigned atomicMax(unsigned* a, unsigned v) { return gi_atomic_max(a, v); }

inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline int __float_as_int(float f) {
    int i;
    std::memcpy(&i, &f, 4);
    return i;
}
