// Optimiser kernels over flat parameter buffers: one pass reads p, g, m, v and writes p, m, v.
#include "common.cuh"

// Bias corrections bc1 = 1 − β1^step, bc2 = 1 − β2^step come from the host (double, then float).
extern "C" __global__ void adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                     float* __restrict__ v, int n, float lr, float b1, float b2, float eps,
                                     float wd, int decoupled, float bc1, float bc2, float gradScale) {
    GRID_STRIDE(i, n) {
        float pi = p[i];
        float gi = g[i] * gradScale;
        if (!decoupled) gi += wd * pi;
        float mi = b1 * m[i] + (1.f - b1) * gi;
        float vi = b2 * v[i] + (1.f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float upd = (mi / bc1) / (sqrtf(vi / bc2) + eps);
        if (decoupled) upd += wd * pi;
        p[i] = pi - lr * upd;
    }
}

// keep = 1 − decay comes from the host in double (1.f − decay in float loses ~1e-4 relative at 0.9999).
extern "C" __global__ void ema_update(float* __restrict__ ema, const float* __restrict__ p, int n, float decay, float keep) {
    GRID_STRIDE(i, n) ema[i] = decay * ema[i] + keep * p[i];
}
