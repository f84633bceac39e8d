// CUDA on the CPU: the definitions a .cu kernel file needs to compile with g++ and run on the
// host driver (see kernels/README.md, "The host driver"). build-host.sh force-includes this
// header (-include cuda_host.h) before each src/main/cuda/<family>.cu, unchanged.
//
// What it models:
// - a block's threads are fibers that the runtime (host_runtime.cpp) runs one at a time, each until
//   it reaches a barrier or a warp collective; threadIdx / blockIdx / blockDim / gridDim read the
//   current fiber's and block's coordinates;
// - __shared__ variables are static storage in one section (jddpm_shared), so all fibers of the
//   running block see the same words; DYNAMIC_SHARED gives the launch's dynamic shared buffer;
// - __syncthreads() is a real barrier over the block's live threads; __syncwarp and the warp
//   shuffles and votes are collectives over the lanes of the mask, with warp-synchronous semantics
//   (every lane of the mask must arrive, with the same operation and mask);
// - atomics are plain read-modify-writes (fibers never run concurrently);
// - the fast-math intrinsics round like the GPU's approximate instructions where that matters
//   (__expf: the product x·log2(e) is rounded to float before exp2, results below 2^-126 flush to 0).
// Not modelled: the memory consistency model between warps (fibers see each other's writes at
// once), timing, occupancy, and tensor-core numerics beyond their arithmetic.
#pragma once
#ifndef __CUDACC__
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <climits>
#include <type_traits>
#include <utility>

namespace jddpm_host {
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};

// Warp collective kinds (the runtime checks that all lanes of a mask take part in the same one).
enum Collective { SYNCWARP = 0, SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, VOTE_ALL, VOTE_ANY, VOTE_BALLOT, GATHER };

// The most bytes one lane contributes to a gather (a warp-wide exchange, e.g. of WMMA fragments).
constexpr int GATHER_BYTES = 256;

// The runtime's entry points, filled in when the runtime opens the kernel library.
struct Api {
    void (*syncthreads)(const char* file, int line);
    unsigned long long (*collective)(int kind, unsigned mask, unsigned long long value, int arg, int width,
                                     const char* file, int line);
    unsigned int (*activemask)();
    void* (*dynamic_shared)();
    void (*trap)(const char* file, int line);
    // every lane of the warp contributes `bytes` (<= GATHER_BYTES); each receives all 32 contributions,
    // lane by lane, in `all` (32 * bytes)
    void (*gather)(const void* mine, int bytes, void* all, const char* file, int line);
    // stops the calling thread's kernel with `what` (a rule the GPU enforces by faulting, or not at all)
    void (*fail)(const char* what, const char* file, int line);
};

// Set by the runtime: the current fiber's threadIdx, the running block's coordinates.
extern const uint3* thread_index;
extern uint3 block_index;
extern dim3 block_dim, grid_dim;
extern const Api* api;

template <typename T> inline unsigned long long to_bits(T v) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    unsigned long long b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <typename T> inline T from_bits(unsigned long long b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
}  // namespace jddpm_host

using jddpm_host::dim3;
using jddpm_host::uint3;

#define __global__
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static __attribute__((section("jddpm_shared")))
#define __constant__ static const
#define DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::jddpm_host::api->dynamic_shared())

#define threadIdx (*::jddpm_host::thread_index)
#define blockIdx (::jddpm_host::block_index)
#define blockDim (::jddpm_host::block_dim)
#define gridDim (::jddpm_host::grid_dim)
#define warpSize 32

#define __syncthreads() (::jddpm_host::api->syncthreads(__FILE__, __LINE__))
#define __trap() (::jddpm_host::api->trap(__FILE__, __LINE__))

// ---------------------------------------------------------------- warp collectives
#define JDDPM_COLLECTIVE(kind, mask, v, arg, width) \
    ::jddpm_host::api->collective(kind, mask, ::jddpm_host::to_bits(v), arg, width, __FILE__, __LINE__)
#define __syncwarp(...) ((void)JDDPM_COLLECTIVE(::jddpm_host::SYNCWARP, jddpm_mask_or_all(__VA_ARGS__), 0, 0, 32))
inline unsigned jddpm_mask_or_all() { return 0xffffffffu; }
inline unsigned jddpm_mask_or_all(unsigned m) { return m; }

#define __shfl_sync(mask, v, src, ...) \
    ::jddpm_host::from_bits<std::decay_t<decltype(v)>>(JDDPM_COLLECTIVE(::jddpm_host::SHFL_IDX, mask, v, src, jddpm_width(__VA_ARGS__)))
#define __shfl_up_sync(mask, v, delta, ...) \
    ::jddpm_host::from_bits<std::decay_t<decltype(v)>>(JDDPM_COLLECTIVE(::jddpm_host::SHFL_UP, mask, v, delta, jddpm_width(__VA_ARGS__)))
#define __shfl_down_sync(mask, v, delta, ...) \
    ::jddpm_host::from_bits<std::decay_t<decltype(v)>>(JDDPM_COLLECTIVE(::jddpm_host::SHFL_DOWN, mask, v, delta, jddpm_width(__VA_ARGS__)))
