package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

import java.util.Arrays;

/**
 * Launchers for layout.cu: permute (rank ≤ 8) and slice copies, of F32 and BF16 tensors in any mix
 * (converting where they differ). 1-D grid-stride, 256 threads.
 * Bytes at F32: 8·numel(out) for permute (reads are strided), 8·numel(slice) for slices; no flops.
 */
public final class LayoutKernel {
    private final KernelModule mod;

    LayoutKernel(CudaBackend be) { this.mod = new KernelModule(be, "layout"); }

    void permute(Tensor x, int[] perm, Tensor out) {
        int dt = CudaBackend.dtypes("permute", x, out);
        int r = x.rank();
        if (r > 8) throw new IllegalArgumentException("CUDA permute supports rank <= 8, got " + x.describe());
        int[] xs = x.shape();
        long[] stride = new long[r];
        long s = 1;
        for (int d = r - 1; d >= 0; d--) { stride[d] = s; s *= xs[d]; }
        int[] inStrides = new int[r];
        for (int d = 0; d < r; d++) inStrides[d] = (int) stride[perm[d]];
        mod.launch1d("permute_k", out.numel(), new Args().ptr(x).ptr(out).i((int) out.numel()).i(r)
                        .dims(out.shape()).dims(inStrides).i(dt),
                () -> "permute " + x.describe() + " by " + Arrays.toString(perm));
    }

    /** dst[..., start + a, ...] = src[..., a, ...] along axis. */
    void writeSlice(Tensor src, Tensor dst, int axis, int start) {
        int dt = CudaBackend.dtypes("writeSlice", src, dst);
        int ax = axis < 0 ? axis + dst.rank() : axis;
        slice(src, dst, inner(dst, ax), src.dim(ax), dst.dim(ax), start, 0, src.numel(), dt,
                "writeSlice " + src.describe() + " into " + dst.describe() + " axis " + axis + " at " + start);
    }

    /** dst = src[..., start : start + dst.shape[axis], ...]. */
    void readSlice(Tensor src, Tensor dst, int axis, int start) {
        int dt = CudaBackend.dtypes("readSlice", src, dst);
        int ax = axis < 0 ? axis + src.rank() : axis;
        slice(src, dst, inner(src, ax), dst.dim(ax), src.dim(ax), start, 1, dst.numel(), dt,
                "readSlice " + src.describe() + " into " + dst.describe() + " axis " + axis + " at " + start);
    }

    private static int inner(Tensor t, int axis) {
        long in = 1;
        for (int d = axis + 1; d < t.rank(); d++) in *= t.dim(d);
        return (int) in;
    }

    private void slice(Tensor src, Tensor dst, int inner, int sliceLen, int bigLen, int start, int dir, long count, int dt, String what) {
        if (count == 0) return;
        CudaBackend.checkIndexable(Math.max(src.numel(), dst.numel()), "slice", () -> what);
        mod.launch1d("slice_copy", count, new Args().ptr(src).ptr(dst).i((int) count).i(sliceLen).i(bigLen)
                .i(inner).i(start).i(dir).i(dt), () -> what);
    }
}
