package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Ops;
import ddpm.engine.Philox;
import ddpm.engine.Scope;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static ddpm.engine.testing.Reference.assertClose;
import static ddpm.engine.testing.Reference.maxAbs;
import static ddpm.engine.testing.Reference.normal;
import static ddpm.engine.testing.Reference.uniform;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The float32 kernels of the op families, routed through {@link CpuBackend}, against the F64
 * reference path on the same (float-rounded) inputs: odd shapes, broadcasting, both reduction
 * layouts, transposes, and every F32 tensor a view at a nonzero offset inside padding that must
 * stay untouched (and that would poison the result if read).
 */
class FloatOpsTest {
    private static final CpuBackend B = CpuBackend.INSTANCE;
    private static final float PAD = 1.2345e7f;
    private static final double RTOL = 1e-5;

    private final Random r = new Random(20261122);
    private final List<Tensor[]> padded = new ArrayList<>();   // {big, view}
    private Scope scope;
    /** ≥ 0: every view at this same offset (the kernels' same-offset fast paths); else random offsets. */
    private int sameLead = -1;

    @BeforeEach void open() { scope = Scope.open(); }

    @AfterEach void close() {
        checkPads();
        scope.close();
    }

    // ---------------------------------------------------------------- helpers
    /** An F32 view of {@code shape} at a random nonzero offset in a padded buffer. */
    private Tensor view32(int... shape) {
        int n = (int) Shapes.numel(shape), lead = sameLead >= 0 ? sameLead : 1 + r.nextInt(9), tail = 1 + r.nextInt(5);
        Tensor big = Tensor.empty(DType.F32, Device.CPU, lead + n + tail);
        B.fill(big, PAD);
        Tensor v = big.flatView(lead, shape);
        padded.add(new Tensor[]{big, v});
        return v;
    }

    private Tensor f32(double[] data, int... shape) {
        Tensor v = view32(shape);
        B.write(v, data);
        return v;
    }

    private static Tensor f64(double[] data, int... shape) {
        double[] d = new double[data.length];
        for (int i = 0; i < d.length; i++) d[i] = (float) data[i];
        return Tensor.ofDoubles(DType.F64, Device.CPU, d, shape);
    }

    private static Tensor out64(int... shape) { return Tensor.empty(DType.F64, Device.CPU, shape); }

    private static Tensor ints(int[] data) { return Tensor.ofInts(data, Device.CPU, data.length); }

    /** The padding around every view is untouched. */
    private void checkPads() {
        for (Tensor[] p : padded) {
            float[] all = B.readFloats(p[0]);
            int lo = (int) (p[1].offset() - p[0].offset()), hi = lo + (int) p[1].numel();
            for (int i = 0; i < all.length; i++)
                if ((i < lo || i >= hi) && all[i] != PAD) fail("padding element " + i + " of a view at " + lo + " overwritten: " + all[i]);
        }
    }

    /** F32 result vs the F64 reference result: relative tolerance, absolute rtol·max|expected| (as
     *  Reference.assertF32MatchesF64). */
    private static void close(String what, Tensor ref64, Tensor got32, double rtol) {
        double[] e = ref64.toDoubles();
        assertClose(what, e, got32.toDoubles(), ref64.shape(), rtol, rtol * Math.max(1e-30, maxAbs(e)));
    }

    /** F32 result equals the F64 reference result rounded to float (NaNs equal). */
    private static void exact(String what, Tensor ref64, Tensor got32) {
        double[] e = ref64.toDoubles();
        float[] g = got32.toFloats();
        assertEquals(e.length, g.length, what);
        for (int i = 0; i < e.length; i++)
            if (Float.compare((float) e[i], g[i]) != 0)
                fail(what + ": element " + i + " is " + g[i] + ", expected " + (float) e[i]);
    }

    private static int[] shape(int... s) { return s; }

