// The kernel library's own part (compiled without instrumentation): the registry of entry
// points, the variables the runtime sets for the running thread and block, and the hooks that
// the instrumented kernel code calls on every load and store (gcc's -fsanitize=thread
// instrumentation: __tsan_readN / __tsan_writeN), forwarded to the runtime's race and bounds check.
// ThreadSanitizer's own instrumentation, unlike AddressSanitizer's, also reports accesses to
// static variables at constant offsets, which is what most __shared__ accesses are.
#include "host_abi.h"

#include <vector>

namespace jddpm_host {
const uint3* thread_index = nullptr;
uint3 block_index;
dim3 block_dim, grid_dim;
const Api* api = nullptr;

static AccessHook access_hook = nullptr;

static std::vector<Entry>& registry() {
    static std::vector<Entry> r;
    return r;
}

void register_entry(const Entry& e) { registry().push_back(e); }
}  // namespace jddpm_host

extern "C" char __start_jddpm_shared[] __attribute__((weak));
extern "C" char __stop_jddpm_shared[] __attribute__((weak));

extern "C" __attribute__((visibility("default"))) int jddpm_kernel_library(jddpm_host::Library* out) {
    using namespace jddpm_host;
    out->abi = ABI_VERSION;
    out->count = (int)registry().size();
    out->entries = registry().data();
    out->thread_index = &thread_index;
    out->block_index = &block_index;
    out->block_dim = &block_dim;
    out->grid_dim = &grid_dim;
    out->api = &api;
#ifdef JDDPM_INSTRUMENTED
    out->access_hook = &access_hook;
#else
    out->access_hook = nullptr;
#endif
    out->shared_begin = __start_jddpm_shared;
    out->shared_end = __stop_jddpm_shared;
    return 0;
}

#ifdef JDDPM_INSTRUMENTED
#define JDDPM_ACCESS(p, n, w) \
    if (jddpm_host::access_hook) jddpm_host::access_hook(p, n, w, __builtin_return_address(0))
#define JDDPM_HOOK(n)                                                                               \
    extern "C" void __tsan_read##n(void* p) { JDDPM_ACCESS(p, n, 0); }                            \
    extern "C" void __tsan_write##n(void* p) { JDDPM_ACCESS(p, n, 1); }                           \
    extern "C" void __tsan_unaligned_read##n(void* p) { JDDPM_ACCESS(p, n, 0); }                  \
    extern "C" void __tsan_unaligned_write##n(void* p) { JDDPM_ACCESS(p, n, 1); }                 \
    extern "C" void __tsan_volatile_read##n(void* p) { JDDPM_ACCESS(p, n, 0); }                   \
    extern "C" void __tsan_volatile_write##n(void* p) { JDDPM_ACCESS(p, n, 1); }
JDDPM_HOOK(1)
JDDPM_HOOK(2)
JDDPM_HOOK(4)
JDDPM_HOOK(8)
JDDPM_HOOK(16)
extern "C" void __tsan_read_range(void* p, unsigned long n) { JDDPM_ACCESS(p, (unsigned)n, 0); }
extern "C" void __tsan_write_range(void* p, unsigned long n) { JDDPM_ACCESS(p, (unsigned)n, 1); }
extern "C" void __tsan_func_entry(void*) {}
extern "C" void __tsan_func_exit() {}
extern "C" void __tsan_init() {}
#endif
