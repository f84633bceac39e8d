// conv2d: the implicit-GEMM tensor-core kernels (TF32 and BF16 math precision), and the helpers of
// the im2col + cuBLAS GEMM path (FP32, or where it measures faster; the GEMMs are issued from Java).
#include <mma.h>
#include <cuda_bf16.h>
#include <type_traits>
#include "common.cuh"
using namespace nvcuda;

// col[n*sN + ((c*k + kh)*k + kw)*sK + oh*Wo + ow] = x[n, c, oh*s - pad + kh, ow*s - pad + kw] (0 outside).
// sN/sK choose the layout: [nb, C·k·k, P] for the forward/backward-input GEMMs (sN = K·P, sK = P)
// or [C·k·k, nb·P] for the weight-gradient GEMM (sN = P, sK = nb·P). ow is fastest so reads coalesce.
extern "C" __global__ void im2col(const float* __restrict__ x, float* __restrict__ col, int nb, int C, int H, int W,
                                  int k, int stride, int pad, int Ho, int Wo, long long sN, long long sK) {
    int P = Ho * Wo;
    int n = nb * C * k * k * P;
    GRID_STRIDE(i, n) {
        int p = i % P;
        int t = i / P;
        int kk = t % (k * k);
        t /= k * k;
        int c = t % C, img = t / C;
        int oh = p / Wo, ow = p - oh * Wo;
        int kh = kk / k, kw = kk - kh * k;
        int h = oh * stride - pad + kh, w = ow * stride - pad + kw;
        float v = (h >= 0 && h < H && w >= 0 && w < W) ? x[(((size_t)img * C + c) * H + h) * W + w] : 0.f;
        col[img * sN + (long long)(c * k * k + kk) * sK + p] = v;
    }
}

// gx[n, c, h, w] = Σ_{kh,kw} gcol[n, (c*k + kh)*k + kw, oh*Wo + ow] over the (oh, ow) that read
// (h, w); a gather per input element, so no atomics. gcol is [nb, C·k·k, P].
extern "C" __global__ void col2im(const float* __restrict__ gcol, float* __restrict__ gx, int nb, int C, int H, int W,
                                  int k, int stride, int pad, int Ho, int Wo) {
    int P = Ho * Wo;
    int n = nb * C * H * W;
    GRID_STRIDE(i, n) {
        int w = i % W;
        int t = i / W;
        int h = t % H;
        t /= H;
        int c = t % C, img = t / C;
        const float* g = gcol + ((size_t)img * C * k * k + (size_t)c * k * k) * P;
        float s = 0.f;
        for (int kh = 0; kh < k; kh++) {
            int hn = h + pad - kh;
            if (hn < 0 || hn % stride) continue;
            int oh = hn / stride;
            if (oh >= Ho) continue;
            for (int kw = 0; kw < k; kw++) {
                int wn = w + pad - kw;
                if (wn < 0 || wn % stride) continue;
                int ow = wn / stride;
                if (ow >= Wo) continue;
                s += g[(size_t)(kh * k + kw) * P + oh * Wo + ow];
            }
        }
        gx[i] = s;
    }
}

// out[n, o, p] = bias[o] + nadd[n, o] + res[n, o, p], each term optional (null): the GEMM then
// accumulates onto it with beta = 1. res may be out itself (each element is read, then written, by
// one thread).
extern "C" __global__ void conv_prefill(float* out, const float* __restrict__ bias, const float* __restrict__ nadd,
                                        const float* res, int n, int O, int P) {
    GRID_STRIDE(i, n) {
        int no = i / P;
        float v = 0.f;
        if (bias) v += bias[no % O];
        if (nadd) v += nadd[no];
        if (res) v += res[i];
        out[i] = v;
    }
}

// out[o, n, p] = in[n, o, p]: gy chunk [nb, O, P] to [O, nb·P] for the weight-gradient GEMM.
extern "C" __global__ void nop_to_onp(const float* __restrict__ in, float* __restrict__ out, int nb, int O, int P) {
    int n = nb * O * P;
    GRID_STRIDE(i, n) {
        int p = i % P;
        int t = i / P;
        int o = t % O, img = t / O;
        out[((size_t)o * nb + img) * P + p] = in[i];
    }
}

