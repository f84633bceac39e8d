package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Storage;

/** Heap storage: a float[], double[] or int[] according to the dtype. */
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
}
