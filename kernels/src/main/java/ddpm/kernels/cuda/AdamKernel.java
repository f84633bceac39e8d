package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for adam.cu over flat buffers, 1-D grid-stride, 256 threads.
 * Bytes: adam 28·n (read p, g, m, v; write p, m, v; the clipped variant also reads one word), ema 12·n. Flops: adam ≈ 14·n (+ sqrt, div), ema 3·n.
 */
public final class AdamKernel {
    private final KernelModule mod;

    AdamKernel(CudaBackend be) { this.mod = new KernelModule(be, "adam"); }

    void adam(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
              double wd, boolean decoupled, long step, double gradScale) {
        CudaBackend.f32("adam", p, g, m, v);
        double bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
        mod.launch1d("adam_step", p.numel(), new Args().ptr(p).ptr(g).ptr(m).ptr(v).i((int) p.numel())
                        .f(lr).f(b1).f(b2).f(eps).f(wd).i(decoupled ? 1 : 0).f(bc1).f(bc2).f(gradScale),
                () -> "adam " + p.describe() + " step " + step);
    }

    /** Adam with the clip factor computed on the device from {@code sumSq} = Σg² ([1]); a non-finite norm skips the step. */
    void adamClipped(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                     double wd, boolean decoupled, long step, Tensor sumSq, double maxNorm) {
        CudaBackend.f32("adam", p, g, m, v, sumSq);
        double bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
        mod.launch1d("adam_step_clipped", p.numel(), new Args().ptr(p).ptr(g).ptr(m).ptr(v).i((int) p.numel())
                        .f(lr).f(b1).f(b2).f(eps).f(wd).i(decoupled ? 1 : 0).f(bc1).f(bc2).ptr(sumSq)
                        .f(maxNorm > 0 && Double.isFinite(maxNorm) ? maxNorm : 0),
                () -> "adam (clipped on the device) " + p.describe() + " step " + step);
    }

    /** adamClipped with lr and the bias corrections read from {@code hyper} = [lr, 1−β1^step, 1−β2^step] on the device. */
    void adamScheduled(Tensor p, Tensor g, Tensor m, Tensor v, Tensor hyper, double b1, double b2, double eps,
                       double wd, boolean decoupled, Tensor sumSq, double maxNorm) {
        CudaBackend.f32("adam", p, g, m, v, hyper, sumSq);
        mod.launch1d("adam_step_scheduled", p.numel(), new Args().ptr(p).ptr(g).ptr(m).ptr(v).i((int) p.numel())
                        .ptr(hyper).f(b1).f(b2).f(eps).f(wd).i(decoupled ? 1 : 0).ptr(sumSq)
                        .f(maxNorm > 0 && Double.isFinite(maxNorm) ? maxNorm : 0),
                () -> "adam (scheduled on the device) " + p.describe());
    }

    void ema(Tensor ema, Tensor p, double decay) {
        CudaBackend.f32("ema", ema, p);
        mod.launch1d("ema_update", p.numel(), new Args().ptr(ema).ptr(p).i((int) p.numel()).f(decay).f(1 - decay),
                () -> "ema " + p.describe());
    }
}
