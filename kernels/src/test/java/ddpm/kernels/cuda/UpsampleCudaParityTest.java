package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** upsample.cu forward (exact) and backward. */
class UpsampleCudaParityTest extends CudaTestBase {
    void at(int n, int c, int h, int w) {
        P x = rand(n, c, h, w), y = out(n, c, 2 * h, 2 * w);
        cpu.upsampleNearest2x(x.c(), y.c());
        gpu.upsampleNearest2x(x.g(), y.g());
        assertClose("upsample", y, 0);
        P gy = rand(n, c, 2 * h, 2 * w), gx = out(n, c, h, w);
        cpu.upsampleNearest2xBackward(gy.c(), gx.c());
        gpu.upsampleNearest2xBackward(gy.g(), gx.g());
        assertClose("upsampleBackward", gx, 1e-6);
    }

    @Test void small() { at(3, 5, 7, 9); at(1, 1, 1, 1); }

    @Test void uNet() { at(pick(128, 2), 256, 8, 8); at(pick(128, 2), 128, 16, 16); }
}
