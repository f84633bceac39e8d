// Softmax over the last axis of [rows, n] and its backward. One warp per row: rows are short in
// this model (attention-free uses; n <= a few thousand), and a warp needs no block barriers.
#include "common.cuh"

extern "C" __global__ void softmax_fwd(const float* __restrict__ x, float* __restrict__ out, int rows, int n) {
    int lane = threadIdx.x & 31;
    int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        const float* p = x + (size_t)r * n;
        float* q = out + (size_t)r * n;
        float m = -INFINITY;
        for (int k = lane; k < n; k += 32) m = fmaxf(m, p[k]);
        m = warp_max(m);
        float s = 0.f;
        for (int k = lane; k < n; k += 32) s += expf(p[k] - m);
        s = warp_sum(s);
        float inv = 1.f / s;
        for (int k = lane; k < n; k += 32) q[k] = expf(p[k] - m) * inv;
    }
}

// gx = y * (gy - sum(gy * y)) per row.
extern "C" __global__ void softmax_bwd(const float* __restrict__ y, const float* __restrict__ gy,
                                       float* __restrict__ gx, int rows, int n) {
    int lane = threadIdx.x & 31;
    int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        size_t base = (size_t)r * n;
        float d = 0.f;
        for (int k = lane; k < n; k += 32) d += gy[base + k] * y[base + k];
        d = warp_sum(d);
        for (int k = lane; k < n; k += 32) gx[base + k] = y[base + k] * (gy[base + k] - d);
    }
}