// ---------------------------------------------------------------- implicit GEMM on tensor cores
// Each pass is one GEMM, C[M, Ng] = A[M, Kg] · B[Kg, Ng], whose operands are gathered from the NCHW
// tensors as the tiles are loaded (no column buffer); KS = kernel size (1 or 3), KK = KS², P = Ho·Wo:
//   forward   C[o, (n,p)]       = Σ_{(c,kh,kw)} w[o, c, kh, kw] · x[n, c, oh·s − pad + kh, ow·s − pad + kw]
//   data grad C[c, (n,h,w)]     = Σ_{(o,kh,kw)} w[o, c, kh, kw] · gy[n, o, (h + pad − kh)/s, (w + pad − kw)/s]
//                                 (taps where the division is inexact or out of range are 0)
//   weight gr C[o, (c,kh,kw)]   = Σ_{(n,p)} gy[n, o, p] · x[n, c, oh·s − pad + kh, ow·s − pad + kw],
//                                 split-K over (n,p): block z sums its slice into out + z·M·Ng
// Block tile 128 × 128 × 32, 256 threads = 8 warps as 2 (M) × 4 (N), each warp 64 × 32 = 4 × 2
// fragments of 16 × 16 with fp32 accumulators. Per 32-deep k-step every thread gathers 16 elements
// of A and 16 of B into registers (the next step's loads are issued before this step's MMAs),
// rounds them as the precision takes them (bf16: to nearest even; TF32: to nearest even at 10
// mantissa bits, as MathPrecision.round does) and stores them to shared memory: A row-major
// [128][32 + pad]; B row-major [32][128 + pad] (forward, data grad: threads run along the pixels,
// so the global gathers coalesce) or column-major [128][32 + pad] (weight grad: threads run along
// the (n,p) reduction). The output tile goes through a per-warp 16 × 16 staging buffer so that the
// epilogue (bias, nadd, residual; NCHW scatter) knows each element's coordinates.
namespace igemm {
constexpr int BM = 128, BN = 128, BK = 32, LDC = 20;   // 256 threads (8 warps)
enum Pass { FWD, DGRAD, WGRAD };

// Round to nearest even at TF32's 10 mantissa bits (MathPrecision.TF32.round); inf / NaN unchanged.
__device__ __forceinline__ float tf32_rne(float v) {
    unsigned b = __float_as_uint(v);
    if ((b & 0x7f800000u) == 0x7f800000u) return v;
    return __uint_as_float((b + 0xfffu + ((b >> 13) & 1u)) & 0xffffe000u);
}

// The tensor-core input type: T is what shared memory holds, Frag what the fragments declare.
template <typename T> struct Prec;
template <> struct Prec<__nv_bfloat16> {
    using Frag = __nv_bfloat16;
    static constexpr int KSTEP = 16, PAD = 8;
    __device__ static __nv_bfloat16 round(float v) { return __float2bfloat16_rn(v); }
};
template <> struct Prec<float> {
    using Frag = wmma::precision::tf32;
    static constexpr int KSTEP = 8, PAD = 4;
    __device__ static float round(float v) { return tf32_rne(v); }
};

// x[c, ih0 + kh, iw0 + kw] of the image at element xi of x (C × H × W; float32 or bfloat16 as bit 0
// of dt says) for index t = (c·KS + kh)·KS + kw of the K = C·KS² axis; 0 outside the image (the
// padding) or when !ok.
template <int KS>
__device__ __forceinline__ float x_tap(const void* x, int dt, size_t xi, int t, int ih0, int iw0, int H, int W, bool ok) {
    constexpr int KK = KS * KS;
    int c = t / KK, r = t - c * KK, kh = r / KS, kw = r - kh * KS;
    int ih = ih0 + kh, iw = iw0 + kw;
    return ok && ih >= 0 && ih < H && iw >= 0 && iw < W ? ld(x, dt, 0, xi + (size_t)c * H * W + ih * W + iw) : 0.f;
}

// The shared-memory layout: A [BM][LDA], B [BK][LDB] (or [BN][LDB] when column-major), then the
// 8 warps' 16 × LDC staging tiles.
template <typename T, int PASS> struct Layout {
    static constexpr bool BCOL = PASS == WGRAD;
    static constexpr int LDA = BK + Prec<T>::PAD, LDB = BCOL ? BK + Prec<T>::PAD : BN + Prec<T>::PAD;
    static constexpr int A_ELEMS = BM * LDA, B_ELEMS = BCOL ? BN * LDB : BK * LDB;
    static constexpr int BYTES = (A_ELEMS + B_ELEMS) * (int)sizeof(T) + 8 * 16 * LDC * 4;
};

// One block's shared memory, 128-byte aligned (WMMA needs 32-byte aligned tiles). Each entry point
// declares its own (a __shared__ variable inside a template would, on the host driver, land outside
// the checked shared section).
template <int BYTES> struct alignas(128) Smem { unsigned char bytes[BYTES]; };

// The warp's 4 × 2 accumulator fragments (warp tile 64 × 32) for precision T.
template <typename T> using WarpAcc = wmma::fragment<wmma::accumulator, 16, 16, Prec<T>::KSTEP, float>[4][2];

template <typename T>
__device__ __forceinline__ void zero(WarpAcc<T>& acc) {
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);
}

// acc[i][j] += A (rows wm·64 + 16i of the row-major sA, columns ks ..) · fb[j]: one KSTEP of the
// warp's tile, one A fragment live at a time (fewer registers).
template <typename T, typename FragB>
__device__ __forceinline__ void warp_mma(WarpAcc<T>& acc, const T* sA, int lda, int wm, int ks, const FragB (&fb)[2]) {
    using FragA = wmma::fragment<wmma::matrix_a, 16, 16, Prec<T>::KSTEP, typename Prec<T>::Frag, wmma::row_major>;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        FragA fa;
        wmma::load_matrix_sync(fa, sA + (wm * 64 + i * 16) * lda + ks, lda);
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa, fb[j], acc[i][j]);
    }
}

