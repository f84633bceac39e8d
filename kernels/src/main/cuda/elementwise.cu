// Elementwise kernels: unary ops and their backward, broadcast binary ops, affine, pow by a
// constant, clamp, where, dtype casts, bfloat16 fills. The arithmetic ones are in-place safe (out may be the same
// buffer as an input, which gradient accumulation uses), so their pointers are not
// __restrict__; their operands are float32 or bfloat16 (the `dt` mask, operands numbered in
// parameter order: see ld/st in common.cuh). All memory bound; grid-stride loops, 256 threads.
#include "common.cuh"

// Op codes are the ordinals of ddpm.engine.Ops.Unary / Ops.Binary.
enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SQUARE, U_ABS, U_SILU, U_SIGMOID, U_TANH, U_RELU, U_SIN, U_COS };
enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_LT, B_LE, B_GT, B_GE, B_EQ };

__device__ __forceinline__ float unary_f(int op, float x) {
    switch (op) {
        case U_NEG: return -x;
        case U_EXP: return expf(x);
        case U_LOG: return logf(x);
        case U_SQRT: return sqrtf(x);
        case U_RSQRT: return 1.f / sqrtf(x);
        case U_SQUARE: return x * x;
        case U_ABS: return fabsf(x);
        case U_SILU: return x * sigmoid_acc(x);
        case U_SIGMOID: return sigmoid_acc(x);
        case U_TANH: return tanhf(x);
        case U_RELU: return x > 0.f ? x : 0.f;
        case U_SIN: return sinf(x);
        case U_COS: return cosf(x);
    }
    return __int_as_float(0x7fc00000);
}

// gx = gy * dy/dx; y (the forward output) saves recomputation where the derivative is in terms of y.
__device__ __forceinline__ float unary_b(int op, float x, float y, float gy) {
    switch (op) {
        case U_NEG: return -gy;
        case U_EXP: return gy * y;
        case U_LOG: return gy / x;
        case U_SQRT: return gy * 0.5f / y;
        case U_RSQRT: return gy * -0.5f * y * y * y;
        case U_SQUARE: return gy * 2.f * x;
        case U_ABS: return x > 0.f ? gy : (x < 0.f ? -gy : 0.f);
        case U_SILU: { float s = sigmoid_acc(x); return gy * s * (1.f + x * (1.f - s)); }
        case U_SIGMOID: return gy * y * (1.f - y);
        case U_TANH: return gy * (1.f - y * y);
        case U_RELU: return x > 0.f ? gy : 0.f;
        case U_SIN: return gy * cosf(x);
        case U_COS: return -gy * sinf(x);
    }
    return __int_as_float(0x7fc00000);
}

// Java's Math.max/min propagate NaN; fmaxf would drop it.
__device__ __forceinline__ float binary_f(int op, float a, float b) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_POW: return powf(a, b);
        case B_MAX: return (a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
        case B_MIN: return (a != a || b != b) ? __int_as_float(0x7fc00000) : fminf(a, b);
        case B_LT: return a < b ? 1.f : 0.f;
        case B_LE: return a <= b ? 1.f : 0.f;
        case B_GT: return a > b ? 1.f : 0.f;
        case B_GE: return a >= b ? 1.f : 0.f;
        case B_EQ: return a == b ? 1.f : 0.f;
    }
    return __int_as_float(0x7fc00000);
}

// dt: x = 0, out = 1.
extern "C" __global__ void unary_fwd(int op, const void* x, void* out, int n, int dt) {
    GRID_STRIDE(i, n) st(out, dt, 1, i, unary_f(op, ld(x, dt, 0, i)));
}

// dt: x = 0, y = 1, gy = 2, gx = 3.
extern "C" __global__ void unary_bwd(int op, const void* x, const void* y,
                                     const void* gy, void* gx, int n, int dt) {
    GRID_STRIDE(i, n) st(gx, dt, 3, i, unary_b(op, ld(x, dt, 0, i), ld(y, dt, 1, i), ld(gy, dt, 2, i)));
}

// Same shapes: no index arithmetic. dt: a = 0, b = 1, out = 2 (for every binary kernel).
extern "C" __global__ void binary_flat(int op, const void* a, const void* b,
                                       void* out, int n, int dt) {
    GRID_STRIDE(i, n) st(out, dt, 2, i, binary_f(op, ld(a, dt, 0, i), ld(b, dt, 1, i)));
}

// b (or a, when aScalar) is one element: broadcast from a register.
extern "C" __global__ void binary_scalar(int op, const void* a, const void* b,
                                         void* out, int n, int aIsScalar, int dt) {
    if (aIsScalar) { float s = ld(a, dt, 0, 0); GRID_STRIDE(i, n) st(out, dt, 2, i, binary_f(op, s, ld(b, dt, 1, i))); }
    else           { float s = ld(b, dt, 1, 0); GRID_STRIDE(i, n) st(out, dt, 2, i, binary_f(op, ld(a, dt, 0, i), s)); }
}

