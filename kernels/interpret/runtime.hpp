// runtime.hpp: the CUDA built-ins of the documented subset (see prelude.cuh)
// for host C++, used by interpret mode only.
//
// Each block's CUDA threads are real OS threads (a pool kept from launch to
// launch, each thread reused for every block), so __syncthreads and warp shuffles
// synchronise exactly like on a GPU. Launches are serialised by a global mutex.
//
// Plain interpret mode runs the grid's blocks one after another, in order, and
// `static` (= __shared__) arrays are private to the running block.
//
// Sanitizer mode (GI_SANITIZE, cargo feature `sanitize`; sanitize.hpp) runs the
// blocks in a seeded random order, several at a time (each in its own slot, with
// its own threads, barriers and shared memory), checks every access through the
// checked pointers of sanitize.hpp and every barrier's call site, and returns its
// findings to the host.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <source_location>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace gi {

// A barrier or warp-primitive call site (sanitizer mode names it in its findings).
struct Site {
    std::source_location loc;
    const char* what;  // "__syncthreads", "__shfl_sync", ...
};

}  // namespace gi

#ifdef GI_SANITIZE
#include "sanitize.hpp"
#endif


namespace gi {

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "graph-ig interpret mode: %s\n", what);
    std::abort();
}

struct Block;

// Sleeps while `a` holds `old` (a futex on Linux: std::atomic::wait spins and yields
// first, which with hundreds of threads on a few cores costs more than it saves).
inline void sleep_while(std::atomic<uint32_t>& a, uint32_t old) {
    while (a.load(std::memory_order_acquire) == old) {
#ifdef __linux__
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAIT_PRIVATE, old, nullptr,
                nullptr, 0);
#else
        a.wait(old, std::memory_order_acquire);
#endif
    }
}

// Wakes every thread sleeping on `a` (after a change of its value).
inline void wake_all(std::atomic<uint32_t>& a) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
            nullptr, 0);
#else
    a.notify_all();
#endif
}

// A barrier whose participants can leave (threads that exit the kernel).
// Waiters spin on a phase counter and yield the core: with many more CUDA
// threads than cores, handing the core to the threads still on their way is far
// cheaper than sleeping in the kernel and waking everyone.
//
// In sanitizer mode a barrier set up with `watch` is a kernel's barrier: it records
// each participant's call site and reports (synccheck) a phase whose participants
// disagree, or that completes while some participant has left the kernel, and a block
// whose threads all wait at barriers that cannot complete.
class Barrier {
  public:
    void reset(int n) {
        std::lock_guard<std::mutex> g(m_);
        expected_ = n;
        arrived_ = 0;
#ifdef GI_SANITIZE
        sites_.assign(size_t(n), Site{});
        state_.assign(size_t(n), 0);
        left_ = 0;
#endif
    }
    // `me` is the participant's index (thread in the block, or lane in the warp).
    void arrive_and_wait(int me, const Site& site);
    void leave(int me);
#ifdef GI_SANITIZE
    // Makes this a kernel barrier of `b`: participant i is thread `first + i`.
    void watch(Block* b, int first, std::string scope) {
        block_ = b;
        first_ = first;
        scope_ = std::move(scope);
    }
    // Wakes the waiters of a stopped launch (they see the stop and unwind).
    void wake() {
        phase_.fetch_add(1, std::memory_order_release);
        wake_all(phase_);
    }
#endif

  private:
    void release() {
        arrived_ = 0;
        phase_.fetch_add(1, std::memory_order_release);
#ifdef GI_SANITIZE
        wake_all(phase_);
#endif
    }
    std::mutex m_;
    int expected_ = 0, arrived_ = 0;
    std::atomic<uint32_t> phase_{0};
#ifdef GI_SANITIZE
    // Under m_, with `waiters` threads to wake: checks the phase and releases it.
    void finish(int waiters);
    // Waits for the phase to move on: yields the core a few times, then sleeps
    // (sanitizer mode runs several blocks' threads at once, far more than there are
    // cores, and a waiter that keeps yielding steals them from the threads on their way).
    void wait(uint32_t phase) {
        for (int i = 0; phase_.load(std::memory_order_acquire) == phase; ++i) {
            if (i < 16)
                std::this_thread::yield();
            else
                sleep_while(phase_, phase);
        }
    }
    Block* block_ = nullptr;
    int first_ = 0;
    std::string scope_;
    std::vector<Site> sites_;
    std::vector<uint8_t> state_;  // per participant: 0 not here, 1 arrived, 2 left
    int left_ = 0;
#endif
};