// The block's output tile, each fragment through the warp's staging tile: lane l writes column
// l % 16 of rows l / 16, l / 16 + 2, ... (16 consecutive pixels per half-warp). Forward: out[n, o, p]
// plus bias[o], nadd[n, o], res[n, o, p] (each optional); data grad: out[n, c, h, w]; weight grad:
// blockIdx.z's split-K partial [M, Ng]. dt: out = bit 2, res = bit 3, nadd = bit 4 (bias is float32).
template <int PASS, typename Acc>
__device__ __forceinline__ void epilogue(Acc (&acc)[4][2], float* sC, int m0, int n0, int M, int Ng, int P, int HW,
                                         int C, int O, void* out, const float* __restrict__ bias,
                                         const void* __restrict__ nadd, const void* res, int dt) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wm = warp >> 2, wn = warp & 3;
    float* stage = sC + warp * 16 * LDC;
    const int col = lane & 15;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        int gj = n0 + wn * 32 + j * 16 + col;
        int img = 0, q = gj;
        if (PASS == FWD) { img = gj / P; q = gj - img * P; }
        if (PASS == DGRAD) { img = gj / HW; q = gj - img * HW; }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            wmma::store_matrix_sync(stage, acc[i][j], LDC, wmma::mem_row_major);
            __syncwarp();
            for (int r = lane >> 4; r < 16; r += 2) {
                int gm = m0 + wm * 64 + i * 16 + r;
                if (gm >= M || gj >= Ng) continue;
                float v = stage[r * LDC + col];
                if (PASS == FWD) {
                    size_t at = ((size_t)img * O + gm) * P + q;
                    if (bias) v += bias[gm];
                    if (nadd) v += ld(nadd, dt, 4, (size_t)img * O + gm);
                    if (res) v += ld(res, dt, 3, at);
                    st(out, dt, 2, at, v);
                } else if (PASS == DGRAD) {
                    st(out, dt, 2, ((size_t)img * C + gm) * HW + q, v);
                } else {
                    st(out, dt, 2, (size_t)blockIdx.z * M * Ng + (size_t)gm * Ng + gj, v);
                }
            }
            __syncwarp();
        }
    }
}

