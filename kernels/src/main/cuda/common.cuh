// Shared helpers for the jddpm CUDA kernels. Every kernel is extern "C" so the Java launchers find
// it by its plain name in the PTX; flat index spaces are < 2^31 elements (checked on the host).
#pragma once
#include <stdint.h>
#include <cuda_bf16.h>

#define MAX_RANK 8

// The launch's dynamic shared memory as `type* name` (on the host driver, cuda_host.h defines it).
#ifdef __CUDACC__
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

// Shapes and strides travel by value as one struct, so a launch needs no device-side metadata.
struct Dims8 { int d[MAX_RANK]; };

// Grid-stride loop over [0, n): launches cap the grid at a few waves per SM and let each thread
// take several elements.
#define GRID_STRIDE(i, n) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Operands of mixed dtype: bit k of a kernel's `dt` mask set means its operand k is bfloat16, else
// float32 (the launcher's CudaBackend.dtypes). Loads widen to float; stores round to nearest even,
// as ddpm.engine.BFloat16 does. The branch is uniform across a launch.
__device__ __forceinline__ float ld(const void* p, int dt, int k, size_t i) {
    return (dt >> k & 1) ? __bfloat162float(((const __nv_bfloat16*)p)[i]) : ((const float*)p)[i];
}

__device__ __forceinline__ void st(void* p, int dt, int k, size_t i, float v) {
    if (dt >> k & 1) ((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(v);
    else ((float*)p)[i] = v;
}

// Block-wide sum; every thread gets the result. `scratch` holds >= 32 floats; blockDim.x is a
// multiple of 32. Ends with a barrier so scratch can be reused by the next call.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nw ? scratch[lane] : 0.f;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + __expf(-x)); }

// Accurate sigmoid (used where parity with the CPU matters more than a few cycles).
__device__ __forceinline__ float sigmoid_acc(float x) { return 1.f / (1.f + expf(-x)); }

// ---------------------------------------------------------------- Philox 4x32-10
// Must match ddpm.engine.Philox bit for bit: counter words (lo, hi, 0, 0), key (seed lo, seed hi),
// key bumped before rounds 1..9.
struct U4 { uint32_t x, y, z, w; };

// The backend's Philox offset shift, two 32-bit words (lo, hi) in device memory.
__device__ __forceinline__ unsigned long long philox_shift(const unsigned int* shift) {
    return (unsigned long long)shift[0] | ((unsigned long long)shift[1] << 32);
}

__device__ __forceinline__ U4 philox_block(unsigned long long seed, unsigned long long counter) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    }
    U4 o; o.x = c0; o.y = c1; o.z = c2; o.w = c3;
    return o;
}

// ((u >>> 8) + 0.5) * 2^-24 computed exactly in double, as Philox.uniform does; the float result
// is then the same rounding Java's (float) cast performs, so uniforms match bit for bit.
__device__ __forceinline__ double philox_uniform_d(uint32_t u) {
    return ((double)(u >> 8) + 0.5) * 0x1p-24;
}

// Box-Muller in double (as Philox.fillNormal), rounded to float at the end: log near u = 1 and
// the angle need the extra precision to stay within ~1 float ulp of the CPU.
__device__ __forceinline__ void box_muller(uint32_t a, uint32_t b, float* n0, float* n1) {
    double r = sqrt(-2.0 * log(philox_uniform_d(a)));
    double s, c;
    sincospi(2.0 * philox_uniform_d(b), &s, &c);
    *n0 = (float)(r * c);
    *n1 = (float)(r * s);
}
