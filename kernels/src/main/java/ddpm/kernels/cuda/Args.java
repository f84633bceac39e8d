package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Kernel parameters in declaration order, each with its kind and value. Device pointers travel as
 *  their 64-bit addresses, Dims8 structs as 8 ints. Each driver marshals them its own way (JCuda:
 *  an array of pointers to the values; the host driver: packed words whose kinds and sizes it
 *  checks against the kernel's C++ signature). */
final class Args {
    /** PTR: a device address (8 B); I32, I64, F32, F64: scalars; DIMS8: the 32-byte Dims8 struct. */
    enum Kind {
        PTR(8, 'p'), I32(4, 'i'), I64(8, 'i'), F32(4, 'f'), F64(8, 'f'), DIMS8(32, 's');
        final int bytes;
        /** The C++ parameter kind it must meet: pointer, integer, floating point, struct. */
        final char cKind;

        Kind(int bytes, char cKind) {
            this.bytes = bytes;
            this.cKind = cKind;
        }
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

    private final List<Arg> args = new ArrayList<>(16);

    Args ptr(Tensor t) {
        if (t == null) return addr(0L);
        CudaStorage s = (CudaStorage) t.storage();
        return addr(s.address(t.offset()));
    }

    Args addr(long address) {
        args.add(new Arg(Kind.PTR, address, 0, null));
        return this;
    }

    Args i(int v) {
        args.add(new Arg(Kind.I32, v, 0, null));
        return this;
    }

    Args l(long v) {
        args.add(new Arg(Kind.I64, v, 0, null));
        return this;
    }

    Args f(double v) {
        args.add(new Arg(Kind.F32, 0, (float) v, null));
        return this;
    }

    Args d(double v) {
        args.add(new Arg(Kind.F64, 0, v, null));
        return this;
    }

    /** A Dims8 struct by value (entries past v.length are 0; kernels read only the first rank). */
    Args dims(int[] v) {
        if (v.length > 8) throw new IllegalArgumentException("Dims8 holds at most 8 entries, got " + v.length);
        int[] d = new int[8];
        System.arraycopy(v, 0, d, 0, v.length);
        args.add(new Arg(Kind.DIMS8, 0, 0, d));
        return this;
    }

    List<Arg> list() { return Collections.unmodifiableList(args); }

    @Override public String toString() { return args.toString(); }
}
