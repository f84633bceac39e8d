// The kernel library's own part (compiled without instrumentation): the registry of entry
// points, the variables the runtime sets for the running thread and block, and the hooks that
// the instrumented kernel code calls on every memory access (gcc's outline kernel-address
// instrumentation: __asan_{load,store}N_noabort), forwarded to the runtime's race and bounds check.
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
#define JDDPM_HOOK(n)                                                                                  \
    extern "C" void __asan_load##n##_noabort(void* p) {                                              \
        if (jddpm_host::access_hook) jddpm_host::access_hook(p, n, 0, __builtin_return_address(0));  \
    }                                                                                                \
    extern "C" void __asan_store##n##_noabort(void* p) {                                             \
        if (jddpm_host::access_hook) jddpm_host::access_hook(p, n, 1, __builtin_return_address(0));  \
    }
JDDPM_HOOK(1)
JDDPM_HOOK(2)
JDDPM_HOOK(4)
JDDPM_HOOK(8)
JDDPM_HOOK(16)
extern "C" void __asan_loadN_noabort(void* p, long n) {
    if (jddpm_host::access_hook) jddpm_host::access_hook(p, (unsigned)n, 0, __builtin_return_address(0));
}
extern "C" void __asan_storeN_noabort(void* p, long n) {
    if (jddpm_host::access_hook) jddpm_host::access_hook(p, (unsigned)n, 1, __builtin_return_address(0));
}
extern "C" void __asan_handle_no_return() {}
extern "C" void __asan_before_dynamic_init(const char*) {}
extern "C" void __asan_after_dynamic_init() {}
#endif
