// Group norm over x [N, C, HW] with G groups (Cg = C / G channels each), optional fused SiLU.
// One block per (n, g): the group's Cg·HW elements are contiguous. Statistics in float32, two
// passes (mean, then Σ(x − μ)²) for accuracy; the re-reads hit L1/L2. The activations are float32 or
// bfloat16 (dt, see ld/st in common.cuh); γ, β and the statistics float32.
#include "common.cuh"

__device__ __forceinline__ float silu_grad(float y) {
    float s = sigmoid_acc(y);
    return s * (1.f + y * (1.f - s));
}

// dt: x = 0, out = 1.
extern "C" __global__ void group_norm_fwd(const void* __restrict__ x, const float* __restrict__ gamma,
                                          const float* __restrict__ beta, void* __restrict__ out,
                                          float* __restrict__ meanOut, float* __restrict__ rstdOut,
                                          int C, int HW, int G, float eps, int silu, int dt) {
    __shared__ float scratch[32];
    int ng = blockIdx.x, g = ng % G;
    int Cg = C / G, M = Cg * HW;
    size_t base = (size_t)ng * M;          // (n*C + g*Cg)*HW == (n*G + g)*M
    float s = 0.f;
    for (int k = threadIdx.x; k < M; k += blockDim.x) s += ld(x, dt, 0, base + k);
    float mean = block_sum(s, scratch) / M;
    float q = 0.f;
    for (int k = threadIdx.x; k < M; k += blockDim.x) { float d = ld(x, dt, 0, base + k) - mean; q += d * d; }
    float var = block_sum(q, scratch) / M;
    float rstd = rsqrtf(var + eps);
    if (threadIdx.x == 0) { meanOut[ng] = mean; rstdOut[ng] = rstd; }
    if (out == nullptr) return;   // the statistics only (groupNormStats; gamma and beta may be null)
    for (int k = threadIdx.x; k < M; k += blockDim.x) {
        int c = g * Cg + k / HW;
        float y = (ld(x, dt, 0, base + k) - mean) * rstd * gamma[c] + beta[c];
        if (silu) y = y * sigmoid_acc(y);
        st(out, dt, 1, base + k, y);
    }
}

// Backward, one block per (n, g). With gyy = gy·SiLU'(y) (or gy), x̂ = (x − μ)·rstd:
//   pass 1 (a warp per channel): P1[n,c] = Σ_hw gyy·x̂, P2[n,c] = Σ_hw gyy, and the group totals
//           A = Σ_c γ_c P1, Bs = Σ_c γ_c P2;
//   pass 2: gx = rstd·(gyy·γ − Bs/M − x̂·A/M).
// P1/P2 [N, C] go to a scratch buffer; group_norm_param_grad sums them over n (deterministic).
// dt: x = 0, gy = 1, gx = 2.
extern "C" __global__ void group_norm_bwd(const void* __restrict__ x, const float* __restrict__ gamma,
                                          const float* __restrict__ beta, const float* __restrict__ meanIn,
                                          const float* __restrict__ rstdIn, const void* __restrict__ gy,
                                          void* __restrict__ gx, float* __restrict__ P1, float* __restrict__ P2,
                                          int C, int HW, int G, int silu, int dt) {
    __shared__ float scratch[32];
    __shared__ float accA[32], accB[32];
    int ng = blockIdx.x, g = ng % G, n = ng / G;
    int Cg = C / G, M = Cg * HW;
    size_t base = (size_t)ng * M;
    float mean = meanIn[ng], rstd = rstdIn[ng];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float a = 0.f, b = 0.f;
    for (int cl = warp; cl < Cg; cl += nw) {
        int c = g * Cg + cl;
        float gm = gamma[c], bt = beta[c];
        float s1 = 0.f, s2 = 0.f;
        for (int h = lane; h < HW; h += 32) {
            size_t k = base + cl * HW + h;
            float xh = (ld(x, dt, 0, k) - mean) * rstd;
            float gv = ld(gy, dt, 1, k);
            if (silu) gv *= silu_grad(xh * gm + bt);
            s1 += gv * xh;
            s2 += gv;
        }
        s1 = warp_sum(s1);
        s2 = warp_sum(s2);
        if (lane == 0) { P1[(size_t)n * C + c] = s1; P2[(size_t)n * C + c] = s2; }
        a += gm * s1;
        b += gm * s2;
    }
    if (lane == 0) { accA[warp] = a; accB[warp] = b; }
    __syncthreads();
    if (threadIdx.x == 0) {
        float ta = 0.f, tb = 0.f;
        for (int w = 0; w < nw; w++) { ta += accA[w]; tb += accB[w]; }
        scratch[0] = ta; scratch[1] = tb;
    }
    __syncthreads();
    float A = scratch[0] / M, Bs = scratch[1] / M;
    for (int k = threadIdx.x; k < M; k += blockDim.x) {
        int c = g * Cg + k / HW;
        float gm = gamma[c];
        float xh = (ld(x, dt, 0, base + k) - mean) * rstd;
        float gv = ld(gy, dt, 1, base + k);
        if (silu) gv *= silu_grad(xh * gm + beta[c]);
        st(gx, dt, 2, base + k, rstd * (gv * gm - Bs - xh * A));
    }
}

// ggamma[c] = Σ_n P1[n, c], gbeta[c] = Σ_n P2[n, c]; one thread per channel (coalesced over c).
extern "C" __global__ void group_norm_param_grad(const float* __restrict__ P1, const float* __restrict__ P2,
                                                 float* __restrict__ ggamma, float* __restrict__ gbeta, int N, int C) {
    GRID_STRIDE(c, C) {
        float s1 = 0.f, s2 = 0.f;
        for (int n = 0; n < N; n++) { s1 += P1[(size_t)n * C + c]; s2 += P2[(size_t)n * C + c]; }
        ggamma[c] = s1;
        gbeta[c] = s2;
    }
}
