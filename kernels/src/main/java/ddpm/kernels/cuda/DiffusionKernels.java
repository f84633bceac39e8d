package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for diffusion_step.cu. Per-sample schedule entries are gathered on the device from the
 * I32 timestep tensor, so a sampling or training step never reads back to the host.
 * 1-D grid-stride, 256 threads (q_sample_noise: a thread per 4 elements).
 * Bytes (n = numel(x0)): qSample 12·n, qSampleWithNoise 12·n (x0 read; eps, out written),
 * posteriorStep 16·n with z (12·n without), ddimStep 16·n / 12·n; plus B index reads.
 * Flops: qSample 3·n, posterior 5·n, ddim ~8·n; qSampleWithNoise adds Philox + Box–Muller.
 */
public final class DiffusionKernels {
    private final KernelModule mod;
    private final CudaBackend be;

    DiffusionKernels(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "diffusion_step");
    }

    private static int per(Tensor x, Tensor t) {
        long b = t.numel();
        return (int) (x.numel() / Math.max(1, b));
    }

    void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        CudaBackend.f32("qSample", x0, eps, a, s, out);
        CudaBackend.i32("qSample (t)", t);
        mod.launch1d("q_sample", out.numel(), new Args().ptr(x0).ptr(eps).ptr(t).ptr(a).ptr(s).ptr(out)
                .i((int) t.numel()).i(per(x0, t)), () -> "qSample " + x0.describe() + " t " + t.describe());
    }

    /**
     * q_sample with the noise drawn in the same pass: epsOut = normals of Philox stream
     * (seed, offset) — the same numbers {@code randNormal(epsOut, seed, offset)} gives — and
     * out = a[t]·x0 + s[t]·epsOut. The caller reserves the counters (Rng.next(numel)).
     */
    public void qSampleWithNoise(Tensor x0, Tensor t, Tensor a, Tensor s, long seed, long offset, Tensor epsOut, Tensor out) {
        CudaBackend.f32("qSampleWithNoise", x0, a, s, epsOut, out);
        CudaBackend.i32("qSampleWithNoise (t)", t);
        CudaBackend.checkIndexable(out.numel(), "qSampleWithNoise", out::describe);
        mod.launch1d("q_sample_noise", (out.numel() + 3) / 4, new Args().ptr(x0).ptr(t).ptr(a).ptr(s).ptr(epsOut).ptr(out)
                        .i((int) t.numel()).i(per(x0, t)).l(seed).l(offset).addr(be.randomOffsetShiftAddress(seed)),
                () -> "qSampleWithNoise " + x0.describe() + " t " + t.describe());
    }

    void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma, Tensor out) {
        CudaBackend.f32("posteriorStep", xt, epsHat, c1, c2, sigma, out);
        if (z != null) CudaBackend.f32("posteriorStep (z)", z);
        CudaBackend.i32("posteriorStep (t)", t);
        mod.launch1d("posterior_step", out.numel(), new Args().ptr(xt).ptr(epsHat).ptr(z).i(z != null ? 1 : 0).ptr(t)
                        .ptr(c1).ptr(c2).ptr(sigma).ptr(out).i((int) t.numel()).i(per(xt, t)),
                () -> "posteriorStep " + xt.describe() + " t " + t.describe());
    }

    void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        CudaBackend.f32("ddimStep", xt, epsHat, coefs, out);
        if (z != null) CudaBackend.f32("ddimStep (z)", z);
        CudaBackend.i32("ddimStep (idx)", idx);
        mod.launch1d("ddim_step", out.numel(), new Args().ptr(xt).ptr(epsHat).ptr(z).i(z != null ? 1 : 0).ptr(idx)
                        .ptr(coefs).f(clip).ptr(out).i((int) idx.numel()).i(per(xt, idx)),
                () -> "ddimStep " + xt.describe() + " idx " + idx.describe());
    }
}
