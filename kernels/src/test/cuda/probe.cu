// Kernels that exercise the host driver itself (HostDriverTest): warp collectives, barriers,
// atomics, dynamic shared memory, and deliberate bugs that its checks must report.
#include "../../main/cuda/common.cuh"

// out[lane] of each collective, 32 threads: shfl_xor(lane, 1), shfl_down(lane, 3), shfl_up(lane, 2),
// shfl(lane, 31 - lane), width-8 xor(lane, 4), ballot(lane odd), any(lane == 5), all(lane < 32),
// the warp_sum of lane (= 496), and a double through shfl_idx.
extern "C" __global__ void probe_collectives(int* out, double* dout) {
    int lane = threadIdx.x;
    out[0 * 32 + lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
    out[1 * 32 + lane] = __shfl_down_sync(0xffffffffu, lane, 3);
    out[2 * 32 + lane] = __shfl_up_sync(0xffffffffu, lane, 2);
    out[3 * 32 + lane] = __shfl_sync(0xffffffffu, lane, 31 - lane);
    out[4 * 32 + lane] = __shfl_xor_sync(0xffffffffu, lane, 4, 8);
    out[5 * 32 + lane] = (int)__ballot_sync(0xffffffffu, lane & 1);
    out[6 * 32 + lane] = __any_sync(0xffffffffu, lane == 5);
    out[7 * 32 + lane] = __all_sync(0xffffffffu, lane < 32);
    out[8 * 32 + lane] = (int)warp_sum((float)lane);
    dout[lane] = __shfl_sync(0xffffffffu, 0.5 + lane, (lane + 1) & 31);
}

// A block-wide sum through block_sum (common.cuh): out[blockIdx.x] = Σ x over the block's slice.
extern "C" __global__ void probe_block_sum(const float* x, float* out, int per) {
    __shared__ float scratch[32];
    float s = 0.f;
    for (int i = threadIdx.x; i < per; i += blockDim.x) s += x[blockIdx.x * per + i];
    float t = block_sum(s, scratch);
    if (threadIdx.x == 0) out[blockIdx.x] = t;
}

// Every thread of every block adds 1: the counter ends at the number of threads.
extern "C" __global__ void probe_atomics(int* counter, float* fsum) {
    atomicAdd(counter, 1);
    atomicAdd(fsum, 0.5f);
}

// Thread 1 reads what thread 0 wrote, with a barrier in between (sync = 1) or without (sync = 0).
extern "C" __global__ void probe_shared_handoff(float* out, int sync) {
    __shared__ float word[1];
    if (threadIdx.x == 0) word[0] = 42.f;
    if (sync) __syncthreads();
    if (threadIdx.x == 1) out[0] = word[0];
}

// The same hand-off between two lanes of one warp, ordered by __syncwarp (sync = 1) or not.
extern "C" __global__ void probe_warp_handoff(float* out, int sync) {
    __shared__ float word[1];
    if (threadIdx.x == 0) word[0] = 7.f;
    if (sync) __syncwarp();
    if (threadIdx.x == 1) out[0] = word[0];
}

// Writes out[0 .. n] (one past the end when the allocation holds n floats).
extern "C" __global__ void probe_out_of_bounds(float* out, int n) {
    if (threadIdx.x == 0) for (int i = 0; i <= n; i++) out[i] = 1.f;
}

// Threads below 16 wait at one barrier, the rest at another.
extern "C" __global__ void probe_divergent_barrier(float* out) {
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1.f;
}

// Lane 0 waits for the whole warp at __syncwarp while the other lanes have exited.
extern "C" __global__ void probe_deadlock(float* out) {
    if (threadIdx.x == 0) {
        __syncwarp();
        out[0] = 1.f;
    }
}

// Copies x into dynamic shared memory and back, reversed; reads index `extra` past the launch's
// dynamic size when extra > 0.
extern "C" __global__ void probe_dynamic_shared(const float* x, float* out, int n, int extra) {
    DYNAMIC_SHARED(float, buf);
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = x[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = buf[n - 1 - i + (i == 0 ? extra : 0)];
}

// Reads a shared word nobody wrote: the host driver fills shared memory with NaN at each block's start.
extern "C" __global__ void probe_uninitialised_shared(float* out) {
    __shared__ float never_written[4];
    if (threadIdx.x == 0) out[blockIdx.x] = never_written[blockIdx.x & 3];
}

// Coordinates: out[(block, thread) linear] = packed (blockIdx, threadIdx, blockDim, gridDim).
extern "C" __global__ void probe_coordinates(int* out) {
    int b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    int nt = blockDim.x * blockDim.y * blockDim.z;
    int* o = out + 4 * (b * nt + t);
    o[0] = blockIdx.x + 100 * blockIdx.y + 10000 * blockIdx.z;
    o[1] = threadIdx.x + 100 * threadIdx.y + 10000 * threadIdx.z;
    o[2] = blockDim.x + 100 * blockDim.y + 10000 * blockDim.z;
    o[3] = gridDim.x + 100 * gridDim.y + 10000 * gridDim.z;
}

// Parameter kinds the launcher must pass exactly: a pointer, an int, a long long, a float, a double, Dims8.
extern "C" __global__ void probe_parameters(double* out, int i, long long l, float f, double d, Dims8 dims) {
    if (threadIdx.x == 0) {
        out[0] = i;
        out[1] = (double)l;
        out[2] = f;
        out[3] = d;
        out[4] = dims.d[0] + 10 * dims.d[7];
    }
}

// ---------------------------------------------------------------- tensor cores (WMMA)
#include <mma.h>
#include <cuda_bf16.h>
using namespace nvcuda;

// One warp: C (16x16, row-major, fp32) = A (16x16 bf16, row-major) · B (16x16 bf16, col-major) + C,
// the operands staged in shared memory as a tensor-core kernel would.
extern "C" __global__ void probe_wmma_bf16(const float* a, const float* b, float* c) {
    __shared__ __nv_bfloat16 sa[16 * 16], sb[16 * 16];
    for (int i = threadIdx.x; i < 256; i += 32) {
        sa[i] = __float2bfloat16(a[i]);
        sb[i] = __float2bfloat16(b[i]);
    }
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::load_matrix_sync(fa, sa, 16);
    wmma::load_matrix_sync(fb, sb, 16);
    wmma::load_matrix_sync(fc, c, 16, wmma::mem_row_major);
    wmma::mma_sync(fc, fa, fb, fc);
    for (int i = 0; i < fc.num_elements; i++) fc.x[i] *= 2.f;
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

// One warp: C (16x16, col-major) = A (16x8, row-major) · B (8x16, row-major), TF32 (inputs rounded
// with __float_to_tf32), accumulator starting at 0.
extern "C" __global__ void probe_wmma_tf32(const float* a, const float* b, float* c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> fc;
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 16);
    for (int i = 0; i < fa.num_elements; i++) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    for (int i = 0; i < fb.num_elements; i++) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    wmma::fill_fragment(fc, 0.f);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_col_major);
}

// One warp: an accumulator tile loaded from c + offset with leading dimension ldm (floats), then
// stored back: what the GPU requires of the pointer (256-bit aligned) and of ldm (16-byte multiple).
extern "C" __global__ void probe_wmma_alignment(float* c, int offset, int ldm) {
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> fc;
    wmma::load_matrix_sync(fc, c + offset, ldm, wmma::mem_row_major);
    wmma::store_matrix_sync(c + offset, fc, ldm, wmma::mem_row_major);
}
