package ddpm.kernels.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** conv2d forward, backward-input and backward-weight (im2col + cuBLAS, and the 1×1 fast path). */
class ConvCudaParityTest extends CudaTestBase {
    @AfterEach void restoreWorkspace() { ConvKernel.workspaceBytes = 256L << 20; }

    void at(int n, int c, int h, int w, int o, int k, int stride, int pad, boolean bias, double tol) {
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        P x = rand(n, c, h, w), wt = rand(o, c, k, k), b = bias ? rand(o) : null;
        P y = out(n, o, ho, wo);
        cpu.conv2d(x.c(), wt.c(), b == null ? null : b.c(), y.c(), stride, pad);
        gpu.conv2d(x.g(), wt.g(), b == null ? null : b.g(), y.g(), stride, pad);
        String s = "conv x [" + n + "," + c + "," + h + "," + w + "] w [" + o + "," + c + "," + k + "," + k + "] s" + stride + " p" + pad;
        assertClose(s + " forward", y, tol);
        P gy = rand(n, o, ho, wo), gx = out(n, c, h, w), gw = out(o, c, k, k);
        cpu.conv2dBackwardInput(gy.c(), wt.c(), gx.c(), stride, pad);
        gpu.conv2dBackwardInput(gy.g(), wt.g(), gx.g(), stride, pad);
        assertClose(s + " backward input", gx, tol);
        cpu.conv2dBackwardWeight(x.c(), gy.c(), gw.c(), stride, pad);
        gpu.conv2dBackwardWeight(x.g(), gy.g(), gw.g(), stride, pad);
        assertClose(s + " backward weight", gw, tol);
    }

    @Test void small() {
        at(2, 3, 7, 9, 5, 3, 1, 1, true, 1e-5);
        at(2, 3, 7, 9, 5, 3, 2, 1, false, 1e-5);
        at(3, 4, 6, 5, 2, 1, 1, 0, true, 1e-5);    // 1×1 fast path
        at(3, 4, 6, 5, 2, 1, 2, 0, false, 1e-5);   // 1×1 strided: im2col path
        at(2, 3, 5, 5, 4, 3, 1, 0, true, 1e-5);    // no padding
    }

    /** A tiny workspace forces several image chunks (and weight-gradient accumulation over them). */
    @Test void chunked() {
        ConvKernel.workspaceBytes = 3 * 4 * 27 * 63;
        at(7, 3, 7, 9, 5, 3, 1, 1, true, 1e-5);
        at(7, 3, 8, 8, 5, 3, 2, 1, true, 1e-5);
    }

    /** U-Net shapes on 8 images (the per-image GEMMs are the model's; the batch only chunks). */
    @Test void uNet() {
        int n = pick(8, 2);
        at(n, 128, 32, 32, 128, 3, 1, 1, true, 1e-4);
        at(n, 128, 32, 32, 128, 3, 2, 1, true, 1e-4);   // downsample
        at(n, 256, 16, 16, 128, 1, 1, 0, true, 1e-4);   // skip projection
        at(n, 3, 32, 32, 128, 3, 1, 1, true, 1e-4);     // stem
    }
}
