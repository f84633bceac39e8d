package ddpm.engine.cpu;

import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static ddpm.engine.cpu.FastKernelCheck.CPU;
import static ddpm.engine.cpu.FastKernelCheck.close;
import static ddpm.engine.cpu.FastKernelCheck.empty;
import static ddpm.engine.cpu.FastKernelCheck.random;

/** Float conv2d forward / backward-input / backward-weight (im2col + SGEMM, 1×1 direct) vs the reference. */
class ConvFastTest {
    @AfterEach void restoreThreads() { Parallel.setThreads(0); }

    private static void check(Random r, int nb, int c, int o, int h, int w, int k, int stride, int pad, boolean bias) {
        String what = "conv n=" + nb + " c=" + c + " o=" + o + " " + h + "×" + w + " k=" + k + " s=" + stride + " p=" + pad;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        Tensor[] x = random(r, 1, nb, c, h, w), wt = random(r, 0.5, o, c, k, k), b = bias ? random(r, 1, o) : new Tensor[2];
        Tensor[] y = empty(nb, o, ho, wo);
        CPU.conv2d(x[0], wt[0], b[0], y[0], stride, pad);
        CPU.conv2d(x[1], wt[1], b[1], y[1], stride, pad);
        double tol = 1e-5 * Math.sqrt(c * k * k) * 4;
        close(what + " forward", y[0], y[1], tol, 1e-5);

        Tensor[] gy = random(r, 1, nb, o, ho, wo), gx = empty(nb, c, h, w), gw = empty(o, c, k, k);
        gx[0].fill(Double.NaN);   // overwritten, not accumulated
        gw[0].fill(Double.NaN);
        CPU.conv2dBackwardInput(gy[0], wt[0], gx[0], stride, pad);
        CPU.conv2dBackwardInput(gy[1], wt[1], gx[1], stride, pad);
        close(what + " backward input", gx[0], gx[1], 1e-5 * Math.sqrt(o * k * k) * 4, 1e-5);
        CPU.conv2dBackwardWeight(x[0], gy[0], gw[0], stride, pad);
        CPU.conv2dBackwardWeight(x[1], gy[1], gw[1], stride, pad);
        close(what + " backward weight", gw[0], gw[1], 1e-5 * Math.sqrt(nb * ho * wo) * 4, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void stridesPadsKernels(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(21 + threads);
        for (int k : new int[]{1, 3})
            for (int stride : new int[]{1, 2})
                for (int pad : new int[]{0, 1}) {
                    if (k == 1 && pad == 1 && stride == 2) continue;
                    check(r, 2, 3, 5, 7, 9, k, stride, pad, true);
                    check(r, 3, 6, 4, 8, 5, k, stride, pad, false);
                    check(r, 4, 5, 7, 6, 6, k, stride, pad, true);
                }
    }

    @org.junit.jupiter.api.Test
    void implicitIm2colPanelsMatchExplicitColumns() {
        Random r = new Random(6);
        int[][] geo = {{3, 7, 9, 3, 1, 1}, {2, 8, 5, 3, 2, 1}, {4, 6, 6, 3, 2, 0}, {2, 5, 7, 1, 2, 0}, {1, 4, 4, 3, 1, 0}};
        for (int[] gm : geo) {
            int c = gm[0], h = gm[1], w = gm[2], k = gm[3], s = gm[4], pad = gm[5];
            int ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1, rows = c * k * k, cols = ho * wo;
            float[] x = new float[5 + c * h * w];
            for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
            float[] col = new float[rows * cols];
            Conv.im2col(x, 5, c, h, w, k, s, pad, ho, wo, col);
            ConvPack cp = new ConvPack(x, 5, h, w, k, s, pad, ho, wo);
            int nr = Sgemm.NR;
            // B = col: panels of a block starting at (pc, jc) = (1, 1)
            int pc = 1, kc = rows - 1, jc = 1, nc = cols - 1, panels = (nc + nr - 1) / nr;
            float[] pb = new float[panels * nr * kc];
            cp.cols().pack(pc, kc, jc, nc, pb);
            for (int p = 0; p < kc; p++)
                for (int j = 0; j < panels * nr; j++) {
                    float want = j < nc ? col[(pc + p) * cols + jc + j] : 0f;
                    org.junit.jupiter.api.Assertions.assertEquals(want, pb[(j / nr) * nr * kc + p * nr + j % nr], "cols p=" + p + " j=" + j);
                }
            // B = colᵀ
            kc = cols - 1; nc = rows - 1; panels = (nc + nr - 1) / nr;
            pb = new float[panels * nr * kc];
            cp.colsT().pack(pc, kc, jc, nc, pb);
            for (int p = 0; p < kc; p++)
                for (int j = 0; j < panels * nr; j++) {
                    float want = j < nc ? col[(jc + j) * cols + pc + p] : 0f;
                    org.junit.jupiter.api.Assertions.assertEquals(want, pb[(j / nr) * nr * kc + p * nr + j % nr], "colsT p=" + p + " j=" + j);
                }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void unetLikeShapes(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(5);
        check(r, 2, 32, 40, 16, 16, 3, 1, 1, true);   // conv3x3
        check(r, 1, 24, 16, 12, 12, 3, 2, 1, true);   // downsample
        check(r, 5, 40, 24, 8, 8, 1, 1, 0, true);     // 1×1 skip projection
        check(r, 8, 16, 16, 4, 4, 3, 1, 1, false);    // batch split over threads, partial weight sums
    }
}
