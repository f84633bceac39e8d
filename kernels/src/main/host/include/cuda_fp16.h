// IEEE half precision for the host driver (g++ reads this instead of CUDA's cuda_fp16.h): a 16-bit
// storage type with round-to-nearest-even conversions (subnormals, overflow to infinity, NaN kept).
#pragma once
#include <cstdint>
#include <cstring>

struct __half {
    unsigned short __x;
    constexpr __half() : __x() {}
    __half(float f) : __x(from_float(f)) {}
    operator float() const { return to_float(__x); }

    static unsigned short from_float(float f) {
        uint32_t b;
        std::memcpy(&b, &f, 4);
        uint32_t sign = (b >> 16) & 0x8000u, abs = b & 0x7fffffffu;
        if (abs > 0x7f800000u) return (unsigned short)(sign | 0x7e00u);          // NaN
        if (abs >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);         // rounds to infinity
        if (abs < 0x38800000u) {                                                 // subnormal half (or zero)
            float a;
            std::memcpy(&a, &abs, 4);
            // a * 2^24 is the count of 2^-24 units; rint rounds half to even in the default mode
            return (unsigned short)(sign | (uint32_t)__builtin_rintf(a * 16777216.f));
        }
        uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u) - (112u << 23);           // rebias, round to nearest even
        return (unsigned short)(sign | (r >> 13));
    }

    static float to_float(unsigned short h) {
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, b;
        if (exp == 0x1f) b = sign | 0x7f800000u | (man << 13);
        else if (exp != 0) b = sign | ((exp + 112u) << 23) | (man << 13);
        else {
            float f = man * (1.f / 16777216.f);
            std::memcpy(&b, &f, 4);
            b |= sign;
        }
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
};

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return (float)h; }
