// sanitize.hpp: the checks of sanitizer mode, included by runtime.hpp when GI_SANITIZE
// is defined (the sanitizer library that scripts/sanitize.sh builds from the sources
// build.rs writes). Never part of an nvcc or NVRTC build, nor of plain interpret mode.
//
// build.rs rewrites every pointer type of the kernel sources (`const float*` and so
// on) into gi::ptr<T>, a checked pointer: a region (a kernel argument, the block's
// dynamic shared memory or one static __shared__ array) and a byte offset. Every
// load and store through it goes through the checks below:
//   - memcheck: the access lies inside its region, is aligned and not through null;
//     a bad access is a finding that stops the launch.
//   - racecheck: shadow memory, one cell per 2 bytes, keeps the last write and a
//     summary of the reads since it, each with who did it: the block, the thread,
//     and how many __syncthreads and __syncwarp the thread had passed (its epochs).
//     Two accesses by different threads, one of them a write, race unless both are
//     atomics or a barrier orders them: the same block and a later __syncthreads
//     epoch, or the same warp and a later __syncwarp epoch. Different blocks of one
//     launch are never ordered. Warp shuffles and votes do not order memory.
//   - initcheck: shared memory starts each block poisoned (signalling NaNs for the
//     float types, 0xFF bytes for the others) and a read of a shared byte not yet
//     written in this block is a finding. Device buffers come from upload() or
//     zeros() (a memset), so they are always initialised.
//   - synccheck: the barriers (runtime.hpp) check that all threads of the block, or
//     all lanes of the warp, meet at the same call site, that none has left the
//     kernel, and that the block is not deadlocked.
// Races and uninitialised reads are reported and the launch goes on; memcheck and
// synccheck findings stop it. The launch returns its findings to the host.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <source_location>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace gi {

// Thrown inside a CUDA thread when its launch stops; caught by the runtime.
struct Stop {};

namespace san {

// Who made an access: enough to decide whether a barrier orders two accesses.
struct Who {
    uint32_t block = 0;   // linear block index in the grid
    uint32_t sync = 0;    // __syncthreads the thread had passed in this block
    uint32_t wsync = 0;   // __syncwarp the thread had passed in this block
    uint16_t thread = 0;  // linear thread index in the block
    uint16_t site = 0;    // the last barrier it had passed (site id, 0 = none)
};

inline bool same_warp(const Who& a, const Who& b) { return a.thread / 32 == b.thread / 32; }

// Whether `p` (an earlier access) happens before `me` by program order or a barrier.
inline bool ordered(const Who& p, const Who& me) {
    if (p.block != me.block) return false;
    if (p.thread == me.thread) return true;
    if (p.sync != me.sync) return p.sync < me.sync;
    return same_warp(p, me) && p.wsync < me.wsync;
}

// Shadow state of 2 bytes of device or shared memory.
struct Cell {
    uint8_t lock;    // a spin lock (std::atomic_ref)
    uint8_t pad;
    uint16_t flags;  // the F_ bits
    Who w;           // the last write
    Who wa, wb;      // reads of the current epoch group: the first one, and the first
                     // one from another warp than wa's
    Who ra, rb;      // the latest read of the group, and the latest by another thread
    Who xa, xb;      // a read of any block since the last write, and one of another block
};
enum : uint16_t {
    F_W = 1,        // w is set
    F_ATOMIC = 2,   // w was an atomic
    F_INIT = 4,     // written (shared memory: in this block)
    F_RA = 8,       // wa and ra are set (the group is not empty)
    F_RB = 16,
    F_WB = 32,
    F_XA = 64,
    F_XB = 128,
};

// A region that checked pointers point into.
struct Region {
    const char* kind = "";  // "argument", "dynamic shared memory", "shared array"
    int arg = -1;           // argument position (arguments only)
    const char* name = "";  // argument or array name
    unsigned char* base = nullptr;
    size_t bytes = 0;
    bool shared = false;
    // An argument the kernel declares `const T*`: it has no shadow memory. The host
    // passes each buffer once per launch (Rust's borrows: an output is borrowed
    // mutably, so no other argument is the same buffer), so nothing in the launch
    // writes it and its reads cannot race; a write to it is a memcheck finding.
    bool readonly = false;
    // One cell per 2 bytes, from calloc: the pages of a large buffer's shadow are only
    // touched where the kernel touches the buffer.
    std::unique_ptr<Cell[], decltype(&std::free)> cells{nullptr, &std::free};
    size_t ncells = 0;
    void reset_cells() {
        if (ncells != 0) std::memset(static_cast<void*>(cells.get()), 0, ncells * sizeof(Cell));
    }
    void attach(unsigned char* b, size_t n) {
        base = b;
        bytes = n;
        ncells = readonly ? 0 : (n + 1) / 2;
        cells.reset(ncells == 0 ? nullptr : static_cast<Cell*>(std::calloc(ncells, sizeof(Cell))));
        if (ncells != 0 && cells == nullptr) {
            std::fprintf(stderr, "graph-ig sanitizer: out of memory for shadow memory\n");
            std::abort();
        }
    }
};

// The findings of one launch, printed to the host's buffer at its end.
class Report {
  public:
    // Adds a finding unless one with the same key was seen; returns whether it was new.
    bool add(const std::string& key, std::string text) {
        std::lock_guard<std::mutex> g(m_);
        ++total_;
        if (!keys_.insert(key).second) return false;
        if (lines_.size() < kMaxLines) lines_.push_back(std::move(text));
        return true;
    }
    int distinct() {
        std::lock_guard<std::mutex> g(m_);
        return int(keys_.size());
    }
    std::string text() {
        std::lock_guard<std::mutex> g(m_);
        std::string s;
        for (auto& l : lines_) s += l + "\n";
        if (keys_.size() > lines_.size())
            s += "(" + std::to_string(keys_.size() - lines_.size()) + " more distinct findings)\n";
        return s;
    }

