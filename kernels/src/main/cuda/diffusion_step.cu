// Fused diffusion kernels. Each sample b of a batch owns `per` contiguous elements; its timestep
// (or DDIM row) index is gathered from device memory, so no host round trip per step.
#include "common.cuh"

// out = a[t[b]] * x0 + s[t[b]] * eps
extern "C" __global__ void q_sample(const float* __restrict__ x0, const float* __restrict__ eps,
                                    const int* __restrict__ t, const float* __restrict__ a,
                                    const float* __restrict__ s, float* __restrict__ out, int B, int per) {
    int n = B * per;
    GRID_STRIDE(i, n) {
        int ti = t[i / per];
        out[i] = a[ti] * x0[i] + s[ti] * eps[i];
    }
}

// As q_sample, with eps drawn in the same pass from Philox stream (seed, offset) (element i of the
// flat batch is normal i of the stream, exactly as randNormal would give) and written to epsOut.
extern "C" __global__ void q_sample_noise(const float* __restrict__ x0, const int* __restrict__ t,
                                          const float* __restrict__ a, const float* __restrict__ s,
                                          float* __restrict__ epsOut, float* __restrict__ out, int B, int per,
                                          unsigned long long seed, unsigned long long offset,
                                          const unsigned int* __restrict__ shift) {
    offset += philox_shift(shift);   // see rng.cu
    int n = B * per;
    int blocks = (n + 3) >> 2;
    GRID_STRIDE(j, blocks) {
        U4 w = philox_block(seed, offset + (unsigned long long)j);
        float z[4];
        box_muller(w.x, w.y, &z[0], &z[1]);
        box_muller(w.z, w.w, &z[2], &z[3]);
        int i0 = j << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int i = i0 + l;
            if (i < n) {
                int ti = t[i / per];
                epsOut[i] = z[l];
                out[i] = a[ti] * x0[i] + s[ti] * z[l];
            }
        }
    }
}

// DDPM ancestral step: out = c1[t]·(xt − c2[t]·epsHat) + sigma[t]·z (z optional: hasZ = 0).
extern "C" __global__ void posterior_step(const float* __restrict__ xt, const float* __restrict__ epsHat,
                                          const float* __restrict__ z, int hasZ, const int* __restrict__ t,
                                          const float* __restrict__ c1, const float* __restrict__ c2,
                                          const float* __restrict__ sigma, float* __restrict__ out, int B, int per) {
    int n = B * per;
    GRID_STRIDE(i, n) {
        int ti = t[i / per];
        float v = c1[ti] * (xt[i] - c2[ti] * epsHat[i]);
        if (hasZ) v += sigma[ti] * z[i];
        out[i] = v;
    }
}

// DDIM step with coefs [S, 5] = (sqrt(ab_t), sqrt(1-ab_t), sqrt(ab_prev), sqrt(1-ab_prev-sigma^2), sigma);
// with clipping, eps is re-derived from the clipped x0 before x_{t-1} is formed.
extern "C" __global__ void ddim_step(const float* __restrict__ xt, const float* __restrict__ epsHat,
                                     const float* __restrict__ z, int hasZ, const int* __restrict__ idx,
                                     const float* __restrict__ coefs, float clip, float* __restrict__ out,
                                     int B, int per) {
    int n = B * per;
    GRID_STRIDE(i, n) {
        const float* c = coefs + 5 * idx[i / per];
        float x = xt[i], e = epsHat[i];
        float x0 = (x - c[1] * e) / c[0];
        if (clip > 0.f) {
            x0 = fminf(fmaxf(x0, -clip), clip);
            e = (x - c[0] * x0) / c[1];   // the eps that the clipped x0 implies
        }
        float v = c[2] * x0 + c[3] * e;
        if (hasZ) v += c[4] * z[i];
        out[i] = v;
    }
}
