package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

/**
 * Heap storage: a float[], double[] or int[] according to the dtype. The static accessors give
 * the kernels a tensor's array and the index of its element 0 (tensors are contiguous from
 * their offset), which is the whole calling convention of the CPU kernels.
 */
public final class CpuStorage extends Storage {
    public final float[] f;
    public final double[] d;
    public final int[] i;

    CpuStorage(CpuBackend backend, DType dtype, long length) {
        super(backend, dtype, length);
        if (length > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("a CPU tensor holds at most 2^31 elements, asked for " + length);
        int n = (int) length;
        f = dtype == DType.F32 ? new float[n] : null;
        d = dtype == DType.F64 ? new double[n] : null;
        i = dtype == DType.I32 ? new int[n] : null;
        if (f == null && d == null && i == null)
            throw new IllegalArgumentException("the CPU backend stores F32, F64 and I32, not " + dtype);
    }

    @Override protected void free() { ((CpuBackend) backend).freed(this); }

    // ---------------------------------------------------------------- kernel views of a tensor
    static CpuStorage of(Tensor t) { return (CpuStorage) t.storage(); }

    /** The F32 array of t (null for a null t). */
    static float[] f(Tensor t) { return t == null ? null : of(t).f; }

    /** The F64 array of t (null for a null t). */
    static double[] d(Tensor t) { return t == null ? null : of(t).d; }

    /** Index of t's element 0 in its array (0 for a null t). */
    static int off(Tensor t) { return t == null ? 0 : (int) t.offset(); }

    /** Element count of t. */
    static int n(Tensor t) { return (int) t.numel(); }

    /** A copy of an I32 index tensor's values. */
    static int[] ints(Tensor t) {
        if (t.dtype() != DType.I32) throw new IllegalArgumentException("expected an int32 index tensor, got " + t.describe());
        int[] a = new int[n(t)];
        System.arraycopy(of(t).i, off(t), a, 0, a.length);
        return a;
    }

    /** t's values as doubles, whatever its dtype (a copy). */
    static double[] doubles(Tensor t) {
        CpuStorage s = of(t);
        int n = n(t), o = off(t);
        double[] r = new double[n];
        if (s.d != null) System.arraycopy(s.d, o, r, 0, n);
        else if (s.f != null) for (int k = 0; k < n; k++) r[k] = s.f[o + k];
        else for (int k = 0; k < n; k++) r[k] = s.i[o + k];
        return r;
    }
}