  private:
    static constexpr size_t kMaxLines = 12;
    std::mutex m_;
    std::vector<std::string> lines_;
    std::set<std::string> keys_;
    size_t total_ = 0;
};

// The state of the running launch (launches are serialised).
struct Launch {
    const char* kernel = "";
    std::atomic<bool> stop{false};
    Report report;
    std::vector<Region> args;
    std::function<void()> wake;  // wakes every thread waiting at a kernel barrier
};
inline Launch* current = nullptr;

// Per CUDA thread: its identity for the shadow memory.
inline thread_local Who me;

// Barrier call sites, numbered for the shadow cells (0 = none).
class Sites {
  public:
    uint16_t id(const Site& s) {
        for (auto& c : cache_)
            if (c.file == s.loc.file_name() && c.line == s.loc.line()) return c.id;
        uint16_t id;
        {
            std::lock_guard<std::mutex> g(m_);
            id = 0;
            for (size_t i = 0; i < all_.size(); ++i)
                if (std::strcmp(all_[i].file, s.loc.file_name()) == 0 && all_[i].line == s.loc.line())
                    id = uint16_t(i + 1);
            if (id == 0) {
                if (all_.size() >= 65535) return 0;
                all_.push_back({s.loc.file_name(), s.loc.line(), 0});
                id = uint16_t(all_.size());
            }
        }
        cache_[next_++ % kCache] = {s.loc.file_name(), s.loc.line(), id};
        return id;
    }
    // "fused.cu:412"
    std::string name(uint16_t id) {
        std::lock_guard<std::mutex> g(m_);
        if (id == 0 || id > all_.size()) return "?";
        return where(all_[id - 1].file, all_[id - 1].line);
    }
    static std::string where(const char* file, unsigned line) {
        const char* slash = std::strrchr(file, '/');
        return std::string(slash != nullptr ? slash + 1 : file) + ":" + std::to_string(line);
    }

