package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for rng.cu: Philox 4x32-10 exactly as {@link ddpm.engine.Philox}, a thread per
 * 4-output block (⌈n/4⌉ threads), 256 threads per block. Uniforms are bit-identical to the CPU's
 * (computed in double, rounded once to float); normals use double Box–Muller (H100/H200 FP64 is
 * fast), within ~1 float ulp of the CPU. Bytes: 4·n written; ~10 Philox rounds per 4 outputs.
 */
public final class RngKernel {
    private final KernelModule mod;

    private final CudaBackend be;

    RngKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "rng");
    }

    void uniform(Tensor out, long seed, long offset) {
        CudaBackend.f32("randUniform", out);
        long n = out.numel();
        CudaBackend.checkIndexable(n, "rng", out::describe);
        mod.launch1d("rand_uniform", (n + 3) / 4, new Args().ptr(out).i((int) n).l(seed).l(offset).addr(be.randomOffsetShiftAddress(seed)),
                () -> "randUniform " + out.describe());
    }

    void normal(Tensor out, long seed, long offset) {
        CudaBackend.f32("randNormal", out);
        long n = out.numel();
        CudaBackend.checkIndexable(n, "rng", out::describe);
        mod.launch1d("rand_normal", (n + 3) / 4, new Args().ptr(out).i((int) n).l(seed).l(offset).addr(be.randomOffsetShiftAddress(seed)),
                () -> "randNormal " + out.describe());
    }

    void dropoutMask(Tensor out, double p, long seed, long offset) {
        CudaBackend.f32("dropoutMask", out);
        long n = out.numel();
        CudaBackend.checkIndexable(n, "rng", out::describe);
        mod.launch1d("dropout_mask", (n + 3) / 4, new Args().ptr(out).i((int) n).d(p).f(1.0 / (1.0 - p)).l(seed).l(offset).addr(be.randomOffsetShiftAddress(seed)),
                () -> "dropoutMask " + out.describe() + " p=" + p);
    }
}
