package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

/**
 * Heap storage: a float[], double[] or int[] according to the dtype, from the backend's
 * {@link ArrayPool} (so possibly longer than the storage, and not zeroed). The static accessors
 * give the kernels a tensor's array and the index of its element 0 (tensors are contiguous from
 * their offset), which is the whole calling convention of the CPU kernels.
 */
public final class CpuStorage extends Storage {
    public final float[] f;
    public final double[] d;
    public final int[] i;

    CpuStorage(CpuBackend backend, DType dtype, long length, Object array) {
        super(backend, dtype, length);
        f = array instanceof float[] a ? a : null;
        d = array instanceof double[] a ? a : null;
        i = array instanceof int[] a ? a : null;
    }

    /** The backing array. */
    Object array() { return f != null ? f : d != null ? d : i; }

    /** Elements in the backing array (at least {@link #length}). */
    int capacity() { return f != null ? f.length : d != null ? d.length : i.length; }

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
