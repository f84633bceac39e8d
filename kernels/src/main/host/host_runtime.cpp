// The host runtime: runs kernels of a kernel library (see host_abi.h) block by block on the CPU,
// each GPU thread a fiber, and checks them while they run:
// - shared-memory races: a read of a __shared__ word written by another thread of the block, a
//   write of one another thread read or wrote, with no barrier between them (__syncthreads, or
//   __syncwarp when both threads are lanes of one warp), reported with kernel, file and line;
// - bounds: every access of instrumented kernel code must fall in a live device allocation, the
//   launch's dynamic shared memory, the static __shared__ storage, or the thread's own stack;
//   an access anywhere else stops the launch before it happens (the JVM never sees a wild write);
// - barriers: a __syncthreads reached from different lines, a warp collective whose lanes disagree
//   on the operation or mask, or threads that can never be released, stop the launch as a deadlock;
// - launch limits of an sm_90 GPU, argument count, kinds and sizes against the C++ signature.
// Device memory is host memory (256-byte aligned, filled with 0xFF bytes, i.e. NaN / -1, as fresh
// GPU memory is garbage). Everything is synchronous; launches are serialised.
#include "host_abi.h"

#include <jni.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace {
using jddpm_host::Api;
using jddpm_host::dim3;
using jddpm_host::Entry;
using jddpm_host::Library;
using jddpm_host::uint3;

constexpr int MAX_THREADS = 1024;
constexpr size_t SHARED_RESERVE = 256 << 10;       // > the 227 KB an sm_90 block may opt into
constexpr int SHARED_OPTIN_MAX = 232448;            // cudaDevAttrMaxSharedMemoryPerBlockOptin on H100/H200
constexpr int SHARED_DEFAULT_MAX = 48 << 10;
#ifdef __SANITIZE_ADDRESS__
constexpr size_t STACK_BYTES = 1 << 20;             // ASan's redzones make frames larger
#else
constexpr size_t STACK_BYTES = 128 << 10;
#endif
constexpr size_t GUARD = 4096;
constexpr int MAX_REPORTS = 4;

std::recursive_mutex lock;
std::string last_error;

// ---------------------------------------------------------------- device memory
std::map<uintptr_t, size_t> allocations;            // base -> bytes
size_t allocated_bytes = 0;
size_t memory_limit = (size_t)8 << 30;              // what the host "device" pretends to have

const std::pair<uintptr_t, size_t>* find_allocation(uintptr_t a) {
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return nullptr;
    --it;
    if (a < it->first + std::max<size_t>(it->second, 1)) return reinterpret_cast<const std::pair<uintptr_t, size_t>*>(&*it);
    return nullptr;
}

std::string hex(uintptr_t a) {
    char b[32];
    snprintf(b, sizeof b, "0x%lx", (unsigned long)a);
    return b;
}

// Why [a, a + n) is not device memory, or "" when it is.
std::string check_range(uintptr_t a, size_t n, const char* what) {
    if (n == 0) return "";
    std::ostringstream m;
    m << what << " of " << n << " bytes at " << hex(a);
    auto it = allocations.upper_bound(a);
    if (it != allocations.begin()) {
        --it;
        uintptr_t end = it->first + it->second;
        if (a + n <= end) return "";
        if (a < end || a - end < ((uintptr_t)1 << 20)) {
            m << " ends " << (a + n - end) << " bytes past the end of the " << it->second << "-byte allocation at "
              << hex(it->first);
            return m.str();
        }
    }
    m << " is in no device allocation";
    return m.str();
}

// ---------------------------------------------------------------- fibers
#if defined(__x86_64__)
extern "C" void jddpm_fiber_switch(void** save_sp, void* new_sp);
asm(R"(
    .text
    .globl jddpm_fiber_switch
    .hidden jddpm_fiber_switch
    .type jddpm_fiber_switch,@function
jddpm_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size jddpm_fiber_switch,.-jddpm_fiber_switch
)");
#endif

enum State { RUNNABLE, AT_BARRIER, AT_COLLECTIVE, EXITED, KILLED };

struct Fiber {
    uint3 idx;
    int linear, warp, lane;
    State state;
    int wait_buf;                       // the collective buffer this lane deposited into
    const char* file;                   // where it waits
    int line;
    char* stack_lo;
#if defined(__x86_64__)
    void* sp;
#else
    ucontext_t ctx;
#endif
};

struct Warp {
    unsigned arrived, mask;
    int kind, width;
    unsigned gen, sync_epoch;
    const char* file;
    int line;
    unsigned long long value[2][32];
    unsigned char bytes[2][32][jddpm_host::GATHER_BYTES];
};

struct Block {
    int n, arrived, exited;
    const char* file;                   // the __syncthreads the arrived threads wait at
    int line;
};

Fiber fibers[MAX_THREADS];
Warp warps[MAX_THREADS / 32];
Block block;
Fiber* current = nullptr;
char* stacks = nullptr;
uintptr_t stacks_lo = 0, stacks_hi = 0;     // every fiber's stack
#if defined(__x86_64__)
void* scheduler_sp = nullptr;
#else
ucontext_t scheduler_ctx;
#endif
#ifdef __SANITIZE_ADDRESS__
const void* scheduler_stack_bottom = nullptr;
size_t scheduler_stack_size = 0;
#endif

