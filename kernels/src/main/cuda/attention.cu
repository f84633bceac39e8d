// Fused attention, float32 SIMT, FlashAttention-style: scores are produced tile by tile in shared
// memory and never materialised as an L×S matrix.
//   forward:  out = softmax(q kᵀ·scale) v with an online softmax; lse = m + log l per row.
//   backward: Dvec = rowsum(gout ⊙ out) (attn_bwd_pre); dQ per query tile (attn_bwd_dq);
//             dK, dV per key tile (attn_bwd_dkv); both recompute P = exp(s − lse), so there are
//             no atomics and the results are deterministic.
// Block: 128 threads (4 warps) own BR = 16 "resident" rows and stream BC = 32 "column" rows of the
// other operand through a [BC][CH+1] shared chunk, CH = 64 features at a time. Resident rows and
// their accumulators stay in dynamic shared memory: (2·D + 2·Dv)·BR floats at most (77 KB at
// D = Dv = 256), above 48 KB so the launcher opts in with cuFuncSetAttribute.
#include "common.cuh"

#define BR 16
#define BC 32
#define CH 64
#define NT 128

// S[r][j] = scale · Σ_d R[r][d]·G[j][d] for r < BR, j < BC (columns j ≥ nc read zeros).
// R: resident [BR][Dr] in shared memory; G: global rows of length Dr, nc valid.
// Thread t owns column j = t % 32 and rows t/32 + 4i: K/V reads are conflict-free (stride CH+1),
// R reads are warp broadcasts.
__device__ __forceinline__ void tile_dot(const float* R, int Dr, const float* __restrict__ G, int nc,
                                         float* buf, float* S, float scale) {
    int t = threadIdx.x, j = t & 31, r0 = t >> 5;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int d0 = 0; d0 < Dr; d0 += CH) {
        int dc = min(CH, Dr - d0);
        for (int e = t; e < BC * CH; e += NT) {
            int jj = e / CH, dd = e % CH;
            buf[jj * (CH + 1) + dd] = (jj < nc && dd < dc) ? G[(size_t)jj * Dr + d0 + dd] : 0.f;
        }
        __syncthreads();
        for (int dd = 0; dd < dc; dd++) {
            float kv = buf[j * (CH + 1) + dd];
#pragma unroll
            for (int i = 0; i < 4; i++) acc[i] = fmaf(R[(r0 + 4 * i) * Dr + d0 + dd], kv, acc[i]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) S[(r0 + 4 * i) * BC + j] = acc[i] * scale;
}

// Acc[r][c] = Acc[r][c]·rowScale[r] + Σ_{j<nc} P[r][j]·G[j][c] for all c < Dx.
// A warp covers 32 consecutive c of one row r: P reads broadcast, chunk reads conflict-free.
__device__ __forceinline__ void tile_accum(float* Acc, int Dx, const float* P, const float* __restrict__ G, int nc,
                                           float* buf, const float* rowScale) {
    int t = threadIdx.x;
    for (int d0 = 0; d0 < Dx; d0 += CH) {
        int dc = min(CH, Dx - d0);
        for (int e = t; e < BC * CH; e += NT) {
            int jj = e / CH, dd = e % CH;
            buf[jj * (CH + 1) + dd] = (jj < nc && dd < dc) ? G[(size_t)jj * Dx + d0 + dd] : 0.f;
        }
        __syncthreads();
        for (int e = t; e < BR * CH; e += NT) {
            int r = e / CH, c = e % CH;
            if (c < dc) {
                float v = Acc[r * Dx + d0 + c];
                if (rowScale) v *= rowScale[r];
                for (int j = 0; j < nc; j++) v = fmaf(P[r * BC + j], buf[j * (CH + 1) + c], v);
                Acc[r * Dx + d0 + c] = v;
            }
        }
        __syncthreads();
    }
}

// Copies rows [row0, row0 + BR) of a [rows, D] matrix into shared memory, zero-padding past the end.
__device__ __forceinline__ void load_rows(float* dst, const float* __restrict__ src, int row0, int rows, int D) {
    for (int e = threadIdx.x; e < BR * D; e += NT) {
        int r = e / D;
        dst[e] = (row0 + r < rows) ? src[(size_t)row0 * D + e] : 0.f;
    }
}

__device__ __forceinline__ void zero_rows(float* dst, int D) {
    for (int e = threadIdx.x; e < BR * D; e += NT) dst[e] = 0.f;
}

// grid (ceil(L/BR), B), NT threads. Shared: Q[BR·D] O[BR·Dv] buf[BC·(CH+1)] S[BR·BC] m l alpha[BR].
extern "C" __global__ void __launch_bounds__(NT) attn_fwd(const float* __restrict__ q, const float* __restrict__ k,
        const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse,
        int L, int S, int D, int Dv, float scale) {
    DYNAMIC_SHARED(float, sm);
    float* Qs = sm;
    float* Os = Qs + BR * D;
    float* buf = Os + BR * Dv;
    float* Sm = buf + BC * (CH + 1);
    float* mrow = Sm + BR * BC;
    float* lrow = mrow + BR;
    float* alpha = lrow + BR;
    int b = blockIdx.y, i0 = blockIdx.x * BR;
    const float* qb = q + (size_t)b * L * D;
    const float* kb = k + (size_t)b * S * D;
    const float* vb = v + (size_t)b * S * Dv;
    load_rows(Qs, qb, i0, L, D);
    zero_rows(Os, Dv);
    if (threadIdx.x < BR) { mrow[threadIdx.x] = -INFINITY; lrow[threadIdx.x] = 0.f; }
    __syncthreads();
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int j0 = 0; j0 < S; j0 += BC) {
        int nc = min(BC, S - j0);
        tile_dot(Qs, D, kb + (size_t)j0 * D, nc, buf, Sm, scale);
        __syncthreads();
        // online softmax: a warp per row, lane = column
        for (int r = warp; r < BR; r += NT / 32) {
            float s = lane < nc ? Sm[r * BC + lane] : -INFINITY;
            float mOld = mrow[r];
            float mNew = fmaxf(mOld, warp_max(s));
            float p = lane < nc ? __expf(s - mNew) : 0.f;
            float sum = warp_sum(p);
            Sm[r * BC + lane] = p;
            __syncwarp();
            if (lane == 0) {
                float a = __expf(mOld - mNew);   // exp(-inf) = 0 on the first tile
                alpha[r] = a;
                lrow[r] = lrow[r] * a + sum;
                mrow[r] = mNew;
            }
        }
        __syncthreads();
        tile_accum(Os, Dv, Sm, vb + (size_t)j0 * Dv, nc, buf, alpha);
    }
    float* ob = out + (size_t)b * L * Dv;
    for (int e = threadIdx.x; e < BR * Dv; e += NT) {
        int r = e / Dv;
        if (i0 + r < L) ob[(size_t)i0 * Dv + e] = Os[e] / lrow[r];
    }
    if (threadIdx.x < BR && i0 + threadIdx.x < L)
        lse[(size_t)b * L + i0 + threadIdx.x] = mrow[threadIdx.x] + logf(lrow[threadIdx.x]);
}