  private:
    struct Entry {
        const char* file;
        unsigned line;
        uint16_t id;
    };
    static constexpr size_t kCache = 8;
    std::mutex m_;
    std::vector<Entry> all_;
    static inline thread_local Entry cache_[kCache] = {};
    static inline thread_local size_t next_ = 0;
};
inline Sites sites;

inline std::string since(const Who& w) {
    return w.site == 0 ? "before any barrier" : "after the barrier at " + sites.name(w.site);
}

inline std::string who_text(const Who& w) {
    return "block " + std::to_string(w.block) + " thread " + std::to_string(w.thread);
}

// GRAPH_IG_SANITIZE_COVERAGE=FILE: appends the name of every kernel this process
// launches, once each, to FILE (scripts/sanitize.sh checks that the tests it runs
// launch every kernel of kernels/*.cu). Called under the launch mutex.
inline void note_launch(const char* kernel) {
    static const char* path = std::getenv("GRAPH_IG_SANITIZE_COVERAGE");
    static std::set<std::string> seen;
    if (path == nullptr || *path == '\0' || !seen.insert(kernel).second) return;
    if (std::FILE* f = std::fopen(path, "a")) {
        std::fprintf(f, "%s\n", kernel);
        std::fclose(f);
    }
}

[[noreturn]] inline void stop_launch() {
    if (!current->stop.exchange(true) && current->wake) current->wake();
    throw Stop{};
}

inline void check_stop() {
    if (current->stop.load(std::memory_order_relaxed)) throw Stop{};
}

// ---- element types -------------------------------------------------------------
template <typename T>
const char* type_name() {
    if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else if constexpr (std::is_same_v<T, int>) return "int";
    else if constexpr (std::is_same_v<T, unsigned>) return "unsigned";
    else if constexpr (std::is_same_v<T, long long>) return "long long";
    else if constexpr (std::is_same_v<T, unsigned long long>) return "unsigned long long";
    else if constexpr (sizeof(T) == 2) return "16-bit";
    else return "element";
}

// Fills `n` bytes with the poison of T: signalling NaNs for the float types (0x7fbf per
// 16 bits is one as f32, bf16 and f16), 0xff bytes for the others.
template <typename T>
void poison(unsigned char* p, size_t n) {
    using V = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<V, double>) {
        const uint64_t word = 0x7ff7bf7f7fbf7fbfull;
        for (size_t i = 0; i < n; ++i) p[i] = (unsigned char)(word >> (8 * (i % 8)));
    } else if constexpr (std::is_floating_point_v<V> || std::is_class_v<V>) {
        // float and the 16-bit storage structs (gi_bf16, gi_f16).
        for (size_t i = 0; i < n; ++i) p[i] = (i % 2 == 0) ? 0xbf : 0x7f;
    } else {
        std::memset(p, 0xff, n);
    }
}

// ---- findings --------------------------------------------------------------------
inline std::string where_text(const Region* r, long long off, size_t size, const char* type) {
    std::string s;
    if (r->shared) {
        s = std::string(r->kind);
        if (r->name[0] != '\0') s += std::string(" '") + r->name + "'";
        s += " at byte " + std::to_string(off) + " (" + type + " element " +
             std::to_string(off / (long long)size) + ")";
    } else {
        s = "argument " + std::to_string(r->arg) + " (" + r->name + ") at element " +
            std::to_string(off / (long long)size) + " (" + type + ")";
    }
    return s;
}

[[noreturn]] inline void memcheck_fail(const Region* r, long long off, size_t size, const char* type,
                                      const char* verb, const char* problem) {
    std::string text = std::string("memcheck: kernel ") + current->kernel + ", " + who_text(me) +
                       ": " + problem + " " + verb + " of " + where_text(r, off, size, type);
    if (r->shared)
        text += "; the " + std::string(r->kind) + " holds " + std::to_string(r->bytes) + " bytes";
    else
        text += "; the buffer holds " + std::to_string(r->bytes / size) + " elements";
    text += " (" + since(me) + "); the launch was stopped";
    current->report.add("mem", std::move(text));
    stop_launch();
}

// A write through a pointer cast from an argument the kernel declares const.
[[noreturn]] inline void readonly_fail(const Region* r, long long off, size_t size,
                                       const char* type, const char* verb) {
    std::string text = std::string("memcheck: kernel ") + current->kernel + ", " + who_text(me) +
                       ": " + verb + " of " + where_text(r, off, size, type) +
                       ", which the kernel declares const (" + since(me) +
                       "); the launch was stopped";
    current->report.add("mem", std::move(text));
    stop_launch();
}