    // ---------------------------------------------------------------- elementwise
    @Test void unaryBackwardAllOps() {
        int[] s = {3, 7, 11, 5};
        int n = 3 * 7 * 11 * 5;
        for (Ops.Unary op : Ops.Unary.values()) {
            boolean positive = op == Ops.Unary.LOG || op == Ops.Unary.SQRT || op == Ops.Unary.RSQRT;
            double[] x = positive ? uniform(r, n, 0.05, 4) : normal(r, n), g = normal(r, n);
            Tensor x64 = f64(x, s), x32 = f32(x, s), y64 = out64(s), y32 = view32(s);
            B.unary(op, x64, y64);
            B.unary(op, x32, y32);
            double[] yv = y32.toDoubles();   // the same forward output on both paths
            Tensor yy64 = f64(yv, s), g64 = f64(g, s), g32 = f32(g, s), gx64 = out64(s), gx32 = view32(s);
            B.unaryBackward(op, x64, yy64, g64, gx64);
            B.unaryBackward(op, x32, y32, g32, gx32);
            close("unaryBackward " + op, gx64, gx32, RTOL);
            // in place: gx the very same tensor as gy
            Tensor gi = f32(g, s);
            B.unaryBackward(op, x32, y32, gi, gi);
            close("unaryBackward in place " + op, gx64, gi, RTOL);
        }
    }

    @Test void powScalarFastPathsAndSpecialValues() {
        double[] special = {0.0, -0.0, 1, -1, 2.5, -2.5, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN, 1e-30, 3e30};
        int n = 1003;
        for (double p : new double[]{2, 0.5, -0.5, -1, 1, 0, 3, 1.7, -2}) {
            double[] x = normal(r, n);
            if (p != Math.rint(p)) for (int i = 0; i < n; i++) x[i] = Math.abs(x[i]);
            System.arraycopy(special, 0, x, 0, special.length);
            Tensor x64 = f64(x, n), x32 = f32(x, n), o64 = out64(n), o32 = view32(n);
            B.powScalar(x64, p, o64);
            B.powScalar(x32, p, o32);
            close("pow " + p, o64, o32, 1e-6);
            float[] got = o32.toFloats();
            for (int i = 0; i < special.length; i++)   // signed zeros, infinities and NaN exactly
                assertEquals(0, Float.compare((float) Math.pow((float) special[i], p), got[i]), "pow(" + special[i] + ", " + p + ")");
        }
    }

    @Test void clampIsExact() {
        int n = 2049;
        double[] x = normal(r, n);
        x[5] = Double.NaN;
        x[6] = -0.0;
        for (double[] b : new double[][]{{-0.5, 0.75}, {0.1, 0.3}, {-1e300, 1e300}, {0, 0}}) {
            Tensor x64 = f64(x, n), x32 = f32(x, n), o64 = out64(n), o32 = view32(n);
            B.clamp(x64, b[0], b[1], o64);
            B.clamp(x32, b[0], b[1], o32);
            exact("clamp " + Arrays.toString(b), o64, o32);
        }
    }

