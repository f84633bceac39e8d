// Layout kernels: permute (rank <= 8) and slice copies along one axis, of float32 or bfloat16
// tensors (dt: source = 0, destination = 1; ld/st in common.cuh; an I32 tensor moves as float32 bits).
#include "common.cuh"

// out[i] = x[sum_d coord_d(i) * inStride_d], where coord comes from out's dims and inStride_d is
// x's stride of axis perm[d] (precomputed on the host).
extern "C" __global__ void permute_k(const void* __restrict__ x, void* __restrict__ out, int n, int rank,
                                     Dims8 outDims, Dims8 inStrides, int dt) {
    GRID_STRIDE(i, n) {
        int rem = i, src = 0;
#pragma unroll
        for (int d = MAX_RANK - 1; d >= 0; d--) {   // constant indices keep the Dims8 params out of local memory
            if (d >= rank) continue;
            int c = rem % outDims.d[d];
            rem /= outDims.d[d];
            src += c * inStrides.d[d];
        }
        st(out, dt, 1, i, ld(x, dt, 0, src));
    }
}

// Both tensors viewed as [outer, axisLen, inner]; the source's axis has srcLen entries and the
// destination's dstLen. Thread i walks the smaller (sliced) tensor of `count` elements:
// dir = 0 (writeSlice): dst[o, start + a, j] = src[o, a, j], src is the small one;
// dir = 1 (readSlice):  dst[o, a, j] = src[o, start + a, j], dst is the small one.
extern "C" __global__ void slice_copy(const void* __restrict__ src, void* __restrict__ dst, int count,
                                      int sliceLen, int bigLen, int inner, int start, int dir, int dt) {
    GRID_STRIDE(i, count) {
        int j = i % inner;
        int t = i / inner;
        int a = t % sliceLen;
        int o = t / sliceLen;
        size_t big = ((size_t)o * bigLen + start + a) * inner + j;
        if (dir == 0) st(dst, dt, 1, big, ld(src, dt, 0, i));
        else st(dst, dt, 1, i, ld(src, dt, 0, big));
    }
}