// The launch in progress.
struct Launch {
    struct KernelLib* lib;
    const Entry* entry;
    void** args;
    uint3 block_idx;
    dim3 block_dim, grid_dim;
    char* dyn;                          // dynamic shared memory: SHARED_RESERVE bytes reserved
    size_t dyn_bytes;
    bool fatal;
    std::string error;
    std::vector<std::string> races;
    long race_count;
    std::set<std::pair<const void*, const void*>> race_sites;
} launch_state;
uint64_t epoch = 1;                     // advances at every block start and every barrier

void switch_to_fiber(Fiber& f) {
#ifdef __SANITIZE_ADDRESS__
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack_lo, STACK_BYTES);
#endif
#if defined(__x86_64__)
    jddpm_fiber_switch(&scheduler_sp, f.sp);
#else
    swapcontext(&scheduler_ctx, &f.ctx);
#endif
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// Back to the scheduler; returns when the scheduler runs this fiber again.
void yield_to_scheduler(bool final = false) {
    Fiber& f = *current;
#ifdef __SANITIZE_ADDRESS__
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(final ? nullptr : &fake, scheduler_stack_bottom, scheduler_stack_size);
#else
    (void)final;
#endif
#if defined(__x86_64__)
    jddpm_fiber_switch(&f.sp, scheduler_sp);
#else
    swapcontext(&f.ctx, &scheduler_ctx);
#endif
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(fake, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
}

std::string where(const Fiber& f) {
    std::ostringstream m;
    m << "thread (" << f.idx.x << "," << f.idx.y << "," << f.idx.z << ") of block (" << launch_state.block_idx.x << ","
      << launch_state.block_idx.y << "," << launch_state.block_idx.z << ")";
    return m.str();
}

std::string kernel_name();

// Stops the launch: the current fiber never runs again.
[[noreturn]] void kill_current(const std::string& why) {
    if (!launch_state.fatal) {
        launch_state.fatal = true;
        launch_state.error = why;
    }
    current->state = KILLED;
    yield_to_scheduler(true);
    abort();   // unreachable: a killed fiber is never resumed
}

void release_barrier() {
    for (int i = 0; i < block.n; i++)
        if (fibers[i].state == AT_BARRIER) fibers[i].state = RUNNABLE;
    block.arrived = 0;
    block.file = nullptr;
    epoch++;
}

void on_exit_thread() {
    Fiber& f = *current;
    f.state = EXITED;
    block.exited++;
    if (block.arrived > 0 && block.arrived + block.exited == block.n) release_barrier();
}

void fiber_main();

#if defined(__x86_64__)
extern "C" void jddpm_fiber_entry() {
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
    fiber_main();
}
#endif

void fiber_main() {
    launch_state.entry->call(launch_state.args);
    on_exit_thread();
    yield_to_scheduler(true);
    abort();   // an exited fiber is never resumed
}

void prepare_fiber(Fiber& f) {
    char* top = f.stack_lo + STACK_BYTES;
#if defined(__x86_64__)
    // as if jddpm_fiber_switch had saved six registers below a return into jddpm_fiber_entry
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    void** sp = (void**)t;
    *--sp = nullptr;                                   // fake return address of the entry
    *--sp = (void*)&jddpm_fiber_entry;
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack_lo;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
#endif
}

bool init_stacks() {
    if (stacks) return true;
    size_t per = STACK_BYTES + GUARD;
    void* p = mmap(nullptr, per * MAX_THREADS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    stacks = (char*)p;
    stacks_lo = (uintptr_t)p;
    stacks_hi = stacks_lo + per * MAX_THREADS;
    for (int i = 0; i < MAX_THREADS; i++) {
        mprotect(stacks + i * per, GUARD, PROT_NONE);   // a stack overflow faults instead of corrupting
        fibers[i].stack_lo = stacks + i * per + GUARD;
    }
    return true;
}

// ---------------------------------------------------------------- the kernel library
struct Range { uintptr_t lo, hi; };

struct KernelLib {
    std::string path;
    void* handle;
    Library lib;
    std::vector<long> launches;
    Range span;                         // from the first segment's start to the last one's end
};

Range runtime_span = {0, 0};
char* dyn_region = nullptr;

struct PhdrQuery { uintptr_t probe; std::vector<Range>* out; };

int collect_segments(struct dl_phdr_info* info, size_t, void* data) {
    auto* q = static_cast<PhdrQuery*>(data);
    std::vector<Range> segs;
    bool mine = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
        segs.push_back({lo, hi});
        if (q->probe >= lo && q->probe < hi) mine = true;
    }
    if (mine) { *q->out = segs; return 1; }
    return 0;
}

std::vector<Range> segments_of(const void* probe) {
    std::vector<Range> out;
    PhdrQuery q{(uintptr_t)probe, &out};
    dl_iterate_phdr(collect_segments, &q);
    return out;
}

Range span_of(const std::vector<Range>& segments) {
    Range s = {UINTPTR_MAX, 0};
    for (const Range& r : segments) { s.lo = std::min(s.lo, r.lo); s.hi = std::max(s.hi, r.hi); }
    return s;
}

std::string kernel_name() {
    if (!launch_state.entry) return "?";
    return std::string(launch_state.entry->family) + "." + launch_state.entry->name;
}

// file:line (function) of a code address, through addr2line on the library (cached).
std::map<const void*, std::string> symbol_cache;

std::string source_of(const void* pc) {
    if (!pc) return "?";
    auto c = symbol_cache.find(pc);
    if (c != symbol_cache.end()) return c->second;
    std::string res = "?";
    Dl_info info;
    if (dladdr(pc, &info) && info.dli_fname) {
        uintptr_t off = (uintptr_t)pc - (uintptr_t)info.dli_fbase - 1;   // pc is a return address
        std::string cmd = "addr2line -f -i -C -p -e '" + std::string(info.dli_fname) + "' " + hex(off) + " 2>/dev/null";
        if (FILE* p = popen(cmd.c_str(), "r")) {
            char buf[512];
            std::string out;
            while (fgets(buf, sizeof buf, p)) out += buf;
            pclose(p);
            // "func at /path/file.cu:42" lines (inlined frames first): keep "file:line (func)" of each
            std::istringstream lines(out);
            std::string line, acc;
            while (std::getline(lines, line)) {
                size_t at = line.find(" at ");
                if (at == std::string::npos) continue;
                std::string fn = line.substr(0, at), loc = line.substr(at + 4);
                size_t inl = fn.find("(inlined by) ");
                if (inl != std::string::npos) fn = fn.substr(inl + 13);
                size_t slash = loc.find_last_of('/');
                if (slash != std::string::npos) loc = loc.substr(slash + 1);
                size_t paren = loc.find(" (");
                if (paren != std::string::npos) loc = loc.substr(0, paren);
                if (!acc.empty()) acc += " <- ";
                acc += loc + " (" + fn + ")";
            }
            if (!acc.empty()) res = acc;
        }
    }
    symbol_cache[pc] = res;
    return res;
}

// ---------------------------------------------------------------- the race check
// Shadow of every 2-byte granule of shared memory: the last write and the reads since it, each with
// the epoch (barrier interval) and, for same-warp ordering, the warp's __syncwarp count.
struct Shadow {
    uint64_t w_epoch, r_epoch;
    int w_tid, r_tid;                   // r_tid: -2 = several readers
    int r_warp;                         // the readers' warp, or -1 when they span warps
    unsigned w_wsync, r_wsync;          // the writer's warp sync count at the write; the newest read's
    const void* w_pc;
    const void* r_pc;
};
constexpr int MULTI = -2;
std::vector<Shadow> shadow;             // static section granules, then SHARED_RESERVE / 2 dynamic ones

void report_race(const char* kind, uintptr_t addr, const Fiber& f, int other, const void* pc, const void* other_pc,
                 bool static_part, size_t offset) {
    launch_state.race_count++;
    if (!launch_state.race_sites.insert({pc, other_pc}).second) return;
    if ((int)launch_state.races.size() >= MAX_REPORTS) return;
    std::ostringstream m;
    m << kind << " race on " << (static_part ? "static __shared__ byte +" : "dynamic shared byte +") << offset << ": "
      << where(f) << " at " << source_of(pc);
    if (other >= 0) {
        const Fiber& o = fibers[other];
        m << ", thread (" << o.idx.x << "," << o.idx.y << "," << o.idx.z << ") at " << source_of(other_pc);
    } else {
        m << ", other threads (last at " << source_of(other_pc) << ")";
    }
    m << ", no barrier in between";
    (void)addr;
    launch_state.races.push_back(m.str());
}

// offset: of the access in its region (static section or dynamic buffer); base: the region's first granule.
void shared_access(uintptr_t a, unsigned size, bool write, const void* pc, size_t base, bool static_part,
                   size_t offset) {
    Fiber& f = *current;
    unsigned wsync = warps[f.warp].sync_epoch;
    size_t g_end = base + (offset + size - 1) / 2 + 1;
    for (size_t g = base + offset / 2; g < g_end && g < shadow.size(); g++) {
        Shadow& s = shadow[g];
        bool w_here = s.w_epoch == epoch && s.w_tid != f.linear;
        bool w_ordered = w_here && fibers[s.w_tid].warp == f.warp && s.w_wsync < wsync;
        if (!write) {
            if (w_here && !w_ordered) { report_race("read-after-write", a, f, s.w_tid, pc, s.w_pc, static_part, offset); }
            if (s.r_epoch != epoch) {
                s.r_epoch = epoch; s.r_tid = f.linear; s.r_warp = f.warp;
            } else if (s.r_tid != f.linear) {
                s.r_tid = MULTI;
                if (s.r_warp != f.warp) s.r_warp = -1;
            }
            s.r_wsync = wsync;
            s.r_pc = pc;
        } else {
            if (w_here && !w_ordered) report_race("write-after-write", a, f, s.w_tid, pc, s.w_pc, static_part, offset);
            bool r_here = s.r_epoch == epoch && s.r_tid != f.linear;
            bool r_ordered = r_here && s.r_warp == f.warp && s.r_wsync < wsync;
            if (r_here && !r_ordered)
                report_race("write-after-read", a, f, s.r_tid == MULTI ? -1 : s.r_tid, pc, s.r_pc, static_part, offset);
            s.w_epoch = epoch; s.w_tid = f.linear; s.w_wsync = wsync; s.w_pc = pc;
            s.r_epoch = 0;
        }
    }
}

uintptr_t shared_lo = 0, shared_hi = 0;     // the running library's static __shared__ section
Range alloc_cache[4];                       // the device allocations the last accesses touched
Range lib_span;                             // the running kernel library's variables (threadIdx, blockDim...)

void on_access_slow(uintptr_t a, unsigned size, int is_write, const void* pc) {
    if (a >= shared_lo && a < shared_hi) {
        shared_access(a, size, is_write, pc, 0, true, a - shared_lo);
        return;
    }
    uintptr_t d_lo = (uintptr_t)dyn_region;
    if (a >= d_lo && a < d_lo + SHARED_RESERVE) {
        size_t off = a - d_lo;
        if (off + size > launch_state.dyn_bytes) {
            std::ostringstream m;
            m << "invalid dynamic shared memory " << (is_write ? "write" : "read") << " of " << size << " bytes at offset "
              << off << " (the launch has " << launch_state.dyn_bytes << " bytes) by " << where(*current) << " at "
              << source_of(pc);
            kill_current(m.str());
        }
        shared_access(a, size, is_write, pc, (shared_hi - shared_lo + 1) / 2, false, off);
        return;
    }
    const auto* al = find_allocation(a);
    if (al && a + size <= al->first + al->second) {
        std::copy_backward(alloc_cache, alloc_cache + 3, alloc_cache + 4);
        alloc_cache[0] = {al->first, al->first + al->second};
        return;
    }
    std::ostringstream m;
    m << "invalid global " << (is_write ? "write" : "read") << ": "
      << check_range(a, size, is_write ? "a write" : "a read") << ", by " << where(*current) << " at " << source_of(pc);
    kill_current(m.str());
}

// The hook every instrumented access of kernel code calls.

void on_access(const void* addr, unsigned size, int is_write, const void* pc) {
    if (!current) return;
    uintptr_t a = (uintptr_t)addr, e = a + size;
    if (a >= lib_span.lo && e <= lib_span.hi && (a < shared_lo || a >= shared_hi)) return;
    for (const Range& c : alloc_cache)
        if (a >= c.lo && e <= c.hi) return;
    if (a >= runtime_span.lo && e <= runtime_span.hi) return;   // the runtime's: arguments, thread coordinates
    if (a >= stacks_lo && e <= stacks_hi) return;               // a thread's own stack
    on_access_slow(a, size, is_write, pc);
}

// ---------------------------------------------------------------- barriers and warp collectives
void rt_syncthreads(const char* file, int line) {
    Fiber& f = *current;
    if (block.arrived > 0 && (block.line != line || (block.file != file && strcmp(block.file, file) != 0))) {
        std::ostringstream m;
        m << "divergent __syncthreads: " << where(f) << " waits at " << file << ":" << line << " while others wait at "
          << block.file << ":" << block.line;
        kill_current(m.str());
    }
    if (block.arrived == 0) { block.file = file; block.line = line; }
    block.arrived++;
    if (block.arrived + block.exited == block.n) {
        release_barrier();
        return;
    }
    f.state = AT_BARRIER;
    f.file = file;
    f.line = line;
    yield_to_scheduler();
}

unsigned long long collective_result(const Warp& w, int buf, int kind, int lane, int arg, int width) {
    const unsigned long long* v = w.value[buf];
    int base = lane & ~(width - 1);
    int src = lane;
    switch (kind) {
        case jddpm_host::SYNCWARP: return 0;
        case jddpm_host::SHFL_IDX: src = base + (arg & (width - 1)); break;
        case jddpm_host::SHFL_UP: src = lane - arg; if (src < base) src = lane; break;
        case jddpm_host::SHFL_DOWN: src = lane + arg; if (src >= base + width) src = lane; break;
        case jddpm_host::SHFL_XOR: src = lane ^ arg; if (src >= base + width || src < base) src = lane; break;
        case jddpm_host::VOTE_ALL: case jddpm_host::VOTE_ANY: case jddpm_host::VOTE_BALLOT: {
            unsigned ballot = 0;
            for (int l = 0; l < 32; l++) if ((w.mask >> l & 1u) && v[l]) ballot |= 1u << l;
            if (kind == jddpm_host::VOTE_BALLOT) return ballot;
            if (kind == jddpm_host::VOTE_ANY) return ballot != 0;
            return ballot == w.mask;
        }
    }
    if (!(w.mask >> src & 1u)) {
        std::ostringstream m;
        m << "warp shuffle reads lane " << src << ", which is not in the mask " << hex(w.mask) << " (" << w.file << ":"
          << w.line << ", " << where(*current) << ")";
        kill_current(m.str());
    }
    return v[src];
}

[[noreturn]] void collective_error(const Fiber& f, const Warp& w, int kind, unsigned mask, int width, const char* file,
                                   int line) {
    std::ostringstream m;
    if (!(mask >> f.lane & 1u))
        m << "warp collective at " << file << ":" << line << " with mask " << hex(mask) << " called by lane " << f.lane
          << ", which the mask leaves out (" << where(f) << ")";
    else if (width < 1 || width > 32 || (width & (width - 1)))
        m << "warp shuffle width " << width << " at " << file << ":" << line << " is not a power of 2 <= 32";
    else
        m << "warp collective mismatch: lane " << f.lane << " is at " << file << ":" << line << " (kind " << kind
          << ", mask " << hex(mask) << ") while lanes " << hex(w.arrived) << " wait at " << w.file << ":" << w.line
          << " (kind " << w.kind << ", mask " << hex(w.mask) << ") [" << where(f) << "]";
    kill_current(m.str());
}

// A lane arrives at a warp collective; returns the buffer index its data went to once every lane of
// the mask has arrived (the last one releases the others). `deposit` stores the lane's contribution.
template <typename Deposit>
int warp_arrive(int kind, unsigned mask, int width, const char* file, int line, Deposit deposit) {
    Fiber& f = *current;
    Warp& w = warps[f.warp];
    if (!(mask >> f.lane & 1u) || width < 1 || width > 32 || (width & (width - 1)))
        collective_error(f, w, kind, mask, width, file, line);
    if (w.arrived == 0) {
        w.mask = mask; w.kind = kind; w.width = width; w.file = file; w.line = line;
    } else if (w.mask != mask || w.kind != kind) {
        collective_error(f, w, kind, mask, width, file, line);
    }
    int buf = w.gen & 1;
    deposit(w, buf, f.lane);
    w.arrived |= 1u << f.lane;
    if (w.arrived == w.mask) {
        w.gen++;
        w.arrived = 0;
        if (kind == jddpm_host::SYNCWARP) w.sync_epoch++;
        for (int l = 0; l < 32; l++) {
            int t = f.warp * 32 + l;
            if (t < block.n && (mask >> l & 1u) && fibers[t].state == AT_COLLECTIVE) fibers[t].state = RUNNABLE;
        }
    } else {
        f.state = AT_COLLECTIVE;
        f.wait_buf = buf;
        f.file = file;
        f.line = line;
        yield_to_scheduler();
    }
    return buf;
}

unsigned long long rt_collective(int kind, unsigned mask, unsigned long long value, int arg, int width,
                                 const char* file, int line) {
    int buf = warp_arrive(kind, mask, width, file, line,
                          [value](Warp& w, int b, int lane) { w.value[b][lane] = value; });
    return collective_result(warps[current->warp], buf, kind, current->lane, arg, width);
}

void rt_gather(const void* mine, int bytes, void* all, const char* file, int line) {
    if (bytes < 0 || bytes > jddpm_host::GATHER_BYTES) {
        std::ostringstream m;
        m << "warp gather of " << bytes << " bytes per lane at " << file << ":" << line << " exceeds "
          << jddpm_host::GATHER_BYTES;
        kill_current(m.str());
    }
    // the contributions are packed (lane l at l·bytes of the buffer), so each lane takes all 32 in one copy
    int buf = warp_arrive(jddpm_host::GATHER, 0xffffffffu, 32, file, line,
                          [mine, bytes](Warp& w, int b, int lane) { memcpy(&w.bytes[b][0][0] + lane * bytes, mine, bytes); });
    const Warp& w = warps[current->warp];
    memcpy(all, &w.bytes[buf][0][0], (size_t)32 * bytes);
}

unsigned rt_activemask() {
    Fiber& f = *current;
    unsigned m = 0;
    for (int l = 0; l < 32; l++) {
        int t = f.warp * 32 + l;
        if (t < block.n && fibers[t].state != EXITED && fibers[t].state != KILLED) m |= 1u << l;
    }
    return m;
}

void* rt_dynamic_shared() { return dyn_region; }

void rt_trap(const char* file, int line) {
    std::ostringstream m;
    m << "__trap() at " << file << ":" << line << " by " << where(*current);
    kill_current(m.str());
}

void rt_fail(const char* what, const char* file, int line) {
    std::ostringstream m;
    m << what << " at " << file << ":" << line << " by " << where(*current);
    kill_current(m.str());
}

const Api runtime_api = {rt_syncthreads, rt_collective, rt_activemask, rt_dynamic_shared, rt_trap, rt_gather, rt_fail};

// ---------------------------------------------------------------- launches
std::string deadlock_report() {
    std::ostringstream m;
    m << "deadlock: no thread of block (" << launch_state.block_idx.x << "," << launch_state.block_idx.y << ","
      << launch_state.block_idx.z << ") can go on:";
    int shown = 0;
    for (int i = 0; i < block.n && shown < 6; i++) {
        const Fiber& f = fibers[i];
        if (f.state == AT_BARRIER || f.state == AT_COLLECTIVE) {
            m << " thread " << i << " waits at " << (f.state == AT_BARRIER ? "__syncthreads " : "a warp collective ")
              << f.file << ":" << f.line << ";";
            shown++;
        }
    }
    m << " " << block.exited << " of " << block.n << " threads have exited"
      << " (a barrier or warp collective that not every thread reaches)";
    return m.str();
}

void run_block(KernelLib* lib, unsigned bx, unsigned by, unsigned bz) {
    const dim3& bd = launch_state.block_dim;
    int n = (int)(bd.x * bd.y * bd.z);
    launch_state.block_idx = {bx, by, bz};
    *lib->lib.block_index = launch_state.block_idx;
    // shared memory holds garbage at a block's start: NaN bytes make a read-before-write visible
    if (lib->lib.shared_end > lib->lib.shared_begin)
        memset(lib->lib.shared_begin, 0xff, lib->lib.shared_end - lib->lib.shared_begin);
    if (launch_state.dyn_bytes) memset(dyn_region, 0xff, launch_state.dyn_bytes);
    block = {n, 0, 0, nullptr, 0};
    epoch++;
    for (int w = 0; w < (n + 31) / 32; w++) {
        warps[w].arrived = 0; warps[w].gen = 0; warps[w].sync_epoch = 0;
    }
    for (int i = 0; i < n; i++) {
        Fiber& f = fibers[i];
        f.linear = i;
        f.idx = {(unsigned)(i % bd.x), (unsigned)((i / bd.x) % bd.y), (unsigned)(i / (bd.x * bd.y))};
        f.warp = i / 32;
        f.lane = i % 32;
        f.state = RUNNABLE;
        prepare_fiber(f);
    }
    while (block.exited < n && !launch_state.fatal) {
        bool ran = false;
        for (int i = 0; i < n && !launch_state.fatal; i++) {
            if (fibers[i].state != RUNNABLE) continue;
            current = &fibers[i];
            *lib->lib.thread_index = &fibers[i].idx;
            switch_to_fiber(fibers[i]);
            ran = true;
        }
        if (!ran && !launch_state.fatal) {
            launch_state.fatal = true;
            launch_state.error = deadlock_report();
        }
    }
    current = nullptr;
}

std::string launch(KernelLib* lib, int index, dim3 grid, dim3 blk, size_t dyn_bytes, size_t dyn_limit, void** args) {
    const Entry& e = lib->lib.entries[index];
    std::string name = std::string(e.family) + "." + e.name;
    std::ostringstream m;
    long threads = (long)blk.x * blk.y * blk.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0)
        m << "CUDA_ERROR_INVALID_VALUE: an empty grid or block";
    else if (blk.x > 1024 || blk.y > 1024 || blk.z > 64 || threads > 1024)
        m << "CUDA_ERROR_INVALID_VALUE: block " << blk.x << "x" << blk.y << "x" << blk.z << " exceeds 1024 threads (or 1024x1024x64)";
    else if (e.max_threads > 0 && threads > e.max_threads)
        m << "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: block of " << threads << " threads exceeds __launch_bounds__(" << e.max_threads << ")";
    else if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        m << "CUDA_ERROR_INVALID_VALUE: grid " << grid.x << "x" << grid.y << "x" << grid.z << " exceeds (2^31-1)x65535x65535";
    else if (dyn_bytes > dyn_limit)
        m << "CUDA_ERROR_INVALID_VALUE: " << dyn_bytes << " bytes of dynamic shared memory, but the kernel may use "
          << dyn_limit << (dyn_limit == (size_t)SHARED_DEFAULT_MAX ? " (above 48 KB needs cuFuncSetAttribute)" : "");
    if (!m.str().empty()) return "launch of " + name + " failed: " + m.str();
    if (!init_stacks()) return "launch of " + name + " failed: cannot map fiber stacks";

    launch_state.lib = lib;
    launch_state.entry = &e;
    launch_state.args = args;
    launch_state.block_dim = blk;
    launch_state.grid_dim = grid;
    launch_state.dyn_bytes = dyn_bytes;
    launch_state.fatal = false;
    launch_state.error.clear();
    launch_state.races.clear();
    launch_state.race_count = 0;
    launch_state.race_sites.clear();
    *lib->lib.block_dim = blk;
    *lib->lib.grid_dim = grid;
    *lib->lib.api = &runtime_api;
    size_t granules = (lib->lib.shared_end - lib->lib.shared_begin + 1) / 2 + SHARED_RESERVE / 2;
    if (lib->lib.access_hook && shadow.size() < granules) shadow.assign(granules, Shadow{0, 0, -1, -1, -1, 0, 0, nullptr, nullptr});
    for (auto& c : alloc_cache) c = {0, 0};
    lib_span = lib->span;
    shared_lo = (uintptr_t)lib->lib.shared_begin;
    shared_hi = (uintptr_t)lib->lib.shared_end;
    lib->launches[index]++;
    for (unsigned z = 0; z < grid.z && !launch_state.fatal; z++)
        for (unsigned y = 0; y < grid.y && !launch_state.fatal; y++)
            for (unsigned x = 0; x < grid.x && !launch_state.fatal; x++) run_block(lib, x, y, z);
    std::string err;
    if (launch_state.fatal) err = "kernel " + name + " failed: " + launch_state.error;
    if (!launch_state.races.empty()) {
        std::ostringstream r;
        r << (err.empty() ? "" : err + "; ") << "kernel " << name << ": " << launch_state.race_count
          << " shared-memory race(s) found";
        for (const auto& s : launch_state.races) r << "\n  " << s;
        err = r.str();
    }
    return err;
}

