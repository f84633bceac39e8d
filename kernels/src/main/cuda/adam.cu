// Optimiser kernels over flat parameter buffers: one pass reads p, g, m, v and writes p, m, v.
#include "common.cuh"

// One element of Adam/AdamW; gi is the gradient already multiplied by its scale.
__device__ __forceinline__ void adam_element(float* __restrict__ p, float* __restrict__ m, float* __restrict__ v, int i,
                                             float gi, float lr, float b1, float b2, float eps, float wd, int decoupled,
                                             float bc1, float bc2) {
    float pi = p[i];
    if (!decoupled) gi += wd * pi;
    float mi = b1 * m[i] + (1.f - b1) * gi;
    float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float upd = (mi / bc1) / (sqrtf(vi / bc2) + eps);
    if (decoupled) upd += wd * pi;
    p[i] = pi - lr * upd;
}

// Bias corrections bc1 = 1 − β1^step, bc2 = 1 − β2^step come from the host (double, then float).
extern "C" __global__ void adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                     float* __restrict__ v, int n, float lr, float b1, float b2, float eps,
                                     float wd, int decoupled, float bc1, float bc2, float gradScale) {
    GRID_STRIDE(i, n) adam_element(p, m, v, i, g[i] * gradScale, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

// The same step with the global-norm clip taken on the device, so the host never reads the norm:
// ‖g‖ = √sumSq[0]; scale = min(1, maxNorm / (‖g‖ + 1e-6)) when maxNorm > 0, else 1. A norm that is
// not finite (NaN, ∞) skips the step: nothing is written, for the caller to report it later.
extern "C" __global__ void adam_step_clipped(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                             float* __restrict__ v, int n, float lr, float b1, float b2, float eps,
                                             float wd, int decoupled, float bc1, float bc2,
                                             const float* __restrict__ sumSq, float maxNorm) {
    float norm = sqrtf(sumSq[0]);
    if (!(norm <= 3.4028235e38f)) return;   // NaN or ∞ (every thread reads the same word: uniform exit)
    float scale = maxNorm > 0.f ? fminf(1.f, maxNorm / (norm + 1e-6f)) : 1.f;
    GRID_STRIDE(i, n) adam_element(p, m, v, i, g[i] * scale, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

// The clipped step with its learning rate and bias corrections read from the device, hyper = {lr,
// 1 − β1^step, 1 − β2^step} (written by the host before each replay of a recorded training step).
extern "C" __global__ void adam_step_scheduled(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                               float* __restrict__ v, int n, const float* __restrict__ hyper, float b1,
                                               float b2, float eps, float wd, int decoupled,
                                               const float* __restrict__ sumSq, float maxNorm) {
    float norm = sqrtf(sumSq[0]);
    if (!(norm <= 3.4028235e38f)) return;   // as adam_step_clipped
    float scale = maxNorm > 0.f ? fminf(1.f, maxNorm / (norm + 1e-6f)) : 1.f;
    float lr = hyper[0], bc1 = hyper[1], bc2 = hyper[2];
    GRID_STRIDE(i, n) adam_element(p, m, v, i, g[i] * scale, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

// keep = 1 − decay comes from the host in double (1.f − decay in float loses ~1e-4 relative at 0.9999).
extern "C" __global__ void ema_update(float* __restrict__ ema, const float* __restrict__ p, int n, float decay, float keep) {
    GRID_STRIDE(i, n) ema[i] = decay * ema[i] + keep * p[i];
}
