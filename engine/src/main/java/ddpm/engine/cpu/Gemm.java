package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Batched matrix product out[b] = alpha·op(a[b])·op(b[b]) + beta·out[b] (either batch may be 1 and
 * broadcast): the double-precision reference beside the float32 kernel, which runs the packed,
 * register-blocked {@link Sgemm} on each batch item (items split over threads when they divide
 * evenly, else each GEMM split over all threads).
 */
final class Gemm {
    private Gemm() {}

    /** Shapes of one matmul: batch, m, n, k, and whether a and b broadcast over the batch. */
    private record Dims(int batch, int m, int n, int k, boolean bcA, boolean bcB) {
        static Dims of(Tensor a, Tensor b, Tensor out, boolean ta) {
            int[] so = out.shape(), sa = a.shape(), sb = b.shape();
            return new Dims(so.length == 3 ? so[0] : 1, so[so.length - 2], so[so.length - 1],
                    ta ? sa[sa.length - 2] : sa[sa.length - 1], sa.length == 2 || sa[0] == 1, sb.length == 2 || sb[0] == 1);
        }
    }

    static void matmulRef(Tensor a, Tensor b, Tensor out, boolean ta, boolean tb, double alpha, double beta) {
        Dims s = Dims.of(a, b, out, ta);
        int m = s.m, n = s.n, k = s.k;
        double[] x = d(a), y = d(b), z = d(out);
        for (int q = 0; q < s.batch; q++) {
            int ao = off(a) + (s.bcA ? 0 : q * m * k), bo = off(b) + (s.bcB ? 0 : q * k * n), oo = off(out) + q * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++)
                        acc += x[ao + (ta ? p * m + i : i * k + p)] * y[bo + (tb ? j * k + p : p * n + j)];
                    double prev = beta == 0 ? 0 : beta * z[oo + i * n + j];
                    z[oo + i * n + j] = alpha * acc + prev;
                }
        }
    }

    static void matmul(Tensor a, Tensor b, Tensor out, boolean ta, boolean tb, double alpha, double beta) {
        Dims s = Dims.of(a, b, out, ta);
        int m = s.m, n = s.n, k = s.k;
        float[] x = f(a), y = f(b), z = f(out);
        int xo = off(a), yo = off(b), zo = off(out), lda = ta ? m : k, ldb = tb ? k : n;
        long sA = s.bcA ? 0 : (long) m * k, sB = s.bcB ? 0 : (long) k * n, sC = (long) m * n;
        float al = (float) alpha, be = (float) beta;
        Parallel.items(s.batch, (i, threads) -> Sgemm.gemm(ta, tb, m, n, k, al, x, (int) (xo + i * sA), lda,
                y, (int) (yo + i * sB), ldb, be, z, (int) (zo + i * sC), n, threads));
    }
}