KernelLib* open_library(const std::string& path, std::string& error) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) { error = std::string("cannot load kernel library: ") + dlerror(); return nullptr; }
    auto fn = (int (*)(Library*))dlsym(h, "jddpm_kernel_library");
    if (!fn) { error = path + " is not a jddpm kernel library (no jddpm_kernel_library)"; dlclose(h); return nullptr; }
    auto* k = new KernelLib();
    k->path = path;
    k->handle = h;
    fn(&k->lib);
    if (k->lib.abi != jddpm_host::ABI_VERSION) {
        error = path + " was built for host ABI " + std::to_string(k->lib.abi) + ", the runtime speaks "
                + std::to_string(jddpm_host::ABI_VERSION);
        delete k;
        return nullptr;
    }
    k->launches.assign(k->lib.count, 0);
    k->span = span_of(segments_of((const void*)fn));
    if (k->lib.access_hook) *k->lib.access_hook = on_access;
    *k->lib.api = &runtime_api;
    if (runtime_span.hi == 0) runtime_span = span_of(segments_of((const void*)&open_library));
    if (!dyn_region) {
        void* p = mmap(nullptr, SHARED_RESERVE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { error = "cannot map the shared-memory region"; delete k; return nullptr; }
        dyn_region = (char*)p;
    }
    return k;
}

