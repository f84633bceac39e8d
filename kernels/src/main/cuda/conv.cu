// Helpers for conv2d as im2col + cuBLAS GEMM (the GEMMs are issued from Java).
#include "common.cuh"

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

// out[n, o, p] = bias[o]: the GEMM then accumulates onto it with beta = 1.
extern "C" __global__ void bias_fill(float* __restrict__ out, const float* __restrict__ bias, int n, int O, int P) {
    GRID_STRIDE(i, n) out[i] = bias[(i / P) % O];
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