template <typename T, int PASS, int KS>
__device__ __forceinline__ void conv_igemm(unsigned char* smem, const void* __restrict__ src0, const void* __restrict__ src1,
                                           void* out, const float* __restrict__ bias, const void* __restrict__ nadd,
                                           const void* res, int N, int C, int H, int W, int O, int Ho, int Wo,
                                           int stride, int pad, int kPerSplit, int dt) {
    using L = Layout<T, PASS>;
    constexpr int KK = KS * KS, KSTEP = Prec<T>::KSTEP;
    constexpr bool BCOL = L::BCOL;
    constexpr int LDA = L::LDA, LDB = L::LDB, A_ELEMS = L::A_ELEMS, B_ELEMS = L::B_ELEMS;
    T* sA = reinterpret_cast<T*>(smem);
    T* sB = sA + A_ELEMS;
    float* sC = reinterpret_cast<float*>(sB + B_ELEMS);

    const int P = Ho * Wo, HW = H * W;
    const int M = PASS == DGRAD ? C : O;
    const int Ng = PASS == FWD ? N * P : PASS == DGRAD ? N * HW : C * KK;
    const int Kg = PASS == FWD ? C * KK : PASS == DGRAD ? O * KK : N * P;
    const int kBegin = PASS == WGRAD ? blockIdx.z * kPerSplit : 0;
    const int kEnd = PASS == WGRAD ? min(Kg, kBegin + kPerSplit) : Kg;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int tid = threadIdx.x, warp = tid >> 5, wm = warp >> 2, wn = warp & 3;

    // A gathers: thread (ak, am0) loads A[m0 + am0 + 8i][k0 + ak], i < 16
    const int ak = tid & 31, am0 = tid >> 5;
    // B gathers, forward and data grad: B[k0 + bk0 + 2i][n0 + bj], i < 16 (the thread keeps one pixel)
    const int bj = tid & 127, bk0 = tid >> 7;
    // B gathers, weight grad: B[k0 + ak][n0 + am0 + 8i], i < 16 (the thread keeps one (n,p) per step)
    int colImg = 0, colY = 0, colX = 0;
    const bool colOk = n0 + bj < Ng;
    if (PASS != WGRAD && colOk) {
        int j = n0 + bj, per = PASS == FWD ? P : HW, wd = PASS == FWD ? Wo : W;
        colImg = j / per;
        int q = j - colImg * per;
        colY = q / wd;
        colX = q - colY * wd;
    }

    float ra[16], rb[16];
    const int aRows = min(16, (M - m0 - am0 + 7) / 8);   // this thread's A rows inside the matrix
    // ra[i] = src1[a + i · step] for the valid rows (one running index: no per-row addresses to keep)
    auto loadA = [&](size_t a, size_t step, bool ok) {
#pragma unroll
        for (int i = 0; i < 16; i++) {
            ra[i] = ok && i < aRows ? ld(src1, dt, 1, a) : 0.f;
            a += step;
        }
    };
    auto load = [&](int k0) {
        if (PASS == FWD) {
            int k = k0 + ak;
            loadA((size_t)(m0 + am0) * Kg + k, (size_t)8 * Kg, k < kEnd);
            const size_t xi = (size_t)colImg * C * HW;
            int ih0 = colY * stride - pad, iw0 = colX * stride - pad;
#pragma unroll
            for (int i = 0; i < 16; i++) {
                int kr = k0 + bk0 + 2 * i;
                rb[i] = x_tap<KS>(src0, dt, xi, kr, ih0, iw0, H, W, colOk && kr < kEnd);
            }
        } else if (PASS == DGRAD) {
            int k = k0 + ak, o = k / KK, r = k - o * KK;
            loadA(((size_t)o * C + m0 + am0) * KK + r, (size_t)8 * KK, k < kEnd);
            const size_t gi = (size_t)colImg * O * P;
#pragma unroll
            for (int i = 0; i < 16; i++) {
                int kr = k0 + bk0 + 2 * i, oo = kr / KK, rr = kr - oo * KK, kh = rr / KS, kw = rr - kh * KS;
                int hn = colY + pad - kh, wn2 = colX + pad - kw;
                int oh = hn, ow = wn2;
                bool ok = colOk && kr < kEnd && hn >= 0 && wn2 >= 0;
                if (stride != 1) {
                    ok = ok && hn % stride == 0 && wn2 % stride == 0;
                    oh = hn / stride;
                    ow = wn2 / stride;
                }
                ok = ok && oh < Ho && ow < Wo;
                rb[i] = ok ? ld(src0, dt, 0, gi + ((size_t)oo * Ho + oh) * Wo + ow) : 0.f;
            }
        } else {
            int k = k0 + ak;
            bool kOk = k < kEnd;
            int img = kOk ? k / P : 0, p = k - img * P, oh = p / Wo, ow = p - oh * Wo;
            loadA(((size_t)img * O + m0 + am0) * P + p, (size_t)8 * P, kOk);
            const size_t xi = (size_t)img * C * HW;
            int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
#pragma unroll
            for (int i = 0; i < 16; i++) {
                int j = n0 + am0 + 8 * i;
                rb[i] = x_tap<KS>(src0, dt, xi, j, ih0, iw0, H, W, kOk && j < Ng);
            }
        }
    };

    using FragB = wmma::fragment<wmma::matrix_b, 16, 16, KSTEP, typename Prec<T>::Frag,
                                 typename std::conditional<BCOL, wmma::col_major, wmma::row_major>::type>;
    WarpAcc<T> acc;
    zero<T>(acc);

    load(kBegin);
    for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
#pragma unroll
        for (int i = 0; i < 16; i++) {
            sA[(am0 + 8 * i) * LDA + ak] = Prec<T>::round(ra[i]);
            if (BCOL) sB[(am0 + 8 * i) * LDB + ak] = Prec<T>::round(rb[i]);
            else sB[(bk0 + 2 * i) * LDB + bj] = Prec<T>::round(rb[i]);
        }
        __syncthreads();
        if (k0 + BK < kEnd) load(k0 + BK);   // in flight during the MMAs below
#pragma unroll
        for (int ks = 0; ks < BK; ks += KSTEP) {
            FragB fb[2];
#pragma unroll
            for (int j = 0; j < 2; j++)
                wmma::load_matrix_sync(fb[j], BCOL ? sB + (wn * 32 + j * 16) * LDB + ks : sB + ks * LDB + wn * 32 + j * 16, LDB);
            warp_mma<T>(acc, sA, LDA, wm, ks, fb);
        }
        __syncthreads();
    }

    epilogue<PASS>(acc, sC, m0, n0, M, Ng, P, HW, C, O, out, bias, nadd, res, dt);
}

