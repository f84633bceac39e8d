package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for group_norm.cu. x is [N, C, *] with HW = numel/(N·C). The activations (x, out, gy,
 * gx) are F32 or BF16 in any mix; γ, β, the statistics and the parameter gradients F32.
 * forward: group_norm_fwd, a 256-thread block per (n, g) (grid N·G); two-pass float32 stats.
 * backward: group_norm_bwd, a 256-thread block per (n, g), writing per-(n, c) partial sums to a
 * [2, N, C] scratch, then group_norm_param_grad (a thread per channel) sums them over n.
 * Bytes (n = numel): forward 12·n (x read twice for the stats, once for the output — the re-reads
 * mostly hit L2 — plus the write; ideal 8·n); backward 20·n (x, gy read twice, gx written; ideal 12·n).
 * Flops: forward ≈ 8·n (+ SiLU: exp), backward ≈ 16·n (+ SiLU').
 */
public final class GroupNormKernel {
    private final CudaBackend be;
    private final KernelModule mod;

    GroupNormKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "group_norm");
    }

    void forward(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                 Tensor out, Tensor mean, Tensor rstd) {
        CudaBackend.f32("groupNorm", gamma, beta);
        launchForward("groupNorm", x, gamma, beta, groups, eps, silu, out, mean, rstd);
    }

    /** mean and rstd only: group_norm_fwd without an output (its first two passes). Bytes ≈ 8·n (x read twice, mostly from L2). */
    void stats(Tensor x, int groups, double eps, Tensor mean, Tensor rstd) {
        launchForward("groupNormStats", x, null, null, groups, eps, false, null, mean, rstd);
    }

    /** group_norm_fwd, a block per (n, g); gamma, beta and out null for the statistics alone. */
    private void launchForward(String op, Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                               Tensor out, Tensor mean, Tensor rstd) {
        CudaBackend.f32(op, mean, rstd);
        int dt = CudaBackend.dtypes(op, x, out);
        int n = x.dim(0), c = x.dim(1);
        int hw = (int) (x.numel() / ((long) n * c));
        check(c, groups, x);
        CudaBackend.checkIndexable(x.numel(), op, x::describe);
        if (x.numel() == 0) return;
        mod.launch("group_norm_fwd", n * groups, 1, 1, 256, 1, 1, 0,
                new Args().ptr(x).ptr(gamma).ptr(beta).ptr(out).ptr(mean).ptr(rstd).i(c).i(hw).i(groups).f(eps).i(silu ? 1 : 0).i(dt),
                () -> op + " " + x.describe() + " groups " + groups);
    }

    void backward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups, boolean silu,
                  Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        CudaBackend.f32("groupNormBackward", gamma, beta, mean, rstd, ggamma, gbeta);
        int dt = CudaBackend.dtypes("groupNormBackward", x, gy, gx);
        int n = x.dim(0), c = x.dim(1);
        int hw = (int) (x.numel() / ((long) n * c));
        check(c, groups, x);
        CudaBackend.checkIndexable(x.numel(), "groupNormBackward", x::describe);
        if (x.numel() == 0) {   // no elements: the parameter gradients are still defined (zero), as on the CPU
            if (ggamma.numel() > 0) be.fill(ggamma, 0);
            if (gbeta.numel() > 0) be.fill(gbeta, 0);
            return;
        }
        CudaAllocator.Block partial = be.scratch(2L * n * c);   // P1 [N, C] then P2 [N, C]
        try {
            long p1 = partial.address(), p2 = p1 + 4L * n * c;
            mod.launch("group_norm_bwd", n * groups, 1, 1, 256, 1, 1, 0,
                    new Args().ptr(x).ptr(gamma).ptr(beta).ptr(mean).ptr(rstd).ptr(gy).ptr(gx).addr(p1).addr(p2)
                            .i(c).i(hw).i(groups).i(silu ? 1 : 0).i(dt),
                    () -> "groupNormBackward " + x.describe() + " groups " + groups);
            mod.launch("group_norm_param_grad", mod.blocksFor(c, 256), 1, 1, 256, 1, 1, 0,
                    new Args().addr(p1).addr(p2).ptr(ggamma).ptr(gbeta).i(n).i(c),
                    () -> "groupNormBackward (param grads) " + x.describe());
        } finally {
            be.allocator().release(partial);
        }
    }

    private static void check(int c, int groups, Tensor x) {
        if (groups <= 0 || c % groups != 0)
            throw new IllegalArgumentException("groupNorm: " + c + " channels do not split into " + groups
                    + " groups (" + x.describe() + ")");
    }
}