#define __shfl_xor_sync(mask, v, laneMask, ...) \
    ::jddpm_host::from_bits<std::decay_t<decltype(v)>>(JDDPM_COLLECTIVE(::jddpm_host::SHFL_XOR, mask, v, laneMask, jddpm_width(__VA_ARGS__)))
inline int jddpm_width() { return 32; }
inline int jddpm_width(int w) { return w; }

#define __all_sync(mask, pred) ((int)JDDPM_COLLECTIVE(::jddpm_host::VOTE_ALL, mask, (int)((pred) != 0), 0, 32))
#define __any_sync(mask, pred) ((int)JDDPM_COLLECTIVE(::jddpm_host::VOTE_ANY, mask, (int)((pred) != 0), 0, 32))
#define __ballot_sync(mask, pred) ((unsigned)JDDPM_COLLECTIVE(::jddpm_host::VOTE_BALLOT, mask, (int)((pred) != 0), 0, 32))
#define __activemask() (::jddpm_host::api->activemask())

// ---------------------------------------------------------------- atomics
// One fiber runs at a time, so a read-modify-write is atomic. Not instrumented: the shared-memory
// race check treats atomics as synchronised, as the hardware does.
#define JDDPM_ATOMIC __attribute__((noinline, no_sanitize("thread")))
template <typename T> JDDPM_ATOMIC T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
template <typename T> JDDPM_ATOMIC T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }
template <typename T> JDDPM_ATOMIC T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <typename T> JDDPM_ATOMIC T atomicMax(T* p, T v) { T o = *p; *p = o > v ? o : v; return o; }
template <typename T> JDDPM_ATOMIC T atomicMin(T* p, T v) { T o = *p; *p = o < v ? o : v; return o; }
template <typename T> JDDPM_ATOMIC T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
template <typename T> JDDPM_ATOMIC T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }
template <typename T> JDDPM_ATOMIC T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }
inline void __threadfence() {}
inline void __threadfence_block() {}

// ---------------------------------------------------------------- math and bit intrinsics
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }

inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned int __brev(unsigned int x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) { r = (r << 1) | (x & 1u); x >>= 1; }
    return r;
}

// Round-toward-zero float -> int with saturation and NaN -> 0 (cvt.rzi.sat.s32.f32).
inline int __float2int_rz(float v) {
    if (v != v) return 0;
    if (v >= 2147483648.f) return INT_MAX;
    if (v <= -2147483648.f) return INT_MIN;
    return (int)v;
}
inline int __float2int_rn(float v) {
    if (v != v) return 0;
    if (v >= 2147483648.f) return INT_MAX;
    if (v <= -2147483648.f) return INT_MIN;
    return (int)std::nearbyint(v);
}
inline float __int2float_rn(int v) { return (float)v; }

// The approximate (ex2.approx / lg2.approx based) intrinsics, with the GPU's float rounding of
// the scaled argument and its flush of subnormal results.
inline float jddpm_ftz(float v) { return std::fabs(v) < 1.17549435e-38f ? std::copysign(0.f, v) : v; }
inline float __expf(float x) { return jddpm_ftz(std::exp2f(x * 1.44269504f)); }
inline float __exp10f(float x) { return jddpm_ftz(std::exp2f(x * 3.32192809f)); }
inline float __logf(float x) { return std::log2f(x) * 0.693147182f; }
inline float __log2f(float x) { return std::log2f(x); }
inline float __log10f(float x) { return std::log2f(x) * 0.301029996f; }
inline float __powf(float a, float b) { return jddpm_ftz(std::exp2f(b * std::log2f(a))); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __saturatef(float x) { return x != x ? 0.f : (x < 0.f ? 0.f : (x > 1.f ? 1.f : x)); }
inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }

inline float rsqrtf(float x) { return (float)(1.0 / std::sqrt((double)x)); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline void sincospi(double x, double* s, double* c) {
    // exact at the multiples of 1/2 that matter most, as CUDA's sincospi is
    double r = std::fmod(x, 2.0);
    *s = std::sin(M_PI * r);
    *c = std::cos(M_PI * r);
    if (r == 0.5 || r == -1.5) { *s = 1; *c = 0; }
    else if (r == 1.0 || r == -1.0) { *s = 0; *c = -1; }
    else if (r == 1.5 || r == -0.5) { *s = -1; *c = 0; }
    else if (r == 0.0) { *s = 0; *c = 1; }
}
inline void sincospif(float x, float* s, float* c) {
    double sd, cd;
    sincospi((double)x, &sd, &cd);
    *s = (float)sd;
    *c = (float)cd;
}
inline float sinpif(float x) { float s, c; sincospif(x, &s, &c); return s; }
inline float cospif(float x) { float s, c; sincospif(x, &s, &c); return c; }
inline double sinpi(double x) { double s, c; sincospi(x, &s, &c); return s; }
inline double cospi(double x) { double s, c; sincospi(x, &s, &c); return c; }

// CUDA's overloaded integer and float min/max in the global namespace.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

template <typename T> inline T __ldg(const T* p) { return *p; }

#endif  // __CUDACC__
