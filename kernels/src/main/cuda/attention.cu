// Fused attention, FlashAttention-style: scores are produced tile by tile in shared memory and
// never materialised as an L×S matrix.
//   forward:  out = softmax(q kᵀ·scale) v with an online softmax; lse = m + log l per row.
//   backward: Dvec = rowsum(gout ⊙ out) (attn_bwd_pre); dQ per query tile (attn_bwd_dq);
//             dK, dV per key tile (attn_bwd_dkv); both recompute P = exp(s − lse), so there are
//             no atomics and the results are deterministic.
// Two implementations of the same algorithm:
// - float32 SIMT (attn_fwd, attn_bwd_dq, attn_bwd_dkv), the FP32 math precision and any shape;
// - tensor cores through WMMA (attn_*_tc_bf16, attn_*_tc_tf32, below), the BF16 and TF32
//   precisions for head dims up to 256.
//
// SIMT: a block of 128 threads (4 warps) owns BR = 16 "resident" rows and streams BC = 32 "column"
// rows of the other operand through a [BC][CH+1] shared chunk, CH = 64 features at a time. Resident
// rows and their accumulators stay in dynamic shared memory: (2·D + 2·Dv)·BR floats at most (77 KB
// at D = Dv = 256), above 48 KB so the launcher opts in with cuFuncSetAttribute.
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

// Dvec[b, i] = Σ_c gout[b, i, c]·out[b, i, c]; a warp per row. out and gout float32 or bfloat16
// (bits 3 and 4 of dt, the attention call's mask: see the tensor-core entry points).
extern "C" __global__ void attn_bwd_pre(const void* __restrict__ out, const void* __restrict__ gout,
                                        float* __restrict__ dvec, int rows, int Dv, int dt) {
    int lane = threadIdx.x & 31;
    int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        float s = 0.f;
        for (int c = lane; c < Dv; c += 32) s += ld(gout, dt, 4, (size_t)r * Dv + c) * ld(out, dt, 3, (size_t)r * Dv + c);
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

// ================================================================ tensor cores (WMMA)
// The same three kernels with their matmuls on tensor cores: operands rounded to bf16 (BF16) or
// TF32 (TF32) on their way into shared memory, products accumulated in float32; the softmax
// statistics (m, l, lse), P and dS are computed in float32, and P (forward; P and dS backward) are
// rounded like the other operands only where they enter an MMA. Global memory stays float32.
//
// Tiles: a block owns TC_BM = 64 rows (four groups of 16, one warp each; the dK/dV kernel has two
// warps per group) and streams TC_BN = 32 rows of the other operand per step. Head dims are padded
// with zeros to multiples of 16 in shared memory (any D, Dv ≤ 256); each warp keeps its 16-row
// output slab in TC_NF = 16 accumulator fragments (16 × 256 floats, 128 registers per thread).
// Shared-memory rows are padded by 16 bytes (bank spread); every fragment pointer is 32-byte aligned.
//
// A WMMA accumulator's element-to-(row, column) mapping is unspecified but the same for every
// accumulator fragment of a shape, so a fragment loaded from a table of row indices (TC_IDX)
// tells each lane the row and column of its elements: row-wise scaling and masking work in
// registers. Row reductions (the forward's max and sum) go through shared memory.
#include <mma.h>
#include <cuda_bf16.h>

#define TC_BM 64
#define TC_BN 32
#define TC_NF 16
#define TC_NT 128      // threads of the forward and dQ kernels
#define TC_NT_KV 256   // threads of the dK/dV kernel

using namespace nvcuda;

// Rounds to TF32 (10 mantissa bits), nearest, ties to even, exactly as MathPrecision.TF32.round;
// the tensor cores then read the value unchanged (its low 13 bits are zero).
__device__ __forceinline__ float tf32_rne(float x) {
    unsigned b = __float_as_uint(x);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0xfffu + ((b >> 13) & 1u)) & 0xffffe000u;
    return __uint_as_float(b);
}