    @Test void whereSameShapeScalarAndBroadcast() {
        int[][][] cases = {   // cond, a, b → out
                {{3, 5, 7}, {3, 5, 7}, {3, 5, 7}},
                {{1}, {3, 5, 7}, {3, 5, 7}},
                {{3, 5, 7}, {1}, {3, 5, 7}},
                {{3, 5, 7}, {3, 5, 7}, {}},
                {{3, 1, 7}, {5, 1}, {3, 5, 7}},
                {{5, 7}, {3, 1, 1}, {7}},
        };
        for (int[][] c : cases) {
            int[] so = Shapes.broadcast(Shapes.broadcast(c[0], c[1], "t"), c[2], "t");
            int nc = (int) Shapes.numel(c[0]), na = (int) Shapes.numel(c[1]), nb = (int) Shapes.numel(c[2]);
            double[] cond = new double[nc];
            for (int i = 0; i < nc; i++) cond[i] = r.nextInt(3) == 0 ? 0 : (r.nextBoolean() ? 1 : -2.5);
            if (nc > 2) cond[1] = Double.NaN;
            double[] a = normal(r, na), b = normal(r, nb);
            Tensor o64 = out64(so), o32 = view32(so);
            B.where(f64(cond, c[0]), f64(a, c[1]), f64(b, c[2]), o64);
            B.where(f32(cond, c[0]), f32(a, c[1]), f32(b, c[2]), o32);
            exact("where " + Arrays.deepToString(c), o64, o32);
            int[] ic = new int[nc];
            for (int i = 0; i < nc; i++) ic[i] = Double.isNaN(cond[i]) ? 1 : (int) cond[i];
            Tensor condI = Tensor.ofInts(ic, Device.CPU, c[0]), o32i = view32(so);
            B.where(condI, f32(a, c[1]), f32(b, c[2]), o32i);
            exact("where (int cond) " + Arrays.deepToString(c), o64, o32i);
        }
    }

    @Test void binaryBroadcasting() {
        binaryBroadcasting(-1);
        binaryBroadcasting(0);
        binaryBroadcasting(5);
    }

    private void binaryBroadcasting(int lead) {
        sameLead = lead;
        int[][][] cases = {
                {{3, 5, 4, 7}, {1, 5, 1, 1}},
                {{3, 5, 4, 7}, {3, 5, 1, 1}},
                {{3, 5, 4, 7}, {3, 1, 1, 1}},
                {{3, 5, 4, 7}, {5, 1, 1}},
                {{2, 9, 13}, {13}},
                {{13}, {2, 9, 13}},
                {{1, 5, 1, 1}, {3, 5, 4, 7}},
                {{3, 1, 1, 1}, {3, 5, 4, 7}},
                {{3, 1, 7}, {1, 5, 1}},
                {{5, 1}, {1, 6}},
                {{3, 1, 4}, {3, 1, 1}},
                {{2, 1, 3, 1}, {2, 4, 1, 5}},
                {{1, 1}, {4, 1}},
                {{2, 3}, {2, 3}},
                {{40, 300}, {300}},   // long enough to split rows across threads
                {{7, 1, 1}, {7, 6000}},
        };
        for (int[][] c : cases) {
            int[] so = Shapes.broadcast(c[0], c[1], "t");
            double[] a = normal(r, (int) Shapes.numel(c[0])), b = normal(r, (int) Shapes.numel(c[1]));
            if (b.length > 3) { b[1] = 0; b[2] = a[0]; }
            for (Ops.Binary op : Ops.Binary.values()) {
                Tensor o64 = out64(so), o32 = view32(so);
                B.binary(op, f64(a, c[0]), f64(b, c[1]), o64);
                B.binary(op, f32(a, c[0]), f32(b, c[1]), o32);
                exact("binary " + op + " " + Arrays.deepToString(c) + " lead " + lead, o64, o32);
            }
        }
    }

    // ---------------------------------------------------------------- reductions
    @Test void reduceRowsAndColumns() {
        int[][] cases = {   // outer, n, inner
                {1, 1_000_003, 1}, {3, 77_777, 1}, {1000, 37, 1}, {5, 1, 1}, {5, 33, 7}, {1, 50_001, 3},
                {2, 3, 2500}, {4, 20_000, 2}, {1, 7, 1}, {13, 200, 77},
        };
        for (int[] c : cases) {
            int n = c[0] * c[1] * c[2];
            double[] x = normal(r, n);
            for (int i = 0; i < n; i++) x[i] += 0.25;   // a mean away from zero: sums do not cancel
            Tensor x64 = f64(x, n), x32 = f32(x, n);
            for (Ops.Reduce op : Ops.Reduce.values()) {
                Tensor o64 = out64(c[0] * c[2]), o32 = view32(c[0] * c[2]);
                B.reduce(op, x64, c[0], c[1], c[2], o64);
                B.reduce(op, x32, c[0], c[1], c[2], o32);
                String what = "reduce " + op + " " + Arrays.toString(c);
                if (op == Ops.Reduce.MAX || op == Ops.Reduce.MIN) exact(what, o64, o32);
                else close(what, o64, o32, 1e-6);
            }
        }
    }