// ---------------------------------------------------------------- halo tiles: 3×3, stride 1, pad 1
// The same GEMMs for the U-Net's 3×3 convolutions at 16² and wider, with the B operand read from
// a tile of the input held in shared memory instead of gathered per tap. The block's 128 output
// pixels are whole rows of one image (W ∈ {16, 32, 64, 128}, H·W a multiple of 128), the K axis is
// ordered (input-channel slice of 32, tap, channel), and for each slice the (rows + 2) × (W + 2)
// halo is loaded once, as [pixel][channel], rounded once, and each of the 9 taps' B fragments is a
// shifted window of it (column-major, ldm = the pixel stride; 16 pixels of a fragment lie in one
// row). Per 32-deep k-step a thread then loads 16 elements of A and about 2 of the halo, against 16
// indexed gathers of B and 16 of A in conv_igemm: the index arithmetic that bounds conv_igemm goes.
//   forward:   A[o][(tap, c)] = w[o, c, th, tw],          B from x
//   data grad: A[c][(tap, o)] = w[o, c, 2 − th, 2 − tw],  B from gy (a stride-1, pad-1 3×3
//              convolution's data gradient is the convolution of gy with the flipped, transposed kernel)
// NORM (forward): the halo applies h = SiLU((x − μ[n, g])·rstd[n, g]·γ[c] + β[c]) as it loads, in
// group_norm_fwd's own expression, so the group norm + SiLU before a convolution is never written.
// Shared memory (dynamic, HaloLayout): A [128][LDA], then the halo [(rows + 2)·(W + 2)][LDH]; the
// epilogue's staging tiles reuse A's space.
template <typename T> struct HaloLayout {
    static constexpr int CH = 32;                              // input channels per slice
    static constexpr int LDA = BK + Prec<T>::PAD;
    static constexpr int LDH = sizeof(T) == 2 ? 48 : 40;       // pixel stride: fragment rows 32-byte aligned
    static constexpr int A_BYTES = BM * LDA * (int)sizeof(T);  // a multiple of 128, ≥ the 8 staging tiles
    static_assert(A_BYTES >= 8 * 16 * LDC * 4, "staging tiles must fit in A's space");
    static_assert(A_BYTES % 128 == 0 && (LDH * sizeof(T)) % 32 == 0, "WMMA alignment");
};

// The halo of one image's 32-channel slice from c0 into sH as [pixel][channel]: rows row0 − 1 ..
// row0 + rows, columns −1 .. W, 0 outside the image and for channels ≥ C; one warp per (channel,
// halo row), lanes along the row. The image starts at element xi of x (float32 or bfloat16: bit 0
// of dt). NORM applies SiLU((x − μ)·rstd·γ + β), group_norm_fwd's own expression, with the
// statistics of group ng0 + c / Cg (ng0 = image · groups).
template <typename T, bool NORM>
__device__ __forceinline__ void load_halo(T* sH, const void* __restrict__ x, size_t xi, int dt, int c0, int C, int row0, int rows, int H,
                                          int W, const float* __restrict__ mean, const float* __restrict__ rstd,
                                          const float* __restrict__ gamma, const float* __restrict__ beta, int ng0, int Cg) {
    constexpr int CH = HaloLayout<T>::CH, LDH = HaloLayout<T>::LDH;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, HWd = W + 2, HR = rows + 2;
    for (int cr = warp; cr < CH * HR; cr += 8) {
        const int ch = cr / HR, hr = cr - ch * HR, ih = row0 - 1 + hr, c = c0 + ch;
        const bool rowOk = ih >= 0 && ih < H && c < C;
        float mu = 0.f, rs = 0.f, ga = 0.f, bt = 0.f;
        if (NORM && c < C) {
            const int ng = ng0 + c / Cg;
            mu = mean[ng];
            rs = rstd[ng];
            ga = gamma[c];
            bt = beta[c];
        }
        for (int hc = lane; hc < HWd; hc += 32) {
            const int iw = hc - 1;
            float v = 0.f;
            if (rowOk && iw >= 0 && iw < W) {
                v = ld(x, dt, 0, xi + (size_t)c * H * W + (size_t)ih * W + iw);
                if (NORM) {
                    v = (v - mu) * rs * ga + bt;
                    v = v * sigmoid_acc(v);
                }
            }
            sH[(hr * HWd + hc) * LDH + ch] = Prec<T>::round(v);
        }
    }
}

