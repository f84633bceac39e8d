// Nearest-neighbour 2x upsampling of [N, C, H, W] and its backward (2x2 block sums).
// Scalar accesses (not float2): tensor views may start at an odd element offset.
#include "common.cuh"

// One thread per input element: writes its 2x2 output block.
extern "C" __global__ void upsample2x_fwd(const float* __restrict__ x, float* __restrict__ out, int planes, int H, int W) {
    int n = planes * H * W;
    GRID_STRIDE(i, n) {
        int w = i % W, t = i / W, h = t % H, p = t / H;
        float v = x[i];
        float* o = out + ((size_t)p * 2 * H + 2 * h) * (2 * W) + 2 * w;
        o[0] = v; o[1] = v;
        o[2 * W] = v; o[2 * W + 1] = v;
    }
}

extern "C" __global__ void upsample2x_bwd(const float* __restrict__ gy, float* __restrict__ gx, int planes, int H, int W) {
    int n = planes * H * W;
    GRID_STRIDE(i, n) {
        int w = i % W, t = i / W, h = t % H, p = t / H;
        const float* g = gy + ((size_t)p * 2 * H + 2 * h) * (2 * W) + 2 * w;
        gx[i] = (g[0] + g[1]) + (g[2 * W] + g[2 * W + 1]);
    }
}
