// bfloat16 for the host driver (g++ reads this instead of CUDA's cuda_bf16.h): a 16-bit storage type,
// conversions that round to nearest even as __float2bfloat16_rn does, and arithmetic through float.
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    unsigned short __x;
    // constexpr (not = default): gcc would guard a function-local static array of the type otherwise
    constexpr __nv_bfloat16() : __x() {}
    __nv_bfloat16(float f) : __x(from_float(f)) {}
    operator float() const {
        uint32_t b = (uint32_t)__x << 16;
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
    static unsigned short from_float(float f) {
        uint32_t b;
        std::memcpy(&b, &f, 4);
        if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b >> 16) | 0x40);   // NaN stays (quiet) NaN
        b += 0x7fffu + ((b >> 16) & 1u);                                                  // round to nearest even
        return (unsigned short)(b >> 16);
    }
};

struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};

inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return (float)h; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__nv_bfloat16(a), __nv_bfloat16(b)}; }
inline __nv_bfloat162 __float2bfloat162_rn(float a) { return {__nv_bfloat16(a), __nv_bfloat16(a)}; }
inline float __low2float(__nv_bfloat162 v) { return (float)v.x; }
inline float __high2float(__nv_bfloat162 v) { return (float)v.y; }
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16((float)a + (float)b); }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16((float)a * (float)b); }
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
    return __nv_bfloat16(__builtin_fmaf((float)a, (float)b, (float)c));
}