#ifdef GI_SANITIZE
// A static __shared__ array of one block slot (the sanitize build rewrites the
// declarations into gi::static_shared).
struct StaticShared {
    const void* tag;
    std::vector<unsigned char> storage;
    san::Region region;
    void (*poison)(unsigned char*, size_t);
};
#endif

// One block slot: the block it runs now, its barriers and its shared memory.
struct Block {
    dim3 grid, block;
    Barrier sync;                // __syncthreads
    std::vector<Barrier> warps;  // one per warp, for shuffles, votes and __syncwarp
    std::vector<uint64_t> lanes; // shuffle exchange slots, 32 per warp
    std::vector<unsigned char> smem;
    Barrier gate;                // all threads of the slot, between blocks (unchecked)
    int threads = 0;
    size_t current = 0;          // the block's position in the launch's order
#ifdef GI_SANITIZE
    san::Region dyn;             // the dynamic shared memory
    std::mutex m;                // statics and dyn_typed
    std::vector<std::unique_ptr<StaticShared>> statics;
    bool dyn_typed = false;      // re-poisoned for a non-float type in this block
    // Threads in the kernel (high 32 bits) and threads blocked at a barrier (low).
    std::atomic<uint64_t> live{0};
    std::vector<Site> wait_site;
    std::unique_ptr<std::atomic<int>[]> waiting;
#endif
};

struct ThreadState {
    dim3 thread, block;
    Block* ctx = nullptr;
    int linear = 0;
};

inline thread_local ThreadState self;

inline void check_full_warp(unsigned mask) {
    if (mask != 0xffffffffu) fail("warp intrinsics need the full mask 0xffffffff");
    if (self.ctx->threads % 32 != 0) fail("warp intrinsics need blockDim to be a multiple of 32");
}

#ifdef GI_SANITIZE

namespace san {

// "threads 0-15 at cam.cu:22; threads 16-127 had left the kernel": participants grouped
// by `label(i)` (empty = leave out), in runs of consecutive indices.
template <typename L>
std::string groups(int n, int first, L label) {
    std::string out;
    int i = 0;
    while (i < n) {
        std::string l = label(i);
        int j = i + 1;
        while (j < n && label(j) == l) ++j;
        if (!l.empty()) {
            if (!out.empty()) out += "; ";
            out += j - i == 1 ? "thread " + std::to_string(first + i)
                              : "threads " + std::to_string(first + i) + "-" + std::to_string(first + j - 1);
            out += " " + l;
        }
        i = j;
    }
    return out;
}

inline std::string site_text(const Site& s) {
    return std::string(s.what) + " at " + Sites::where(s.loc.file_name(), s.loc.line());
}

inline std::string block_text() {
    return "block " + std::to_string(me.block);
}

// All threads still in the kernel wait at barriers that cannot complete.
[[noreturn]] inline void deadlock(Block* b) {
    std::string where = groups(b->threads, 0, [&](int t) {
        return b->waiting[size_t(t)].load(std::memory_order_acquire) != 0
                   ? "wait at " + site_text(b->wait_site[size_t(t)])
                   : std::string("had left the kernel");
    });
    current->report.add("sync", std::string("synccheck: kernel ") + current->kernel + " " +
                                    block_text() + ": deadlock, " + where +
                                    "; the launch was stopped");
    stop_launch();
}

}  // namespace san

