package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * Row-major GEMMs on cuBLAS (column-major): row-major C = op(A)·op(B) is column-major
 * Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets (B, A) swapped with m = N, n = M and the row-major leading
 * dimensions unchanged. Batches use strided-batched sgemm; a broadcast operand has stride 0.
 * Flops: 2·B·M·N·K; bytes ≥ 4·(Ba·M·K + Bb·K·N + B·M·N (+ again when beta ≠ 0)).
 * TF32 tensor-op math is off by default (exact float32 parity); setTf32(true) enables it.
 */
public final class GemmKernel {
    private final CudaDriver driver;
    private boolean tf32;

    GemmKernel(CudaDriver driver) { this.driver = driver; }

    void setTf32(boolean on) {
        driver.setTf32(on);
        tf32 = on;
    }

    boolean tf32() { return tf32; }

    /**
     * Row-major C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], b &lt; batch, with op(A) M×K, op(B) K×N,
     * lda/ldb/ldc row-major leading dimensions and element strides between batch entries
     * (0 = broadcast). Addresses are device addresses.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
              long a, int lda, long strideA, long b, int ldb, long strideB, float beta,
              long c, int ldc, long strideC, int batch, Supplier<String> what) {
        if (m == 0 || n == 0 || batch == 0) return;
        driver.sgemm(transB, transA, n, m, k, alpha, b, ldb, strideB, a, lda, strideA, beta, c, ldc, strideC, batch,
                () -> dims(m, n, k, batch, transA, transB) + " " + what.get());
    }

    private static String dims(int m, int n, int k, int batch, boolean ta, boolean tb) {
        return "M=" + m + " N=" + n + " K=" + k + " batch=" + batch + (ta ? " transA" : "") + (tb ? " transB" : "");
    }

    private static long addr(Tensor t) { return ((CudaStorage) t.storage()).address(t.offset()); }

    /** Backend.matmul: a [Ba, M, K] (or [Ba, K, M]), b [Bb, K, N] (or [Bb, N, K]), out [B, M, N]. */
    void matmul(CudaBackend be, Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta) {
        CudaBackend.f32("matmul", a, b, out);
        int m = out.dim(-2), n = out.dim(-1);
        int k = transA ? a.dim(-2) : a.dim(-1);
        long mn = (long) m * n;
        int batch = mn == 0 ? 0 : (int) (out.numel() / mn);
        long aMat = (long) m * k, bMat = (long) k * n;
        long ba = aMat == 0 ? 1 : a.numel() / aMat, bb = bMat == 0 ? 1 : b.numel() / bMat;
        Supplier<String> what = () -> "matmul " + a.describe() + " x " + b.describe() + " -> " + out.describe();
        if (out.numel() == 0) return;
        if (k == 0) {   // empty sum: out = beta·out
            if (beta == 0) be.fill(out, 0);
            else be.affine(out, beta, 0, out);
            return;
        }
        gemm(transA, transB, m, n, k, (float) alpha, addr(a), transA ? m : k, ba == 1 ? 0 : aMat,
                addr(b), transB ? k : n, bb == 1 ? 0 : bMat, (float) beta, addr(out), n, mn, batch, what);
    }
}