template <typename T, bool DG, bool NORM>
__device__ __forceinline__ void conv_halo(unsigned char* smem, const void* __restrict__ src, const float* __restrict__ w,
                                          void* out, const float* __restrict__ bias, const void* __restrict__ nadd,
                                          const void* res, const float* __restrict__ mean, const float* __restrict__ rstd,
                                          const float* __restrict__ gamma, const float* __restrict__ beta, int G,
                                          int N, int Cin, int M, int H, int W, int dt) {
    using HL = HaloLayout<T>;
    constexpr int KSTEP = Prec<T>::KSTEP, LDA = HL::LDA, LDH = HL::LDH, CH = HL::CH;
    T* sA = reinterpret_cast<T*>(smem);
    T* sH = reinterpret_cast<T*>(smem + HL::A_BYTES);
    const int HW = H * W, rows = BN / W, HWd = W + 2;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int img = n0 / HW, row0 = (n0 - img * HW) / W;
    const int tid = threadIdx.x, warp = tid >> 5, wm = warp >> 2, wn = warp & 3;
    const size_t si = (size_t)img * Cin * HW;

    // A for (slice c0, tap): forward, lanes along the slice's 32 channels; data grad, lanes along m
    // (consecutive lanes then read weights 9 floats apart in both)
    float ra[16];
    auto loadA = [&](int c0, int tap) {
        if (!DG) {
            const int j = tid & 31, mb = tid >> 5;
            const float* a = w + ((size_t)(m0 + mb) * Cin + c0 + j) * 9 + tap;
#pragma unroll
            for (int i = 0; i < 16; i++) ra[i] = m0 + mb + 8 * i < M ? a[(size_t)8 * i * Cin * 9] : 0.f;
        } else {
            const int m = tid & 127, jb = tid >> 7;
            const bool ok = m0 + m < M;
            const float* a = w + ((size_t)(c0 + jb) * M + m0 + m) * 9 + 8 - tap;
#pragma unroll
            for (int i = 0; i < 16; i++) ra[i] = ok ? a[(size_t)2 * i * M * 9] : 0.f;
        }
    };
    auto storeA = [&]() {
        if (!DG) {
            const int j = tid & 31, mb = tid >> 5;
#pragma unroll
            for (int i = 0; i < 16; i++) sA[(mb + 8 * i) * LDA + j] = Prec<T>::round(ra[i]);
        } else {
            const int m = tid & 127, jb = tid >> 7;
#pragma unroll
            for (int i = 0; i < 16; i++) sA[m * LDA + jb + 2 * i] = Prec<T>::round(ra[i]);
        }
    };
    using FragB = wmma::fragment<wmma::matrix_b, 16, 16, KSTEP, typename Prec<T>::Frag, wmma::col_major>;
    WarpAcc<T> acc;
    zero<T>(acc);
    // this warp's two 16-pixel columns of the tile: their row and first column in the output
    int fr[2], fc[2];
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int p = wn * 32 + j * 16;
        fr[j] = p / W;
        fc[j] = p - fr[j] * W;
    }

    loadA(0, 0);
    for (int c0 = 0; c0 < Cin; c0 += CH) {
        // the previous slice's MMAs ended at a barrier
        load_halo<T, NORM>(sH, src, si, dt, c0, Cin, row0, rows, H, W, mean, rstd, gamma, beta, img * G, NORM ? Cin / G : 1);
        for (int tap = 0; tap < 9; tap++) {
            storeA();
            __syncthreads();   // A, and at tap 0 the halo, complete
            const bool last = tap == 8;
            if (!last || c0 + CH < Cin) loadA(last ? c0 + CH : c0, last ? 0 : tap + 1);   // in flight during the MMAs
            const int th = tap / 3, tw = tap - th * 3;
#pragma unroll
            for (int ks = 0; ks < CH; ks += KSTEP) {
                FragB fb[2];
#pragma unroll
                for (int j = 0; j < 2; j++)
                    wmma::load_matrix_sync(fb[j], sH + ((fr[j] + th) * HWd + fc[j] + tw) * LDH + ks, LDH);
                warp_mma<T>(acc, sA, LDA, wm, ks, fb);
            }
            __syncthreads();   // before A (and after the last tap, the halo) is overwritten
        }
    }
    epilogue<DG ? DGRAD : FWD>(acc, reinterpret_cast<float*>(smem), m0, n0, M, N * HW, HW, HW, M, M, out, bias, nadd, res, dt);
}