inline void Barrier::finish(int waiters) {
    bool diverged = left_ > 0;
    const Site* first = nullptr;
    for (size_t i = 0; i < state_.size() && !diverged; ++i) {
        if (state_[i] != 1) continue;
        if (first == nullptr) {
            first = &sites_[i];
        } else if (sites_[i].loc.line() != first->loc.line() ||
                   sites_[i].loc.column() != first->loc.column() ||
                   std::strcmp(sites_[i].loc.file_name(), first->loc.file_name()) != 0) {
            diverged = true;
        }
    }
    std::string text;
    if (diverged) {
        text = std::string("synccheck: kernel ") + san::current->kernel + " " + san::block_text() +
               ": " + scope_ + " not reached by all threads alike: " +
               san::groups(int(state_.size()), first_, [&](int i) {
                   return state_[size_t(i)] == 1 ? "at " + san::site_text(sites_[size_t(i)])
                                                 : (state_[size_t(i)] == 2 ? "had left the kernel"
                                                                           : "were elsewhere");
               }) +
               "; the launch was stopped";
    }
    for (auto& s : state_)
        if (s == 1) s = 0;
    block_->live.fetch_sub(uint64_t(waiters), std::memory_order_acq_rel);
    release();
    if (diverged) {
        san::current->report.add("sync", std::move(text));
        san::stop_launch();
    }
}

inline void Barrier::arrive_and_wait(int me, const Site& site) {
    uint32_t phase;
    if (block_ == nullptr) {  // the slot's gate
        {
            std::lock_guard<std::mutex> g(m_);
            phase = phase_.load(std::memory_order_relaxed);
            if (++arrived_ == expected_) {
                release();
                return;
            }
        }
        wait(phase);
        return;
    }
    bool stuck = false;
    {
        std::lock_guard<std::mutex> g(m_);
        san::check_stop();
        phase = phase_.load(std::memory_order_relaxed);
        sites_[size_t(me)] = site;
        state_[size_t(me)] = 1;
        if (++arrived_ == expected_) {
            finish(arrived_ - 1);
            return;
        }
        size_t t = size_t(first_ + me);
        block_->wait_site[t] = site;
        block_->waiting[t].store(1, std::memory_order_release);
        uint64_t v = block_->live.fetch_add(1, std::memory_order_acq_rel) + 1;
        stuck = (v & 0xffffffffu) == (v >> 32);
    }
    if (stuck) san::deadlock(block_);
    wait(phase);
    san::check_stop();
    block_->waiting[size_t(first_ + me)].store(0, std::memory_order_relaxed);
}

inline void Barrier::leave(int me) {
    std::lock_guard<std::mutex> g(m_);
    --expected_;
    if (block_ != nullptr) {
        state_[size_t(me)] = 2;
        ++left_;
        if (expected_ > 0 && arrived_ == expected_) finish(arrived_);
        return;
    }
    if (expected_ > 0 && arrived_ == expected_) release();
}

#else

