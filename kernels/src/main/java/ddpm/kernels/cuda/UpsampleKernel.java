package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for upsample.cu, a thread per input element (it owns one 2×2 output block); F32 and
 * BF16 tensors in any mix.
 * Bytes at F32: 4·n read + 16·n written forward, 16·n + 4·n backward (n = numel of the small tensor);
 * backward flops 3·n.
 */
public final class UpsampleKernel {
    private final KernelModule mod;

    UpsampleKernel(CudaBackend be) { this.mod = new KernelModule(be, "upsample"); }

    void forward(Tensor x, Tensor out) {
        int dt = CudaBackend.dtypes("upsampleNearest2x", x, out);
        int h = x.dim(-2), w = x.dim(-1);
        int planes = (int) (x.numel() / ((long) h * w));
        CudaBackend.checkIndexable(out.numel(), "upsample", x::describe);
        mod.launch1d("upsample2x_fwd", x.numel(), new Args().ptr(x).ptr(out).i(planes).i(h).i(w).i(dt),
                () -> "upsampleNearest2x " + x.describe());
    }

    void backward(Tensor gy, Tensor gx) {
        int dt = CudaBackend.dtypes("upsampleNearest2xBackward", gy, gx);
        int h = gx.dim(-2), w = gx.dim(-1);
        int planes = (int) (gx.numel() / ((long) h * w));
        CudaBackend.checkIndexable(gy.numel(), "upsample", gy::describe);
        mod.launch1d("upsample2x_bwd", gx.numel(), new Args().ptr(gy).ptr(gx).i(planes).i(h).i(w).i(dt),
                () -> "upsampleNearest2xBackward " + gy.describe());
    }
}