inline void race_found(const Region* r, long long off, size_t size, const char* type,
                       const char* kind, const Who& other, bool other_wrote, bool i_write) {
    std::string key = std::string("race ") + kind + r->kind + r->name + std::to_string(r->arg) +
                      ":" + std::to_string(me.site) + ":" + std::to_string(other.site);
    std::string why = other.block != me.block
                          ? "threads of different blocks are not ordered within a launch"
                          : (same_warp(other, me) ? "no __syncthreads or __syncwarp between them"
                                                  : "no __syncthreads between them");
    std::string text = std::string("racecheck: kernel ") + current->kernel + ": " + kind +
                       " race on " + where_text(r, off, size, type) + ": " + who_text(me) + " " +
                       (i_write ? "wrote" : "read") + " it " + since(me) + ", " + who_text(other) +
                       " " + (other_wrote ? "wrote" : "read") + " it " + since(other) + "; " + why;
    current->report.add(key, std::move(text));
}

inline void uninit_found(const Region* r, long long off, size_t size, const char* type) {
    std::string key = std::string("init ") + r->kind + r->name + ":" + std::to_string(me.site);
    std::string text = std::string("initcheck: kernel ") + current->kernel + ", " + who_text(me) +
                       ": read of uninitialised " + where_text(r, off, size, type) +
                       ", not written in this block before (" + since(me) + ")";
    current->report.add(key, std::move(text));
}

// ---- the shadow memory -----------------------------------------------------------
struct CellLock {
    explicit CellLock(Cell& c) : a(c.lock) {
        while (a.exchange(1, std::memory_order_acquire) != 0) std::this_thread::yield();
    }
    ~CellLock() { a.store(0, std::memory_order_release); }
    std::atomic_ref<uint8_t> a;
};

enum class Op { Read, Write, Atomic };

// Checks and records one access of `size` bytes at `off` of `r` (already bounds-checked).
inline void shadow(Region* r, long long off, size_t size, const char* type, Op op) {
    size_t first = size_t(off) / 2, last = (size_t(off) + size - 1) / 2;
    for (size_t g = first; g <= last; ++g) {
        Cell& c = r->cells[g];
        // What to report, decided under the lock and formatted after it.
        const char* kind = nullptr;
        Who other;
        bool other_wrote = false, uninit = false;
        {
            CellLock lock(c);
            if (op == Op::Read) {
                if ((c.flags & F_W) != 0 && !ordered(c.w, me)) {
                    kind = "read-after-write";
                    other = c.w;
                    other_wrote = true;
                }
                if (r->shared && (c.flags & F_INIT) == 0) uninit = true;
                if ((c.flags & F_RA) == 0 || c.ra.block != me.block || c.ra.sync != me.sync) {
                    c.wa = c.ra = me;  // a new group: the older reads are ordered before
                    c.flags = uint16_t((c.flags | F_RA) & ~(F_RB | F_WB));
                } else {
                    if (c.ra.thread != me.thread) {
                        c.rb = c.ra;
                        c.flags |= F_RB;
                    }
                    c.ra = me;
                    if ((c.flags & F_WB) == 0 && !same_warp(c.wa, me)) {
                        c.wb = me;
                        c.flags |= F_WB;
                    }
                }
                if ((c.flags & F_XA) == 0) {
                    c.xa = me;
                    c.flags |= F_XA;
                } else if ((c.flags & F_XB) == 0 && c.xa.block != me.block) {
                    c.xb = me;
                    c.flags |= F_XB;
                }
            } else {
                bool atomic = op == Op::Atomic;
                if ((c.flags & F_W) != 0 && !ordered(c.w, me) &&
                    !(atomic && (c.flags & F_ATOMIC) != 0)) {
                    kind = "write-after-write";
                    other = c.w;
                    other_wrote = true;
                } else if ((c.flags & F_XA) != 0 && c.xa.block != me.block) {
                    kind = "write-after-read";
                    other = c.xa;
                } else if ((c.flags & F_XB) != 0 && c.xb.block != me.block) {
                    kind = "write-after-read";
                    other = c.xb;
                } else if ((c.flags & F_RA) != 0 && c.ra.block == me.block && c.ra.sync == me.sync) {
                    if (!same_warp(c.wa, me)) {
                        kind = "write-after-read";
                        other = c.wa;
                    } else if ((c.flags & F_WB) != 0) {
                        kind = "write-after-read";
                        other = c.wb;
                    } else {
                        // All reads of the group come from my warp: the latest by another
                        // thread decides (earlier ones have no later __syncwarp epoch).
                        const Who* cand = c.ra.thread != me.thread
                                              ? &c.ra
                                              : ((c.flags & F_RB) != 0 ? &c.rb : nullptr);
                        if (cand != nullptr && cand->wsync == me.wsync) {
                            kind = "write-after-read";
                            other = *cand;
                        }
                    }
                }
                c.w = me;
                c.flags = uint16_t(F_W | F_INIT | (atomic ? F_ATOMIC : 0));
            }
        }
        if (kind != nullptr) race_found(r, off, size, type, kind, other, other_wrote, op != Op::Read);
        if (uninit) uninit_found(r, off, size, type);
        if (kind != nullptr || uninit) return;  // one finding per access
    }
}

