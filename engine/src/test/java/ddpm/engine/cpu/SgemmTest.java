package ddpm.engine.cpu;

import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Random;

import static ddpm.engine.cpu.FastKernelCheck.CPU;
import static ddpm.engine.cpu.FastKernelCheck.close;
import static ddpm.engine.cpu.FastKernelCheck.empty;
import static ddpm.engine.cpu.FastKernelCheck.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The float SGEMM (through {@link CpuBackend#matmul} on F32) against the double reference on F64. */
class SgemmTest {
    @AfterEach void restoreThreads() { Parallel.setThreads(0); }

    /** m, n, k, batch of a, batch of b, batch of out */
    private static void check(Random r, int m, int n, int k, int ba, int bb, int bo, boolean ta, boolean tb,
                              double alpha, double beta) {
        int[] sa = ta ? new int[]{k, m} : new int[]{m, k}, sb = tb ? new int[]{n, k} : new int[]{k, n};
        Tensor[] a = random(r, 1, ba == 0 ? sa : new int[]{ba, sa[0], sa[1]});
        Tensor[] b = random(r, 1, bb == 0 ? sb : new int[]{bb, sb[0], sb[1]});
        Tensor[] c = random(r, 1, bo == 0 ? new int[]{m, n} : new int[]{bo, m, n});
        CPU.matmul(a[0], b[0], c[0], ta, tb, alpha, beta);
        CPU.matmul(a[1], b[1], c[1], ta, tb, alpha, beta);
        double tol = 2e-6 * Math.sqrt(k + 1) * 8 * (Math.abs(alpha) + Math.abs(beta) + 1);
        close("matmul m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb + " batches " + ba + "/" + bb + "/" + bo
                + " alpha=" + alpha + " beta=" + beta, c[0], c[1], tol, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void oddShapesAllTransposes(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(11 + threads);
        int[][] shapes = {{1, 1, 1}, {7, 5, 3}, {13, 33, 17}, {6, 32, 1}, {37, 65, 300}, {95, 31, 257}, {128, 97, 64},
                {5, 200, 513}, {200, 7, 40}, {64, 64, 0}, {29, 16, 70}, {17, 48, 33}, {15, 80, 9}};
        for (int[] s : shapes)
            for (int t = 0; t < 4; t++)
                check(r, s[0], s[1], s[2], 0, 0, 0, (t & 1) != 0, (t & 2) != 0, 1, 0);
    }

    @Test
    void alphaBetaAccumulate() {
        Random r = new Random(5);
        for (int t = 0; t < 4; t++) {
            check(r, 19, 45, 70, 0, 0, 0, (t & 1) != 0, (t & 2) != 0, 0.5, 1);
            check(r, 19, 45, 70, 0, 0, 0, (t & 1) != 0, (t & 2) != 0, -2, 0.25);
            check(r, 30, 10, 9, 0, 0, 0, (t & 1) != 0, (t & 2) != 0, 0, 3);
        }
    }

    @Test
    void betaZeroOverwritesNaN() {
        Tensor[] a = random(new Random(1), 1, 9, 4), b = random(new Random(2), 1, 4, 40);
        Tensor[] c = empty(9, 40);
        c[0].fill(Double.NaN);
        c[1].fill(Double.NaN);
        CPU.matmul(a[0], b[0], c[0], false, false, 1, 0);
        CPU.matmul(a[1], b[1], c[1], false, false, 1, 0);
        close("beta=0 over NaN", c[0], c[1], 1e-5, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void batchedWithBroadcast(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(7);
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            check(r, 21, 34, 15, 5, 5, 5, ta, tb, 1, 0);
            check(r, 21, 34, 15, 1, 4, 4, ta, tb, 1, 0);   // a broadcast
            check(r, 21, 34, 15, 3, 1, 3, ta, tb, 0.7, 0.3); // b broadcast
            check(r, 21, 34, 15, 0, 6, 6, ta, tb, 1, 0);   // rank-2 a
            check(r, 40, 9, 66, 8, 0, 8, ta, tb, 1, 1);    // rank-2 b
        }
    }

    @Test
    void largeParallelSplitsMatchSerial() {
        // the same product on 1..4 threads: every split of C gives bitwise the same values (same k order)
        Random r = new Random(3);
        int m = 301, n = 259, k = 520;
        float[] a = new float[m * k], b = new float[k * n];
        for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < b.length; i++) b[i] = r.nextFloat() - 0.5f;
        float[] ref = new float[m * n];
        Sgemm.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, ref, 0, n, 1);
        for (int t = 2; t <= 4; t++) {
            float[] c = new float[m * n];
            Sgemm.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n, t);
            assertArrayEquals(ref, c, "threads=" + t);
        }
    }

    @Test
    void prepackedAMatchesOnTheFlyPacking() {
        // A packed once (conv weights) gives bitwise the same C on any split of the rows
        Random r = new Random(12);
        int m = 3 * Sgemm.MR + 5, n = 70, k = Sgemm.KC + 37;
        for (boolean ta : new boolean[]{false, true}) {
            float[] a = new float[m * k], b = new float[k * n];
            for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
            for (int i = 0; i < b.length; i++) b[i] = r.nextFloat() - 0.5f;
            float[] ref = new float[m * n];
            Sgemm.gemm(ta, false, m, n, k, 0.5f, a, 0, ta ? m : k, b, 0, n, 0f, ref, 0, n, 1);
            float[] packed = Sgemm.packA(ta, m, k, 0.5f, a, 0, ta ? m : k);
            for (int t = 1; t <= 4; t++) {
                float[] c = new float[m * n];
                Sgemm.gemmPacked(m, n, k, packed, Sgemm.dense(false, b, 0, n), 0f, c, 0, n, t);
                assertArrayEquals(ref, c, "ta=" + ta + " threads=" + t);
            }
        }
    }

    @Test
    void leadingDimensionsAndOffsets() {
        // C sub-block of a wider matrix, A and B inside larger buffers
        Random r = new Random(9);
        int m = 17, n = 23, k = 29, lda = 40, ldb = 31, ldc = 50, ao = 3, bo = 5, co = 7;
        float[] a = new float[ao + m * lda], b = new float[bo + k * ldb], c = new float[co + m * ldc];
        for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < b.length; i++) b[i] = r.nextFloat() - 0.5f;
        Arrays.fill(c, 9f);
        Sgemm.gemm(false, false, m, n, k, 1f, a, ao, lda, b, bo, ldb, 0f, c, co, ldc, 2);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++) {
                float got = c[co + i * ldc + j];
                if (j >= n) { assertEquals(9f, got, "outside C at " + i + "," + j); continue; }
                double acc = 0;
                for (int p = 0; p < k; p++) acc += a[ao + i * lda + p] * b[bo + p * ldb + j];
                assertEquals(acc, got, 1e-4, "C[" + i + "," + j + "]");
            }
        for (int j = 0; j < co; j++) assertEquals(9f, c[j]);
    }

    @Test
    void portableKernelMatchesVectorKernel() {
        // the scalar fallback (used without jdk.incubator.vector) on the same packed panels
        Random r = new Random(4);
        int kc = 37, mr = Sgemm.MR, nr = Sgemm.NR;
        float[] pa = new float[kc * mr], pb = new float[kc * nr];
        for (int i = 0; i < pa.length; i++) pa[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < pb.length; i++) pb[i] = r.nextFloat() - 0.5f;
        float[] bias = new float[mr + 3];
        for (int i = 0; i < bias.length; i++) bias[i] = r.nextFloat() - 0.5f;
        for (int rows = 1; rows <= mr; rows++)
            for (boolean store : new boolean[]{false, true}) {
                // C starts as NaN where the kernel stores (it must not read it), as 1 where it adds
                float[] c1 = new float[mr * nr], c2 = new float[mr * nr];
                java.util.Arrays.fill(c1, store ? Float.NaN : 1f);
                java.util.Arrays.fill(c2, store ? Float.NaN : 1f);
                Sgemm.scalarKernel(rows, kc, pa, 0, pb, 0, c1, 0, nr, store ? bias : null, 2);
                Sgemm.kernelForTest(rows, kc, pa, 0, pb, 0, c2, 0, nr, store ? bias : null, 2);
                for (int i = 0; i < rows * nr; i++) {
                    assertEquals(c1[i], c2[i], 1e-4, rows + " rows, store " + store + ", element " + i);
                    float dot = 0;
                    for (int p = 0; p < kc; p++) dot += pa[p * mr + i / nr] * pb[p * nr + i % nr];
                    assertEquals(dot + (store ? bias[2 + i / nr] : 1f), c1[i], 1e-4, "scalar kernel, element " + i);
                }
            }
    }
}