// The two tensor-core precisions: E is the shared-memory operand type, K the MMA's depth.
struct TcBf16 {
    typedef __nv_bfloat16 E;
    typedef __nv_bfloat16 W;
    enum { K = 16, PAD = 8 };
    static __device__ __forceinline__ E cvt(float x) { return __float2bfloat16_rn(x); }
};
struct TcTf32 {
    typedef float E;
    typedef wmma::precision::tf32 W;
    enum { K = 8, PAD = 4 };
    static __device__ __forceinline__ E cvt(float x) { return tf32_rne(x); }
};

template <class M> struct Tc {
    typedef typename M::E E;
    typedef wmma::fragment<wmma::matrix_a, 16, 16, M::K, typename M::W, wmma::row_major> A;
    typedef wmma::fragment<wmma::matrix_b, 16, 16, M::K, typename M::W, wmma::row_major> Brow;
    typedef wmma::fragment<wmma::matrix_b, 16, 16, M::K, typename M::W, wmma::col_major> Bcol;
    typedef wmma::fragment<wmma::accumulator, 16, 16, M::K, float> C;

    // acc[n] = A · Bᵀ for n < 2: A is 16 × kd at a (row-major, lda), B's rows n·16 .. n·16 + 15 are
    // at b (row-major, ldb), i.e. Bᵀ is read column-major. kd is a multiple of 16.
    static __device__ __forceinline__ void abt(C (&acc)[2], const E* a, int lda, const E* b, int ldb, int kd) {
        wmma::fill_fragment(acc[0], 0.f);
        wmma::fill_fragment(acc[1], 0.f);
        for (int k = 0; k < kd; k += M::K) {
            A fa;
            wmma::load_matrix_sync(fa, a + k, lda);
#pragma unroll
            for (int n = 0; n < 2; n++) {
                Bcol fb;
                wmma::load_matrix_sync(fb, b + n * 16 * ldb + k, ldb);
                wmma::mma_sync(acc[n], fa, fb, acc[n]);
            }
        }
    }

    // acc[f] += A · B[:, 16f .. 16f + 15] for f < nf: A is 16 × TC_BN at a (row-major, lda), B is
    // TC_BN × 16·nf at b (row-major, ldb).
    static __device__ __forceinline__ void ab(C (&acc)[TC_NF], int nf, const E* a, int lda, const E* b, int ldb) {
#pragma unroll
        for (int k = 0; k < TC_BN; k += M::K) {
            A fa;
            wmma::load_matrix_sync(fa, a + k, lda);
#pragma unroll
            for (int f = 0; f < TC_NF; f++)
                if (f < nf) {
                    Brow fb;
                    wmma::load_matrix_sync(fb, b + k * ldb + f * 16, ldb);
                    wmma::mma_sync(acc[f], fa, fb, acc[f]);
                }
        }
    }

    // A 16 × 16 accumulator tile into shared memory as operand elements (rounded): the warp's
    // float `stage` (16 × 16) carries it where E is not float.
    static __device__ __forceinline__ void store_operand(E* dst, int ld, C& f, float* stage);

    // Rows [row0, row0 + R) of the [rows, cols] matrix at element base of src (float32 or bfloat16:
    // bit `bit` of dt) into shared memory (row stride ldd), rounded; rows past `rows` and columns in
    // [cols, cols16) are zeros. A warp per row, coalesced.
    static __device__ __forceinline__ void load_rows(E* dst, int ldd, const void* __restrict__ src, int dt, int bit, size_t base,
                                                     int row0, int rows, int cols, int cols16, int R) {
        int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
        for (int r = threadIdx.x >> 5; r < R; r += nw) {
            bool in = row0 + r < rows;
            size_t s = base + (size_t)(row0 + r) * cols;
            for (int c = lane; c < cols16; c += 32) dst[r * ldd + c] = M::cvt(in && c < cols ? ld(src, dt, bit, s + c) : 0.f);
        }
    }
};

template <> __device__ __forceinline__ void Tc<TcTf32>::store_operand(float* dst, int ld, C& f, float*) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = tf32_rne(f.x[i]);
    wmma::store_matrix_sync(dst, f, ld, wmma::mem_row_major);
}