// Bounds, null and alignment; a failure stops the launch.
template <typename V>
void bounds(const Region* r, long long off, const char* verb) {
    if (r == nullptr) {
        std::string text = std::string("memcheck: kernel ") + current->kernel + ", " + who_text(me) +
                           ": " + verb + " through a pointer that points nowhere (" + since(me) +
                           "); the launch was stopped";
        current->report.add("mem", std::move(text));
        stop_launch();
    }
    if (r->base == nullptr) memcheck_fail(r, off, sizeof(V), type_name<V>(), verb, "null-pointer");
    if (off < 0 || size_t(off) + sizeof(V) > r->bytes)
        memcheck_fail(r, off, sizeof(V), type_name<V>(), verb, "out-of-bounds");
    if (off % (long long)alignof(V) != 0)
        memcheck_fail(r, off, sizeof(V), type_name<V>(), verb, "misaligned");
}

template <typename V>
using Bits = std::conditional_t<sizeof(V) == 2, uint16_t,
                                std::conditional_t<sizeof(V) == 4, uint32_t, uint64_t>>;

template <typename V>
V load(Region* r, long long off) {
    static_assert(sizeof(V) == 2 || sizeof(V) == 4 || sizeof(V) == 8,
                  "sanitizer mode checks 2-, 4- and 8-byte elements only");
    check_stop();
    bounds<V>(r, off, "read");
    if (!r->readonly) shadow(r, off, sizeof(V), type_name<V>(), Op::Read);
    // A relaxed atomic load: a racing kernel is reported, not undefined behaviour here.
    Bits<V> bits = std::atomic_ref<Bits<V>>(*reinterpret_cast<Bits<V>*>(r->base + off))
                       .load(std::memory_order_relaxed);
    V v;
    std::memcpy(&v, &bits, sizeof(V));
    return v;
}

template <typename V>
void store(Region* r, long long off, const V& v) {
    check_stop();
    bounds<V>(r, off, "write");
    if (r->readonly) readonly_fail(r, off, sizeof(V), type_name<V>(), "write");
    shadow(r, off, sizeof(V), type_name<V>(), Op::Write);
    Bits<V> bits;
    std::memcpy(&bits, &v, sizeof(V));
    std::atomic_ref<Bits<V>>(*reinterpret_cast<Bits<V>*>(r->base + off))
        .store(bits, std::memory_order_relaxed);
}

// An atomic read-modify-write: `f(old)` is the new value; returns the old one.
template <typename V, typename F>
V atomic_rmw(Region* r, long long off, F f) {
    check_stop();
    bounds<V>(r, off, "atomic");
    if (r->readonly) readonly_fail(r, off, sizeof(V), type_name<V>(), "atomic");
    shadow(r, off, sizeof(V), type_name<V>(), Op::Atomic);
    std::atomic_ref<V> a(*reinterpret_cast<V*>(r->base + off));
    V old = a.load();
    while (!a.compare_exchange_weak(old, f(old))) {
    }
    return old;
}

}  // namespace san

// ---- checked pointers ----------------------------------------------------------------
template <typename T>
class ptr;

