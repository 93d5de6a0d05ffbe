// runtime.hpp: the CUDA built-ins of the documented subset (see prelude.cuh)
// for host C++, used by interpret mode only.
//
// Every CUDA thread of a launch is a fiber: its own stack and saved registers, run
// by the OS thread that launched. A fiber runs until it reaches a barrier (a
// __syncthreads, a __syncwarp, a shuffle or a vote), where it hands over to the
// next ready fiber; the barrier makes its waiters ready again once every thread
// that takes part has arrived. So __syncthreads and warp shuffles synchronise
// exactly like on a GPU, at the cost of a function call per switch instead of an
// OS thread per CUDA thread (whose wake-ups cost far more than most kernels'
// work). Launches are serialised by a global mutex; fiber stacks are kept from
// launch to launch. Barriers that can never complete (a deadlock) stop the
// process with a message instead of hanging.
//
// Plain interpret mode runs the grid's blocks one after another, in order, and
// `static` (= __shared__) arrays are private to the running block.
//
// Sanitizer mode (GI_SANITIZE: the library scripts/sanitize.sh builds; sanitize.hpp) runs the
// blocks in a seeded random order, several at a time (each in its own slot, with
// its own fibers, barriers and shared memory, their threads interleaved at the
// barriers), checks every access through the checked pointers of sanitize.hpp and
// every barrier's call site, and returns its findings to the host.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <math.h>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <source_location>
#include <string>
#include <sys/mman.h>
#include <tuple>
#include <type_traits>
#include <ucontext.h>
#include <utility>
#include <vector>

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

// What the built-ins read: the running CUDA thread's indices and its block slot.
struct ThreadState {
    dim3 thread, block;
    Block* ctx = nullptr;
    int linear = 0;
};

inline thread_local ThreadState self;

// One CUDA thread of a launch.
struct Fiber {
    ucontext_t ctx;
    ThreadState state;  // `self` while it is switched out
#ifdef GI_SANITIZE
    san::Who who;  // `san::me` while it is switched out
#endif
    Block* slot = nullptr;
    int thread = 0;      // linear index in the block
    bool started = false;
    bool done = false;   // finished its current block
    bool exit = false;   // no more blocks: return from the fiber's function
};

// Fiber stacks (with a guard page below each, so that an overflow faults), kept from
// launch to launch. Used under the launch mutex; never unmapped.
class Stacks {
  public:
    static constexpr size_t kSize = size_t(256) << 10;
    unsigned char* get(size_t i) {
        while (all_.size() <= i) {
            void* p = mmap(nullptr, kSize + kGuard, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
            if (p == MAP_FAILED) fail("cannot map a fiber stack");
            if (mprotect(p, kGuard, PROT_NONE) != 0) fail("cannot protect a fiber stack's guard page");
            all_.push_back(static_cast<unsigned char*>(p) + kGuard);
        }
        return all_[i];
    }

  private:
    static constexpr size_t kGuard = 4096;
    std::vector<unsigned char*> all_;
};

inline Stacks& stacks() {
    static Stacks* s = new Stacks;  // leaked on purpose: fibers may outlive static destructors
    return *s;
}

// Runs the ready fibers of one launch, one at a time, on the launching OS thread.
// Fibers never move to another OS thread (so thread_local addresses stay valid).
class Scheduler {
  public:
    void ready(Fiber* f) { queue_.push_back(f); }
    Fiber* running() const { return running_; }
    // In a fiber: saves its state and switches to the scheduler; returns when resumed.
    void suspend() {
        Fiber* f = running_;
        f->state = self;
#ifdef GI_SANITIZE
        f->who = san::me;
#endif
        if (swapcontext(&f->ctx, &main_) != 0) fail("cannot switch fibers");
    }
    // In the scheduler: runs `f` until it suspends or returns.
    void resume(Fiber* f) {
        running_ = f;
        self = f->state;
#ifdef GI_SANITIZE
        san::me = f->who;
#endif
        if (swapcontext(&main_, &f->ctx) != 0) fail("cannot switch fibers");
        running_ = nullptr;
    }
    // The next ready fiber, or nullptr.
    Fiber* next() {
        if (queue_.empty()) return nullptr;
        Fiber* f = queue_.front();
        queue_.pop_front();
        return f;
    }
    ucontext_t main_;  // where the scheduler waits while a fiber runs