// Dvec[b, i] = Σ_c gout[b, i, c]·out[b, i, c]; a warp per row.
extern "C" __global__ void attn_bwd_pre(const float* __restrict__ out, const float* __restrict__ gout,
                                        float* __restrict__ dvec, int rows, int Dv) {
    int lane = threadIdx.x & 31;
    int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        float s = 0.f;
        for (int c = lane; c < Dv; c += 32) s += gout[(size_t)r * Dv + c] * out[(size_t)r * Dv + c];
        s = warp_sum(s);
        if (lane == 0) dvec[r] = s;
    }
}

// dQ for a tile of BR queries, streaming keys: P = exp(s − lse), dP = dO·vᵀ,
// dS = P ⊙ (dP − Dvec), dQ += scale · dS · k.
// Shared: Q[BR·D] dO[BR·Dv] dQ[BR·D] buf S[BR·BC] dP[BR·BC].
extern "C" __global__ void __launch_bounds__(NT) attn_bwd_dq(const float* __restrict__ q, const float* __restrict__ k,
        const float* __restrict__ v, const float* __restrict__ gout, const float* __restrict__ lse,
        const float* __restrict__ dvec, float* __restrict__ gq, int L, int S, int D, int Dv, float scale) {
    DYNAMIC_SHARED(float, sm);
    float* Qs = sm;
    float* dOs = Qs + BR * D;
    float* dQs = dOs + BR * Dv;
    float* buf = dQs + BR * D;
    float* Sm = buf + BC * (CH + 1);
    float* dP = Sm + BR * BC;
    int b = blockIdx.y, i0 = blockIdx.x * BR;
    const float* kb = k + (size_t)b * S * D;
    const float* vb = v + (size_t)b * S * Dv;
    load_rows(Qs, q + (size_t)b * L * D, i0, L, D);
    load_rows(dOs, gout + (size_t)b * L * Dv, i0, L, Dv);
    zero_rows(dQs, D);
    __syncthreads();
    for (int j0 = 0; j0 < S; j0 += BC) {
        int nc = min(BC, S - j0);
        tile_dot(Qs, D, kb + (size_t)j0 * D, nc, buf, Sm, scale);
        tile_dot(dOs, Dv, vb + (size_t)j0 * Dv, nc, buf, dP, 1.f);
        __syncthreads();
        for (int e = threadIdx.x; e < BR * BC; e += NT) {
            int r = e / BC, j = e % BC;
            int i = min(i0 + r, L - 1);   // padded rows: any finite values, never written
            float ds = 0.f;
            if (j < nc) {
                float p = __expf(Sm[e] - lse[(size_t)b * L + i]);
                ds = p * (dP[e] - dvec[(size_t)b * L + i]) * scale;
            }
            Sm[e] = ds;
        }
        __syncthreads();
        tile_accum(dQs, D, Sm, kb + (size_t)j0 * D, nc, buf, nullptr);
    }
    float* gb = gq + (size_t)b * L * D;
    for (int e = threadIdx.x; e < BR * D; e += NT) {
        int r = e / D;
        if (i0 + r < L) gb[(size_t)i0 * D + e] = dQs[e];
    }
}