// The weight gradient on the halo tile: gw[o, c, tap] = Σ_(n, p) gy[n, o, p] · x[n, c, p + off(tap)]
// for the same 3×3 stride-1 convolutions. C[o, col] with the columns grouped in fragments of 16
// channels of one tap (fragment f = (channel group cg, tap), f = cg·9 + tap); a block takes 8
// consecutive fragments (at most two channel groups, so one 32-channel halo) × 128 rows of o. The
// reduction runs over chunks of 128 pixels (whole rows of one image, as in the forward), split
// over blockIdx.z (chunksPerSplit each; fp32 partials that conv_splitk_sum adds): per chunk the
// x halo is loaded once ([pixel][channel], as the forward's), and per 32-pixel k-step A = gy's
// [128 o][32 pixels] tile; B fragments are row-major windows of the halo (16 pixels of one row ×
// 16 channels, ldm = the pixel stride). Needs C a multiple of 16.
template <typename T>
__device__ __forceinline__ void conv_wgrad_halo(unsigned char* smem, const void* __restrict__ x, const void* __restrict__ gy,
                                                float* out, int N, int C, int O, int H, int W, int chunksPerSplit, int dt) {
    using HL = HaloLayout<T>;
    constexpr int KSTEP = Prec<T>::KSTEP, LDA = HL::LDA, LDH = HL::LDH;
    T* sA = reinterpret_cast<T*>(smem);
    T* sH = reinterpret_cast<T*>(smem + HL::A_BYTES);
    const int HW = H * W, rows = BN / W, HWd = W + 2, tilesPerImage = HW / BN;
    const int frags = (C / 16) * 9, f0 = blockIdx.x * 8, cgLo = f0 / 9;
    const int m0 = blockIdx.y * BM;
    const int chunkBegin = blockIdx.z * chunksPerSplit, chunkEnd = min(N * tilesPerImage, chunkBegin + chunksPerSplit);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wm = warp >> 2, wn = warp & 3;

    // A: gy[n, m0 + am0 + 8i, p0 + ak] (lanes along the pixels: coalesced)
    const int ak = tid & 31, am0 = tid >> 5;
    float ra[16];
    auto loadA = [&](int chunk, int kstep) {
        const int n = chunk / tilesPerImage, p0 = (chunk - n * tilesPerImage) * BN + kstep * BK;
        const size_t a = ((size_t)n * O + m0 + am0) * HW + p0 + ak;
#pragma unroll
        for (int i = 0; i < 16; i++) ra[i] = m0 + am0 + 8 * i < O ? ld(gy, dt, 1, a + (size_t)8 * i * HW) : 0.f;
    };
    using FragB = wmma::fragment<wmma::matrix_b, 16, 16, KSTEP, typename Prec<T>::Frag, wmma::row_major>;
    WarpAcc<T> acc;
    zero<T>(acc);
    // this warp's two fragments: the tap's offset into the halo and the channel group's offset in it
    int tapOff[2], chOff[2];
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int f = min(f0 + wn * 2 + j, frags - 1), tap = f % 9, th = tap / 3;
        tapOff[j] = th * HWd + tap - th * 3;
        chOff[j] = (f / 9 - cgLo) * 16;
    }

    if (chunkBegin < chunkEnd) loadA(chunkBegin, 0);
    for (int chunk = chunkBegin; chunk < chunkEnd; chunk++) {
        const int n = chunk / tilesPerImage;   // the previous chunk's MMAs ended at a barrier
        load_halo<T, false>(sH, x, (size_t)n * C * HW, dt, cgLo * 16, C, (chunk - n * tilesPerImage) * rows, rows, H, W,
                            nullptr, nullptr, nullptr, nullptr, 0, 1);
        for (int kstep = 0; kstep < BN / BK; kstep++) {
#pragma unroll
            for (int i = 0; i < 16; i++) sA[(am0 + 8 * i) * LDA + ak] = Prec<T>::round(ra[i]);
            __syncthreads();   // A, and at the first k-step the halo, complete
            const bool last = kstep == BN / BK - 1;
            if (!last || chunk + 1 < chunkEnd) loadA(last ? chunk + 1 : chunk, last ? 0 : kstep + 1);
#pragma unroll
            for (int ks = 0; ks < BK; ks += KSTEP) {
                const int q = kstep * BK + ks, r = q / W, col = q - r * W;   // KSTEP pixels in one row
                FragB fb[2];
#pragma unroll
                for (int j = 0; j < 2; j++)
                    wmma::load_matrix_sync(fb[j], sH + (r * HWd + col + tapOff[j]) * LDH + chOff[j], LDH);
                warp_mma<T>(acc, sA, LDA, wm, ks, fb);
            }
            __syncthreads();   // before A (and after the last k-step, the halo) is overwritten
        }
    }

    // epilogue: element (row gm, fragment f's channel cc) → out[z][gm][(cg·16 + cc)·9 + tap]
    float* stage = reinterpret_cast<float*>(smem) + warp * 16 * LDC;
    const int cc = lane & 15;
    float* oz = out + (size_t)blockIdx.z * O * C * 9;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int f = f0 + wn * 2 + j, tap = f % 9, c = (f / 9) * 16 + cc;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            wmma::store_matrix_sync(stage, acc[i][j], LDC, wmma::mem_row_major);
            __syncwarp();
            for (int r = lane >> 4; r < 16; r += 2) {
                const int gm = m0 + wm * 64 + i * 16 + r;
                if (gm < O && f < frags && c < C) oz[((size_t)gm * C + c) * 9 + tap] = stage[r * LDC + cc];
            }
            __syncwarp();
        }
    }
}
}  // namespace igemm

// The entry points: conv_<pass>_<precision>_k<KS>, one signature for all (src0, src1: x and w
// forward; gy and w data grad; x and gy weight grad. bias / nadd / res: forward only, each may be
// null; kPerSplit: weight grad's reduction slice per blockIdx.z, a multiple of 32; dt: which of
// src0 (bit 0), src1 (1), out (2), res (3), nadd (4) are bfloat16 rather than float32).
#define IGEMM_PARAMS                                                                                        \
    const void *__restrict__ src0, const void *__restrict__ src1, void *out, const float *__restrict__ bias, \
        const void *__restrict__ nadd, const void *res, int N, int C, int H, int W, int O, int Ho, int Wo,       \
        int stride, int pad, int kPerSplit, int dt
// Two resident blocks per SM: ptxas then keeps to 128 registers and spills 200-500 bytes per thread
// (to L1); 1 gives no spills but one block (8 warps) per SM. Which is faster is for a GPU to say.
#define IGEMM_MIN_BLOCKS 2
#define IGEMM_BODY(T, PASS, KS)                                                                             \
    __shared__ igemm::Smem<igemm::Layout<T, PASS>::BYTES> smem;                                                 \
    igemm::conv_igemm<T, PASS, KS>(smem.bytes, src0, src1, out, bias, nadd, res, N, C, H, W, O, Ho, Wo, stride, pad, \
                                   kPerSplit, dt)