  private:
    std::deque<Fiber*> queue_;
    Fiber* running_ = nullptr;
};

inline thread_local Scheduler* scheduler = nullptr;

// A barrier whose participants can leave (threads that exit the kernel). A waiter
// suspends its fiber; the last to arrive makes the waiters ready again.
//
// In sanitizer mode a barrier set up with `watch` is a kernel's barrier: it records
// each participant's call site and reports (synccheck) a phase whose participants
// disagree, or that completes while some participant has left the kernel.
class Barrier {
  public:
    void reset(int n) {
        expected_ = n;
        arrived_ = 0;
        waiters_.clear();
#ifdef GI_SANITIZE
        sites_.assign(size_t(n), Site{});
        state_.assign(size_t(n), 0);
        left_ = 0;
#endif
    }
    // `me` is the participant's index (thread in the block, or lane in the warp).
    void arrive_and_wait(int me, const Site& site);
    void leave(int me);
    // Makes every waiter ready (a stopped launch: they see the stop and unwind).
    void wake() {
        for (Fiber* f : waiters_) scheduler->ready(f);
        waiters_.clear();
        arrived_ = 0;
    }
#ifdef GI_SANITIZE
    // Makes this a kernel barrier of `b`: participant i is thread `first + i`.
    void watch(Block* b, int first, std::string scope) {
        block_ = b;
        first_ = first;
        scope_ = std::move(scope);
    }
#endif