// General broadcast: out dims, and a's/b's element strides per out axis (0 on broadcast axes).
extern "C" __global__ void binary_bcast(int op, const void* a, const void* b,
                                        void* out, int n, int rank, Dims8 dims, Dims8 sa, Dims8 sb, int dt) {
    GRID_STRIDE(i, n) {
        int rem = i, ia = 0, ib = 0;
#pragma unroll
        for (int d = MAX_RANK - 1; d >= 0; d--) {   // constant indices keep the Dims8 params out of local memory
            if (d >= rank) continue;
            int c = rem % dims.d[d];
            rem /= dims.d[d];
            ia += c * sa.d[d];
            ib += c * sb.d[d];
        }
        st(out, dt, 2, i, binary_f(op, ld(a, dt, 0, ia), ld(b, dt, 1, ib)));
    }
}

// out = cond != 0 ? a : b with three broadcast operands; cond is F32 or I32 (condInt). dt: a = 0, b = 1, out = 2.
extern "C" __global__ void where_bcast(const void* __restrict__ cond, int condInt, const void* __restrict__ a,
                                       const void* __restrict__ b, void* __restrict__ out, int n, int rank,
                                       Dims8 dims, Dims8 sc, Dims8 sa, Dims8 sb, int dt) {
    GRID_STRIDE(i, n) {
        int rem = i, ic = 0, ia = 0, ib = 0;
#pragma unroll
        for (int d = MAX_RANK - 1; d >= 0; d--) {   // constant indices keep the Dims8 params out of local memory
            if (d >= rank) continue;
            int c = rem % dims.d[d];
            rem /= dims.d[d];
            ic += c * sc.d[d];
            ia += c * sa.d[d];
            ib += c * sb.d[d];
        }
        bool t = condInt ? (((const int*)cond)[ic] != 0) : (((const float*)cond)[ic] != 0.f);
        st(out, dt, 2, i, t ? ld(a, dt, 0, ia) : ld(b, dt, 1, ib));
    }
}

// dt (affine, pow_scalar, clamp_k): x = 0, out = 1.
extern "C" __global__ void affine(const void* x, float scale, float shift, void* out, int n, int dt) {
    GRID_STRIDE(i, n) st(out, dt, 1, i, fmaf(ld(x, dt, 0, i), scale, shift));
}

// Common exponents get exact fast paths; powf otherwise (it handles negative bases with integer p).
extern "C" __global__ void pow_scalar(const void* x, float p, void* out, int n, int dt) {
    if (p == 2.f)       { GRID_STRIDE(i, n) { float v = ld(x, dt, 0, i); st(out, dt, 1, i, v * v); } }
    else if (p == 1.f)  { GRID_STRIDE(i, n) st(out, dt, 1, i, ld(x, dt, 0, i)); }
    else if (p == 0.5f) { GRID_STRIDE(i, n) st(out, dt, 1, i, sqrtf(ld(x, dt, 0, i))); }
    else                { GRID_STRIDE(i, n) st(out, dt, 1, i, powf(ld(x, dt, 0, i), p)); }
}

// min(max(x, lo), hi) with Java's NaN propagation.
extern "C" __global__ void clamp_k(const void* x, float lo, float hi, void* out, int n, int dt) {
    GRID_STRIDE(i, n) {
        float v = ld(x, dt, 0, i);
        st(out, dt, 1, i, v != v ? v : fminf(fmaxf(v, lo), hi));
    }
}

// Java (int) cast: truncation toward zero, saturating, NaN -> 0 (cvt.rzi.sat semantics).
extern "C" __global__ void cast_f32_i32(const float* __restrict__ x, int* __restrict__ out, int n) {
    GRID_STRIDE(i, n) { float v = x[i]; out[i] = v != v ? 0 : __float2int_rz(v); }
}

extern "C" __global__ void cast_i32_f32(const int* __restrict__ x, float* __restrict__ out, int n) {
    GRID_STRIDE(i, n) out[i] = (float)x[i];
}

// float32 -> bfloat16 to nearest even (NaN stays NaN), as ddpm.engine.BFloat16 rounds.
extern "C" __global__ void cast_f32_bf16(const float* __restrict__ x, __nv_bfloat16* __restrict__ out, int n) {
    GRID_STRIDE(i, n) out[i] = __float2bfloat16_rn(x[i]);
}

extern "C" __global__ void cast_bf16_f32(const __nv_bfloat16* __restrict__ x, float* __restrict__ out, int n) {
    GRID_STRIDE(i, n) out[i] = __bfloat162float(x[i]);
}

// n bfloat16 elements set to the bit pattern `bits` (a 16-bit fill: cuMemsetD32 cannot start or end mid-word).
extern "C" __global__ void fill_u16(unsigned short* __restrict__ out, int bits, int n) {
    GRID_STRIDE(i, n) out[i] = (unsigned short)bits;
}