// ---------------------------------------------------------------- JNI helpers
jstring str(JNIEnv* env, const std::string& s) { return s.empty() ? nullptr : env->NewStringUTF(s.c_str()); }

}  // namespace

// ==================================================================== JNI: ddpm.kernels.cuda.HostNative
extern "C" {

JNIEXPORT jlong JNICALL Java_ddpm_kernels_cuda_HostNative_malloc(JNIEnv*, jclass, jlong bytes) {
    std::lock_guard<std::recursive_mutex> g(lock);
    size_t n = (size_t)std::max<jlong>(bytes, 1);
    if (allocated_bytes + n > memory_limit) return 0;
    void* p = nullptr;
    if (posix_memalign(&p, 256, n) != 0 || !p) return 0;
    memset(p, 0xff, n);
    allocations[(uintptr_t)p] = (size_t)bytes;
    allocated_bytes += n;
    return (jlong)(uintptr_t)p;
}

JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_free(JNIEnv* env, jclass, jlong addr) {
    std::lock_guard<std::recursive_mutex> g(lock);
    auto it = allocations.find((uintptr_t)addr);
    if (it == allocations.end()) return str(env, "cuMemFree: " + hex((uintptr_t)addr) + " is not an allocation's base address");
    allocated_bytes -= std::max<size_t>(it->second, 1);
    free((void*)it->first);
    allocations.erase(it);
    return nullptr;
}

JNIEXPORT void JNICALL Java_ddpm_kernels_cuda_HostNative_setMemoryLimit(JNIEnv*, jclass, jlong bytes) {
    std::lock_guard<std::recursive_mutex> g(lock);
    memory_limit = (size_t)bytes;
}

JNIEXPORT jlongArray JNICALL Java_ddpm_kernels_cuda_HostNative_memInfo(JNIEnv* env, jclass) {
    std::lock_guard<std::recursive_mutex> g(lock);
    jlong v[2] = {(jlong)(memory_limit - std::min(memory_limit, allocated_bytes)), (jlong)memory_limit};
    jlongArray a = env->NewLongArray(2);
    env->SetLongArrayRegion(a, 0, 2, v);
    return a;
}

// Host array (float[] or int[]) <-> device memory; elementBytes is 4 for both.
JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_copy(JNIEnv* env, jclass, jlong device, jobject array,
                                                                 jint offset, jint count, jboolean toDevice) {
    std::lock_guard<std::recursive_mutex> g(lock);
    std::string e = check_range((uintptr_t)device, (size_t)count * 4, toDevice ? "cuMemcpyHtoD" : "cuMemcpyDtoH");
    if (!e.empty()) return str(env, e);
    jsize len = env->GetArrayLength((jarray)array);
    if (offset < 0 || count < 0 || offset + count > len) return str(env, "host array too short");
    void* h = env->GetPrimitiveArrayCritical((jarray)array, nullptr);
    char* hp = (char*)h + (size_t)offset * 4;
    if (toDevice) memcpy((void*)device, hp, (size_t)count * 4);
    else memcpy(hp, (void*)device, (size_t)count * 4);
    env->ReleasePrimitiveArrayCritical((jarray)array, h, toDevice ? JNI_ABORT : 0);
    return nullptr;
}

JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_copyDeviceToDevice(JNIEnv* env, jclass, jlong dst, jlong src,
                                                                               jlong bytes) {
    std::lock_guard<std::recursive_mutex> g(lock);
    std::string e = check_range((uintptr_t)src, (size_t)bytes, "cuMemcpyDtoD source");
    if (e.empty()) e = check_range((uintptr_t)dst, (size_t)bytes, "cuMemcpyDtoD destination");
    if (!e.empty()) return str(env, e);
    memmove((void*)dst, (void*)src, (size_t)bytes);
    return nullptr;
}

JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_memset32(JNIEnv* env, jclass, jlong dst, jint bits, jlong count) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (dst % 4) return str(env, "cuMemsetD32: " + hex((uintptr_t)dst) + " is not 4-byte aligned");
    std::string e = check_range((uintptr_t)dst, (size_t)count * 4, "cuMemsetD32");
    if (!e.empty()) return str(env, e);
    uint32_t* p = (uint32_t*)dst;
    for (jlong i = 0; i < count; i++) p[i] = (uint32_t)bits;
    return nullptr;
}

