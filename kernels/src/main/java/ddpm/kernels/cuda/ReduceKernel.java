package ddpm.kernels.cuda;

import ddpm.engine.Ops;
import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * Launchers for reduce.cu (middle axis of [outer, n, inner]).
 * Enough rows or column tiles to fill the GPU:
 *   inner = 1, n ≤ 1024: reduce_rows_warp, a warp per row, 256 threads/block;
 *   inner = 1, n &gt; 1024: reduce_rows, a 256-thread block per row;
 *   inner &gt; 1: reduce_cols, block (32, 8), grid (⌈inner/32⌉, min(outer, 65535)).
 * Too few (fewer than 4 blocks per SM: the global gradient norm is one row of 36M): the n axis is
 * split into chunks reduced by reduce_rows_chunks / reduce_cols_chunks into partials
 * [outer, chunks, inner], which the path above then reduces (SUMSQ partials are summed).
 * x and out are F32 or BF16 in any mix (partials F32).
 * Bytes at F32: 4·outer·n·inner read + 4·outer·inner written (+ the partials: 8·outer·chunks·inner);
 * flops ≈ outer·n·inner (2× for SUMSQ).
 */
public final class ReduceKernel {
    /** Fewest entries of n per chunk: a chunk must be worth a block's start. */
    static final int MIN_ROW_CHUNK = 2048, MIN_COL_CHUNK = 64;
    private final CudaBackend be;
    private final KernelModule mod;

    ReduceKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "reduce");
    }

    /** How many chunks to split n into (1: no split) so the launch has about 4 blocks per SM. */
    static long chunks(long blocks, int n, int minChunk, int smCount) {
        long want = 4L * smCount;
        if (blocks >= want || n < 2L * minChunk) return 1;
        long c = Math.min((want + blocks - 1) / blocks, n / minChunk);
        return Math.max(1, Math.min(c, 4096));
    }

    void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        int dt = CudaBackend.dtypes("reduce " + op, x, out);
        CudaBackend.checkIndexable((long) outer * n * inner, "reduce", x::describe);
        if ((long) outer * inner == 0) return;
        Supplier<String> sh = () -> "reduce " + op + " [" + outer + ", " + n + ", " + inner + "] of " + x.describe();
        long tiles = inner == 1 ? outer : (long) outer * ((inner + 31) / 32);
        long chunks = outer > 65535 ? 1 : chunks(tiles, n, inner == 1 ? MIN_ROW_CHUNK : MIN_COL_CHUNK, be.smCount());
        if (chunks > 1) {
            int c = (int) chunks, chunk = (int) ((n + chunks - 1) / chunks);
            CudaAllocator.Block partial = be.scratch((long) outer * c * inner);
            try {
                if (inner == 1)
                    mod.launch("reduce_rows_chunks", c, outer, 1, 256, 1, 1, 0,
                            new Args().i(op.ordinal()).ptr(x).addr(partial.address()).i(n).i(chunk).i(dt & 1), sh);
                else
                    mod.launch("reduce_cols_chunks", (inner + 31) / 32, c, outer, 32, 8, 1, 0,
                            new Args().i(op.ordinal()).ptr(x).addr(partial.address()).i(n).i(inner).i(chunk).i(dt & 1), sh);
                Ops.Reduce combine = op == Ops.Reduce.SUMSQ ? Ops.Reduce.SUM : op;
                direct(combine, new Args().i(combine.ordinal()).addr(partial.address()).ptr(out).i(outer).i(c), outer, c, inner,
                        dt & 2, sh);   // float32 partials in
            } finally {
                be.allocator().release(partial);
            }
            return;
        }
        direct(op, new Args().i(op.ordinal()).ptr(x).ptr(out).i(outer).i(n), outer, n, inner, dt, sh);
    }

    /** One pass: a warp or block per row, or column tiles; {@code a} holds (op, x, out, outer, n); dt the dtype mask. */
    private void direct(Ops.Reduce op, Args a, int outer, int n, int inner, int dt, Supplier<String> sh) {
        if (inner == 1) {
            a.i(dt);
            if (n <= 1024) mod.launch("reduce_rows_warp", mod.blocksFor((long) outer * 32, 256), 1, 1, 256, 1, 1, 0, a, sh);
            else mod.launch("reduce_rows", Math.min(outer, 65535 * 16), 1, 1, 256, 1, 1, 0, a, sh);
        } else {
            a.i(inner).i(dt);
            mod.launch("reduce_cols", (inner + 31) / 32, Math.min(outer, 65535), 1, 32, 8, 1, 0, a, sh);
        }
    }
}
