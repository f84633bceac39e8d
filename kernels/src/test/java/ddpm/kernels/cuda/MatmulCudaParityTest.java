package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import org.junit.jupiter.api.Test;

/** GemmKernel.matmul (cuBLAS GEMM / strided-batched, row-major trick, broadcast batches, and the
 *  TF32 and BF16 math precisions). */
class MatmulCudaParityTest extends CudaTestBase {
    void at(int ba, int bb, int m, int k, int n, boolean ta, boolean tb, double alpha, double beta, double tol) {
        int batch = Math.max(ba, bb);
        int[] as = ta ? new int[]{ba, k, m} : new int[]{ba, m, k};
        int[] bs = tb ? new int[]{bb, n, k} : new int[]{bb, k, n};
        P a = rand(as), b = rand(bs);
        P o = beta == 0 ? out(batch, m, n) : outOf(rand(batch, m, n));
        cpu.matmul(a.c(), b.c(), o.c(), ta, tb, alpha, beta);
        gpu.matmul(a.g(), b.g(), o.g(), ta, tb, alpha, beta);
        assertClose("matmul Ba=" + ba + " Bb=" + bb + " M=" + m + " K=" + k + " N=" + n + (ta ? " tA" : "") + (tb ? " tB" : "")
                + " alpha=" + alpha + " beta=" + beta, o, tol);
    }

    @Test void small() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                at(3, 3, 5, 7, 4, ta, tb, 1, 0, 1e-6);
                at(1, 3, 5, 7, 4, ta, tb, 0.5, 0, 1e-6);
                at(3, 1, 5, 7, 4, ta, tb, 1, 1, 1e-6);
                at(1, 1, 9, 1, 11, ta, tb, 2, 0.5, 1e-6);
            }
    }

    @Test void rank2() {
        P a = rand(6, 10), b = rand(10, 3), o = out(6, 3);
        cpu.matmul(a.c(), b.c(), o.c(), false, false, 1, 0);
        gpu.matmul(a.g(), b.g(), o.g(), false, false, 1, 0);
        assertClose("matmul rank 2", o, 1e-6);
    }

    /** U-Net: attention projections [B·L, C] × [C, 3C] and batched q·kᵀ at L = 256. */
    @Test void uNet() {
        at(1, 1, 8192, 256, 768, false, false, 1, 0, 1e-5);
        at(16, 16, 256, 256, 256, false, true, 0.0625, 0, 1e-5);
    }

    /** TF32 and BF16: within their rounding of the float32 product, and equal (up to float32
     *  accumulation) to the product of the inputs rounded as the tensor cores take them. */
    @Test void reducedPrecisions() {
        CudaBackend cb = (CudaBackend) gpu;
        for (MathPrecision p : new MathPrecision[]{MathPrecision.TF32, MathPrecision.BF16}) {
            cb.setPrecision(p);
            try {
                int b = 4, m = 33, k = 256, n = 40;
                at(b, b, m, k, n, false, true, 1, 0, p == MathPrecision.TF32 ? 5e-3 : 3e-2);
                P a = rand(b, m, k), w = rand(b, k, n), o = out(b, m, n);
                gpu.matmul(a.g(), w.g(), o.g(), false, false, 1, 0);
                float[] av = a.c().toFloats(), wv = w.c().toFloats(), ref = new float[b * m * n];
                for (int i = 0; i < b; i++)
                    for (int r = 0; r < m; r++)
                        for (int c = 0; c < n; c++) {
                            double s = 0;
                            for (int q = 0; q < k; q++) s += (double) p.round(av[(i * m + r) * k + q]) * p.round(wv[(i * k + q) * n + c]);
                            ref[(i * m + r) * n + c] = (float) s;
                        }
                assertClose("matmul " + p + " against rounded inputs", ddpm.engine.Tensor.of(ref, ddpm.engine.Device.CPU, b, m, n),
                        o.g(), 1e-5);
            } finally {
                cb.setPrecision(MathPrecision.FP32);
            }
        }
    }
}
