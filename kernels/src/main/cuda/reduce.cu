// Reduction of the middle axis of an [outer, n, inner] view (ddpm.engine.Ops.Reduce ordinals:
// SUM, MAX, MIN, SUMSQ). float32 accumulation in a tree (pairwise-like), so error grows ~log n.
// x and out are float32 or bfloat16 (dt: x = 0, out = 1; ld/st in common.cuh); partials float32.
#include "common.cuh"

enum { R_SUM, R_MAX, R_MIN, R_SUMSQ };

__device__ __forceinline__ float r_init(int op) {
    return op == R_MAX ? -INFINITY : (op == R_MIN ? INFINITY : 0.f);
}
__device__ __forceinline__ float r_load(int op, float v) { return op == R_SUMSQ ? v * v : v; }
// MAX/MIN propagate NaN like Java's Math.max/min (the CPU spec); fmaxf/fminf alone would drop it.
__device__ __forceinline__ float r_comb(int op, float a, float b) {
    if (op == R_MAX) return (a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
    if (op == R_MIN) return (a != a || b != b) ? __int_as_float(0x7fc00000) : fminf(a, b);
    return a + b;
}
__device__ __forceinline__ float r_warp(int op, float v) {
    if (op != R_MAX && op != R_MIN) return warp_sum(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = r_comb(op, v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// inner == 1, long rows: one block (256 threads) per row, rows grid-strided.
extern "C" __global__ void reduce_rows(int op, const void* __restrict__ x, void* __restrict__ out, int outer, int n, int dt) {
    __shared__ float sh[32];
    for (int row = blockIdx.x; row < outer; row += gridDim.x) {
        size_t p = (size_t)row * n;
        float acc = r_init(op);
        for (int k = threadIdx.x; k < n; k += blockDim.x) acc = r_comb(op, acc, r_load(op, ld(x, dt, 0, p + k)));
        acc = r_warp(op, acc);
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        if (lane == 0) sh[warp] = acc;
        __syncthreads();
        if (warp == 0) {
            float v = lane < (blockDim.x >> 5) ? sh[lane] : r_init(op);
            v = r_warp(op, v);
            if (lane == 0) st(out, dt, 1, row, v);
        }
        __syncthreads();
    }
}

// inner == 1, short rows (n <= 1024): one warp per row.
extern "C" __global__ void reduce_rows_warp(int op, const void* __restrict__ x, void* __restrict__ out, int outer, int n, int dt) {
    int lane = threadIdx.x & 31;
    int warps = (gridDim.x * blockDim.x) >> 5;
    for (int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; row < outer; row += warps) {
        size_t p = (size_t)row * n;
        float acc = r_init(op);
        for (int k = lane; k < n; k += 32) acc = r_comb(op, acc, r_load(op, ld(x, dt, 0, p + k)));
        acc = r_warp(op, acc);
        if (lane == 0) st(out, dt, 1, row, acc);
    }
}

// inner > 1: block (32, 8); threadIdx.x walks inner (coalesced), threadIdx.y strides over n,
// then the 8 partials are combined in shared memory. grid.x covers inner, grid.y strides outer.
extern "C" __global__ void reduce_cols(int op, const void* __restrict__ x, void* __restrict__ out,
                                       int outer, int n, int inner, int dt) {
    __shared__ float sh[8][33];
    int i = blockIdx.x * 32 + threadIdx.x;
    for (int o = blockIdx.y; o < outer; o += gridDim.y) {
        float acc = r_init(op);
        if (i < inner) {
            size_t p = (size_t)o * n * inner + i;
            for (int k = threadIdx.y; k < n; k += 8) acc = r_comb(op, acc, r_load(op, ld(x, dt, 0, p + (size_t)k * inner)));
        }
        sh[threadIdx.y][threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && i < inner) {
            float v = sh[0][threadIdx.x];
#pragma unroll
            for (int y = 1; y < 8; y++) v = r_comb(op, v, sh[y][threadIdx.x]);
            st(out, dt, 1, (size_t)o * inner + i, v);
        }
        __syncthreads();
    }
}

// The split path, for when [outer, n, inner] has too few rows or column tiles to fill the GPU (the
// global gradient norm: outer = 1, n = 36M): stage 1 reduces chunks of `chunk` entries of the n axis
// into partial[outer, chunks, inner]; stage 2 reduces the partials' middle axis with the kernels
// above (SUMSQ partials are summed, not squared again). Deterministic: fixed chunks, fixed trees.

// inner == 1: grid (chunks, outer), 256 threads; block (c, o) reduces x[o, c·chunk .. +chunk).
extern "C" __global__ void reduce_rows_chunks(int op, const void* __restrict__ x, float* __restrict__ partial,
                                              int n, int chunk, int dt) {
    __shared__ float sh[32];
    int o = blockIdx.y, c = blockIdx.x, chunks = gridDim.x;
    size_t p = (size_t)o * n;
    int k0 = c * chunk, k1 = min(n, k0 + chunk);
    float acc = r_init(op);
    for (int k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc = r_comb(op, acc, r_load(op, ld(x, dt, 0, p + k)));
    acc = r_warp(op, acc);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        float v = lane < (blockDim.x >> 5) ? sh[lane] : r_init(op);
        v = r_warp(op, v);
        if (lane == 0) partial[(size_t)o * chunks + c] = v;
    }
}

// inner > 1: block (32, 8), grid (⌈inner/32⌉, chunks, outer); threadIdx.x walks inner (coalesced),
// threadIdx.y strides over the chunk's entries of n, then the 8 partials meet in shared memory.
extern "C" __global__ void reduce_cols_chunks(int op, const void* __restrict__ x, float* __restrict__ partial,
                                              int n, int inner, int chunk, int dt) {
    __shared__ float sh[8][33];
    int i = blockIdx.x * 32 + threadIdx.x, c = blockIdx.y, o = blockIdx.z, chunks = gridDim.y;
    int k0 = c * chunk, k1 = min(n, k0 + chunk);
    float acc = r_init(op);
    if (i < inner) {
        size_t p = (size_t)o * n * inner + i;
        for (int k = k0 + threadIdx.y; k < k1; k += 8) acc = r_comb(op, acc, r_load(op, ld(x, dt, 0, p + (size_t)k * inner)));
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
        float v = sh[0][threadIdx.x];
#pragma unroll
        for (int y = 1; y < 8; y++) v = r_comb(op, v, sh[y][threadIdx.x]);
        partial[((size_t)o * chunks + c) * inner + i] = v;
    }
}
