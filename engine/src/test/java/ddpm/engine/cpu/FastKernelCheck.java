package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/** Helpers for the fast-kernel tests: the same values as an F32 tensor (fast kernels) and an F64
 *  tensor (the double-precision reference), and a tolerance check between them. */
final class FastKernelCheck {
    private FastKernelCheck() {}

    static final CpuBackend CPU = CpuBackend.INSTANCE;

    /** Random values already rounded to float, so both tensors hold exactly the same numbers. */
    static double[] randoms(Random r, int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    /** An F32 and an F64 tensor holding {@code v}. */
    static Tensor[] pair(double[] v, int... shape) {
        return new Tensor[]{Tensor.ofDoubles(DType.F32, Device.CPU, v, shape), Tensor.ofDoubles(DType.F64, Device.CPU, v, shape)};
    }

    static Tensor[] random(Random r, double scale, int... shape) {
        int n = 1;
        for (int d : shape) n *= d;
        return pair(randoms(r, n, scale), shape);
    }

    static Tensor[] empty(int... shape) {
        return new Tensor[]{Tensor.zeros(DType.F32, Device.CPU, shape), Tensor.zeros(DType.F64, Device.CPU, shape)};
    }

    /** |fast − ref| ≤ atol + rtol·|ref| elementwise, with a message naming the first failure. */
    static void close(String what, Tensor fast, Tensor ref, double atol, double rtol) {
        float[] f = fast.toFloats();
        double[] d = ref.toDoubles();
        if (f.length != d.length) fail(what + ": " + f.length + " vs " + d.length + " elements");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < f.length; i++) {
            double err = Math.abs(f[i] - d[i]), lim = atol + rtol * Math.abs(d[i]);
            if (!(err <= lim) && (at < 0 || err / lim > worst)) { worst = err / lim; at = i; }
        }
        if (at >= 0)
            fail(what + ": element " + at + " is " + f[at] + ", reference " + d[at] + " (error " + Math.abs(f[at] - d[at])
                    + ", " + String.format("%.1f", worst) + "× the tolerance " + atol + " + " + rtol + "·|ref|)");
    }
}
