// Row gather from a table and its backward (atomic scatter-add). index is I32 [B]; rows have
// `inner` elements. Out-of-range indices are skipped (the host validates when it can).
#include "common.cuh"

extern "C" __global__ void gather_rows(const float* __restrict__ table, const int* __restrict__ index,
                                       float* __restrict__ out, int B, int inner, int T) {
    int n = B * inner;
    GRID_STRIDE(i, n) {
        int b = i / inner, j = i - b * inner;
        int r = index[b];
        out[i] = (r >= 0 && r < T) ? table[(size_t)r * inner + j] : __int_as_float(0x7fc00000);
    }
}

// Atomics because several b may share one table row (same timestep/label in a batch).
extern "C" __global__ void scatter_add_rows(const float* __restrict__ gout, const int* __restrict__ index,
                                            float* __restrict__ gtable, int B, int inner, int T) {
    int n = B * inner;
    GRID_STRIDE(i, n) {
        int b = i / inner, j = i - b * inner;
        int r = index[b];
        if (r >= 0 && r < T) atomicAdd(gtable + (size_t)r * inner + j, gout[i]);
    }
}
