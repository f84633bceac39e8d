package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * Launchers for attention.cu (FlashAttention-style, float32 SIMT, no L×S matrix in memory).
 * q [B, L, D], k [B, S, D], v [B, S, Dv], out [B, L, Dv], lse [B, L].
 *   attn_fwd:     grid (⌈L/16⌉, B), 128 threads, shared (16·(D + Dv) + 32·65 + 16·32 + 48)·4 B.
 *   attn_bwd_pre: Dvec = rowsum(gout ⊙ out), a warp per row, 256 threads (scratch [B, L]).
 *   attn_bwd_dq:  grid (⌈L/16⌉, B), 128 threads, shared (16·(2D + Dv) + 32·65 + 2·16·32)·4 B.
 *   attn_bwd_dkv: grid (⌈S/16⌉, B), 128 threads, shared (16·(2D + 2Dv) + 32·65 + 2·16·32)·4 B.
 * Flops: forward 2·B·L·S·(D + Dv); backward 2·B·L·S·(2D + 2Dv) (dQ, dK, dV, dP) + the recomputed
 * scores 2·B·L·S·D twice (once per backward kernel) = 2·B·L·S·(4D + 2Dv).
 * Bytes (compulsory): forward 4·B·(L·D + S·D + S·Dv + L·Dv + L); backward ≈ 4·B·(2L·D + 2S·D + 2S·Dv + 2L·Dv + 2L)
 * — K/V (forward) and Q/dO (backward) tiles are re-read once per 16-row block, mostly from L2.
 */
public final class AttentionKernel {
    static final int BR = 16, BC = 32, CH = 64, THREADS = 128;
    private final CudaBackend be;
    private final KernelModule mod;
    private int allowedFwd = -1, allowedDq = -1, allowedDkv = -1;

    AttentionKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "attention");
    }

    static int fwdShared(int d, int dv) { return 4 * (BR * (d + dv) + BC * (CH + 1) + BR * BC + 3 * BR); }

    static int dqShared(int d, int dv) { return 4 * (BR * (2 * d + dv) + BC * (CH + 1) + 2 * BR * BC); }

    static int dkvShared(int d, int dv) { return 4 * (BR * (2 * d + 2 * dv) + BC * (CH + 1) + 2 * BR * BC); }

    /** grid.y carries the batch: at most 65535 (a larger launch fails with CUDA_ERROR_INVALID_VALUE). */
    static void checkBatch(int b, Supplier<String> what) {
        if (b > 65535)
            throw new IllegalArgumentException("CUDA attention: batch·heads " + b + " exceeds the 65535 grid.y limit ("
                    + what.get() + "); split the batch");
    }

    private int ensureShared(String kernel, int bytes, int allowed, Supplier<String> what) {
        int max = be.maxSharedOptin();
        if (bytes > max)
            throw new IllegalArgumentException("attention: head dims need " + bytes + " B of shared memory in " + kernel
                    + ", the device allows " + max + " B per block (" + what.get() + ")");
        if (bytes > 48 * 1024 && bytes > allowed) {
            mod.allowSharedMemory(kernel, bytes);
            return bytes;
        }
        return allowed;
    }

    void forward(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        CudaBackend.f32("attention", q, k, v, out, lse);
        int l = q.dim(-2), d = q.dim(-1), s = k.dim(-2), dv = v.dim(-1);
        int b = (int) (q.numel() / Math.max(1, (long) l * d));
        Supplier<String> what = () -> "attention q " + q.describe() + " k " + k.describe() + " v " + v.describe();
        if (b == 0 || l == 0) return;
        checkBatch(b, what);
        int sh = fwdShared(d, dv);
        allowedFwd = ensureShared("attn_fwd", sh, allowedFwd, what);
        mod.launch("attn_fwd", (l + BR - 1) / BR, b, 1, THREADS, 1, 1, sh,
                new Args().ptr(q).ptr(k).ptr(v).ptr(out).ptr(lse).i(l).i(s).i(d).i(dv).f(scale), what);
    }

    void backward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout, double scale,
                  Tensor gq, Tensor gk, Tensor gv) {
        CudaBackend.f32("attentionBackward", q, k, v, out, lse, gout, gq, gk, gv);
        int l = q.dim(-2), d = q.dim(-1), s = k.dim(-2), dv = v.dim(-1);
        int b = (int) (q.numel() / Math.max(1, (long) l * d));
        Supplier<String> what = () -> "attentionBackward q " + q.describe() + " k " + k.describe() + " v " + v.describe();
        if (b == 0) return;
        if (l == 0) { be.fill(gk, 0); be.fill(gv, 0); return; }
        checkBatch(b, what);
        int shq = dqShared(d, dv), shkv = dkvShared(d, dv);
        allowedDq = ensureShared("attn_bwd_dq", shq, allowedDq, what);
        allowedDkv = ensureShared("attn_bwd_dkv", shkv, allowedDkv, what);
        CudaAllocator.Block dvec = be.scratch((long) b * l);
        try {
            int rows = b * l;
            mod.launch("attn_bwd_pre", mod.blocksFor((long) rows * 32, 256), 1, 1, 256, 1, 1, 0,
                    new Args().ptr(out).ptr(gout).addr(dvec.address()).i(rows).i(dv), what);
            mod.launch("attn_bwd_dq", (l + BR - 1) / BR, b, 1, THREADS, 1, 1, shq,
                    new Args().ptr(q).ptr(k).ptr(v).ptr(gout).ptr(lse).addr(dvec.address()).ptr(gq).i(l).i(s).i(d).i(dv).f(scale), what);
            if (s > 0)
                mod.launch("attn_bwd_dkv", (s + BR - 1) / BR, b, 1, THREADS, 1, 1, shkv,
                        new Args().ptr(q).ptr(k).ptr(v).ptr(gout).ptr(lse).addr(dvec.address()).ptr(gk).ptr(gv)
                                .i(l).i(s).i(d).i(dv).f(scale), what);
        } finally {
            be.allocator().release(dvec);
        }
    }
}
