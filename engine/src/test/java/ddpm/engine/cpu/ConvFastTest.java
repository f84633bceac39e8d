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

    /** Every element of the packed block [pc, pc+kc) × [jc, jc+nc) against want(p, j) (0 past nc). */
    private static void checkPanels(String what, Sgemm.BPacker packer, int pc, int kc, int jc, int nc,
                                    java.util.function.IntBinaryOperator wantBits) {
        int nr = Sgemm.NR, panels = (nc + nr - 1) / nr;
        float[] pb = new float[panels * nr * kc];
        java.util.Arrays.fill(pb, Float.NaN);
        packer.pack(pc, kc, jc, nc, pb);
        for (int p = 0; p < kc; p++)
            for (int j = 0; j < panels * nr; j++) {
                float want = j < nc ? Float.intBitsToFloat(wantBits.applyAsInt(pc + p, jc + j)) : 0f;
                org.junit.jupiter.api.Assertions.assertEquals(want, pb[(j / nr) * nr * kc + p * nr + j % nr], what + " p=" + p + " j=" + j);
            }
    }

    @org.junit.jupiter.api.Test
    void packedPanelsMatchExplicitColumns() {
        Random r = new Random(6);
        int[][] geo = {   // c, h, w, k, s, pad, images
                {3, 7, 9, 3, 1, 1, 1}, {2, 8, 5, 3, 2, 1, 2}, {4, 6, 6, 3, 2, 0, 1}, {2, 5, 7, 1, 2, 0, 3}, {1, 4, 4, 3, 1, 0, 1},
                {16, 16, 16, 3, 1, 1, 1}, {32, 8, 8, 3, 1, 1, 3}, {16, 32, 32, 1, 1, 0, 1}, {17, 16, 16, 3, 2, 1, 2},
                {16, 4, 4, 3, 1, 1, 5}, {8, 8, 8, 1, 1, 0, 4}};
        for (int[] gm : geo) {
            int c = gm[0], h = gm[1], w = gm[2], k = gm[3], s = gm[4], pad = gm[5], imgs = gm[6];
            int ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1, rows = c * k * k, hw = ho * wo, cols = imgs * hw;
            int xo = 5, xImg = c * h * w + 3;   // images apart by more than their size, from an offset
            float[] x = new float[xo + imgs * xImg];
            for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
            float[][] col = new float[imgs][rows * hw];
            for (int b = 0; b < imgs; b++) Conv.im2col(x, xo + b * xImg, c, h, w, k, s, pad, ho, wo, col[b]);
            String what = java.util.Arrays.toString(gm);
            int hp = h + 2 * pad, wp = w + 2 * pad;
            Sgemm.BPacker b = (pad == 0 ? ConvPack.cols(x, xo, xImg, imgs, c, h, w, k, s, ho, wo)
                    : ConvPack.cols(ConvPack.padded(x, xo, xImg, imgs, c, h, w, pad, new float[imgs * c * hp * wp]), 0, c * hp * wp,
                    imgs, c, hp, wp, k, s, ho, wo)).packer();
            // B = col: row (c, u, v), column (image, i, j)
            checkPanels(what + " cols", b, 1, rows - 1, 1, cols - 1,
                    (p, j) -> Float.floatToRawIntBits(col[j / hw][p * hw + j % hw]));
            checkPanels(what + " cols (all)", b, 0, rows, 0, cols,
                    (p, j) -> Float.floatToRawIntBits(col[j / hw][p * hw + j % hw]));
            // B = colᵀ: row (image, i, j), column (u, v, c)
            Sgemm.BPacker bt = ConvPack.colsT(ConvPack.paddedChannelsLast(x, xo, xImg, imgs, c, h, w, pad, new float[imgs * hp * wp * c]),
                    imgs, c, hp, wp, k, s, ho, wo);
            int kk = k * k;
            java.util.function.IntBinaryOperator colT = (p, j) -> {
                int uv = j / c, ch = j % c;
                return Float.floatToRawIntBits(col[p / hw][(ch * kk + uv) * hw + p % hw]);
            };
            checkPanels(what + " colsT", bt, 1, cols - 1, 1, rows - 1, colT);
            checkPanels(what + " colsT (all)", bt, 0, cols, 0, rows, colT);
        }
    }

    /** The implicit GEMM (B read in the padded image) against the packed one, with a bias, odd row counts and several k blocks. */
    @org.junit.jupiter.api.Test
    void implicitGemmMatchesPackedGemm() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Sgemm.VECTOR && Sgemm.NV == 2, "no implicit kernels without the 2-vector Vector API kernels");
        Random r = new Random(9);
        for (int[] gm : new int[][]{{48, 16, 16, 37}, {5, 32, 32, 14}, {3, 16, 48, 15}, {40, 16, 16, 1}}) {
            int c = gm[0], h = gm[1], w = gm[2], m = gm[3], k = 3, pad = 1, hp = h + 2, wp = w + 2, kdim = c * 9, n = h * w;
            float[] x = new float[c * h * w], a = new float[m * kdim], bias = new float[m + 2];
            for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() - 0.5f;
            for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
            for (int i = 0; i < bias.length; i++) bias[i] = r.nextFloat();
            ConvPack.Offsets b = ConvPack.cols(ConvPack.padded(x, 0, 0, 1, c, h, w, pad, new float[c * hp * wp]), 0, 0, 1, c, hp, wp, k, 1, h, w);
            org.junit.jupiter.api.Assertions.assertTrue(Sgemm.implicitFits(b.colOff(), n), java.util.Arrays.toString(gm));
            float[] ap = Sgemm.packA(false, m, kdim, 1f, a, 0, kdim), c1 = new float[m * n], c2 = new float[m * n];
            java.util.Arrays.fill(c1, Float.NaN);
            java.util.Arrays.fill(c2, Float.NaN);
            for (int threads : new int[]{1, 2}) {
                Sgemm.gemmImplicit(m, n, kdim, ap, b.src(), b.rowOff(), b.colOff(), bias, 2, c1, 0, n, threads);
                Sgemm.gemmPackedBias(m, n, kdim, ap, b.packer(), bias, 2, c2, 0, n, threads);
                for (int i = 0; i < c1.length; i++)
                    org.junit.jupiter.api.Assertions.assertEquals(c2[i], c1[i], 1e-4 * Math.sqrt(kdim),
                            java.util.Arrays.toString(gm) + " threads " + threads + " element " + i);
            }
        }
    }

    /** Inputs and outputs as views at offsets inside larger buffers: the kernels honour every offset. */
    @org.junit.jupiter.api.Test
    void viewsAtOffsets() {
        Random r = new Random(7);
        for (int[] gm : new int[][]{{2, 16, 24, 16, 16, 3, 1, 1}, {3, 8, 8, 5, 7, 3, 2, 1}, {2, 16, 8, 16, 16, 1, 1, 0}}) {
            int nb = gm[0], c = gm[1], o = gm[2], h = gm[3], w = gm[4], k = gm[5], s = gm[6], pad = gm[7];
            int ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1;
            Tensor[] x = random(r, 1, 1, nb * c * h * w + 7), wt = random(r, 0.5, 1, o * c * k * k + 3),
                    gy = random(r, 1, 1, nb * o * ho * wo + 5), b = random(r, 1, o + 2);
            Tensor[] xv = {x[0].flatView(7, nb, c, h, w), x[1].flatView(7, nb, c, h, w)},
                    wv = {wt[0].flatView(3, o, c, k, k), wt[1].flatView(3, o, c, k, k)},
                    gv = {gy[0].flatView(5, nb, o, ho, wo), gy[1].flatView(5, nb, o, ho, wo)},
                    bv = {b[0].flatView(2, o), b[1].flatView(2, o)};
            Tensor[] y = empty(nb * o * ho * wo + 4), gx = empty(nb * c * h * w + 6), gw = empty(o * c * k * k + 1);
            Tensor[] yv = {y[0].flatView(4, nb, o, ho, wo), y[1].flatView(4, nb, o, ho, wo)},
                    gxv = {gx[0].flatView(6, nb, c, h, w), gx[1].flatView(6, nb, c, h, w)},
                    gwv = {gw[0].flatView(1, o, c, k, k), gw[1].flatView(1, o, c, k, k)};
            String what = "views " + java.util.Arrays.toString(gm);
            for (int i = 0; i < 2; i++) {
                CPU.conv2d(xv[i], wv[i], bv[i], yv[i], s, pad);
                CPU.conv2dBackwardInput(gv[i], wv[i], gxv[i], s, pad);
                CPU.conv2dBackwardWeight(xv[i], gv[i], gwv[i], s, pad);
            }
            close(what + " forward", y[0], y[1], 1e-4, 1e-5);
            close(what + " backward input", gx[0], gx[1], 1e-4, 1e-5);
            close(what + " backward weight", gw[0], gw[1], 1e-3, 1e-5);
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
        check(r, 2, 16, 32, 32, 32, 3, 1, 1, true);   // 32-wide rows: vector runs in both packings
        check(r, 3, 3, 16, 16, 16, 3, 1, 1, true);    // three input channels (the input conv)
    }
}