template <> __device__ __forceinline__ void Tc<TcBf16>::store_operand(__nv_bfloat16* dst, int ld, C& f, float* stage) {
    wmma::store_matrix_sync(stage, f, 16, wmma::mem_row_major);
    __syncwarp();
    for (int e = threadIdx.x & 31; e < 256; e += 32) dst[(e >> 4) * ld + (e & 15)] = __float2bfloat16_rn(stage[e]);
    __syncwarp();
}

// Shared memory carved in 128-byte-aligned pieces; the launcher (AttentionKernel) adds the sizes
// up the same way.
struct alignas(128) TcSmem { unsigned char b[128]; };
struct Carve {
    unsigned char* p;
    template <class T> __device__ __forceinline__ T* take(int n) {
        T* r = (T*)p;
        p += ((size_t)n * sizeof(T) + 127) & ~(size_t)127;
        return r;
    }
};

// The row-index table: idx[r·16 + c] = r. Loaded row-major into an accumulator it gives each
// element's row, column-major its column.
__device__ __forceinline__ void fill_index_table(float* idx) {
    for (int e = threadIdx.x; e < 256; e += blockDim.x) idx[e] = (float)(e >> 4);
}

// The warp's 16 × 16·nf accumulators (scaled per row by rowScale[r] when given) into rows
// [row0, row0 + 16) ∩ [0, rows) and columns < cols of the [rows, cols] matrix at element base of dst
// (float32 or bfloat16: bit `bit` of dt), through `stage` (16 × 16 floats, row stride lds).
template <class M>
__device__ __forceinline__ void store_rows(typename Tc<M>::C (&acc)[TC_NF], int nf, const typename Tc<M>::C& rowId,
                                           const float* rowScale, float* stage, int lds, void* __restrict__ dst,
                                           int dt, int bit, size_t base, int row0, int rows, int cols) {
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int f = 0; f < TC_NF; f++)
        if (f < nf) {
            if (rowScale)
                for (int i = 0; i < acc[f].num_elements; i++) acc[f].x[i] *= rowScale[(int)rowId.x[i]];
            wmma::store_matrix_sync(stage, acc[f], lds, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int r = row0 + (e >> 4), c = f * 16 + (e & 15);
                if (r < rows && c < cols) st(dst, dt, bit, base + (size_t)r * cols + c, stage[(e >> 4) * lds + (e & 15)]);
            }
            __syncwarp();
        }
}

