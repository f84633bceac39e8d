package ddpm.kernels.cuda;

import ddpm.engine.Ops;
import ddpm.engine.Tensor;

/**
 * Launchers for reduce.cu (middle axis of [outer, n, inner]).
 * inner = 1, n ≤ 1024: reduce_rows_warp, a warp per row, 256 threads/block;
 * inner = 1, n &gt; 1024: reduce_rows, a 256-thread block per row;
 * inner &gt; 1: reduce_cols, block (32, 8), grid (⌈inner/32⌉, min(outer, 65535)).
 * Bytes: 4·outer·n·inner read + 4·outer·inner written; flops ≈ outer·n·inner (2× for SUMSQ).
 */
public final class ReduceKernel {
    private final KernelModule mod;

    ReduceKernel(CudaBackend be) { this.mod = new KernelModule(be, "reduce"); }

    void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        CudaBackend.f32("reduce " + op, x, out);
        CudaBackend.checkIndexable((long) outer * n * inner, "reduce", x::describe);
        if ((long) outer * inner == 0) return;
        java.util.function.Supplier<String> sh = () -> "reduce " + op + " [" + outer + ", " + n + ", " + inner + "] of " + x.describe();
        Args a = new Args().i(op.ordinal()).ptr(x).ptr(out).i(outer).i(n);
        if (inner == 1) {
            if (n <= 1024) {
                mod.launch("reduce_rows_warp", mod.blocksFor((long) outer * 32, 256), 1, 1, 256, 1, 1, 0, a, sh);
            } else {
                mod.launch("reduce_rows", Math.min(outer, 65535 * 16), 1, 1, 256, 1, 1, 0, a, sh);
            }
        } else {
            a.i(inner);
            mod.launch("reduce_cols", (inner + 31) / 32, Math.min(outer, 65535), 1, 32, 8, 1, 0, a, sh);
        }
    }
}