// Opens a kernel library; handleOut[0] receives its handle. Returns an error or null.
JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_open(JNIEnv* env, jclass, jstring path, jlongArray handleOut) {
    std::lock_guard<std::recursive_mutex> g(lock);
    const char* p = env->GetStringUTFChars(path, nullptr);
    std::string ps(p);
    env->ReleaseStringUTFChars(path, p);
    std::string err;
    KernelLib* k = open_library(ps, err);
    if (!k) return str(env, err);
    jlong h = (jlong)(uintptr_t)k;
    env->SetLongArrayRegion(handleOut, 0, 1, &h);
    return nullptr;
}

// One line per entry: family, name, kinds, sizes (comma separated), launch bound; tab separated.
JNIEXPORT jobjectArray JNICALL Java_ddpm_kernels_cuda_HostNative_entries(JNIEnv* env, jclass, jlong handle) {
    auto* k = (KernelLib*)(uintptr_t)handle;
    jobjectArray a = env->NewObjectArray(k->lib.count, env->FindClass("java/lang/String"), nullptr);
    for (int i = 0; i < k->lib.count; i++) {
        const Entry& e = k->lib.entries[i];
        std::ostringstream s;
        s << e.family << "\t" << e.name << "\t" << e.kinds << "\t";
        for (int p = 0; p < e.params; p++) s << (p ? "," : "") << e.sizes[p];
        s << "\t" << e.max_threads;
        env->SetObjectArrayElement(a, i, env->NewStringUTF(s.str().c_str()));
    }
    return a;
}

