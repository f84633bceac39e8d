package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Matrix products: plain, batched, broadcast batches, transposes, linear, alpha/beta. */
class MatmulTest {
    private final Random r = new Random(31);

    /** Stored shape of an operand holding op(X) of logical shape [rows, cols] in a batch of bat (0: rank 2). */
    private static int[] stored(int bat, int rows, int cols, boolean trans) {
        int a = trans ? cols : rows, b = trans ? rows : cols;
        return bat == 0 ? new int[]{a, b} : new int[]{bat, a, b};
    }

    /** out[z] = op(a[z]) · op(b[z]) by plain loops. */
    private static double[] product(double[] a, int ba, double[] b, int bb, int m, int k, int n, boolean ta, boolean tb, int batch) {
        double[] out = new double[batch * m * n];
        for (int z = 0; z < batch; z++) {
            int ao = (ba <= 1 ? 0 : z) * m * k, bo = (bb <= 1 ? 0 : z) * k * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a[ao + p * m + i] : a[ao + i * k + p];
                        double bv = tb ? b[bo + j * k + p] : b[bo + p * n + j];
                        acc += av * bv;
                    }
                    out[z * m * n + i * n + j] = acc;
                }
        }
        return out;
    }

    @Test void allLayouts() {
        int m = 3, k = 5, n = 4;
        int[][] batches = {{0, 0}, {2, 2}, {1, 2}, {2, 1}, {2, 0}, {0, 2}, {1, 1}};
        for (int[] bt : batches)
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    int ba = bt[0], bb = bt[1], batch = Math.max(Math.max(ba, bb), 1);
                    int[] sa = stored(ba, m, k, ta), sb = stored(bb, k, n, tb);
                    int[] so = ba == 0 && bb == 0 ? new int[]{m, n} : new int[]{batch, m, n};
                    String name = "matmul " + java.util.Arrays.toString(sa) + (ta ? "ᵀ" : "") + " · " + java.util.Arrays.toString(sb) + (tb ? "ᵀ" : "");
                    double[] a = roundToFloat(normal(r, (int) Shapes.numel(sa))), b = roundToFloat(normal(r, (int) Shapes.numel(sb)));
                    double[] e = product(a, ba, b, bb, m, k, n, ta, tb, batch);
                    try (Scope s = Scope.open()) {
                        Tensor y = f64(a, sa).matmul(f64(b, sb), ta, tb);
                        assertTensor(name, e, so, y, 1e-13, 1e-14);
                        assertF32MatchesF64(name, y, f32(a, sa).matmul(f32(b, sb), ta, tb), 1e-5);
                    }
                    GradCheck.check(name, in -> in[0].matmul(in[1], ta, tb), f64(a, sa), f64(b, sb));
                }
    }

    @Test void randomSizes() {
        Random g = new Random(1618);
        for (int trial = 0; trial < 8; trial++) {
            int m = 1 + g.nextInt(6), k = 1 + g.nextInt(6), n = 1 + g.nextInt(6);
            int ba = g.nextInt(3), bb = g.nextInt(3);   // 0: rank 2
            if (ba > 0 && bb > 0 && ba != bb) bb = 1;
            boolean ta = g.nextBoolean(), tb = g.nextBoolean();
            int batch = Math.max(Math.max(ba, bb), 1);
            int[] sa = stored(ba, m, k, ta), sb = stored(bb, k, n, tb);
            int[] so = ba == 0 && bb == 0 ? new int[]{m, n} : new int[]{batch, m, n};
            String name = "random matmul " + java.util.Arrays.toString(sa) + (ta ? "ᵀ" : "") + " · " + java.util.Arrays.toString(sb) + (tb ? "ᵀ" : "");
            double[] a = roundToFloat(normal(r, (int) Shapes.numel(sa))), b = roundToFloat(normal(r, (int) Shapes.numel(sb)));
            try (Scope s = Scope.open()) {
                Tensor y = f64(a, sa).matmul(f64(b, sb), ta, tb);
                assertTensor(name, product(a, ba, b, bb, m, k, n, ta, tb, batch), so, y, 1e-13, 1e-14);
                assertF32MatchesF64(name, y, f32(a, sa).matmul(f32(b, sb), ta, tb), 1e-5);
            }
            GradCheck.check(name, in -> in[0].matmul(in[1], ta, tb), f64(a, sa), f64(b, sb));
        }
    }

    @Test void largerOddSizesF32() {
        // sizes past typical blocking factors, odd everywhere, to exercise the fast float GEMM's edges
        int[][] sizes = {{67, 129, 33}, {1, 70, 1}, {130, 3, 65}};
        for (int[] sz : sizes)
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    int m = sz[0], k = sz[1], n = sz[2];
                    int[] sa = stored(2, m, k, ta), sb = stored(0, k, n, tb);
                    double[] a = roundToFloat(normal(r, (int) Shapes.numel(sa))), b = roundToFloat(normal(r, (int) Shapes.numel(sb)));
                    try (Scope s = Scope.open()) {
                        Tensor y = f64(a, sa).matmul(f64(b, sb), ta, tb);
                        assertTensor("F64 " + m + "x" + k + "x" + n, product(a, 2, b, 0, m, k, n, ta, tb, 2), new int[]{2, m, n}, y, 1e-12, 1e-12);
                        assertF32MatchesF64("matmul " + m + "x" + k + "x" + n + " ta=" + ta + " tb=" + tb, y,
                                f32(a, sa).matmul(f32(b, sb), ta, tb), 1e-5);
                    }
                }
    }

    @Test void alphaBetaAccumulate() {
        int m = 3, k = 4, n = 5;
        double[] a = roundToFloat(normal(r, m * k)), b = roundToFloat(normal(r, k * n)), c = roundToFloat(normal(r, m * n));
        double[] p = product(a, 0, b, 0, m, k, n, false, false, 1), e = new double[m * n];
        for (int i = 0; i < e.length; i++) e[i] = 0.5 * p[i] + 2 * c[i];
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            try (Scope s = Scope.open()) {
                Tensor ta = Tensor.ofDoubles(dt, Device.CPU, a, m, k), tb = Tensor.ofDoubles(dt, Device.CPU, b, k, n);
                Tensor out = Tensor.ofDoubles(dt, Device.CPU, c, m, n);
                Backends.cpu().matmul(ta, tb, out, false, false, 0.5, 2);
                assertTensor("alpha/beta " + dt, e, new int[]{m, n}, out, dt == DType.F64 ? 1e-14 : 1e-5, dt == DType.F64 ? 1e-14 : 1e-5);
            }
        }
    }

    @Test void linear() {
        double[] x = roundToFloat(normal(r, 15)), w = roundToFloat(normal(r, 20)), b = roundToFloat(normal(r, 4));
        double[] e = new double[3 * 4];
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < 4; o++) {
                double acc = b[o];
                for (int f = 0; f < 5; f++) acc += x[i * 5 + f] * w[o * 5 + f];
                e[i * 4 + o] = acc;
            }
        try (Scope s = Scope.open()) {
            Tensor y = F.linear(f64(x, 3, 5), f64(w, 4, 5), f64(b, 4));
            assertTensor("linear", e, new int[]{3, 4}, y, 1e-14, 1e-14);
            assertF32MatchesF64("linear", y, F.linear(f32(x, 3, 5), f32(w, 4, 5), f32(b, 4)), 1e-5);
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> F.linear(f64(x, 3, 5), randn64(r, 3, 4), null));
            assertTrue(ex.getMessage().contains("[3, 5]") && ex.getMessage().contains("[3, 4]"), ex.getMessage());
        }
        GradCheck.check("linear", in -> F.linear(in[0], in[1], in[2]), f64(x, 3, 5), f64(w, 4, 5), f64(b, 4));
        GradCheck.check("linear, batched input", in -> F.linear(in[0], in[1], null), randn64(r, 2, 3, 5), f64(w, 4, 5));
    }
}
