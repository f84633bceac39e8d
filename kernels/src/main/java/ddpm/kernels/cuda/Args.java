package ddpm.kernels.cuda;

import ddpm.engine.Tensor;
import jcuda.Pointer;

import java.util.ArrayList;
import java.util.List;

/** Kernel parameters in declaration order, each as a host pointer to its value (cuLaunchKernel's
 *  kernelParams). Device pointers travel as their 64-bit addresses; Dims8 structs as 8 ints. */
final class Args {
    private final List<Pointer> ps = new ArrayList<>(16);

    Args ptr(Tensor t) {
        if (t == null) return addr(0L);
        CudaStorage s = (CudaStorage) t.storage();
        return addr(s.address(t.offset()));
    }

    Args addr(long address) { ps.add(Pointer.to(new long[]{address})); return this; }

    Args i(int v) { ps.add(Pointer.to(new int[]{v})); return this; }

    Args l(long v) { ps.add(Pointer.to(new long[]{v})); return this; }

    Args f(double v) { ps.add(Pointer.to(new float[]{(float) v})); return this; }

    Args d(double v) { ps.add(Pointer.to(new double[]{v})); return this; }

    /** A Dims8 struct by value (unused entries 1 / 0 as the caller fills them). */
    Args dims(int[] v) {
        int[] d = new int[8];
        System.arraycopy(v, 0, d, 0, Math.min(8, v.length));
        ps.add(Pointer.to(d));
        return this;
    }

    Pointer build() { return Pointer.to(ps.toArray(new Pointer[0])); }
}