JNIEXPORT jlongArray JNICALL Java_ddpm_kernels_cuda_HostNative_launchCounts(JNIEnv* env, jclass, jlong handle) {
    std::lock_guard<std::recursive_mutex> g(lock);
    auto* k = (KernelLib*)(uintptr_t)handle;
    jlongArray a = env->NewLongArray(k->lib.count);
    env->SetLongArrayRegion(a, 0, k->lib.count, k->launches.data());
    return a;
}

// Runs kernel `index` to completion. Parameters are packed in `words` at byte offsets `offsets`
// (their sizes were checked against the signature by the caller). Returns an error or null.
JNIEXPORT jstring JNICALL Java_ddpm_kernels_cuda_HostNative_launch(JNIEnv* env, jclass, jlong handle, jint index,
        jint gx, jint gy, jint gz, jint bx, jint by, jint bz, jint sharedBytes, jint sharedLimit,
        jlongArray words, jintArray offsets) {
    std::lock_guard<std::recursive_mutex> g(lock);
    auto* k = (KernelLib*)(uintptr_t)handle;
    if (index < 0 || index >= k->lib.count) return str(env, "no kernel entry " + std::to_string(index));
    static jlong storage[512];      // the argument values, in runtime memory the kernels may read
    static void* argv[128];
    jsize nw = env->GetArrayLength(words), np = env->GetArrayLength(offsets);
    if (nw > 512 || np > 128) return str(env, "too many kernel arguments");
    env->GetLongArrayRegion(words, 0, nw, storage);
    std::vector<jint> off(np);
    env->GetIntArrayRegion(offsets, 0, np, off.data());
    for (int i = 0; i < np; i++) argv[i] = (char*)storage + off[i];
    size_t limit = sharedLimit > SHARED_OPTIN_MAX ? SHARED_OPTIN_MAX : (size_t)std::max(sharedLimit, SHARED_DEFAULT_MAX);
    std::string err = launch(k, index, dim3((unsigned)gx, (unsigned)gy, (unsigned)gz),
                             dim3((unsigned)bx, (unsigned)by, (unsigned)bz), (size_t)std::max(0, sharedBytes), limit, argv);
    return str(env, err);
}

}  // extern "C"
