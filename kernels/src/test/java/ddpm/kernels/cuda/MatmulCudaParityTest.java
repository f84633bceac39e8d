package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** GemmKernel.matmul (cuBLAS sgemm / strided-batched, row-major trick, broadcast batches, TF32). */
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

    @Test void tf32() {
        CudaBackend cb = (CudaBackend) gpu;
        cb.setTf32(true);
        try {
            at(4, 4, 128, 256, 96, false, false, 1, 0, 5e-3);
        } finally {
            cb.setTf32(false);
        }
    }
}
