package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * 2-D convolution (square kernel, stride, zero padding) and its two backward passes: the
 * double-precision reference (direct loops) beside the float32 kernels, which are GEMMs on the
 * packed {@link Sgemm} with the im2col matrix never materialised ({@link ConvPack} packs its
 * panels from one zero-padded copy of the images, channels-last for the weight gradient).
 *
 * <ul>
 *   <li>forward: out[b] = W [O × C·k²] · col(x[b]) + bias, W packed once per call;</li>
 *   <li>backward-input, stride 1: the forward conv of gy with the flipped, transposed kernel
 *       (padding k−1−pad), so no col2im; stride 2: GEMM Wᵀ·gy[b], then col2im;</li>
 *   <li>backward-weight: gw = Σ_b gy[b] · col(x[b])ᵀ, batches split over threads with partial sums,
 *       the columns in (u, v, c) order and permuted once at the end.</li>
 * </ul>
 * Feature maps under 256 pixels put several images side by side in one GEMM so its N (or K) is
 * not starved.
 */
final class Conv {
    private Conv() {}

    private static final int GRAIN = Elementwise.GRAIN;

    // ================================================================ reference
    static void conv2dRef(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        int[] xs = x.shape(), ws = w.shape(), os = out.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = os[2], wo = os[3];
        double[] X = d(x), W = d(w), B = d(bias), Y = d(out);
        int xo = off(x), wOff = off(w), bo = off(bias), yo = off(out);
        for (int b = 0; b < nb; b++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double acc = B == null ? 0 : B[bo + oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int u = 0; u < k; u++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int v = 0; v < k; v++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    acc += X[xo + ((b * c + ic) * h + y) * wd + xx] * W[wOff + ((oc * c + ic) * k + u) * k + v];
                                }
                            }
                        Y[yo + ((b * o + oc) * ho + i) * wo + j] = acc;
                    }
    }

    static void conv2dBackwardInputRef(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        int[] xs = gx.shape(), ws = w.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        double[] G = d(gy), W = d(w), GX = d(gx);
        int go = off(gy), wOff = off(w), xo = off(gx);
        Arrays.fill(GX, xo, xo + nb * c * h * wd, 0.0);
        for (int b = 0; b < nb; b++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double g = G[go + ((b * o + oc) * ho + i) * wo + j];
                        for (int ic = 0; ic < c; ic++)
                            for (int u = 0; u < k; u++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int v = 0; v < k; v++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    GX[xo + ((b * c + ic) * h + y) * wd + xx] += g * W[wOff + ((oc * c + ic) * k + u) * k + v];
                                }
                            }
                    }
    }

    static void conv2dBackwardWeightRef(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        int[] xs = x.shape(), ws = gw.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        double[] X = d(x), G = d(gy), GW = d(gw);
        int xo = off(x), go = off(gy), wOff = off(gw);
        for (int oc = 0; oc < o; oc++)
            for (int ic = 0; ic < c; ic++)
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        double acc = 0;
                        for (int b = 0; b < nb; b++)
                            for (int i = 0; i < ho; i++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int j = 0; j < wo; j++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    acc += X[xo + ((b * c + ic) * h + y) * wd + xx] * G[go + ((b * o + oc) * ho + i) * wo + j];
                                }
                            }
                        GW[wOff + ((oc * c + ic) * k + u) * k + v] = acc;
                    }
    }

    // ================================================================ float32
    /** The columns of one image for a k×k conv: col[(c·k + u)·k + v][i·wo + j] = x[c][i·s − pad + u][j·s − pad + v]. */
    static void im2col(float[] x, int xo, int c, int h, int w, int k, int s, int pad, int ho, int wo, float[] col) {
        int hw = ho * wo;
        for (int ch = 0; ch < c; ch++)
            for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++) {
                    int row = ((ch * k + u) * k + v) * hw;
                    int jlo = Math.max(0, ceilDiv(pad - v, s)), jhi = Math.min(wo, floorDiv(w - 1 + pad - v, s) + 1);
                    if (jhi < jlo) jhi = jlo;
                    for (int i = 0; i < ho; i++) {
                        int yy = i * s - pad + u, dst = row + i * wo;
                        if (yy < 0 || yy >= h) { Arrays.fill(col, dst, dst + wo, 0f); continue; }
                        int src = xo + (ch * h + yy) * w - pad + v;
                        if (jlo > 0) Arrays.fill(col, dst, dst + jlo, 0f);
                        if (s == 1) System.arraycopy(x, src + jlo, col, dst + jlo, jhi - jlo);
                        else for (int j = jlo; j < jhi; j++) col[dst + j] = x[src + j * s];
                        if (jhi < wo) Arrays.fill(col, dst + jhi, dst + wo, 0f);
                    }
                }
    }

    /** The adjoint of {@link #im2col}: gx[c][y][x] += col entries that read it (gx not cleared here). */
    static void col2im(float[] col, int c, int h, int w, int k, int s, int pad, int ho, int wo, float[] gx, int gxo) {
        int hw = ho * wo;
        for (int ch = 0; ch < c; ch++)
            for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++) {
                    int row = ((ch * k + u) * k + v) * hw;
                    int jlo = Math.max(0, ceilDiv(pad - v, s)), jhi = Math.min(wo, floorDiv(w - 1 + pad - v, s) + 1);
                    for (int i = 0; i < ho; i++) {
                        int yy = i * s - pad + u;
                        if (yy < 0 || yy >= h) continue;
                        int src = row + i * wo, dst = gxo + (ch * h + yy) * w - pad + v;
                        if (s == 1) for (int j = jlo; j < jhi; j++) gx[dst + j] += col[src + j];
                        else for (int j = jlo; j < jhi; j++) gx[dst + j * s] += col[src + j];
                    }
                }
    }

    private static int floorDiv(int a, int b) { return Math.floorDiv(a, b); }

    private static int ceilDiv(int a, int b) { return -Math.floorDiv(-a, b); }

    /** Images per GEMM: small feature maps go side by side so that N = images·Ho·Wo ≥ 256. */
    static int imagesPerGemm(int hw, int nb) { return hw >= 256 ? 1 : Math.max(1, Math.min(nb, (256 + hw - 1) / hw)); }

    /**
     * out[b] (m × ho·wo, images yImg apart) = A · col(x[b]) + bias (bias[biasOff + row]; none: 0),
     * where A (m × c·k², dense at a/aOff) is the (possibly flipped) kernel and col the implicit
     * im2col of image b of x (images xImg apart, geometry h, w, k, s, pad → ho, wo). Images go in
     * groups ({@link #imagesPerGemm}) over the batch; A is packed once; the bias is added in the
     * GEMM's epilogue.
     */
    private static void convForward(int nb, int m, int c, float[] a, int aOff, float[] bias, int biasOff,
                                    float[] x, int xo, int xImg, int h, int w, int k, int s, int pad, int ho, int wo,
                                    float[] y, int yo, int yImg) {
        int kdim = c * k * k, hw = ho * wo, g = imagesPerGemm(hw, nb), groups = (nb + g - 1) / g;
        float[] ap = Sgemm.packA(false, m, kdim, 1f, a, aOff, kdim);
        Parallel.items(groups, (gi, threads) -> {
            int b0 = gi * g, gn = Math.min(g, nb - b0), n = gn * hw, x0 = xo + b0 * xImg;
            ConvPack.Offsets b;
            Sgemm.BPacker cols = null;
            if (k == 1 && s == 1 && pad == 0 && gn == 1) {
                b = null;
                cols = Sgemm.dense(false, x, x0, hw);
            } else if (pad == 0) {
                b = ConvPack.cols(x, x0, xImg, gn, c, h, w, k, s, ho, wo);
            } else {
                int hp = h + 2 * pad, wp = w + 2 * pad;
                float[] xp = ConvPack.padded(x, x0, xImg, gn, c, h, w, pad, Scratch.get(Scratch.PADDED, gn * c * hp * wp));
                b = ConvPack.cols(xp, 0, c * hp * wp, gn, c, hp, wp, k, s, ho, wo);
            }
            // rows of 16+ output pixels at stride 1: the kernels read B in the padded image (no packing)
            boolean implicit = b != null && Sgemm.implicitFits(b.colOff(), n);
            if (!implicit && cols == null) cols = b.packer();
            float[] dst = gn == 1 ? y : Scratch.get(Scratch.SCORES, m * n);
            int d0 = gn == 1 ? yo + b0 * yImg : 0;
            if (implicit) Sgemm.gemmImplicit(m, n, kdim, ap, b.src(), b.rowOff(), b.colOff(), bias, biasOff, dst, d0, n, threads);
            else Sgemm.gemmPackedBias(m, n, kdim, ap, cols, bias, biasOff, dst, d0, n, threads);
            if (gn > 1) {
                // [m × images·hw] in scratch, then copied to [images][m][hw]
                float[] tmp = dst;
                for (int oc = 0; oc < m; oc++)
                    for (int img = 0; img < gn; img++)
                        System.arraycopy(tmp, oc * n + img * hw, y, yo + (b0 + img) * yImg + oc * hw, hw);
            }
        });
    }

    static void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        int[] xs = x.shape(), ws = w.shape(), os = out.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = os[2], wo = os[3];
        convForward(nb, o, c, f(w), off(w), f(bias), off(bias), f(x), off(x), c * h * wd, h, wd, k, stride, pad, ho, wo,
                f(out), off(out), o * ho * wo);
    }

    static void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        int[] xs = gx.shape(), ws = w.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        int ckk = c * k * k, hw = ho * wo, xImg = c * h * wd, yImg = o * hw;
        float[] G = f(gy), W = f(w), GX = f(gx);
        int go = off(gy), wOff = off(w), xo = off(gx);
        if (stride == 1 && pad <= k - 1) {
            // stride 1: gx = conv(gy, W flipped and transposed, pad k−1−pad), an implicit-im2col GEMM
            // with K = O·k² and no col2im scatter (1×1: gx = Wᵀ·gy)
            int okk = o * k * k, kk = k * k;
            float[] wt = new float[c * okk];
            for (int oc = 0; oc < o; oc++)
                for (int ic = 0; ic < c; ic++)
                    for (int q = 0; q < kk; q++) wt[ic * okk + oc * kk + (kk - 1 - q)] = W[wOff + (oc * c + ic) * kk + q];
            convForward(nb, c, o, wt, 0, null, 0, G, go, yImg, ho, wo, k, 1, k - 1 - pad, h, wd, GX, xo, xImg);
            return;
        }
        // stride 2: col = Wᵀ·gy[b], then the col2im scatter
        Parallel.items(nb, (b, threads) -> {
            int x0 = xo + b * xImg;
            float[] col = Scratch.get(Scratch.SCORES, ckk * hw);
            Sgemm.gemm(true, false, ckk, hw, o, 1f, W, wOff, ckk, G, go + b * yImg, hw, 0f, col, 0, hw, threads);
            Arrays.fill(GX, x0, x0 + xImg, 0f);
            col2im(col, c, h, wd, k, stride, pad, ho, wo, GX, x0);
        });
    }

    static void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        int[] xs = x.shape(), ws = gw.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        int ckk = c * k * k, hw = ho * wo, xImg = c * h * wd, yImg = o * hw, wn = o * ckk;
        float[] X = f(x), G = f(gy), GW = f(gw);
        int xo = off(x), go = off(gy), wOff = off(gw);
        if (nb == 0) { Arrays.fill(GW, wOff, wOff + wn, 0f); return; }
        // gw' = Σ_b gy[b] [o × hw] · col[b]ᵀ [hw × k·k·c] with columns in (u, v, c) order (so the
        // packing copies contiguous channel runs), small maps in groups of images (K = images·hw).
        // Over threads: the groups in a fixed number of chunks, each summed into its own partial
        // gw', the chunks taken by whichever thread is free (a thread that falls behind, e.g. on a
        // shared machine, holds up one chunk, not half the batch); chunk bounds do not depend on
        // timing, so neither do the sums.
        int g = imagesPerGemm(hw, nb), groups = (nb + g - 1) / g, t = Parallel.threads();
        Geo geo = new Geo(X, xo, xImg, G, go, yImg, c, h, wd, o, k, stride, pad, ho, wo, g, nb);
        boolean split = t > 1 && groups >= t;
        int chunks = split ? Math.min(groups, 4 * t) : 1;
        float[][] parts = new float[chunks][wn];
        if (split) {
            Parallel.tasks(chunks, task -> {
                int g0 = (int) ((long) groups * task / chunks), g1 = (int) ((long) groups * (task + 1) / chunks);
                for (int gi = g0; gi < g1; gi++) weightGrad(geo, gi, parts[task], gi == g0 ? 0f : 1f, 1);
            });
        } else {
            for (int gi = 0; gi < groups; gi++) weightGrad(geo, gi, parts[0], gi == 0 ? 0f : 1f, t);
        }
        // the sum of the parts, from (u, v, c) to gw's (c, u, v) order
        int kk = k * k;
        Parallel.range(o, Math.max(1, GRAIN / ckk), (lo, hi) -> {
            for (int oc = lo; oc < hi; oc++)
                for (int uv = 0; uv < kk; uv++)
                    for (int ch = 0; ch < c; ch++) {
                        int src = oc * ckk + uv * c + ch;
                        float sum = parts[0][src];
                        for (int p = 1; p < parts.length; p++) sum += parts[p][src];
                        GW[wOff + oc * ckk + ch * kk + uv] = sum;
                    }
        });
    }

    private record Geo(float[] x, int xo, int xImg, float[] g, int go, int yImg, int c, int h, int wd, int o, int k,
                       int stride, int pad, int ho, int wo, int perGroup, int nb) {}

    /** gw' (+)= gy[group] · col[group]ᵀ for the images of group gi, columns of gw' in (u, v, c) order. */
    private static void weightGrad(Geo q, int gi, float[] gw, float beta, int threads) {
        int ckk = q.c * q.k * q.k, hw = q.ho * q.wo, b0 = gi * q.perGroup, gn = Math.min(q.perGroup, q.nb - b0);
        float[] a = q.g;
        int ao = q.go + b0 * q.yImg, lda = hw;
        if (gn > 1) {   // gy of the group side by side: [o × gn·hw]
            int n = gn * hw;
            a = Scratch.get(Scratch.PARTIALS, q.o * n);
            for (int oc = 0; oc < q.o; oc++)
                for (int img = 0; img < gn; img++)
                    System.arraycopy(q.g, q.go + (b0 + img) * q.yImg + oc * hw, a, oc * n + img * hw, hw);
            ao = 0;
            lda = n;
        }
        Sgemm.BPacker colsT;
        if (q.k == 1 && q.stride == 1 && q.pad == 0 && gn == 1) {
            colsT = Sgemm.dense(true, q.x, q.xo + b0 * q.xImg, hw);   // 1×1: colᵀ = xᵀ, transposed while packing
        } else {
            int hp = q.h + 2 * q.pad, wp = q.wd + 2 * q.pad;
            float[] xt = ConvPack.paddedChannelsLast(q.x, q.xo + b0 * q.xImg, q.xImg, gn, q.c, q.h, q.wd, q.pad,
                    Scratch.get(Scratch.PADDED, gn * hp * wp * q.c));
            colsT = ConvPack.colsT(xt, gn, q.c, hp, wp, q.k, q.stride, q.ho, q.wo);
        }
        Sgemm.gemm(false, q.o, ckk, gn * hw, 1f, a, ao, lda, colsT, beta, gw, 0, ckk, threads);
    }
}