// What `p[i]` is in sanitizer mode: reading converts, assigning stores.
template <typename T>
class ref {
  public:
    using value_type = std::remove_const_t<T>;
    explicit ref(san::Region* r, long long off) : r_(r), off_(off) {}
    ref(const ref&) = default;
    operator value_type() const { return san::load<value_type>(r_, off_); }
    // Assignment stores the value (also from another reference: `a[i] = b[j]`).
    ref& operator=(const value_type& v) {
        static_assert(!std::is_const_v<T>, "store through a pointer to const");
        san::store<value_type>(r_, off_, v);
        return *this;
    }
    ref& operator=(const ref& o) { return *this = value_type(o); }
    template <typename U>
    ref& operator=(const ref<U>& o) {
        return *this = value_type(o);
    }
    ref& operator+=(const value_type& v) { return *this = value_type(*this) + v; }
    ref& operator-=(const value_type& v) { return *this = value_type(*this) - v; }
    ref& operator*=(const value_type& v) { return *this = value_type(*this) * v; }
    ref& operator/=(const value_type& v) { return *this = value_type(*this) / v; }
    ref& operator++() { return *this += value_type(1); }
    ref& operator--() { return *this -= value_type(1); }
    value_type operator++(int) {
        value_type v = *this;
        *this = v + value_type(1);
        return v;
    }
    value_type operator--(int) {
        value_type v = *this;
        *this = v - value_type(1);
        return v;
    }
    ptr<T> operator&() const { return ptr<T>(r_, off_); }

  private:
    san::Region* r_;
    long long off_;
};

// A checked pointer: a region and a byte offset into it (offsets outside the region
// are fine until an access).
template <typename T>
class ptr {
  public:
    using element_type = T;
    ptr() = default;
    ptr(std::nullptr_t) {}
    ptr(san::Region* r, long long off) : r_(r), off_(off) {}
    // T* -> const T*, implicitly.
    template <typename U>
        requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
    ptr(const ptr<U>& o) : r_(o.region()), off_(o.offset()) {}
    // Any other pointer conversion (reinterpret_cast in the kernel source), explicitly.
    template <typename U>
        requires(!std::is_same_v<const U, T> && !std::is_same_v<U, T>)
    explicit ptr(const ptr<U>& o) : r_(o.region()), off_(o.offset()) {}

    ref<T> operator[](long long i) const { return ref<T>(r_, off_ + i * (long long)sizeof(T)); }
    ref<T> operator*() const { return ref<T>(r_, off_); }
    ptr operator+(long long i) const { return ptr(r_, off_ + i * (long long)sizeof(T)); }
    ptr operator-(long long i) const { return ptr(r_, off_ - i * (long long)sizeof(T)); }
    friend ptr operator+(long long i, const ptr& p) { return p + i; }
    long long operator-(const ptr& o) const { return (off_ - o.off_) / (long long)sizeof(T); }
    ptr& operator+=(long long i) { return *this = *this + i; }
    ptr& operator-=(long long i) { return *this = *this - i; }
    ptr& operator++() { return *this += 1; }
    ptr& operator--() { return *this -= 1; }
    ptr operator++(int) {
        ptr p = *this;
        *this += 1;
        return p;
    }
    ptr operator--(int) {
        ptr p = *this;
        *this -= 1;
        return p;
    }
    bool is_null() const { return r_ == nullptr || r_->base == nullptr; }
    explicit operator bool() const { return !is_null(); }
    friend bool operator==(const ptr& p, std::nullptr_t) { return p.is_null(); }
    friend bool operator==(const ptr& a, const ptr& b) {
        return a.is_null() ? b.is_null() : (a.r_ == b.r_ && a.off_ == b.off_);
    }
    friend bool operator<(const ptr& a, const ptr& b) { return a.off_ < b.off_; }
    friend bool operator>(const ptr& a, const ptr& b) { return a.off_ > b.off_; }
    friend bool operator<=(const ptr& a, const ptr& b) { return a.off_ <= b.off_; }
    friend bool operator>=(const ptr& a, const ptr& b) { return a.off_ >= b.off_; }

    san::Region* region() const { return r_; }
    long long offset() const { return off_; }

  private:
    san::Region* r_ = nullptr;
    long long off_ = 0;
};

template <typename T>
struct is_checked_ptr : std::false_type {};
template <typename T>
struct is_checked_ptr<ptr<T>> : std::true_type {};

}  // namespace gi