    @Test void reduceNaNAndSignedZero() {
        for (int[] c : new int[][]{{2, 9, 1}, {2, 9, 3}, {1, 40_000, 1}}) {
            int n = c[0] * c[1] * c[2];
            double[] x = new double[n];
            for (int i = 0; i < n; i++) x[i] = i % 2 == 0 ? 0.0 : -0.0;
            x[c[2] + (c[2] > 1 ? 1 : 0)] = Double.NaN;   // one NaN in the first row/column
            for (Ops.Reduce op : Ops.Reduce.values()) {
                Tensor o64 = out64(c[0] * c[2]), o32 = view32(c[0] * c[2]);
                B.reduce(op, f64(x, n), c[0], c[1], c[2], o64);
                B.reduce(op, f32(x, n), c[0], c[1], c[2], o32);
                exact("reduce special " + op + " " + Arrays.toString(c), o64, o32);
            }
        }
    }

    // ---------------------------------------------------------------- layout
    private void checkPermute(int[] s, int[] perm) {
        int n = (int) Shapes.numel(s);
        double[] x = normal(r, n);
        int[] so = new int[s.length];
        for (int i = 0; i < s.length; i++) so[i] = s[perm[i]];
        Tensor o64 = out64(so), o32 = view32(so);
        B.permute(f64(x, s), perm, o64);
        B.permute(f32(x, s), perm, o32);
        exact("permute " + Arrays.toString(s) + " by " + Arrays.toString(perm), o64, o32);
    }

    @Test void permuteTransposesAndGeneral() {
        checkPermute(shape(2, 5, 7), shape(0, 2, 1));
        checkPermute(shape(3, 37, 45), shape(0, 2, 1));   // odd sizes over several tiles
        checkPermute(shape(1, 33, 65), shape(0, 2, 1));
        checkPermute(shape(67, 71), shape(1, 0));
        checkPermute(shape(2, 130, 3), shape(0, 2, 1));
        checkPermute(shape(2, 1, 35, 3), shape(0, 3, 2, 1));
        checkPermute(shape(5, 1, 1), shape(2, 0, 1));
        checkPermute(shape(4, 3, 2), shape(0, 1, 2));
        checkPermute(shape(6), shape(0));
        int[] s = {2, 3, 5, 7};
        int[] p = {0, 1, 2, 3};
        do checkPermute(s, p.clone()); while (nextPermutation(p));
        checkPermute(shape(3, 4, 5, 6, 7), shape(4, 2, 0, 3, 1));
        checkPermute(shape(2, 9, 8, 40), shape(0, 3, 2, 1));
    }

    private static boolean nextPermutation(int[] a) {
        int i = a.length - 2;
        while (i >= 0 && a[i] >= a[i + 1]) i--;
        if (i < 0) return false;
        int j = a.length - 1;
        while (a[j] <= a[i]) j--;
        int t = a[i]; a[i] = a[j]; a[j] = t;
        for (int l = i + 1, h = a.length - 1; l < h; l++, h--) { t = a[l]; a[l] = a[h]; a[h] = t; }
        return true;
    }

