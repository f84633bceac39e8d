package ddpm.kernels.cuda;

import ddpm.engine.Tensor;
import jcuda.Pointer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Kernel parameters in declaration order, each as a host pointer to its value (cuLaunchKernel's
 *  kernelParams: a Pointer to an array of Pointers). Device pointers travel as their 64-bit
 *  addresses; Dims8 structs as 8 ints. Each parameter's kind, size and value are also kept, so a
 *  dry run (see {@link DryRun}) can check them against the PTX signatures. */
final class Args {
    /** PTR: a device address (8 B); I32, I64, F32, F64: scalars; DIMS8: the 32-byte Dims8 struct. */
    enum Kind {
        PTR(8), I32(4), I64(8), F32(4), F64(8), DIMS8(32);
        final int bytes;
        Kind(int bytes) { this.bytes = bytes; }
    }

    /** One parameter: its kind and value (long bits for PTR/I32/I64, the value for F32/F64, dims for DIMS8). */
    record Arg(Kind kind, long bits, double value, int[] dims) {
        @Override public String toString() {
            return switch (kind) {
                case PTR -> "ptr:0x" + Long.toHexString(bits);
                case I32, I64 -> kind.name().toLowerCase() + ":" + bits;
                case F32, F64 -> kind.name().toLowerCase() + ":" + value;
                case DIMS8 -> "dims:" + java.util.Arrays.toString(dims);
            };
        }
    }

    private final List<Pointer> ps = new ArrayList<>(16);
    private final List<Arg> kinds = new ArrayList<>(16);

    Args ptr(Tensor t) {
        if (t == null) return addr(0L);
        CudaStorage s = (CudaStorage) t.storage();
        return addr(s.address(t.offset()));
    }

    Args addr(long address) {
        ps.add(Pointer.to(new long[]{address}));
        kinds.add(new Arg(Kind.PTR, address, 0, null));
        return this;
    }

    Args i(int v) {
        ps.add(Pointer.to(new int[]{v}));
        kinds.add(new Arg(Kind.I32, v, 0, null));
        return this;
    }

    Args l(long v) {
        ps.add(Pointer.to(new long[]{v}));
        kinds.add(new Arg(Kind.I64, v, 0, null));
        return this;
    }

    Args f(double v) {
        ps.add(Pointer.to(new float[]{(float) v}));
        kinds.add(new Arg(Kind.F32, 0, (float) v, null));
        return this;
    }

    Args d(double v) {
        ps.add(Pointer.to(new double[]{v}));
        kinds.add(new Arg(Kind.F64, 0, v, null));
        return this;
    }

    /** A Dims8 struct by value (entries past v.length are 0; kernels read only the first rank). */
    Args dims(int[] v) {
        if (v.length > 8) throw new IllegalArgumentException("Dims8 holds at most 8 entries, got " + v.length);
        int[] d = new int[8];
        System.arraycopy(v, 0, d, 0, v.length);
        ps.add(Pointer.to(d));
        kinds.add(new Arg(Kind.DIMS8, 0, 0, d.clone()));
        return this;
    }

    List<Arg> recorded() { return Collections.unmodifiableList(new ArrayList<>(kinds)); }

    Pointer build() { return Pointer.to(ps.toArray(new Pointer[0])); }
}