// dK, dV for a tile of BR keys, streaming queries (the transposed problem):
// Pᵀ = exp(scale·k·qᵀ − lse), dV += Pᵀ·dO, dPᵀ = v·dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − Dvec), dK += scale·dSᵀ·q.
// Shared: K[BR·D] V[BR·Dv] dK[BR·D] dV[BR·Dv] buf St[BR·BC] dPt[BR·BC].
extern "C" __global__ void __launch_bounds__(NT) attn_bwd_dkv(const float* __restrict__ q, const float* __restrict__ k,
        const float* __restrict__ v, const float* __restrict__ gout, const float* __restrict__ lse,
        const float* __restrict__ dvec, float* __restrict__ gk, float* __restrict__ gv,
        int L, int S, int D, int Dv, float scale) {
    DYNAMIC_SHARED(float, sm);
    float* Ks = sm;
    float* Vs = Ks + BR * D;
    float* dKs = Vs + BR * Dv;
    float* dVs = dKs + BR * D;
    float* buf = dVs + BR * Dv;
    float* St = buf + BC * (CH + 1);
    float* dPt = St + BR * BC;
    int b = blockIdx.y, j0 = blockIdx.x * BR;
    const float* qb = q + (size_t)b * L * D;
    const float* gb = gout + (size_t)b * L * Dv;
    load_rows(Ks, k + (size_t)b * S * D, j0, S, D);
    load_rows(Vs, v + (size_t)b * S * Dv, j0, S, Dv);
    zero_rows(dKs, D);
    zero_rows(dVs, Dv);
    __syncthreads();
    for (int i0 = 0; i0 < L; i0 += BC) {
        int nq = min(BC, L - i0);
        tile_dot(Ks, D, qb + (size_t)i0 * D, nq, buf, St, scale);
        tile_dot(Vs, Dv, gb + (size_t)i0 * Dv, nq, buf, dPt, 1.f);
        __syncthreads();
        for (int e = threadIdx.x; e < BR * BC; e += NT) {
            int i = e % BC;
            float p = 0.f, ds = 0.f;
            if (i < nq) {
                size_t qi = (size_t)b * L + i0 + i;
                p = __expf(St[e] - lse[qi]);
                ds = p * (dPt[e] - dvec[qi]) * scale;
            }
            St[e] = p;
            dPt[e] = ds;
        }
        __syncthreads();
        tile_accum(dVs, Dv, St, gb + (size_t)i0 * Dv, nq, buf, nullptr);
        tile_accum(dKs, D, dPt, qb + (size_t)i0 * D, nq, buf, nullptr);
    }
    float* gkb = gk + (size_t)b * S * D;
    float* gvb = gv + (size_t)b * S * Dv;
    for (int e = threadIdx.x; e < BR * D; e += NT) {
        int r = e / D;
        if (j0 + r < S) gkb[(size_t)j0 * D + e] = dKs[e];
    }
    for (int e = threadIdx.x; e < BR * Dv; e += NT) {
        int r = e / Dv;
        if (j0 + r < S) gvb[(size_t)j0 * Dv + e] = dVs[e];
    }
}