    @Test void readAndWriteSlices() {
        int[] big = {3, 4, 5, 6};
        int nb = 360;
        for (int axis = 0; axis < 4; axis++)
            for (int[] se : new int[][]{{0, 1}, {1, 2}, {big[axis] - 1, 1}, {0, big[axis]}}) {
                int start = se[0];
                int[] ps = big.clone();
                ps[axis] = se[1];
                int np = (int) Shapes.numel(ps);
                double[] b = normal(r, nb), p = normal(r, np);
                String what = "axis " + axis + " start " + start + " len " + se[1];
                Tensor r64 = out64(ps), r32 = view32(ps);
                B.readSlice(f64(b, big), r64, axis, start);
                B.readSlice(f32(b, big), r32, axis, start);
                exact("readSlice " + what, r64, r32);
                Tensor w64 = f64(b, big), w32 = f32(b, big);
                B.writeSlice(f64(p, ps), w64, axis, start);
                B.writeSlice(f32(p, ps), w32, axis, start);
                exact("writeSlice " + what, w64, w32);
            }
    }

    // ---------------------------------------------------------------- softmax, upsample
    @Test void softmaxForwardAndBackward() {
        for (int[] s : new int[][]{{7, 13}, {3, 5, 129}, {2, 1}, {1, 1025}, {64, 256}}) {
            int n = (int) Shapes.numel(s);
            double[] x = normal(r, n), g = normal(r, n);
            for (int i = 0; i < n; i++) x[i] *= 4;
            Tensor y64 = out64(s), y32 = view32(s);
            B.softmax(f64(x, s), y64);
            B.softmax(f32(x, s), y32);
            close("softmax " + Arrays.toString(s), y64, y32, 1e-6);
            double[] y = y32.toDoubles();
            Tensor gx64 = out64(s), gx32 = view32(s);
            B.softmaxBackward(f64(y, s), f64(g, s), gx64);
            B.softmaxBackward(f32(y, s), f32(g, s), gx32);
            close("softmaxBackward " + Arrays.toString(s), gx64, gx32, 1e-6);
        }
    }

    @Test void upsampleForwardAndBackward() {
        for (int[] s : new int[][]{{2, 3, 5, 7}, {1, 1, 1, 1}, {3, 2, 16, 9}}) {
            int[] so = {s[0], s[1], 2 * s[2], 2 * s[3]};
            int n = (int) Shapes.numel(s), no = 4 * n;
            double[] x = normal(r, n), g = normal(r, no);
            Tensor o64 = out64(so), o32 = view32(so);
            B.upsampleNearest2x(f64(x, s), o64);
            B.upsampleNearest2x(f32(x, s), o32);
            exact("upsample " + Arrays.toString(s), o64, o32);
            Tensor gx64 = out64(s), gx32 = view32(s);
            B.upsampleNearest2xBackward(f64(g, so), gx64);
            B.upsampleNearest2xBackward(f32(g, so), gx32);
            close("upsampleBackward " + Arrays.toString(s), gx64, gx32, 1e-6);
        }
    }

    // ---------------------------------------------------------------- indexing
    @Test void gatherAndScatterAddWithDuplicates() {
        int rows = 11, row = 3 * 1031;   // a row longer than one column block
        int[] idx = {4, 0, 10, 4, 4, 7, 0, 3, 10};
        double[] table = normal(r, rows * row), gout = normal(r, idx.length * row);
        Tensor o64 = out64(idx.length, 3, 1031), o32 = view32(idx.length, 3, 1031);
        B.gather(f64(table, rows, 3, 1031), ints(idx), o64);
        B.gather(f32(table, rows, 3, 1031), ints(idx), o32);
        exact("gather", o64, o32);
        Tensor t64 = f64(table, rows, 3, 1031), t32 = f32(table, rows, 3, 1031);
        B.scatterAdd(f64(gout, idx.length, 3, 1031), ints(idx), t64);
        B.scatterAdd(f32(gout, idx.length, 3, 1031), ints(idx), t32);
        exact("scatterAdd", t64, t32);   // summed in double in the order of b, rounded once: as the reference
        for (int bad : new int[]{-1, rows}) {
            int[] wrong = {1, bad, 2};
            String m64 = assertThrows(IndexOutOfBoundsException.class,
                    () -> B.gather(f64(table, rows, row), ints(wrong), out64(3, row))).getMessage();
            String m32 = assertThrows(IndexOutOfBoundsException.class,
                    () -> B.gather(f32(table, rows, row), ints(wrong), view32(3, row))).getMessage();
            assertEquals(m64, m32);
            String s64 = assertThrows(IndexOutOfBoundsException.class,
                    () -> B.scatterAdd(f64(Arrays.copyOf(gout, 3 * row), 3, row), ints(wrong), out64(rows, row))).getMessage();
            Tensor tt = view32(rows, row);
            B.fill(tt, 0);
            String s32 = assertThrows(IndexOutOfBoundsException.class,
                    () -> B.scatterAdd(f32(Arrays.copyOf(gout, 3 * row), 3, row), ints(wrong), tt)).getMessage();
            assertEquals(s64, s32);
        }
    }

