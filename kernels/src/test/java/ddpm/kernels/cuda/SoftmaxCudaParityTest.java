package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** softmax.cu forward and backward against the CPU. */
class SoftmaxCudaParityTest extends CudaTestBase {
    void at(int... shape) {
        P x = rand(shape), y = out(shape);
        cpu.softmax(x.c(), y.c());
        gpu.softmax(x.g(), y.g());
        assertClose("softmax", y, 1e-5);
        P gy = rand(shape), gx = out(shape);
        cpu.softmaxBackward(y.c(), gy.c(), gx.c());
        gpu.softmaxBackward(y.c().to(GPU), gy.g(), gx.g());
        assertClose("softmaxBackward", gx, 1e-5);
    }

    @Test void small() { at(7, 33); at(3, 1); at(2, 3, 5); }

    @Test void longRows() { at(5, 3001); }

    /** Attention-score-shaped rows: [B, L, S] = [128, 256, 256]... on 32 of the batch. */
    @Test void uNet() { at(pick(32, 2), 256, 256); }
}