inline void Barrier::arrive_and_wait(int, const Site&) {
    uint32_t phase;
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

inline void Barrier::leave(int) {
    std::lock_guard<std::mutex> g(m_);
    --expected_;
    if (expected_ > 0 && arrived_ == expected_) release();
}

#endif

// Every lane publishes `v`; after the warp barrier each reads lane `src`'s value.
template <typename T>
T exchange(T v, int src, const Site& site) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    Block* b = self.ctx;
    int warp = self.linear / 32, lane = self.linear % 32;
    uint64_t slot = 0;
    std::memcpy(&slot, &v, sizeof(T));
    b->lanes[size_t(warp * 32 + lane)] = slot;
    b->warps[size_t(warp)].arrive_and_wait(lane, site);
    uint64_t got = b->lanes[size_t(warp * 32 + (src & 31))];
    b->warps[size_t(warp)].arrive_and_wait(lane, site);
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

inline std::mutex& launch_mutex() {
    static std::mutex m;
    return m;
}

#ifdef GI_SANITIZE

namespace san {

inline uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The block schedule: GRAPH_IG_SANITIZE_SEED (else a random seed, printed once) and
// GRAPH_IG_SANITIZE_BLOCKS blocks at a time (default 3).
struct Schedule {
    uint64_t seed = 0;
    unsigned blocks = 3;
    std::atomic<uint64_t> launches{0};
    Schedule() {
        const char* s = std::getenv("GRAPH_IG_SANITIZE_SEED");
        if (s != nullptr && *s != '\0') {
            seed = std::strtoull(s, nullptr, 0);
        } else {
            std::random_device rd;
            seed = (uint64_t(rd()) << 32) ^ rd();
        }
        const char* b = std::getenv("GRAPH_IG_SANITIZE_BLOCKS");
        if (b != nullptr && *b != '\0') blocks = unsigned(std::max(1l, std::strtol(b, nullptr, 10)));
        std::fprintf(stderr,
                     "graph-ig sanitizer: blocks run in a random order, %u at a time; seed %llu "
                     "(GRAPH_IG_SANITIZE_SEED=%llu repeats it)\n",
                     blocks, (unsigned long long)seed, (unsigned long long)seed);
    }
};
inline Schedule& schedule() {
    static Schedule s;
    return s;
}

// Sets up a slot for its next block: barriers, the deadlock count, poisoned shared memory.
inline void start_block(Block& b) {
    b.live.store(uint64_t(b.threads) << 32, std::memory_order_relaxed);
    poison<float>(b.smem.data(), b.smem.size());
    b.dyn.reset_cells();
    b.dyn_typed = false;
    for (auto& s : b.statics) {
        s->poison(s->storage.data(), s->storage.size());
        s->region.reset_cells();
    }
}

}  // namespace san

template <typename T>
ptr<T> dynamic_shared() {
    Block* b = self.ctx;
    using V = std::remove_cv_t<T>;
    if constexpr (!std::is_floating_point_v<V> && !std::is_class_v<V>) {
        // The slot was poisoned for floats: make it 0xff bytes for this type, once.
        std::lock_guard<std::mutex> g(b->m);
        if (!b->dyn_typed) {
            san::poison<V>(b->smem.data(), b->smem.size());
            b->dyn_typed = true;
        }
    }
    return ptr<T>(&b->dyn, 0);
}

template <typename T>
ptr<T> static_shared(const void* tag, long long count, const char* name) {
    Block* b = self.ctx;
    std::lock_guard<std::mutex> g(b->m);
    for (auto& s : b->statics)
        if (s->tag == tag) return ptr<T>(&s->region, 0);
    auto s = std::make_unique<StaticShared>();
    s->tag = tag;
    s->storage.assign(size_t(std::max(0ll, count)) * sizeof(T), 0);
    s->poison = &san::poison<std::remove_cv_t<T>>;
    s->poison(s->storage.data(), s->storage.size());
    s->region.kind = "shared array";
    s->region.name = name;
    s->region.shared = true;
    s->region.attach(s->storage.data(), s->storage.size());
    b->statics.push_back(std::move(s));
    return ptr<T>(&b->statics.back()->region, 0);
}

#else

inline unsigned char* dynamic_shared() { return self.ctx->smem.data(); }

#endif

// The OS threads that run the CUDA threads, kept from launch to launch (creating a
// few hundred threads per launch would cost more than most launches' work). Used by
// one launch at a time (under the launch mutex); never destroyed, its threads detached.
class Pool {
  public:
    // Runs job(i) for i in [0, n), each on its own thread, and waits for all of them.
    void run(size_t n, const std::function<void(size_t)>& job) {
        while (workers_.size() < n) spawn();
        job_ = &job;
        left_.store(uint32_t(n), std::memory_order_relaxed);
        for (size_t i = 0; i < n; ++i) {
            workers_[i]->go.fetch_add(1, std::memory_order_release);
            wake_all(workers_[i]->go);
        }
        for (uint32_t v; (v = left_.load(std::memory_order_acquire)) != 0;) sleep_while(left_, v);
    }

  private:
    struct Worker {
        std::atomic<uint32_t> go{0};  // bumped once per job
    };
    void spawn() {
        workers_.push_back(std::make_unique<Worker>());
        Worker* w = workers_.back().get();
        size_t index = workers_.size() - 1;
        std::thread([this, w, index] {
            uint32_t seen = 0;
            for (;;) {
                sleep_while(w->go, seen);
                seen = w->go.load(std::memory_order_acquire);
                (*job_)(index);
                if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all(left_);
            }
        }).detach();
    }
    std::vector<std::unique_ptr<Worker>> workers_;
    const std::function<void(size_t)>* job_ = nullptr;
    std::atomic<uint32_t> left_{0};
};

inline Pool& pool() {
    static Pool* p = new Pool;  // leaked on purpose: its threads outlive static destructors
    return *p;
}

// Runs `body` for every block of the grid, with block.x*y*z threads.
template <typename F>
void run_grid(dim3 grid, dim3 block, size_t smem_bytes, F&& body) {
    int threads = int(block.x * block.y * block.z);
    if (threads <= 0 || threads > 1024) fail("block size must be 1..1024 threads");
    size_t nblocks = size_t(grid.x) * grid.y * grid.z;
    std::vector<uint32_t> order(nblocks);
    std::iota(order.begin(), order.end(), 0u);
    size_t slots = 1;
#ifdef GI_SANITIZE
    {
        san::Schedule& sch = san::schedule();
        uint64_t s = sch.seed ^ (0x632be59bd9b4e019ull * (sch.launches.fetch_add(1) + 1));
        for (size_t i = nblocks; i > 1; --i) std::swap(order[i - 1], order[san::splitmix(s) % i]);
        slots = std::min<size_t>(std::max<size_t>(nblocks, 1), sch.blocks);
    }
#endif
    int nwarps = (threads + 31) / 32;
    std::vector<std::unique_ptr<Block>> ctx;
    for (size_t k = 0; k < slots; ++k) {
        auto b = std::make_unique<Block>();
        b->grid = grid;
        b->block = block;
        b->threads = threads;
        b->warps = std::vector<Barrier>(size_t(nwarps));
        b->lanes.assign(size_t(nwarps) * 32, 0);
        b->smem.assign(smem_bytes, 0);
        b->gate.reset(threads);
#ifdef GI_SANITIZE
        b->sync.watch(b.get(), 0, "__syncthreads");
        for (int w = 0; w < nwarps; ++w)
            b->warps[size_t(w)].watch(b.get(), 32 * w, "warp " + std::to_string(w) + "'s barrier");
        b->dyn.kind = "dynamic shared memory";
        b->dyn.shared = true;
        b->dyn.attach(b->smem.data(), smem_bytes);
        b->wait_site.assign(size_t(threads), Site{});
        b->waiting = std::make_unique<std::atomic<int>[]>(size_t(threads));
#endif
        ctx.push_back(std::move(b));
    }
    std::atomic<size_t> next{0};
#ifdef GI_SANITIZE
    san::current->wake = [&] {
        for (auto& b : ctx) {
            b->sync.wake();
            for (auto& w : b->warps) w.wake();
        }
    };
#endif
    // Thread 0 of a slot takes its next block and re-arms the slot's barriers.
    auto take = [&](Block& b) {
        size_t i = next.fetch_add(1);
#ifdef GI_SANITIZE
        if (san::current->stop.load()) i = nblocks;
#endif
        b.current = i;
        if (i >= nblocks) return;
        b.sync.reset(threads);
        for (int w = 0; w < nwarps; ++w) b.warps[size_t(w)].reset(std::min(32, threads - 32 * w));
#ifdef GI_SANITIZE
        san::start_block(b);
#endif
    };
    // CUDA thread i of the launch is thread i % threads of slot i / threads.
    std::function<void(size_t)> cuda_thread = [&](size_t i) {
        size_t k = i / size_t(threads);
        int t = int(i % size_t(threads));
        Block& b = *ctx[k];
        self.ctx = &b;
        self.linear = t;
        self.thread = dim3{unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                           unsigned(t) / (block.x * block.y)};
        for (;;) {
            if (t == 0) take(b);
            b.gate.arrive_and_wait(t, Site{});
            if (b.current >= nblocks) break;
            uint32_t lin = order[b.current];
            self.block = dim3{lin % grid.x, (lin / grid.x) % grid.y, lin / (grid.x * grid.y)};
#ifdef GI_SANITIZE
            san::me = san::Who{lin, 0, 0, uint16_t(t), 0};
            try {
                body();
                // This thread has left the kernel for this block.
                b.sync.leave(t);
                b.warps[size_t(t / 32)].leave(t % 32);
                uint64_t v = b.live.fetch_sub(uint64_t(1) << 32) - (uint64_t(1) << 32);
                if ((v >> 32) > 0 && (v & 0xffffffffu) == (v >> 32)) san::deadlock(&b);
            } catch (const Stop&) {
                // The launch stops: this thread goes straight to the gate.
            }
#else
            body();
            // This thread has left the kernel for this block.
            b.sync.leave(t);
            b.warps[size_t(t / 32)].leave(t % 32);
#endif
            b.gate.arrive_and_wait(t, Site{});
        }
        self.ctx = nullptr;
    };
    pool().run(slots * size_t(threads), cuda_thread);
}

// What the host says each argument is: 1 = a device pointer, else the scalar's size
// in bytes. A mismatch with the kernel's signature (say an int where the kernel takes
// a long long) would only show on a real GPU, so interpret mode refuses it.
template <typename T>
constexpr unsigned char kind_of() {
#ifdef GI_SANITIZE
    if constexpr (is_checked_ptr<T>::value) return 1;
#endif
    return std::is_pointer_v<T> ? 1 : (unsigned char)sizeof(T);
}

#ifdef GI_SANITIZE
// Whether parameter type T is a pointer to const (a read-only argument).
template <typename T>
constexpr bool const_arg() {
    if constexpr (is_checked_ptr<T>::value)
        return std::is_const_v<typename T::element_type>;
    else
        return false;
}

// Argument i of a launch: a checked pointer into its region, or the scalar's value.
template <typename T>
T arg_value(void** args, size_t i, san::Launch& l) {
    if constexpr (is_checked_ptr<T>::value)
        return T(&l.args[i], 0);
    else
        return *static_cast<T*>(args[i]);
}
template <typename... Args, size_t... I>
std::tuple<Args...> unpack(void** args, san::Launch& l, std::index_sequence<I...>) {
    return std::tuple<Args...>(arg_value<Args>(args, I, l)...);
}
#else
// Unpacks a CUDA-style argument array (pointers to the argument values).
template <typename... Args, size_t... I>
std::tuple<Args...> unpack(void** args, std::index_sequence<I...>) {
    return std::tuple<Args...>(*static_cast<Args*>(args[I])...);
}
#endif

// Launches `kernel` on the grid. `names` are its parameters' names and `bytes` each
// buffer argument's size (both for the sanitizer's messages and bounds). Returns the
// number of distinct sanitizer findings (always 0 in plain interpret mode), whose text
// goes to `report` (`cap` bytes, NUL-terminated).
template <typename... Args>
int launch(void (*kernel)(Args...), const char* name, const char* const* names, dim3 grid,
           dim3 block, size_t smem, void** args, const unsigned char* kinds,
           const unsigned long long* bytes, int nargs, char* report, size_t cap) {
    std::lock_guard<std::mutex> serial(launch_mutex());
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
    if (cap > 0) report[0] = '\0';
#ifdef GI_SANITIZE
    constexpr bool readonly[] = {const_arg<Args>()..., false};
    san::note_launch(name);
    san::Launch l;
    l.kernel = name;
    l.args.resize(size_t(nargs));
    for (int i = 0; i < nargs; ++i) {
        if (want[i] != 1) continue;
        san::Region& r = l.args[size_t(i)];
        r.kind = "argument";
        r.arg = i;
        r.name = names[i];
        r.readonly = readonly[i];
        r.attach(*static_cast<unsigned char**>(args[i]), size_t(bytes[i]));
    }
    san::current = &l;
    auto values = unpack<Args...>(args, l, std::index_sequence_for<Args...>{});
    run_grid(grid, block, smem, [&] { std::apply(kernel, values); });
    san::current = nullptr;
    int found = l.report.distinct();
    if (found > 0 && cap > 0) {
        std::string text = l.report.text();
        size_t n = std::min(text.size(), cap - 1);
        std::memcpy(report, text.data(), n);
        report[n] = '\0';
    }
    return found;
#else
    (void)names;
    (void)bytes;
    auto values = unpack<Args...>(args, std::index_sequence_for<Args...>{});
    run_grid(grid, block, smem, [&] { std::apply(kernel, values); });
    return 0;
#endif
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
#ifdef GI_SANITIZE
#define __restrict__
#else
#define __restrict__ __restrict
#endif
#define __shared__ static

inline void __syncthreads(std::source_location loc = std::source_location::current()) {
    ::gi::Site site{loc, "__syncthreads"};
    ::gi::self.ctx->sync.arrive_and_wait(::gi::self.linear, site);
#ifdef GI_SANITIZE
    ++::gi::san::me.sync;
    ::gi::san::me.site = ::gi::san::sites.id(site);
#endif
}

// A warp barrier: orders the warp's memory accesses (the full mask only).
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       std::source_location loc = std::source_location::current()) {
    ::gi::check_full_warp(mask);
    ::gi::Site site{loc, "__syncwarp"};
    ::gi::self.ctx->warps[size_t(::gi::self.linear / 32)].arrive_and_wait(::gi::self.linear % 32, site);
#ifdef GI_SANITIZE
    ++::gi::san::me.wsync;
    ::gi::san::me.site = ::gi::san::sites.id(site);
#endif
}

inline void gi_check_width(int width) {
    if (width != 32) ::gi::fail("warp shuffles need width 32");
}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32,
              std::source_location loc = std::source_location::current()) {
    ::gi::check_full_warp(mask);
    gi_check_width(width);
    return ::gi::exchange(v, src, ::gi::Site{loc, "__shfl_sync"});
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32,
                   std::source_location loc = std::source_location::current()) {
    ::gi::check_full_warp(mask);
    gi_check_width(width);
    int lane = ::gi::self.linear % 32;
    T other = ::gi::exchange(v, int(lane + delta) & 31, ::gi::Site{loc, "__shfl_down_sync"});
    return lane + int(delta) < 32 ? other : v;
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                  std::source_location loc = std::source_location::current()) {
    ::gi::check_full_warp(mask);
    gi_check_width(width);
    return ::gi::exchange(v, (::gi::self.linear % 32) ^ lane_mask, ::gi::Site{loc, "__shfl_xor_sync"});
}
inline unsigned gi_ballot(unsigned mask, int pred, const ::gi::Site& site) {
    ::gi::check_full_warp(mask);
    unsigned bits = 0;
    for (int l = 0; l < 32; ++l) {
        // Each round broadcasts one lane's predicate.
        int p = ::gi::exchange(pred ? 1 : 0, l, site);
        if (p) bits |= 1u << l;
    }
    return bits;
}
inline unsigned __ballot_sync(unsigned mask, int pred,
                              std::source_location loc = std::source_location::current()) {
    return gi_ballot(mask, pred, ::gi::Site{loc, "__ballot_sync"});
}
inline int __any_sync(unsigned mask, int pred,
                      std::source_location loc = std::source_location::current()) {
    return gi_ballot(mask, pred, ::gi::Site{loc, "__any_sync"}) != 0;
}
inline int __all_sync(unsigned mask, int pred,
                      std::source_location loc = std::source_location::current()) {
    return gi_ballot(mask, pred, ::gi::Site{loc, "__all_sync"}) == 0xffffffffu;
}

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

#ifdef GI_SANITIZE
// Atomics through checked pointers: bounds-checked, and never a race with each other.
template <typename T>
T gi_checked_add(::gi::ptr<T> p, T v) {
    return ::gi::san::atomic_rmw<T>(p.region(), p.offset(), [v](T o) { return T(o + v); });
}
template <typename T>
T gi_checked_max(::gi::ptr<T> p, T v) {
    return ::gi::san::atomic_rmw<T>(p.region(), p.offset(), [v](T o) { return o < v ? v : o; });
}
inline int atomicAdd(::gi::ptr<int> a, int v) { return gi_checked_add(a, v); }
inline unsigned atomicAdd(::gi::ptr<unsigned> a, unsigned v) { return gi_checked_add(a, v); }
inline float atomicAdd(::gi::ptr<float> a, float v) { return gi_checked_add(a, v); }
inline double atomicAdd(::gi::ptr<double> a, double v) { return gi_checked_add(a, v); }
inline int atomicMax(::gi::ptr<int> a, int v) { return gi_checked_max(a, v); }
inline unsigned atomicMax(::gi::ptr<unsigned> a, unsigned v) { return gi_checked_max(a, v); }
#endif

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
