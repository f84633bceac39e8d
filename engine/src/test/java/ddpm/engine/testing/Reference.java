package ddpm.engine.testing;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.Random;

/**
 * Test helpers: seeded random tensors, plain index arithmetic for writing independent reference
 * computations, and closeness assertions that report the worst element with its index.
 * Nothing here calls the engine's own reference kernels.
 */
public final class Reference {
    private Reference() {}

    // ---------------------------------------------------------------- random data
    /** Standard normal values. */
    public static double[] normal(Random r, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = r.nextGaussian();
        return a;
    }

    /** Uniform values in [lo, hi). */
    public static double[] uniform(Random r, int n, double lo, double hi) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.nextDouble();
        return a;
    }

    /** An F64 CPU tensor of standard normals. */
    public static Tensor randn64(Random r, int... shape) {
        return Tensor.of(normal(r, (int) Shapes.numel(shape)), shape);
    }

    /** An F64 CPU tensor uniform in [lo, hi). */
    public static Tensor rand64(Random r, double lo, double hi, int... shape) {
        return Tensor.of(uniform(r, (int) Shapes.numel(shape), lo, hi), shape);
    }

    /** An F64 CPU tensor holding {@code data}. */
    public static Tensor f64(double[] data, int... shape) { return Tensor.of(data, shape); }

    /** An F32 CPU tensor holding {@code data} rounded to float. */
    public static Tensor f32(double[] data, int... shape) {
        return Tensor.ofDoubles(DType.F32, Device.CPU, data, shape);
    }

    /** An F32 copy of t's values (same shape, no graph). */
    public static Tensor toF32(Tensor t) { return f32(t.toDoubles(), t.shape()); }

    /** Values rounded through float, so that an F64 computation sees exactly the F32 inputs. */
    public static double[] roundToFloat(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = (float) a[i];
        return r;
    }

    // ---------------------------------------------------------------- index arithmetic
    public static int[] strides(int[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /** The multi-index of flat position {@code flat} in {@code shape}. */
    public static int[] unravel(int flat, int[] shape) {
        int[] idx = new int[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            idx[i] = shape[i] == 0 ? 0 : flat % shape[i];
            flat = shape[i] == 0 ? 0 : flat / shape[i];
        }
        return idx;
    }

    /** The flat position, in a tensor of {@code shape}, that broadcasts to output index {@code outIdx}. */
    public static int broadcastFlat(int[] outIdx, int[] shape) {
        int lead = outIdx.length - shape.length, flat = 0;
        for (int i = 0; i < shape.length; i++) flat = flat * shape[i] + (shape[i] == 1 ? 0 : outIdx[i + lead]);
        return flat;
    }

    /** The numpy broadcast of two shapes (computed independently of the engine). */
    public static int[] broadcastShape(int[] a, int[] b) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int i = 0; i < r; i++) {
            int ia = i - (r - a.length), ib = i - (r - b.length);
            int da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
            if (da != db && da != 1 && db != 1) throw new AssertionError("test bug: " + Arrays.toString(a) + " vs " + Arrays.toString(b));
            out[i] = Math.max(da, db);
        }
        return out;
    }

    // ---------------------------------------------------------------- comparisons
    /** max over i of |a − b| / max(|a|, |b|, floor). */
    public static double maxRelErr(double[] a, double[] b, double floor) {
        if (a.length != b.length) throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs(a[i] - b[i]) / Math.max(floor, Math.max(Math.abs(a[i]), Math.abs(b[i])));
            if (!(d <= worst)) worst = d;   // NaN wins
        }
        return worst;
    }

    public static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /**
     * Asserts |actual[i] − expected[i]| ≤ atol + rtol·|expected[i]| for every i, naming the worst
     * element (by its share of the tolerance) with its multi-index in {@code shape}.
     */
    public static void assertClose(String what, double[] expected, double[] actual, int[] shape, double rtol, double atol) {
        if (expected.length != actual.length)
            throw new AssertionError(what + ": " + actual.length + " values, expected " + expected.length);
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.length; i++) {
            double tol = atol + rtol * Math.abs(expected[i]);
            double err = Math.abs(actual[i] - expected[i]);
            if (Double.isNaN(actual[i]) && Double.isNaN(expected[i])) continue;
            if (actual[i] == expected[i]) continue;   // also equal infinities
            double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / tol;   // err > 0, tol 0: infinite
            if (ratio > worstRatio) {
                worstRatio = ratio;
                worst = i;
            }
        }
        if (worst >= 0 && worstRatio > 1)
            throw new AssertionError(String.format("%s: element %s (flat %d) is %s, expected %s (error %.3g, tolerance %.3g = %.1g + %.1g·|expected|)",
                    what, shape == null ? "?" : Arrays.toString(unravel(worst, shape)), worst, actual[worst], expected[worst],
                    Math.abs(actual[worst] - expected[worst]), atol + rtol * Math.abs(expected[worst]), atol, rtol));
    }

    /** Forward check: the tensor's values (and shape) against an independently computed array. */
    public static void assertTensor(String what, double[] expected, int[] expectedShape, Tensor actual, double rtol, double atol) {
        if (!Arrays.equals(expectedShape, actual.shape()))
            throw new AssertionError(what + ": shape " + Arrays.toString(actual.shape()) + ", expected " + Arrays.toString(expectedShape));
        assertClose(what, expected, actual.toDoubles(), expectedShape, rtol, atol);
    }

    /** F32 vs F64: elementwise within rtol, and within rtol·max|f64| absolutely (for cancellations). */
    public static void assertF32MatchesF64(String what, Tensor f64, Tensor f32, double rtol) {
        if (f32.dtype() != DType.F32) throw new AssertionError(what + ": expected an F32 result, got " + f32.describe());
        if (f64.dtype() != DType.F64) throw new AssertionError(what + ": expected an F64 result, got " + f64.describe());
        if (!Arrays.equals(f64.shape(), f32.shape()))
            throw new AssertionError(what + ": F32 shape " + Arrays.toString(f32.shape()) + " vs F64 " + Arrays.toString(f64.shape()));
        double[] e = f64.toDoubles();
        assertClose(what + " (F32 vs F64)", e, f32.toDoubles(), f64.shape(), rtol, rtol * Math.max(1e-30, maxAbs(e)));
    }
}
