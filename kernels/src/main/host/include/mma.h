// WMMA (nvcuda::wmma) for the host driver: g++ reads this instead of CUDA's mma.h, so tensor-core
// kernels compile and run on the CPU unchanged.
//
// A fragment holds a tile in logical row-major order, spread over the warp's lanes: element e of the
// tile (e = row·cols + col) belongs to lane e % 32, at index e / 32 of its x[] (CUDA leaves the
// mapping unspecified, so kernels may only treat x[] elementwise, as here). load_matrix_sync and
// store_matrix_sync move each lane's own elements (the race check sees them, so a tile written to
// shared memory by other lanes needs a barrier first, as on the GPU); mma_sync is a warp collective
// that exchanges the A and B fragments and gives each lane its elements of D = A·B + C, accumulated
// in float in k order. bf16 and half products are exact in float; TF32 inputs are truncated to
// TF32's 10 mantissa bits, as the tensor cores read them (__float_to_tf32 rounds instead).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_fp16.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace precision {
struct tf32 {};
}

namespace detail {
template <typename T> struct storage { using type = T; };
template <> struct storage<precision::tf32> { using type = float; };

template <typename Use, int M, int N, int K> struct tile;
template <int M, int N, int K> struct tile<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K> struct tile<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K> struct tile<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

template <int M, int N, int K, typename T> constexpr bool supported() {
    if (std::is_same<T, precision::tf32>::value) return M == 16 && N == 16 && K == 8;
    if (std::is_same<T, __nv_bfloat16>::value || std::is_same<T, __half>::value)
        return (M == 16 && N == 16 && K == 16) || (M == 32 && N == 8 && K == 16) || (M == 8 && N == 32 && K == 16);
    return std::is_same<T, float>::value;   // accumulators
}

// What the GPU requires of every load_matrix_sync / store_matrix_sync (and enforces by faulting or
// by loading the wrong elements): the pointer 256-bit aligned, the leading dimension a multiple of
// 16 bytes. Checked here so that a tile layout that only works on the CPU fails in every test run.
inline void check_tile(const void* p, unsigned ldm, size_t elem_bytes, bool store, const char* file, int line) {
    // literal messages: kernel code may not allocate (the checker would take the heap for device memory)
    if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
        ::jddpm_host::api->fail(store ? "wmma::store_matrix_sync: pointer not 256-bit aligned"
                                      : "wmma::load_matrix_sync: pointer not 256-bit aligned", file, line);
    if (ldm * elem_bytes % 16 != 0)
        ::jddpm_host::api->fail(store ? "wmma::store_matrix_sync: ldm not a multiple of 16 bytes"
                                      : "wmma::load_matrix_sync: ldm not a multiple of 16 bytes", file, line);
}

inline int lane() {
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    return (int)(t & 31u);
}

// What the tensor cores read of a TF32 operand: the top 19 bits of the float.
inline float tf32_operand(float v) {
    unsigned b;
    std::memcpy(&b, &v, 4);
    b &= 0xffffe000u;
    std::memcpy(&v, &b, 4);
    return v;
}
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
class fragment {
    static_assert(detail::supported<M, N, K, T>(), "this WMMA shape / type is not one the tensor cores offer");

public:
    using element_type = typename detail::storage<T>::type;
    static constexpr int rows = detail::tile<Use, M, N, K>::rows, cols = detail::tile<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols / 32;
    element_type x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename L, typename V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const V& v) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = static_cast<typename fragment<Use, M, N, K, T, L>::element_type>(v);
}

template <typename Use, int M, int N, int K, typename T, typename L, typename P>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
    static_assert(std::is_same<L, row_major>::value || std::is_same<L, col_major>::value,
                  "an A or B fragment's layout is row_major or col_major");
    detail::check_tile(p, ldm, sizeof(P), false, file, line);
    using F = fragment<Use, M, N, K, T, L>;
    int l = detail::lane();
    for (int i = 0; i < F::num_elements; i++) {
        int e = i * 32 + l, r = e / F::cols, c = e % F::cols;
        f.x[i] = std::is_same<L, row_major>::value ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

template <int M, int N, int K, typename T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout,
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    detail::check_tile(p, ldm, sizeof(T), false, file, line);
    using F = fragment<accumulator, M, N, K, T>;
    int l = detail::lane();
    for (int i = 0; i < F::num_elements; i++) {
        int e = i * 32 + l, r = e / F::cols, c = e % F::cols;
        f.x[i] = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

template <int M, int N, int K, typename T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout,
                              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    detail::check_tile(p, ldm, sizeof(T), true, file, line);
    using F = fragment<accumulator, M, N, K, T>;
    int l = detail::lane();
    for (int i = 0; i < F::num_elements; i++) {
        int e = i * 32 + l, r = e / F::cols, c = e % F::cols;
        if (layout == mem_row_major) p[(size_t)r * ldm + c] = f.x[i];
        else p[(size_t)c * ldm + r] = f.x[i];
    }
}

namespace detail {
// Not instrumented: it touches only the calling lane's own fragments and gathered copies, which
// the race and bounds checks have nothing to say about; instrumented, its operand reads made
// tensor-core kernels crawl on the host.
template <int M, int N, int K, typename TA, typename LA, typename LB, typename TC>
__attribute__((noinline, no_sanitize("thread"))) void mma(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                const fragment<matrix_b, M, N, K, TA, LB>& b, const fragment<accumulator, M, N, K, TC>& c,
                const char* file, int line) {
    using FA = fragment<matrix_a, M, N, K, TA, LA>;
    using FB = fragment<matrix_b, M, N, K, TA, LB>;
    using FD = fragment<accumulator, M, N, K, TC>;
    struct Mine {
        typename FA::element_type a[FA::num_elements];
        typename FB::element_type b[FB::num_elements];
    } mine, all[32];
    std::memcpy(mine.a, a.x, sizeof mine.a);
    std::memcpy(mine.b, b.x, sizeof mine.b);
    ::jddpm_host::api->gather(&mine, (int)sizeof(Mine), all, file, line);
    // Element e of a tile is lane e % 32's x[e / 32]. This lane's outputs all lie in column
    // lane % N (N is 8, 16 or 32), so it reads that column of B once and, per output, one row of A.
    constexpr bool tf32 = std::is_same<TA, precision::tf32>::value;
    int ln = lane(), col = ln % N;
    float bcol[K];
    for (int k = 0; k < K; k++) {
        int e = k * N + col;
        float v = (float)all[e % 32].b[e / 32];
        bcol[k] = tf32 ? tf32_operand(v) : v;
    }
    for (int i = 0; i < FD::num_elements; i++) {
        int r = (i * 32 + ln) / N;
        float s = (float)c.x[i];
        for (int k = 0; k < K; k++) {
            int e = r * K + k;
            float v = (float)all[e % 32].a[e / 32];
            s = __builtin_fmaf(tf32 ? tf32_operand(v) : v, bcol[k], s);
        }
        d.x[i] = (TC)s;
    }
}
}  // namespace detail

template <int M, int N, int K, typename TA, typename LA, typename LB, typename TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TA, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
    detail::mma(d, a, b, c, "mma_sync", 0);
}

// Round to nearest (ties away from zero) at TF32's 10 mantissa bits, as cvt.rna.tf32.f32 does.
inline float __float_to_tf32(float v) {
    unsigned b;
    std::memcpy(&b, &v, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
    std::memcpy(&v, &b, 4);
    return v;
}

}  // namespace wmma
}  // namespace nvcuda