    // ---------------------------------------------------------------- diffusion
    @Test void diffusionStepsMatchTheReference() {
        diffusionSteps(-1);
        diffusionSteps(0);
        diffusionSteps(3);
    }

    private void diffusionSteps(int lead) {
        sameLead = lead;
        int nb = 5, T = 17;
        int[] s = {nb, 3, 7, 9};
        int n = (int) Shapes.numel(s);
        double[] x = normal(r, n), e = normal(r, n), z = normal(r, n);
        double[] a = uniform(r, T, 0.1, 1), sg = uniform(r, T, 0, 1), c1 = uniform(r, T, 1, 1.1), c2 = uniform(r, T, 0, 0.1);
        double[] coefs = uniform(r, 5 * T, 0.05, 1);
        int[] t = {0, 16, 3, 3, 9};
        Tensor o64 = out64(s), o32 = view32(s);
        B.qSample(f64(x, s), f64(e, s), ints(t), f64(a, T), f64(sg, T), o64);
        B.qSample(f32(x, s), f32(e, s), ints(t), f32(a, T), f32(sg, T), o32);
        close("qSample", o64, o32, 1e-6);
        for (boolean noise : new boolean[]{true, false}) {
            Tensor p64 = out64(s), p32 = view32(s);
            B.posteriorStep(f64(x, s), f64(e, s), noise ? f64(z, s) : null, ints(t), f64(c1, T), f64(c2, T), f64(sg, T), p64);
            B.posteriorStep(f32(x, s), f32(e, s), noise ? f32(z, s) : null, ints(t), f32(c1, T), f32(c2, T), f32(sg, T), p32);
            close("posteriorStep noise " + noise, p64, p32, 1e-6);
            for (double clip : new double[]{0, 1}) {
                Tensor d64 = out64(s), d32 = view32(s);
                B.ddimStep(f64(x, s), f64(e, s), noise ? f64(z, s) : null, ints(t), f64(coefs, T, 5), clip, d64);
                B.ddimStep(f32(x, s), f32(e, s), noise ? f32(z, s) : null, ints(t), f32(coefs, T, 5), clip, d32);
                close("ddimStep noise " + noise + " clip " + clip, d64, d32, 1e-6);
            }
        }
        int[] bad = {0, 1, T, 2, 3};
        for (boolean f : new boolean[]{false, true}) {
            IndexOutOfBoundsException q = assertThrows(IndexOutOfBoundsException.class, () ->
                    B.qSample(f ? f32(x, s) : f64(x, s), f ? f32(e, s) : f64(e, s), ints(bad), f ? f32(a, T) : f64(a, T),
                            f ? f32(sg, T) : f64(sg, T), f ? view32(s) : out64(s)));
            assertTrue(q.getMessage().contains("timestep " + T + " of sample 2"), q.getMessage());
            IndexOutOfBoundsException d = assertThrows(IndexOutOfBoundsException.class, () ->
                    B.ddimStep(f ? f32(x, s) : f64(x, s), f ? f32(e, s) : f64(e, s), null, ints(bad),
                            f ? f32(coefs, T, 5) : f64(coefs, T, 5), 0, f ? view32(s) : out64(s)));
            assertTrue(d.getMessage().contains("timestep " + T + " of sample 2"), d.getMessage());
        }
    }

