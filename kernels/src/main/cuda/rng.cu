// Philox 4x32-10 streams matching ddpm.engine.Philox: element i of a call (seed, offset) is lane
// i % 4 of block offset + i / 4. One thread per block of 4 outputs. Every kernel adds the
// backend's offset shift (two words, lo and hi: 0 except while a recorded graph replays, whose
// offsets were fixed when it was recorded; see CudaBackend.setRandomOffsetShift).
#include "common.cuh"

extern "C" __global__ void rand_uniform(float* __restrict__ out, int n, unsigned long long seed, unsigned long long offset,
                                    const unsigned int* __restrict__ shift) {
    offset += philox_shift(shift);
    int blocks = (n + 3) >> 2;
    GRID_STRIDE(j, blocks) {
        U4 w = philox_block(seed, offset + (unsigned long long)j);
        int i = j << 2;
        uint32_t u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int l = 0; l < 4; l++) if (i + l < n) out[i + l] = (float)philox_uniform_d(u[l]);
    }
}

extern "C" __global__ void rand_normal(float* __restrict__ out, int n, unsigned long long seed, unsigned long long offset,
                                    const unsigned int* __restrict__ shift) {
    offset += philox_shift(shift);
    int blocks = (n + 3) >> 2;
    GRID_STRIDE(j, blocks) {
        U4 w = philox_block(seed, offset + (unsigned long long)j);
        float z[4];
        box_muller(w.x, w.y, &z[0], &z[1]);
        box_muller(w.z, w.w, &z[2], &z[3]);
        int i = j << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) if (i + l < n) out[i + l] = z[l];
    }
}

// out = (u >= p) * scale with scale = 1 / (1 - p) (computed on the host in double, as the CPU).
extern "C" __global__ void dropout_mask(float* __restrict__ out, int n, double p, float scale,
                                        unsigned long long seed, unsigned long long offset,
                                        const unsigned int* __restrict__ shift) {
    offset += philox_shift(shift);
    int blocks = (n + 3) >> 2;
    GRID_STRIDE(j, blocks) {
        U4 w = philox_block(seed, offset + (unsigned long long)j);
        int i = j << 2;
        uint32_t u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int l = 0; l < 4; l++) if (i + l < n) out[i + l] = philox_uniform_d(u[l]) >= p ? scale : 0.f;
    }
}
