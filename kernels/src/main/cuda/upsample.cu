// Nearest-neighbour 2x upsampling of [N, C, H, W] and its backward (2x2 block sums), float32 or
// bfloat16 operands (dt: the small tensor = 0, the large one = 1; ld/st in common.cuh).
// Scalar accesses (not float2): tensor views may start at an odd element offset.
#include "common.cuh"

// One thread per input element: writes its 2x2 output block.
extern "C" __global__ void upsample2x_fwd(const void* __restrict__ x, void* __restrict__ out, int planes, int H, int W, int dt) {
    int n = planes * H * W;
    GRID_STRIDE(i, n) {
        int w = i % W, t = i / W, h = t % H, p = t / H;
        float v = ld(x, dt, 0, i);
        size_t o = ((size_t)p * 2 * H + 2 * h) * (2 * W) + 2 * w;
        st(out, dt, 1, o, v); st(out, dt, 1, o + 1, v);
        st(out, dt, 1, o + 2 * W, v); st(out, dt, 1, o + 2 * W + 1, v);
    }
}

extern "C" __global__ void upsample2x_bwd(const void* __restrict__ gy, void* __restrict__ gx, int planes, int H, int W, int dt) {
    int n = planes * H * W;
    GRID_STRIDE(i, n) {
        int w = i % W, t = i / W, h = t % H, p = t / H;
        size_t g = ((size_t)p * 2 * H + 2 * h) * (2 * W) + 2 * w;
        st(gx, dt, 0, i, (ld(gy, dt, 1, g) + ld(gy, dt, 1, g + 1)) + (ld(gy, dt, 1, g + 2 * W) + ld(gy, dt, 1, g + 2 * W + 1)));
    }
}