    // ---------------------------------------------------------------- randomness
    @Test void philoxStreamsAreBitIdentical() {
        long seed = 0x1234_5678_9ABCL;
        for (int n : new int[]{1, 3, 4, 5, 4 * 5000 + 3, 40_001}) {
            for (long offset : new long[]{0, 7, (1L << 32) - 2}) {
                double[] u = new double[n], g = new double[n];
                Philox.fillUniform(seed, offset, u, n);
                Philox.fillNormal(seed, offset, g, n);
                Tensor tu = view32(n), tg = view32(n), td = view32(n);
                B.randUniform(tu, seed, offset);
                B.randNormal(tg, seed, offset);
                double p = 0.3;
                B.dropoutMask(td, p, seed, offset);
                float[] fu = tu.toFloats(), fg = tg.toFloats(), fd = td.toFloats();
                float keep = (float) (1.0 / (1.0 - p));
                for (int i = 0; i < n; i++) {
                    assertEquals(Float.floatToRawIntBits((float) u[i]), Float.floatToRawIntBits(fu[i]), "uniform " + i);
                    assertEquals(Float.floatToRawIntBits((float) g[i]), Float.floatToRawIntBits(fg[i]), "normal " + i);
                    assertEquals(u[i] >= p ? keep : 0f, fd[i], "dropout " + i);
                }
                // and the F64 path (the reference) gives the same values unrounded
                Tensor d64 = out64(n);
                B.randNormal(d64, seed, offset);
                assertArrayEquals(g, d64.toDoubles());
            }
        }
    }

