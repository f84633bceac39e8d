package ddpm.kernels.cuda;

import ddpm.engine.Tensor;
import jcuda.Pointer;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasMath;
import jcuda.jcublas.cublasOperation;

import java.util.function.Supplier;

/**
 * Row-major GEMMs on cuBLAS (column-major): row-major C = op(A)·op(B) is column-major
 * Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets (B, A) swapped with m = N, n = M and the row-major leading
 * dimensions unchanged. Batches use strided-batched sgemm; a broadcast operand has stride 0.
 * Flops: 2·B·M·N·K; bytes ≥ 4·(Ba·M·K + Bb·K·N + B·M·N (+ again when beta ≠ 0)).
 * TF32 tensor-op math is off by default (exact float32 parity); setTf32(true) enables it.
 */
public final class GemmKernel {
    private final CudaBackend be;
    private final cublasHandle handle;
    private boolean tf32;

    GemmKernel(CudaBackend be, cublasHandle handle) {
        this.be = be;
        this.handle = handle;
    }

    void setTf32(boolean on) {
        DryRun dry = be.dryRun();
        if (dry != null) {
            dry.record(new DryRun.Call(DryRun.Kind.MATH_MODE, "cublas", "cublasSetMathMode", null, null, null, 0,
                    new int[]{on ? cublasMath.CUBLAS_TF32_TENSOR_OP_MATH : cublasMath.CUBLAS_DEFAULT_MATH}, null, null, null));
            tf32 = on;
            return;
        }
        Cuda.checkBlas(JCublas2.cublasSetMathMode(handle, on ? cublasMath.CUBLAS_TF32_TENSOR_OP_MATH : cublasMath.CUBLAS_DEFAULT_MATH),
                "cublasSetMathMode(" + (on ? "TF32" : "default") + ")");
        tf32 = on;
    }

    boolean tf32() { return tf32; }

    /**
     * Row-major C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], b &lt; batch, with op(A) M×K, op(B) K×N,
     * lda/ldb/ldc row-major leading dimensions and element strides between batch entries
     * (0 = broadcast). Addresses are device pointers.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
              DevPtr a, int lda, long strideA, DevPtr b, int ldb, long strideB, float beta,
              DevPtr c, int ldc, long strideC, int batch, Supplier<String> what) {
        if (m == 0 || n == 0 || batch == 0) return;
        int opA = transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
        int opB = transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
        DryRun dry = be.dryRun();
        if (dry != null) {   // cuBLAS's column-major call, exactly as issued below
            dry.record(new DryRun.Call(DryRun.Kind.GEMM, "cublas", batch == 1 ? "cublasSgemm" : "cublasSgemmStridedBatched",
                    null, null, null, 0, new int[]{opB, opA, n, m, k, ldb, lda, ldc, batch},
                    new long[]{b.address(), a.address(), c.address()}, new long[]{strideB, strideA, strideC},
                    new float[]{alpha, beta}));
            return;
        }
        Pointer al = Pointer.to(new float[]{alpha}), bt = Pointer.to(new float[]{beta});
        int st;
        if (batch == 1) {
            st = JCublas2.cublasSgemm(handle, opB, opA, n, m, k, al, b, ldb, a, lda, bt, c, ldc);
            Cuda.checkBlas(st, "cublasSgemm", () -> dims(m, n, k, batch, transA, transB) + " " + what.get());
        } else {
            st = JCublas2.cublasSgemmStridedBatched(handle, opB, opA, n, m, k, al, b, ldb, strideB, a, lda, strideA,
                    bt, c, ldc, strideC, batch);
            Cuda.checkBlas(st, "cublasSgemmStridedBatched", () -> dims(m, n, k, batch, transA, transB) + " " + what.get());
        }
        be.afterLibraryCall("cuBLAS sgemm " + dims(m, n, k, batch, transA, transB));
    }

    private static String dims(int m, int n, int k, int batch, boolean ta, boolean tb) {
        return "M=" + m + " N=" + n + " K=" + k + " batch=" + batch + (ta ? " transA" : "") + (tb ? " transB" : "");
    }

    /** Backend.matmul: a [Ba, M, K] (or [Ba, K, M]), b [Bb, K, N] (or [Bb, N, K]), out [B, M, N]. */
    void matmul(Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta) {
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
        CudaStorage sa = (CudaStorage) a.storage(), sb = (CudaStorage) b.storage(), sc = (CudaStorage) out.storage();
        gemm(transA, transB, m, n, k, (float) alpha,
                sa.pointer(a.offset()), transA ? m : k, ba == 1 ? 0 : aMat,
                sb.pointer(b.offset()), transB ? k : n, bb == 1 ? 0 : bMat,
                (float) beta, sc.pointer(out.offset()), n, mn, batch, what);
    }
}
