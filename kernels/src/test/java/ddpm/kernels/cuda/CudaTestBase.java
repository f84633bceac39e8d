package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Base of the GPU parity tests: skips the class (with the provider's reason) where no CUDA device
 * is usable; gives paired CPU/GPU tensors holding the same fresh random data (never zeros), GPU
 * outputs poisoned with NaN so an unwritten element fails, and a max-relative-error comparison
 * against the CPU backend, the specification.
 *
 * <p>Error measure: max_i |gpu_i − cpu_i| / max_i |cpu_i| (relative to the reference's largest
 * magnitude, so elements near zero do not dominate); NaN must appear on both sides or neither.
 */
@Tag("gpu")
abstract class CudaTestBase {
    static final Device GPU = Device.cuda(0);
    static Backend cpu, gpu;
    static String unavailable;
    Scope scope;
    Random rnd;

    @BeforeAll
    static void openGpu() {
        unavailable = CudaBackendProvider.unavailableReason();
        cpu = Backends.cpu();
        if (unavailable == null) gpu = Backends.get(GPU);
    }

    /** Each test skips (reported as skipped, with the reason) where no CUDA device is usable. */
    @BeforeEach
    void openScope() {
        assumeTrue(unavailable == null, () -> "no usable CUDA device: " + unavailable);
        scope = Scope.open();
        rnd = new Random(getClass().getName().hashCode());
    }

    @AfterEach
    void closeScope() {
        if (scope != null) scope.close();
    }

    /** The same tensor on the CPU (c) and the GPU (g). */
    record P(Tensor c, Tensor g) {
        /** NaN into the GPU side only (the CPU side is the reference and stays as it is). */
        P poison() {
            g.fill(Double.NaN);
            return this;
        }
    }

    /** Values ±[0.05, 1.05)·scale, random signs: never zero. */
    float[] data(long n, double scale) {
        float[] d = new float[Math.toIntExact(n)];
        for (int i = 0; i < d.length; i++) {
            double v = 0.05 + rnd.nextDouble();
            d[i] = (float) ((rnd.nextBoolean() ? v : -v) * scale);
        }
        return d;
    }

    /** Values in [0.05, 1.05)·scale. */
    float[] positive(long n, double scale) {
        float[] d = new float[Math.toIntExact(n)];
        for (int i = 0; i < d.length; i++) d[i] = (float) ((0.05 + rnd.nextDouble()) * scale);
        return d;
    }

    P of(float[] d, int... shape) { return new P(Tensor.of(d, Device.CPU, shape), Tensor.of(d, GPU, shape)); }

    P rand(int... shape) { return of(data(Shapes.numel(shape), 1), shape); }

    P randPos(int... shape) { return of(positive(Shapes.numel(shape), 1), shape); }

    P ints(int[] d, int... shape) { return new P(Tensor.ofInts(d, Device.CPU, shape), Tensor.ofInts(d, GPU, shape)); }

    /** Indices uniform in [0, bound). */
    P index(int n, int bound) {
        int[] d = new int[n];
        for (int i = 0; i < n; i++) d[i] = rnd.nextInt(bound);
        return ints(d, n);
    }

    /** Outputs: zeros on the CPU, NaN on the GPU (an element the kernel skips stays NaN and fails). */
    P out(int... shape) {
        return new P(Tensor.zeros(DType.F32, Device.CPU, shape), Tensor.empty(DType.F32, GPU, shape)).poison();
    }

    /** Same-valued outputs (for ops that accumulate into them, e.g. beta ≠ 0). */
    P outOf(P src) {
        P o = new P(Tensor.empty(DType.F32, Device.CPU, src.c().shape()), Tensor.empty(DType.F32, GPU, src.g().shape()));
        o.c().copyFrom(src.c());
        o.g().copyFrom(src.g());
        return o;
    }

    static double relErr(float[] expected, float[] actual) {
        if (expected.length != actual.length) fail("lengths differ: " + expected.length + " vs " + actual.length);
        double maxRef = 0, maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i], a = actual[i];
            if (Float.isNaN(a) != Float.isNaN(e)) return Double.POSITIVE_INFINITY;
            if (Float.isNaN(e)) continue;   // both NaN: agreed
            maxRef = Math.max(maxRef, Math.abs(e));
            maxDiff = Math.max(maxDiff, Math.abs((double) a - e));
        }
        return maxDiff / Math.max(maxRef, 1e-30);
    }

    static int firstNan(float[] a) {
        for (int i = 0; i < a.length; i++) if (Float.isNaN(a[i])) return i;
        return -1;
    }

    /** Asserts max relative error ≤ tol; returns it. */
    static double assertClose(String what, P p, double tol) {
        return assertClose(what, p.c(), p.g(), tol);
    }

    static double assertClose(String what, Tensor cpuT, Tensor gpuT, double tol) {
        float[] e = cpuT.toFloats(), a = gpuT.toFloats();
        double err = relErr(e, a);
        if (!(err <= tol)) {
            int nan = firstNan(a);
            int worst = 0;
            double wd = -1;
            for (int i = 0; i < e.length; i++) {
                double d = Math.abs((double) a[i] - e[i]);
                if (d > wd) { wd = d; worst = i; }
            }
            fail(String.format("%s %s: max rel err %.3g > %.3g (worst at %d: cpu %s gpu %s%s)", what,
                    Shapes.str(cpuT.shape()), err, tol, worst, e[worst], a[worst],
                    nan >= 0 ? ", first NaN at " + nan : ""));
        }
        return err;
    }
}
