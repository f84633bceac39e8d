package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** group_norm.cu forward (out, mean, rstd) and backward (gx, gγ, gβ), with and without SiLU. */
class GroupNormCudaParityTest extends CudaTestBase {
    void at(int groups, int... shape) {
        int c = shape[1], n = shape[0];
        for (boolean silu : new boolean[]{false, true}) {
            P x = rand(shape), gamma = rand(c), beta = rand(c);
            P o = out(shape), mean = out(n, groups), rstd = out(n, groups);
            double eps = 1e-5;
            cpu.groupNorm(x.c(), gamma.c(), beta.c(), groups, eps, silu, o.c(), mean.c(), rstd.c());
            gpu.groupNorm(x.g(), gamma.g(), beta.g(), groups, eps, silu, o.g(), mean.g(), rstd.g());
            String w = "groupNorm " + java.util.Arrays.toString(shape) + " G=" + groups + " silu=" + silu;
            assertClose(w + " out", o, 1e-5);
            assertClose(w + " mean", mean, 1e-5);
            assertClose(w + " rstd", rstd, 1e-5);
            P gy = rand(shape), gx = out(shape), gg = out(c), gb = out(c);
            cpu.groupNormBackward(x.c(), gamma.c(), beta.c(), mean.c(), rstd.c(), groups, silu, gy.c(), gx.c(), gg.c(), gb.c());
            gpu.groupNormBackward(x.g(), gamma.g(), beta.g(), mean.c().to(GPU), rstd.c().to(GPU), groups, silu,
                    gy.g(), gx.g(), gg.g(), gb.g());
            assertClose(w + " gx", gx, 1e-4);
            assertClose(w + " ggamma", gg, 1e-4);
            assertClose(w + " gbeta", gb, 1e-4);
        }
    }

    @Test void small() { at(4, 3, 12, 5, 7); at(1, 2, 3, 1, 1); at(3, 1, 3, 33); }

    /** The U-Net's shapes: 32 groups; HW 1024 at C = 128, HW 64 at C = 512 (full batch 128). */
    @Test void uNet() { at(32, pick(128, 2), 128, 32, 32); at(32, pick(128, 2), 512, 8, 8); }
}