using bf16 = __nv_bfloat16;
using igemm::FWD;
using igemm::DGRAD;
using igemm::WGRAD;
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_bf16_k1(IGEMM_PARAMS) { IGEMM_BODY(bf16, FWD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_bf16_k3(IGEMM_PARAMS) { IGEMM_BODY(bf16, FWD, 3); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_tf32_k1(IGEMM_PARAMS) { IGEMM_BODY(float, FWD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_tf32_k3(IGEMM_PARAMS) { IGEMM_BODY(float, FWD, 3); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_bf16_k1(IGEMM_PARAMS) { IGEMM_BODY(bf16, DGRAD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_bf16_k3(IGEMM_PARAMS) { IGEMM_BODY(bf16, DGRAD, 3); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_tf32_k1(IGEMM_PARAMS) { IGEMM_BODY(float, DGRAD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_tf32_k3(IGEMM_PARAMS) { IGEMM_BODY(float, DGRAD, 3); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_bf16_k1(IGEMM_PARAMS) { IGEMM_BODY(bf16, WGRAD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_bf16_k3(IGEMM_PARAMS) { IGEMM_BODY(bf16, WGRAD, 3); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_tf32_k1(IGEMM_PARAMS) { IGEMM_BODY(float, WGRAD, 1); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_tf32_k3(IGEMM_PARAMS) { IGEMM_BODY(float, WGRAD, 3); }

// The halo entry points (HaloLayout's dynamic shared memory; host-checked shapes, see conv_halo):
// conv_{fwd|fwd_gnsilu|dgrad}_halo_<precision>. src: x (forward) or gy (data grad); Cin: src's
// channels, M: out's; mean, rstd [N, G], gamma, beta [Cin]: the group norm applied on load
// (fwd_gnsilu only, else null); bias, nadd, res: as conv_fwd (forward only); dt: which of src (bit 0),
// out (2), res (3), nadd (4) are bfloat16 (w is float32).
#define HALO_PARAMS                                                                                          \
    const void *__restrict__ src, const float *__restrict__ w, void *out, const float *__restrict__ bias,       \
        const void *__restrict__ nadd, const void *res, const float *__restrict__ mean,                         \
        const float *__restrict__ rstd, const float *__restrict__ gamma, const float *__restrict__ beta, int G,  \
        int N, int Cin, int M, int H, int W, int dt
#define HALO_BODY(T, DG, NORM)                                                                                \
    DYNAMIC_SHARED(igemm::Smem<128>, smem);                                                                   \
    igemm::conv_halo<T, DG, NORM>(smem[0].bytes, src, w, out, bias, nadd, res, mean, rstd, gamma, beta, G, N, Cin, M, \
                                  H, W, dt)
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_halo_bf16(HALO_PARAMS) { HALO_BODY(bf16, false, false); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_halo_tf32(HALO_PARAMS) { HALO_BODY(float, false, false); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_gnsilu_halo_bf16(HALO_PARAMS) { HALO_BODY(bf16, false, true); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_fwd_gnsilu_halo_tf32(HALO_PARAMS) { HALO_BODY(float, false, true); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_halo_bf16(HALO_PARAMS) { HALO_BODY(bf16, true, false); }
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_dgrad_halo_tf32(HALO_PARAMS) { HALO_BODY(float, true, false); }

// conv_wgrad_halo_<precision>: x [N, C, H, W], gy [N, O, H, W] → out: gw [O, C, 3, 3], or with
// gridDim.z > 1 the split-K partials [z][O, C, 3, 3] (conv_splitk_sum adds them); chunksPerSplit of
// the N·H·W/128 pixel chunks per blockIdx.z; dt: whether x (bit 0) and gy (bit 1) are bfloat16.
#define WGRAD_HALO_PARAMS \
    const void *__restrict__ x, const void *__restrict__ gy, float *out, int N, int C, int O, int H, int W, int chunksPerSplit, int dt
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_halo_bf16(WGRAD_HALO_PARAMS) {
    DYNAMIC_SHARED(igemm::Smem<128>, smem);
    igemm::conv_wgrad_halo<bf16>(smem[0].bytes, x, gy, out, N, C, O, H, W, chunksPerSplit, dt);
}
extern "C" __global__ void __launch_bounds__(256, IGEMM_MIN_BLOCKS) conv_wgrad_halo_tf32(WGRAD_HALO_PARAMS) {
    DYNAMIC_SHARED(igemm::Smem<128>, smem);
    igemm::conv_wgrad_halo<float>(smem[0].bytes, x, gy, out, N, C, O, H, W, chunksPerSplit, dt);
}

// gw = Σ_z part[z] over the weight gradient's split-K partials (a fixed order: deterministic).
extern "C" __global__ void conv_splitk_sum(const float* __restrict__ part, float* __restrict__ gw, int splits, int n) {
    GRID_STRIDE(i, n) {
        float s = 0.f;
        for (int z = 0; z < splits; z++) s += part[(size_t)z * n + i];
        gw[i] = s;
    }
}