// Shared: Q[BM][ldq] K[BN][ldq] V[BN][ldv] (operands), S[4][16][BN+4] (float scores, then the output
// stage), P[4][16][BN+PAD] (operands), alpha[4·16], idx[256].
template <class M>
__device__ __forceinline__ void attn_fwd_tc(const void* __restrict__ q, const void* __restrict__ k,
        const void* __restrict__ v, void* __restrict__ out, float* __restrict__ lse,
        int L, int S, int D, int Dv, float scale, int dt) {
    typedef Tc<M> T;
    typedef typename M::E E;
    DYNAMIC_SHARED(TcSmem, smem);
    const int D16 = (D + 15) & ~15, V16 = (Dv + 15) & ~15, ldq = D16 + M::PAD, ldv = V16 + M::PAD;
    const int lds = TC_BN + 4, ldp = TC_BN + M::PAD;
    Carve cv = {(unsigned char*)smem};
    E* Qs = cv.take<E>(TC_BM * ldq);
    E* Ks = cv.take<E>(TC_BN * ldq);
    E* Vs = cv.take<E>(TC_BN * ldv);
    float* Ss = cv.take<float>(4 * 16 * lds);
    E* Ps = cv.take<E>(4 * 16 * ldp);
    float* alpha = cv.take<float>(4 * 16);
    float* idx = cv.take<float>(256);

    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, b = blockIdx.y, i0 = blockIdx.x * TC_BM;
    const size_t kb = (size_t)b * S * D, vb = (size_t)b * S * Dv;
    fill_index_table(idx);
    T::load_rows(Qs, ldq, q, dt, 0, (size_t)b * L * D, i0, L, D, D16, TC_BM);
    __syncthreads();
    typename T::C rowId, o[TC_NF];
    wmma::load_matrix_sync(rowId, idx, 16, wmma::mem_row_major);
    const int nf = V16 / 16;
#pragma unroll
    for (int f = 0; f < TC_NF; f++) wmma::fill_fragment(o[f], 0.f);
    float* Sw = Ss + w * 16 * lds;
    E* Pw = Ps + w * 16 * ldp;
    float* aw = alpha + w * 16;
    // lanes 2r and 2r + 1 own row r of the warp's 16: columns h, h + 2, ... (h = lane & 1)
    const int r = lane >> 1, h = lane & 1;
    float mRun = -INFINITY, lRun = 0.f;
    for (int j0 = 0; j0 < S; j0 += TC_BN) {
        int nc = min(TC_BN, S - j0);
        __syncthreads();   // every warp is done with the previous K, V tiles
        T::load_rows(Ks, ldq, k, dt, 1, kb, j0, S, D, D16, TC_BN);
        T::load_rows(Vs, ldv, v, dt, 2, vb, j0, S, Dv, V16, TC_BN);
        __syncthreads();
        typename T::C s[2];
        T::abt(s, Qs + w * 16 * ldq, ldq, Ks, ldq, D16);
        wmma::store_matrix_sync(Sw, s[0], lds, wmma::mem_row_major);
        wmma::store_matrix_sync(Sw + 16, s[1], lds, wmma::mem_row_major);
        __syncwarp();
        // online softmax of row r over this tile's nc keys
        float mx = -INFINITY;
        for (int c = h; c < nc; c += 2) mx = fmaxf(mx, Sw[r * lds + c] * scale);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float mNew = fmaxf(mRun, mx), sum = 0.f;
        for (int c = h; c < TC_BN; c += 2) {
            float p = c < nc ? __expf(Sw[r * lds + c] * scale - mNew) : 0.f;
            sum += p;
            Pw[r * ldp + c] = M::cvt(p);
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        float a = __expf(mRun - mNew);   // exp(-inf) = 0 on the first tile
        lRun = lRun * a + sum;
        mRun = mNew;
        if (h == 0) aw[r] = a;
        __syncwarp();
        // O = O·alpha + P·V
#pragma unroll
        for (int f = 0; f < TC_NF; f++)
            if (f < nf)
                for (int i = 0; i < o[f].num_elements; i++) o[f].x[i] *= aw[(int)rowId.x[i]];
        T::ab(o, nf, Pw, ldp, Vs, ldv);
    }
    __syncwarp();   // alpha's readers are done
    if (h == 0) {
        aw[r] = 1.f / lRun;
        if (i0 + w * 16 + r < L) lse[(size_t)b * L + i0 + w * 16 + r] = mRun + logf(lRun);
    }
    __syncwarp();
    store_rows<M>(o, nf, rowId, aw, Sw, lds, out, dt, 3, (size_t)b * L * Dv, i0 + w * 16, L, Dv);
}

// dQ for TC_BM queries, streaming keys: P = exp(s·scale − lse), dP = dO·vᵀ, dS = P ⊙ (dP − Dvec)·scale
// (all in registers), dQ += dS·k. Shared: Q[BM][ldq] dO[BM][ldv] K[BN][ldq] V[BN][ldv] dS[4][16][BN+PAD]
// (operands), stage[4][16·16], lse and Dvec of the block's rows, idx[256].
template <class M>
__device__ __forceinline__ void attn_bwd_dq_tc(const void* __restrict__ q, const void* __restrict__ k,
        const void* __restrict__ v, const void* __restrict__ gout, const float* __restrict__ lse,
        const float* __restrict__ dvec, void* __restrict__ gq, int L, int S, int D, int Dv, float scale, int dt) {
    typedef Tc<M> T;
    typedef typename M::E E;
    DYNAMIC_SHARED(TcSmem, smem);
    const int D16 = (D + 15) & ~15, V16 = (Dv + 15) & ~15, ldq = D16 + M::PAD, ldv = V16 + M::PAD;
    const int ldp = TC_BN + M::PAD;
    Carve cv = {(unsigned char*)smem};
    E* Qs = cv.take<E>(TC_BM * ldq);
    E* dOs = cv.take<E>(TC_BM * ldv);
    E* Ks = cv.take<E>(TC_BN * ldq);
    E* Vs = cv.take<E>(TC_BN * ldv);
    E* dSs = cv.take<E>(4 * 16 * ldp);
    float* stage = cv.take<float>(4 * 256);
    float* lrow = cv.take<float>(TC_BM);
    float* drow = cv.take<float>(TC_BM);
    float* idx = cv.take<float>(256);

    const int w = threadIdx.x >> 5, b = blockIdx.y, i0 = blockIdx.x * TC_BM;
    const size_t kb = (size_t)b * S * D, vb = (size_t)b * S * Dv;
    fill_index_table(idx);
    T::load_rows(Qs, ldq, q, dt, 0, (size_t)b * L * D, i0, L, D, D16, TC_BM);
    T::load_rows(dOs, ldv, gout, dt, 4, (size_t)b * L * Dv, i0, L, Dv, V16, TC_BM);
    for (int e = threadIdx.x; e < TC_BM; e += blockDim.x) {
        bool in = i0 + e < L;
        lrow[e] = in ? lse[(size_t)b * L + i0 + e] : 0.f;
        drow[e] = in ? dvec[(size_t)b * L + i0 + e] : 0.f;
    }
    __syncthreads();
    typename T::C rowId, colId, dq[TC_NF];
    wmma::load_matrix_sync(rowId, idx, 16, wmma::mem_row_major);
    wmma::load_matrix_sync(colId, idx, 16, wmma::mem_col_major);
    const int nf = D16 / 16;
#pragma unroll
    for (int f = 0; f < TC_NF; f++) wmma::fill_fragment(dq[f], 0.f);
    const float* lw = lrow + w * 16;
    const float* dw = drow + w * 16;
    E* dSw = dSs + w * 16 * ldp;
    float* stw = stage + w * 256;
    for (int j0 = 0; j0 < S; j0 += TC_BN) {
        __syncthreads();
        T::load_rows(Ks, ldq, k, dt, 1, kb, j0, S, D, D16, TC_BN);
        T::load_rows(Vs, ldv, v, dt, 2, vb, j0, S, Dv, V16, TC_BN);
        __syncthreads();
        typename T::C s[2], dp[2];
        T::abt(s, Qs + w * 16 * ldq, ldq, Ks, ldq, D16);
        T::abt(dp, dOs + w * 16 * ldv, ldv, Vs, ldv, V16);
#pragma unroll
        for (int n = 0; n < 2; n++) {
            for (int i = 0; i < s[n].num_elements; i++) {
                int rr = (int)rowId.x[i];
                float ds = 0.f;
                if (j0 + n * 16 + (int)colId.x[i] < S) {
                    float p = __expf(s[n].x[i] * scale - lw[rr]);
                    ds = p * (dp[n].x[i] - dw[rr]) * scale;
                }
                s[n].x[i] = ds;
            }
            T::store_operand(dSw + n * 16, ldp, s[n], stw);
        }
        __syncwarp();
        T::ab(dq, nf, dSw, ldp, Ks, ldq);
    }
    __syncwarp();
    store_rows<M>(dq, nf, rowId, nullptr, stw, 16, gq, dt, 5, (size_t)b * L * D, i0 + w * 16, L, D);
}

// dK, dV for TC_BM keys, streaming queries: Pᵀ = exp(k·qᵀ·scale − lse), dPᵀ = v·dOᵀ,
// dSᵀ = Pᵀ ⊙ (dPᵀ − Dvec)·scale; dV += Pᵀ·dO, dK += dSᵀ·q. Warp w works on keys 16·(w & 3): warps
// 0-3 compute Sᵀ, P, dS and accumulate dV; warps 4-7 compute dPᵀ (handed over in shared memory)
// and accumulate dK, so each holds one 16 × 256 accumulator. Shared: K[BM][ldq] V[BM][ldv]
// Q[BN][ldq] dO[BN][ldv] (operands), X[4][16][BN+4] (dPᵀ as float, then Pᵀ as operands),
// dSᵀ[4][16][BN+PAD], stage[8][16·16], lse and Dvec of the step's queries, idx[256].
template <class M>
__device__ __forceinline__ void attn_bwd_dkv_tc(const void* __restrict__ q, const void* __restrict__ k,
        const void* __restrict__ v, const void* __restrict__ gout, const float* __restrict__ lse,
        const float* __restrict__ dvec, void* __restrict__ gk, void* __restrict__ gv,
        int L, int S, int D, int Dv, float scale, int dt) {
    typedef Tc<M> T;
    typedef typename M::E E;
    DYNAMIC_SHARED(TcSmem, smem);
    const int D16 = (D + 15) & ~15, V16 = (Dv + 15) & ~15, ldq = D16 + M::PAD, ldv = V16 + M::PAD;
    const int ldx = TC_BN + 4, ldp = TC_BN + M::PAD;
    Carve cv = {(unsigned char*)smem};
    E* Ks = cv.take<E>(TC_BM * ldq);
    E* Vs = cv.take<E>(TC_BM * ldv);
    E* Qs = cv.take<E>(TC_BN * ldq);
    E* dOs = cv.take<E>(TC_BN * ldv);
    float* X = cv.take<float>(4 * 16 * ldx);
    E* dSs = cv.take<E>(4 * 16 * ldp);
    float* stage = cv.take<float>(8 * 256);
    float* lcol = cv.take<float>(TC_BN);
    float* dcol = cv.take<float>(TC_BN);
    float* idx = cv.take<float>(256);

    const int w = threadIdx.x >> 5, g = w & 3, second = w >> 2, b = blockIdx.y, j0 = blockIdx.x * TC_BM;
    const size_t qb = (size_t)b * L * D, gb = (size_t)b * L * Dv;
    fill_index_table(idx);
    T::load_rows(Ks, ldq, k, dt, 1, (size_t)b * S * D, j0, S, D, D16, TC_BM);
    T::load_rows(Vs, ldv, v, dt, 2, (size_t)b * S * Dv, j0, S, Dv, V16, TC_BM);
    __syncthreads();
    typename T::C rowId, colId, acc[TC_NF];
    wmma::load_matrix_sync(rowId, idx, 16, wmma::mem_row_major);
    wmma::load_matrix_sync(colId, idx, 16, wmma::mem_col_major);
    const int nf = (second ? D16 : V16) / 16;
#pragma unroll
    for (int f = 0; f < TC_NF; f++) wmma::fill_fragment(acc[f], 0.f);
    float* Xg = X + g * 16 * ldx;
    E* Pg = (E*)Xg;   // Pᵀ (row stride ldp) replaces dPᵀ once it is read
    E* dSg = dSs + g * 16 * ldp;
    float* stw = stage + w * 256;
    for (int i0 = 0; i0 < L; i0 += TC_BN) {
        __syncthreads();
        T::load_rows(Qs, ldq, q, dt, 0, qb, i0, L, D, D16, TC_BN);
        T::load_rows(dOs, ldv, gout, dt, 4, gb, i0, L, Dv, V16, TC_BN);
        for (int e = threadIdx.x; e < TC_BN; e += blockDim.x) {
            bool in = i0 + e < L;
            lcol[e] = in ? lse[(size_t)b * L + i0 + e] : 0.f;
            dcol[e] = in ? dvec[(size_t)b * L + i0 + e] : 0.f;
        }
        __syncthreads();
        typename T::C t[2];
        if (!second) {
            T::abt(t, Ks + g * 16 * ldq, ldq, Qs, ldq, D16);   // Sᵀ
        } else {
            T::abt(t, Vs + g * 16 * ldv, ldv, dOs, ldv, V16);  // dPᵀ
            wmma::store_matrix_sync(Xg, t[0], ldx, wmma::mem_row_major);
            wmma::store_matrix_sync(Xg + 16, t[1], ldx, wmma::mem_row_major);
        }
        __syncthreads();
        if (!second) {
            typename T::C dp[2];
            wmma::load_matrix_sync(dp[0], Xg, ldx, wmma::mem_row_major);
            wmma::load_matrix_sync(dp[1], Xg + 16, ldx, wmma::mem_row_major);
            __syncwarp();   // dPᵀ is in registers: Pᵀ may overwrite it
#pragma unroll
            for (int n = 0; n < 2; n++) {
                for (int i = 0; i < t[n].num_elements; i++) {
                    int c = n * 16 + (int)colId.x[i];
                    float p = 0.f, ds = 0.f;
                    if (i0 + c < L) {
                        p = __expf(t[n].x[i] * scale - lcol[c]);
                        ds = p * (dp[n].x[i] - dcol[c]) * scale;
                    }
                    t[n].x[i] = p;
                    dp[n].x[i] = ds;
                }
                T::store_operand(Pg + n * 16, ldp, t[n], stw);
                T::store_operand(dSg + n * 16, ldp, dp[n], stw);
            }
        }
        __syncthreads();
        if (!second) T::ab(acc, nf, Pg, ldp, dOs, ldv);   // dV += Pᵀ·dO
        else T::ab(acc, nf, dSg, ldp, Qs, ldq);           // dK += dSᵀ·Q
    }
    __syncwarp();
    if (!second) store_rows<M>(acc, nf, rowId, nullptr, stw, 16, gv, dt, 7, (size_t)b * S * Dv, j0 + g * 16, S, Dv);
    else store_rows<M>(acc, nf, rowId, nullptr, stw, 16, gk, dt, 6, (size_t)b * S * D, j0 + g * 16, S, D);
}

// Entry points: grid (⌈L/TC_BM⌉, B) for the forward and dQ, (⌈S/TC_BM⌉, B) for dK/dV. dt: the
// attention call's mask of bfloat16 operands (else float32): q 0, k 1, v 2, out 3, gout 4, gq 5,
// gk 6, gv 7; lse and Dvec are float32.
#define ATTN_FWD_PARAMS const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v, \
        void* __restrict__ out, float* __restrict__ lse, int L, int S, int D, int Dv, float scale, int dt
#define ATTN_DQ_PARAMS const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v, \
        const void* __restrict__ gout, const float* __restrict__ lse, const float* __restrict__ dvec, void* __restrict__ gq, \
        int L, int S, int D, int Dv, float scale, int dt
#define ATTN_DKV_PARAMS const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v, \
        const void* __restrict__ gout, const float* __restrict__ lse, const float* __restrict__ dvec, void* __restrict__ gk, \
        void* __restrict__ gv, int L, int S, int D, int Dv, float scale, int dt
extern "C" __global__ void __launch_bounds__(TC_NT) attn_fwd_tc_bf16(ATTN_FWD_PARAMS) {
    attn_fwd_tc<TcBf16>(q, k, v, out, lse, L, S, D, Dv, scale, dt);
}

extern "C" __global__ void __launch_bounds__(TC_NT) attn_fwd_tc_tf32(ATTN_FWD_PARAMS) {
    attn_fwd_tc<TcTf32>(q, k, v, out, lse, L, S, D, Dv, scale, dt);
}

extern "C" __global__ void __launch_bounds__(TC_NT) attn_bwd_dq_tc_bf16(ATTN_DQ_PARAMS) {
    attn_bwd_dq_tc<TcBf16>(q, k, v, gout, lse, dvec, gq, L, S, D, Dv, scale, dt);
}

extern "C" __global__ void __launch_bounds__(TC_NT) attn_bwd_dq_tc_tf32(ATTN_DQ_PARAMS) {
    attn_bwd_dq_tc<TcTf32>(q, k, v, gout, lse, dvec, gq, L, S, D, Dv, scale, dt);
}

extern "C" __global__ void __launch_bounds__(TC_NT_KV) attn_bwd_dkv_tc_bf16(ATTN_DKV_PARAMS) {
    attn_bwd_dkv_tc<TcBf16>(q, k, v, gout, lse, dvec, gk, gv, L, S, D, Dv, scale, dt);
}

extern "C" __global__ void __launch_bounds__(TC_NT_KV) attn_bwd_dkv_tc_tf32(ATTN_DKV_PARAMS) {
    attn_bwd_dkv_tc<TcTf32>(q, k, v, gout, lse, dvec, gk, gv, L, S, D, Dv, scale, dt);
}
