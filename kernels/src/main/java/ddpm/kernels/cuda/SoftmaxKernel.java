package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for softmax.cu: a warp per row of the last axis, 256 threads per block.
 * Bytes: forward 12·numel (x read twice, cached, plus the write; 8·numel ideal), backward 16·numel.
 * Flops: forward ≈ 4·numel (max, exp, sum, scale), backward ≈ 4·numel.
 */
public final class SoftmaxKernel {
    private final KernelModule mod;

    SoftmaxKernel(CudaBackend be) { this.mod = new KernelModule(be, "softmax"); }

    void forward(Tensor x, Tensor out) {
        CudaBackend.f32("softmax", x, out);
        if (x.numel() == 0) return;
        int n = x.dim(-1);
        int rows = (int) (x.numel() / n);
        CudaBackend.checkIndexable(x.numel(), "softmax", x::describe);
        mod.launch("softmax_fwd", mod.blocksFor((long) rows * 32, 256), 1, 1, 256, 1, 1, 0,
                new Args().ptr(x).ptr(out).i(rows).i(n), () -> "softmax " + x.describe());
    }

    void backward(Tensor y, Tensor gy, Tensor gx) {
        CudaBackend.f32("softmaxBackward", y, gy, gx);
        if (y.numel() == 0) return;
        int n = y.dim(-1);
        int rows = (int) (y.numel() / n);
        CudaBackend.checkIndexable(y.numel(), "softmaxBackward", y::describe);
        mod.launch("softmax_bwd", mod.blocksFor((long) rows * 32, 256), 1, 1, 256, 1, 1, 0,
                new Args().ptr(y).ptr(gy).ptr(gx).i(rows).i(n), () -> "softmaxBackward " + y.describe());
    }
}
