package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * Launchers for attention.cu (FlashAttention-style, no L×S matrix in memory).
 * q [B, L, D], k [B, S, D], v [B, S, Dv], out [B, L, Dv], lse [B, L].
 *
 * <p>The backend's {@link MathPrecision} picks the kernels. TF32 and BF16 run the tensor-core
 * kernels ({@code attn_fwd_tc_*}, {@code attn_bwd_dq_tc_*}, {@code attn_bwd_dkv_tc_*}, WMMA) when
 * {@link #tensorCores} says they apply (D, Dv ≤ 256, L, S ≥ 1, shared memory within the device's
 * opt-in); everything else, and FP32, runs the float32 SIMT kernels:
 *   attn_fwd:     grid (⌈L/16⌉, B), 128 threads, shared (16·(D + Dv) + 32·65 + 16·32 + 48)·4 B.
 *   attn_bwd_pre: Dvec = rowsum(gout ⊙ out), a warp per row, 256 threads (scratch [B, L]); both paths.
 *   attn_bwd_dq:  grid (⌈L/16⌉, B), 128 threads, shared (16·(2D + Dv) + 32·65 + 2·16·32)·4 B.
 *   attn_bwd_dkv: grid (⌈S/16⌉, B), 128 threads, shared (16·(2D + 2Dv) + 32·65 + 2·16·32)·4 B.
 * Tensor cores: blocks of {@link #TC_BM} rows streaming {@link #TC_BN} rows of the other operand,
 * head dims padded to 16 in shared memory; grid (⌈L/64⌉, B), 128 threads (forward, dQ);
 * (⌈S/64⌉, B), 256 threads (dK/dV); shared memory in {@link #tcShared} (at D = Dv = 256: bf16
 * 81 / 110 / 122 KB, TF32 149 / 210 / 222 KB).
 * Flops: forward 2·B·L·S·(D + Dv); backward 2·B·L·S·(2D + 2Dv) (dQ, dK, dV, dP) + the recomputed
 * scores 2·B·L·S·D twice (once per backward kernel) = 2·B·L·S·(4D + 2Dv).
 * Bytes (compulsory): forward 4·B·(L·D + S·D + S·Dv + L·Dv + L); backward ≈ 4·B·(2L·D + 2S·D + 2S·Dv + 2L·Dv + 2L)
 * — K/V (forward) and Q/dO (backward) tiles are re-read once per row block, mostly from L2.
 */
public final class AttentionKernel {
    static final int BR = 16, BC = 32, CH = 64, THREADS = 128;
    /** Tensor-core tiles: rows a block owns, rows of the other operand per step (the forward's
     *  online softmax rescales after each TC_BN keys), the largest head dim, threads. */
    static final int TC_BM = 64, TC_BN = 32, TC_MAX_DIM = 256, TC_THREADS = 128, TC_THREADS_KV = 256;
    private final CudaBackend be;
    private final KernelModule mod;

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

    /** Refuses head dims whose shared memory exceeds the device's per-block limit (the launch opts in above 48 KB). */
    private void ensureShared(String kernel, int bytes, Supplier<String> what) {
        int max = be.maxSharedOptin();
        if (bytes > max)
            throw new IllegalArgumentException("attention: head dims need " + bytes + " B of shared memory in " + kernel
                    + ", the device allows " + max + " B per block (" + what.get() + ")");
    }

    // ---------------------------------------------------------------- tensor cores
    /** The three tensor-core kernels, in the order of {@link #tcShared}'s {@code kernel}. */
    enum Tc { FWD, DQ, DKV }

    private static int align128(long bytes) { return (int) ((bytes + 127) & ~127L); }

    /**
     * Dynamic shared memory of a tensor-core kernel at head dims d, dv, carved as attention.cu
     * carves it: 128-byte-aligned pieces; operand rows of ⌈d/16⌉·16 elements + 16 bytes of padding.
     */
    static int tcShared(Tc kernel, int d, int dv, MathPrecision p) {
        int e = p == MathPrecision.BF16 ? 2 : 4, pad = 16 / e;
        int ldq = ((d + 15) & ~15) + pad, ldv = ((dv + 15) & ~15) + pad;
        int ldx = TC_BN + 4, ldp = TC_BN + pad, idx = 256 * 4;
        return switch (kernel) {
            case FWD -> align128((long) TC_BM * ldq * e) + align128((long) TC_BN * ldq * e) + align128((long) TC_BN * ldv * e)
                    + align128(4L * 16 * ldx * 4) + align128(4L * 16 * ldp * e) + align128(4L * 16 * 4) + idx;
            case DQ -> align128((long) TC_BM * ldq * e) + align128((long) TC_BM * ldv * e) + align128((long) TC_BN * ldq * e)
                    + align128((long) TC_BN * ldv * e) + align128(4L * 16 * ldp * e) + align128(4L * 256 * 4)
                    + 2 * align128(TC_BM * 4L) + idx;
            case DKV -> align128((long) TC_BM * ldq * e) + align128((long) TC_BM * ldv * e) + align128((long) TC_BN * ldq * e)
                    + align128((long) TC_BN * ldv * e) + align128(4L * 16 * ldx * 4) + align128(4L * 16 * ldp * e)
                    + align128(8L * 256 * 4) + 2 * align128(TC_BN * 4L) + idx;
        };
    }

    /**
     * True when the tensor-core kernels compute this attention: precision TF32 or BF16, head dims
     * d, dv ≤ 256 (a warp keeps its 16 × dv output in registers), at least one query and one key,
     * and the three kernels' shared memory within {@code maxShared}. Otherwise the SIMT kernels run
     * (float32, whatever the precision).
     */
    static boolean tensorCores(MathPrecision p, int l, int s, int d, int dv, int maxShared) {
        if (p == MathPrecision.FP32 || l < 1 || s < 1 || d < 1 || dv < 1 || d > TC_MAX_DIM || dv > TC_MAX_DIM) return false;
        for (Tc k : Tc.values()) if (tcShared(k, d, dv, p) > maxShared) return false;
        return true;
    }

    private static String tcName(String kernel, MathPrecision p) { return kernel + "_tc_" + p; }

    /**
     * Whether the kernels take these tensors as they are: the activations (q, k, v, out and, for
     * the backward, gout, gq, gk, gv) all F32, or some BF16 on the tensor-core kernels, which read
     * and write bfloat16 themselves; the statistics (lse) F32. Otherwise the backend stages the BF16
     * tensors through float32 (the SIMT kernels are float32 only).
     */
    boolean takes(Tensor q, Tensor k, Tensor v, Tensor lse, Tensor... activations) {
        if (!CudaBackend.allF32(lse)) return false;
        boolean bf16 = false;
        for (Tensor t : new Tensor[]{q, k, v}) bf16 |= t.dtype() == ddpm.engine.DType.BF16;
        for (Tensor t : activations) bf16 |= t != null && t.dtype() == ddpm.engine.DType.BF16;
        if (!bf16 || q.rank() < 2 || k.rank() < 2 || v.rank() < 2) return !bf16;
        return tensorCores(be.precision(), q.dim(-2), k.dim(-2), q.dim(-1), v.dim(-1), be.maxSharedOptin());
    }

    void forward(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        int dt = CudaBackend.dtypes("attention", q, k, v, out);
        CudaBackend.f32("attention", lse);
        int l = q.dim(-2), d = q.dim(-1), s = k.dim(-2), dv = v.dim(-1);
        int b = (int) (q.numel() / Math.max(1, (long) l * d));
        Supplier<String> what = () -> "attention q " + q.describe() + " k " + k.describe() + " v " + v.describe();
        if (b == 0 || l == 0) return;
        checkBatch(b, what);
        Args args = new Args().ptr(q).ptr(k).ptr(v).ptr(out).ptr(lse).i(l).i(s).i(d).i(dv).f(scale);
        MathPrecision p = be.precision();
        if (tensorCores(p, l, s, d, dv, be.maxSharedOptin())) {
            String name = tcName("attn_fwd", p);
            int sh = tcShared(Tc.FWD, d, dv, p);
            ensureShared(name, sh, what);
            mod.launch(name, (l + TC_BM - 1) / TC_BM, b, 1, TC_THREADS, 1, 1, sh, args.i(dt), what);
            return;
        }
        if (dt != 0) throw new IllegalStateException("CUDA attention: BF16 operands need the tensor-core kernels (see takes): " + what.get());
        int sh = fwdShared(d, dv);
        ensureShared("attn_fwd", sh, what);
        mod.launch("attn_fwd", (l + BR - 1) / BR, b, 1, THREADS, 1, 1, sh, args, what);
    }

    void backward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout, double scale,
                  Tensor gq, Tensor gk, Tensor gv) {
        int dt = CudaBackend.dtypes("attentionBackward", q, k, v, out, gout, gq, gk, gv);
        CudaBackend.f32("attentionBackward", lse);
        int l = q.dim(-2), d = q.dim(-1), s = k.dim(-2), dv = v.dim(-1);
        int b = (int) (q.numel() / Math.max(1, (long) l * d));
        Supplier<String> what = () -> "attentionBackward q " + q.describe() + " k " + k.describe() + " v " + v.describe();
        if (b == 0) return;
        if (l == 0) { be.fill(gk, 0); be.fill(gv, 0); return; }
        checkBatch(b, what);
        MathPrecision p = be.precision();
        boolean tc = tensorCores(p, l, s, d, dv, be.maxSharedOptin());
        if (dt != 0 && !tc)
            throw new IllegalStateException("CUDA attentionBackward: BF16 operands need the tensor-core kernels (see takes): " + what.get());
        String dqName = tc ? tcName("attn_bwd_dq", p) : "attn_bwd_dq", dkvName = tc ? tcName("attn_bwd_dkv", p) : "attn_bwd_dkv";
        int shq = tc ? tcShared(Tc.DQ, d, dv, p) : dqShared(d, dv), shkv = tc ? tcShared(Tc.DKV, d, dv, p) : dkvShared(d, dv);
        ensureShared(dqName, shq, what);
        ensureShared(dkvName, shkv, what);
        CudaAllocator.Block dvec = be.scratch((long) b * l);
        try {
            int rows = b * l;
            mod.launch("attn_bwd_pre", mod.blocksFor((long) rows * 32, 256), 1, 1, 256, 1, 1, 0,
                    new Args().ptr(out).ptr(gout).addr(dvec.address()).i(rows).i(dv).i(dt), what);
            int rowBlock = tc ? TC_BM : BR;
            Args dq = new Args().ptr(q).ptr(k).ptr(v).ptr(gout).ptr(lse).addr(dvec.address()).ptr(gq).i(l).i(s).i(d).i(dv).f(scale);
            mod.launch(dqName, (l + rowBlock - 1) / rowBlock, b, 1, tc ? TC_THREADS : THREADS, 1, 1, shq, tc ? dq.i(dt) : dq, what);
            if (s > 0) {
                Args dkv = new Args().ptr(q).ptr(k).ptr(v).ptr(gout).ptr(lse).addr(dvec.address()).ptr(gk).ptr(gv)
                        .i(l).i(s).i(d).i(dv).f(scale);
                mod.launch(dkvName, (s + rowBlock - 1) / rowBlock, b, 1, tc ? TC_THREADS_KV : THREADS, 1, 1, shkv,
                        tc ? dkv.i(dt) : dkv, what);
            }
        } finally {
            be.allocator().release(dvec);
        }
    }
}
