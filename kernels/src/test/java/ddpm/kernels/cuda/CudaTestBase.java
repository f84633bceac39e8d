package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.testing.CudaTests;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Base of the CUDA parity tests. They run on the host driver (the .cu kernels compiled for the CPU)
 * in every `mvn verify`, and on a real GPU where there is one (see {@link CudaTests}); they skip,
 * saying why, where the selected driver cannot run. Paired CPU/GPU tensors hold the same fresh
 * random data (never zeros; the seed is new each run and named in every failure, or set with
 * -Dddpm.test.seed); GPU tensors start at an odd offset into their storage, so a kernel that ignores
 * a pointer's offset reads the wrong elements; GPU outputs are poisoned with NaN so an unwritten
 * element fails. Errors are relative to the CPU backend, the specification.
 *
 * <p>Error measure: max_i |gpu_i − cpu_i| / max_i |cpu_i| (relative to the reference's largest
 * magnitude, so elements near zero do not dominate); NaN must appear on both sides or neither.
 */
@Tag("gpu")
abstract class CudaTestBase {
    static final Device GPU = CudaTests.GPU;
    /** GPU tensors start this many elements into their storage. */
    static final int OFFSET = 3;
    static Backend cpu, gpu;
    static long seed;
    Scope scope;
    Random rnd;

    @BeforeEach
    void openScope() {
        CudaTests.assumeCuda();
        cpu = Backends.cpu();
        gpu = CudaTests.backend();
        scope = Scope.open();
        seed = Long.getLong("ddpm.test.seed", System.nanoTime());
        rnd = new Random(seed);
    }

    @AfterEach
    void closeScope() {
        if (scope != null) scope.close();
    }

    /** A problem size: the first on a GPU, the second on the host driver (the CPU runs every GPU thread). */
    static int pick(int device, int host) { return CudaTests.pick(device, host); }

    /** The same tensor on the CPU (c) and the GPU (g). */
    record P(Tensor c, Tensor g) {
        /** NaN into the GPU side only (the CPU side is the reference and stays as it is). */
        P poison() {
            g.fill(Double.NaN);
            return this;
        }
    }

    /** An uninitialised GPU tensor at {@link #OFFSET} elements into its storage. */
    static Tensor gpuEmpty(DType dtype, int... shape) {
        return Tensor.empty(dtype, GPU, Math.toIntExact(Shapes.numel(shape) + OFFSET)).flatView(OFFSET, shape);
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

    P of(float[] d, int... shape) {
        Tensor g = gpuEmpty(DType.F32, shape);
        gpu.write(g, d);
        return new P(Tensor.of(d, Device.CPU, shape), g);
    }

    P rand(int... shape) { return of(data(Shapes.numel(shape), 1), shape); }

    P randPos(int... shape) { return of(positive(Shapes.numel(shape), 1), shape); }

    P ints(int[] d, int... shape) {
        Tensor g = gpuEmpty(DType.I32, shape);
        gpu.write(g, d);
        return new P(Tensor.ofInts(d, Device.CPU, shape), g);
    }

    /** Indices uniform in [0, bound). */
    P index(int n, int bound) {
        int[] d = new int[n];
        for (int i = 0; i < n; i++) d[i] = rnd.nextInt(bound);
        return ints(d, n);
    }

    /** Outputs: zeros on the CPU, NaN on the GPU (an element the kernel skips stays NaN and fails). */
    P out(int... shape) {
        return new P(Tensor.zeros(DType.F32, Device.CPU, shape), gpuEmpty(DType.F32, shape)).poison();
    }

    /** Same-valued outputs (for ops that accumulate into them, e.g. beta ≠ 0). */
    P outOf(P src) {
        P o = new P(Tensor.empty(DType.F32, Device.CPU, src.c().shape()), gpuEmpty(DType.F32, src.g().shape()));
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
            fail(String.format("%s %s: max rel err %.3g > %.3g (worst at %d: cpu %s gpu %s%s; seed %d)", what,
                    Shapes.str(cpuT.shape()), err, tol, worst, e[worst], a[worst],
                    nan >= 0 ? ", first NaN at " + nan : "", seed));
        }
        return err;
    }
}