    // ---------------------------------------------------------------- offsets of the float kernels
    /** The float kernels' same-offset loops (every view at one offset) and general loops (random
     *  offsets), both against the reference; sizes past one parallel chunk with ragged tails. */
    @Test void floatKernelsAtEqualAndUnequalOffsets() {
        for (int lead : new int[]{-1, 0, 5}) {
            sameLead = lead;
            String at = lead < 0 ? " (random offsets)" : " (offset " + lead + ")";
            int[] s = {3, 8, 37, 41};
            int n = (int) Shapes.numel(s);
            double[] x = normal(r, n), y = normal(r, n), pos = uniform(r, n, 0.5, 2);
            for (Ops.Unary op : new Ops.Unary[]{Ops.Unary.SQUARE, Ops.Unary.NEG, Ops.Unary.SILU}) {
                Tensor o64 = out64(s), o32 = view32(s);
                B.unary(op, f64(x, s), o64);
                B.unary(op, f32(x, s), o32);
                close("unary " + op + at, o64, o32, RTOL);
            }
            for (Ops.Unary op : new Ops.Unary[]{Ops.Unary.SILU, Ops.Unary.SQUARE}) {   // the vectorised backward loops
                Tensor y64 = out64(s), gx64 = out64(s), gx32 = view32(s);
                B.unary(op, f64(x, s), y64);
                B.unaryBackward(op, f64(x, s), y64, f64(y, s), gx64);
                B.unaryBackward(op, f32(x, s), f32(y64.toDoubles(), s), f32(y, s), gx32);
                close("unaryBackward " + op + at, gx64, gx32, RTOL);
            }
            double[] cond = new double[n];
            for (int i = 0; i < n; i++) cond[i] = i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : Double.NaN);
            Tensor w64 = out64(s), w32 = view32(s);
            B.where(f64(cond, s), f64(x, s), f64(y, s), w64);
            B.where(f32(cond, s), f32(x, s), f32(y, s), w32);
            exact("where" + at, w64, w32);
            Tensor a64 = out64(s), a32 = view32(s);
            B.affine(f64(x, s), 1.5, -0.25, a64);
            B.affine(f32(x, s), 1.5, -0.25, a32);
            close("affine" + at, a64, a32, RTOL);
            for (Ops.Binary op : new Ops.Binary[]{Ops.Binary.ADD, Ops.Binary.SUB, Ops.Binary.MUL, Ops.Binary.DIV,
                    Ops.Binary.POW, Ops.Binary.MAX, Ops.Binary.MIN}) {
                double[] yy = op == Ops.Binary.DIV ? pos : y, xx = op == Ops.Binary.POW ? pos : x;
                Tensor o64 = out64(s), o32 = view32(s);
                B.binary(op, f64(xx, s), f64(yy, s), o64);
                B.binary(op, f32(xx, s), f32(yy, s), o32);
                close("binary " + op + at, o64, o32, RTOL);
                double[] c = {op == Ops.Binary.POW ? 1.5 : 0.75};
                Tensor p64 = out64(s), p32 = view32(s);
                B.binary(op, f64(xx, s), f64(c), p64);
                B.binary(op, f32(xx, s), f32(c), p32);
                close("binary " + op + " scalar" + at, p64, p32, RTOL);
            }
            for (boolean silu : new boolean[]{false, true}) {
                int c = s[1], groups = 4;
                double[] gm = normal(r, c), bt = normal(r, c), gy = normal(r, n);
                Tensor y64 = out64(s), m64 = out64(s[0], groups), r64 = out64(s[0], groups);
                Tensor y32 = view32(s), m32 = view32(s[0], groups), r32 = view32(s[0], groups);
                B.groupNorm(f64(x, s), f64(gm, c), f64(bt, c), groups, 1e-5, silu, y64, m64, r64);
                B.groupNorm(f32(x, s), f32(gm, c), f32(bt, c), groups, 1e-5, silu, y32, m32, r32);
                close("groupNorm silu=" + silu + at, y64, y32, 1e-4);
                Tensor gx64 = out64(s), gg64 = out64(c), gb64 = out64(c), gx32 = view32(s), gg32 = view32(c), gb32 = view32(c);
                B.groupNormBackward(f64(x, s), f64(gm, c), f64(bt, c), m64, r64, groups, silu, f64(gy, s), gx64, gg64, gb64);
                B.groupNormBackward(f32(x, s), f32(gm, c), f32(bt, c), m32, r32, groups, silu, f32(gy, s), gx32, gg32, gb32);
                close("groupNormBackward gx silu=" + silu + at, gx64, gx32, 1e-4);
                close("groupNormBackward ggamma silu=" + silu + at, gg64, gg32, 1e-4);
            }
            for (boolean decoupled : new boolean[]{false, true}) {
                double[] mv = normal(r, n), vv = uniform(r, n, 0, 2);
                Tensor p64 = f64(x, s), g64 = f64(y, s), mm64 = f64(mv, s), v64 = f64(vv, s);
                Tensor p32 = f32(x, s), g32 = f32(y, s), mm32 = f32(mv, s), v32 = f32(vv, s);
                B.adam(p64, g64, mm64, v64, 1e-3, 0.9, 0.999, 1e-8, 0.01, decoupled, 7, 0.5);
                B.adam(p32, g32, mm32, v32, 1e-3, 0.9, 0.999, 1e-8, 0.01, decoupled, 7, 0.5);
                close("adam param decoupled=" + decoupled + at, p64, p32, RTOL);
                close("adam m decoupled=" + decoupled + at, mm64, mm32, RTOL);
                close("adam v decoupled=" + decoupled + at, v64, v32, RTOL);
            }
            int[] sm = {67, 259};
            double[] z = normal(r, 67 * 259);
            for (int i = 0; i < z.length; i++) z[i] *= 4;
            Tensor s64 = out64(sm), s32 = view32(sm);
            B.softmax(f64(z, sm), s64);
            B.softmax(f32(z, sm), s32);
            close("softmax" + at, s64, s32, 1e-6);
        }
    }
}