  private:
    void release() {
        arrived_ = 0;
        for (Fiber* f : waiters_) scheduler->ready(f);
        waiters_.clear();
    }
    void wait(int me, const Site& site);
    int expected_ = 0, arrived_ = 0;
    std::vector<Fiber*> waiters_;
#ifdef GI_SANITIZE
    // Checks the phase and releases it.
    void finish();
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

// One block slot: the block it runs now, its fibers, barriers and shared memory.
struct Block {
    dim3 grid, block;
    Barrier sync;                 // __syncthreads
    std::vector<Barrier> warps;   // one per warp, for shuffles, votes and __syncwarp
    std::vector<uint64_t> lanes;  // shuffle exchange slots, 32 per warp
    std::vector<unsigned char> smem;
    std::unique_ptr<Fiber[]> fibers;
    int threads = 0;
    int live = 0;                 // fibers still in the current block
    size_t current = 0;           // the block's position in the launch's order
    std::vector<Site> wait_site;  // per thread: the barrier it waits at
    std::vector<uint8_t> waiting; // per thread: whether it waits at a barrier
#ifdef GI_SANITIZE
    san::Region dyn;              // the dynamic shared memory
    std::mutex m;                 // statics and dyn_typed
    std::vector<std::unique_ptr<StaticShared>> statics;
    bool dyn_typed = false;       // re-poisoned for a non-float type in this block
#endif
};

inline void check_full_warp(unsigned mask) {
    if (mask != 0xffffffffu) fail("warp intrinsics need the full mask 0xffffffff");
    if (self.ctx->threads % 32 != 0) fail("warp intrinsics need blockDim to be a multiple of 32");
}

// Suspends the running fiber at this barrier until the barrier releases it.
inline void Barrier::wait(int me, const Site& site) {
    Fiber* f = scheduler->running();
    Block* b = f->slot;
    (void)me;
    b->wait_site[size_t(f->thread)] = site;
    b->waiting[size_t(f->thread)] = 1;
    waiters_.push_back(f);
    scheduler->suspend();
    b->waiting[size_t(f->thread)] = 0;
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

// All threads of slot `b` still in the kernel wait at barriers that cannot complete.
inline void report_deadlock(Block* b, uint32_t block) {
    std::string where = groups(b->threads, 0, [&](int t) {
        return b->waiting[size_t(t)] != 0 ? "wait at " + site_text(b->wait_site[size_t(t)])
                                          : std::string("had left the kernel");
    });
    current->report.add("sync", std::string("synccheck: kernel ") + current->kernel + " block " +
                                    std::to_string(block) + ": deadlock, " + where +
                                    "; the launch was stopped");
}

}  // namespace san

inline void Barrier::finish() {
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
        text = std::string("synccheck: kernel ") + san::current->kernel + " block " +
               std::to_string(san::me.block) + ": " + scope_ +
               " not reached by all threads alike: " +
               san::groups(int(state_.size()), first_, [&](int i) {
                   return state_[size_t(i)] == 1 ? "at " + san::site_text(sites_[size_t(i)])
                                                 : (state_[size_t(i)] == 2 ? "had left the kernel"
                                                                           : "were elsewhere");
               }) +
               "; the launch was stopped";
    }
    for (auto& s : state_)
        if (s == 1) s = 0;
    release();
    if (diverged) {
        san::current->report.add("sync", std::move(text));
        san::stop_launch();
    }
}

inline void Barrier::arrive_and_wait(int me, const Site& site) {
    san::check_stop();
    sites_[size_t(me)] = site;
    state_[size_t(me)] = 1;
    if (++arrived_ == expected_) {
        finish();
        return;
    }
    wait(me, site);
    san::check_stop();
}

inline void Barrier::leave(int me) {
    --expected_;
    state_[size_t(me)] = 2;
    ++left_;
    if (expected_ > 0 && arrived_ == expected_) finish();
}

#else

inline void Barrier::arrive_and_wait(int me, const Site& site) {
    if (++arrived_ == expected_) {
        release();
        return;
    }
    wait(me, site);
}

inline void Barrier::leave(int) {
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

// Sets up a slot for its next block: poisoned shared memory, fresh shadow memory.
inline void start_block(Block& b) {
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

// The launch a fiber belongs to: what each CUDA thread runs for its block.
struct Grid {
    dim3 grid, block;
    const std::vector<uint32_t>* order = nullptr;  // linear block index by position
    const std::function<void()>* body = nullptr;
};
inline thread_local const Grid* running_grid = nullptr;

// The function of every fiber: runs its thread of each block its slot takes, until
// the scheduler says there are no more.
inline void fiber_main() {
    Fiber* f = scheduler->running();
    const Grid& g = *running_grid;
    while (!f->exit) {
        Block& b = *f->slot;
        int t = f->thread;
        uint32_t lin = (*g.order)[b.current];
        self.block = dim3{lin % g.grid.x, (lin / g.grid.x) % g.grid.y, lin / (g.grid.x * g.grid.y)};
#ifdef GI_SANITIZE
        san::me = san::Who{lin, 0, 0, uint16_t(t), 0};
        try {
            (*g.body)();
            // This thread has left the kernel for this block.
            b.sync.leave(t);
            b.warps[size_t(t / 32)].leave(t % 32);
        } catch (const Stop&) {
            // The launch stops: this thread is done.
        } catch (...) {
            fail("a kernel threw an exception (out of memory?)");
        }
#else
        try {
            (*g.body)();
        } catch (...) {
            fail("a kernel threw an exception (out of memory?)");
        }
        b.sync.leave(t);
        b.warps[size_t(t / 32)].leave(t % 32);
#endif
        f->done = true;
        scheduler->suspend();  // until the slot's next block, or the end of the launch
    }
    // Returning resumes the scheduler (uc_link).
}

// Sets up `f` to start in fiber_main on `stack`, returning to `link` at its end. (Its
// own function: getcontext returns twice, as far as the compiler knows.)
[[gnu::noinline]] inline void make_fiber(Fiber& f, unsigned char* stack, ucontext_t* link) {
    if (getcontext(&f.ctx) != 0) fail("cannot make a fiber");
    f.ctx.uc_stack.ss_sp = stack;
    f.ctx.uc_stack.ss_size = Stacks::kSize;
    f.ctx.uc_link = link;
    makecontext(&f.ctx, &fiber_main, 0);
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
    if (nblocks == 0) return;
    std::function<void()> job = [&] { body(); };
    Grid g{grid, block, &order, &job};
    Scheduler sch;
    Scheduler* outer = scheduler;
    const Grid* outer_grid = running_grid;
    scheduler = &sch;
    running_grid = &g;
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
        b->wait_site.assign(size_t(threads), Site{});
        b->waiting.assign(size_t(threads), 0);
        b->fibers = std::make_unique<Fiber[]>(size_t(threads));
        for (int t = 0; t < threads; ++t) {
            Fiber& f = b->fibers[size_t(t)];
            f.slot = b.get();
            f.thread = t;
            f.state.ctx = b.get();
            f.state.linear = t;
            f.state.thread = dim3{unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                                  unsigned(t) / (block.x * block.y)};
            make_fiber(f, stacks().get(k * size_t(threads) + size_t(t)), &sch.main_);
        }
#ifdef GI_SANITIZE
        b->sync.watch(b.get(), 0, "__syncthreads");
        for (int w = 0; w < nwarps; ++w)
            b->warps[size_t(w)].watch(b.get(), 32 * w, "warp " + std::to_string(w) + "'s barrier");
        b->dyn.kind = "dynamic shared memory";
        b->dyn.shared = true;
        b->dyn.attach(b->smem.data(), smem_bytes);
#endif
        ctx.push_back(std::move(b));
    }
    size_t next = 0;
#ifdef GI_SANITIZE
    auto wake_all = [&] {
        for (auto& b : ctx) {
            b->sync.wake();
            for (auto& w : b->warps) w.wake();
        }
    };
    san::current->wake = wake_all;
#endif
    // A slot takes its next block: re-arms its barriers and readies its fibers.
    auto take = [&](Block& b) {
        size_t i = next++;
#ifdef GI_SANITIZE
        if (san::current->stop.load()) i = nblocks;
#endif
        if (i >= nblocks) return;
        b.current = i;
        b.sync.reset(threads);
        for (int w = 0; w < nwarps; ++w) b.warps[size_t(w)].reset(std::min(32, threads - 32 * w));
#ifdef GI_SANITIZE
        san::start_block(b);
#endif
        b.live = threads;
        for (int t = 0; t < threads; ++t) {
            Fiber& f = b.fibers[size_t(t)];
            f.done = false;
            sch.ready(&f);
        }
    };
    for (auto& b : ctx) take(*b);
    for (;;) {
        while (Fiber* f = sch.next()) {
            f->started = true;
            sch.resume(f);
            if (f->done && --f->slot->live == 0) take(*f->slot);
        }
        // Nothing is ready: either every block ran, or threads wait at barriers that
        // cannot complete.
        Block* stuck = nullptr;
        for (auto& b : ctx)
            if (b->live > 0) stuck = b.get();
        if (stuck == nullptr) break;
#ifdef GI_SANITIZE
        san::report_deadlock(stuck, order[stuck->current]);
        san::current->stop.store(true);
        wake_all();  // the waiters see the stop and unwind
#else
        fail("deadlock: the threads of a block wait at barriers that cannot complete (a "
             "__syncthreads or warp primitive that not every thread reaches; the sanitizer, "
             "bash scripts/sanitize.sh, names the lines)");
#endif
    }
    // Let every fiber that ran return from its function.
    for (auto& b : ctx) {
        for (int t = 0; t < threads; ++t) {
            Fiber& f = b->fibers[size_t(t)];
            if (!f.started) continue;
            f.exit = true;
            sch.resume(&f);
        }
    }
#ifdef GI_SANITIZE
    san::current->wake = nullptr;
#endif
    scheduler = outer;
    running_grid = outer_grid;
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
