package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuBackend.n;
import static ddpm.engine.cpu.CpuBackend.off;
import static ddpm.engine.cpu.CpuBackend.f32;
import static ddpm.engine.cpu.CpuBackend.st;

/** Float32 kernels for the hot ops: multithreaded, written so the JIT vectorises them. Each is
 *  tested against {@link CpuReference}. */
final class CpuFloatKernels {
    private CpuFloatKernels() {}

    private static final int GRAIN = 1 << 15;

    static void unary(Ops.Unary op, float[] x, int xo, float[] y, int yo, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> {
            switch (op) {
                case SILU -> FastMath.siluAffine(x, xo + lo, y, yo + lo, hi - lo, 1f, 0f);
                case SQUARE -> {
                    if (xo == yo) for (int k = xo + lo; k < xo + hi; k++) { float v = x[k]; y[k] = v * v; }
                    else for (int k = lo; k < hi; k++) { float v = x[xo + k]; y[yo + k] = v * v; }
                }
                case NEG -> {
                    if (xo == yo) for (int k = xo + lo; k < xo + hi; k++) y[k] = -x[k];
                    else for (int k = lo; k < hi; k++) y[yo + k] = -x[xo + k];
                }
                default -> { for (int k = lo; k < hi; k++) y[yo + k] = (float) CpuReference.unary(op, x[xo + k]); }
            }
        });
    }

    static void affine(float[] x, int xo, float scale, float shift, float[] y, int yo, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> affineRun(x, xo + lo, y, yo + lo, hi - lo, scale, shift));
    }

    // Offsets: C2 (JDK 17) does not vectorise z[zo + k] = f(x[xo + k]) when the offsets differ (it
    // cannot rule out overlap); at equal offsets the loops below use one shared index, which it does.

    /** y[yo + k] = x[xo + k]·scale + shift, k < n. */
    static void affineRun(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        if (xo == yo) for (int k = xo; k < xo + n; k++) y[k] = x[k] * scale + shift;
        else for (int k = 0; k < n; k++) y[yo + k] = x[xo + k] * scale + shift;
    }

    /**
     * out = a op b for F32 operands whose broadcast splits out into rows × an inner run in which
     * each operand is either contiguous or one repeated value: same shapes, scalars, per-channel
     * bias/scale ([N,C,H,W] op [1,C,1,1], [N,C,1,1] or [C,1,1]), and row vectors ([B,L,D] op [D]).
     * Returns false for anything else (the reference handles it).
     */
    static boolean binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        int[] so = out.shape();
        int r = so.length;
        long[] sa = Shapes.broadcastStrides(a.shape(), so), sb = Shapes.broadcastStrides(b.shape(), so);
        if (a.rank() > r || b.rank() > r) return false;
        // the inner run: trailing axes over which each operand's stride pattern stays "contiguous" or "0"
        int inner = 1, axis = r;
        int ka = -1, kb = -1;   // inner strides (1 or 0), undecided while -1
        while (axis > 0) {
            int d = axis - 1;
            if (so[d] == 1) { axis--; continue; }
            int ea = sa[d] == 0 ? 0 : (sa[d] == inner ? 1 : -2), eb = sb[d] == 0 ? 0 : (sb[d] == inner ? 1 : -2);
            if (ea == -2 || eb == -2) break;
            if ((ka != -1 && ea != ka) || (kb != -1 && eb != kb)) break;
            ka = ea; kb = eb;
            inner *= so[d];
            axis--;
        }
        if (ka == -1) { ka = 1; kb = 1; }   // every axis has size 1
        int n = n(out), rows = inner == 0 ? 0 : n / inner;
        if (n == 0) return true;
        if (inner < 8 && rows > 1) return false;   // too fragmented to beat the reference much
        float[] x = st(a).f, y = st(b).f, z = st(out).f;
        int xo = off(a), yo = off(b), zo = off(out);
        final int lead = axis, fin = inner, sx = ka, sy = kb;
        int grainRows = Math.max(1, GRAIN / Math.max(1, inner));
        Parallel.range(rows, grainRows, (lo, hi) -> {
            for (int row = lo; row < hi; row++) {
                // offsets of this row in a and b: decompose row over the leading axes
                long ia = 0, ib = 0;
                int rem = row;
                for (int d = lead - 1; d >= 0; d--) {
                    int idx = rem % so[d];
                    rem /= so[d];
                    ia += idx * sa[d];
                    ib += idx * sb[d];
                }
                rowOp(op, x, xo + (int) ia, sx, y, yo + (int) ib, sy, z, zo + row * fin, fin);
            }
        });
        return true;
    }

    /** ADD, SUB, MUL, DIV, MAX, MIN: the ops with a vectorisable float form. */
    private static boolean plain(Ops.Binary op) {
        return switch (op) { case ADD, SUB, MUL, DIV, MAX, MIN -> true; default -> false; };
    }

    private static void rowOp(Ops.Binary op, float[] x, int xo, int sx, float[] y, int yo, int sy, float[] z, int zo, int n) {
        if (sx == 1 && sy == 1 && xo == zo && yo == zo && plain(op)) {
            int end = zo + n;
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = x[k] + y[k]; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = x[k] - y[k]; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = x[k] * y[k]; }
                case DIV -> { for (int k = zo; k < end; k++) z[k] = x[k] / y[k]; }
                case MAX -> { for (int k = zo; k < end; k++) z[k] = Math.max(x[k], y[k]); }
                default -> { for (int k = zo; k < end; k++) z[k] = Math.min(x[k], y[k]); }
            }
        } else if (sx == 1 && sy == 0 && xo == zo && plain(op)) {
            float v = y[yo];
            int end = zo + n;
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = x[k] + v; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = x[k] - v; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = x[k] * v; }
                case DIV -> { for (int k = zo; k < end; k++) z[k] = x[k] / v; }
                case MAX -> { for (int k = zo; k < end; k++) z[k] = Math.max(x[k], v); }
                default -> { for (int k = zo; k < end; k++) z[k] = Math.min(x[k], v); }
            }
        } else if (sx == 1 && sy == 1) {
            switch (op) {
                case ADD -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] + y[yo + k]; }
                case SUB -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] - y[yo + k]; }
                case MUL -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] * y[yo + k]; }
                case DIV -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] / y[yo + k]; }
                case MAX -> { for (int k = 0; k < n; k++) z[zo + k] = Math.max(x[xo + k], y[yo + k]); }
                case MIN -> { for (int k = 0; k < n; k++) z[zo + k] = Math.min(x[xo + k], y[yo + k]); }
                default -> { for (int k = 0; k < n; k++) z[zo + k] = (float) CpuReference.binary(op, x[xo + k], y[yo + k]); }
            }
        } else if (sx == 1) {
            float v = y[yo];
            switch (op) {
                case ADD -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] + v; }
                case SUB -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] - v; }
                case MUL -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] * v; }
                case DIV -> { for (int k = 0; k < n; k++) z[zo + k] = x[xo + k] / v; }
                case MAX -> { for (int k = 0; k < n; k++) z[zo + k] = Math.max(x[xo + k], v); }
                case MIN -> { for (int k = 0; k < n; k++) z[zo + k] = Math.min(x[xo + k], v); }
                default -> { for (int k = 0; k < n; k++) z[zo + k] = (float) CpuReference.binary(op, x[xo + k], v); }
            }
        } else if (sy == 1) {
            float u = x[xo];
            switch (op) {
                case ADD -> { for (int k = 0; k < n; k++) z[zo + k] = u + y[yo + k]; }
                case SUB -> { for (int k = 0; k < n; k++) z[zo + k] = u - y[yo + k]; }
                case MUL -> { for (int k = 0; k < n; k++) z[zo + k] = u * y[yo + k]; }
                case DIV -> { for (int k = 0; k < n; k++) z[zo + k] = u / y[yo + k]; }
                default -> { for (int k = 0; k < n; k++) z[zo + k] = (float) CpuReference.binary(op, u, y[yo + k]); }
            }
        } else {
            float v = (float) CpuReference.binary(op, x[xo], y[yo]);
            Arrays.fill(z, zo, zo + n, v);
        }
    }

    // ---------------------------------------------------------------- scratch
    /** Per-thread scratch arrays (slot 0: im2col / scores, 1: attention dP, 2: partial sums), grown on demand. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < n) s[slot] = new float[n];
        return s[slot];
    }

    /**
     * Runs body(i, threadsForIt) for i in [0, count): split over threads with one thread each when
     * count divides evenly (or is large), else one after another with all threads inside each.
     */
    interface Item { void run(int i, int threads); }

    static void overBatch(int count, Item body) {
        int t = Parallel.threads();
        if (t > 1 && count >= t && (count % t == 0 || count >= 4 * t)) {
            Parallel.tasks(t, task -> {
                for (int i = (int) ((long) count * task / t), e = (int) ((long) count * (task + 1) / t); i < e; i++) body.run(i, 1);
            });
        } else {
            for (int i = 0; i < count; i++) body.run(i, t);
        }
    }

    // ---------------------------------------------------------------- dense algebra
    static void matmul(Tensor a, Tensor b, Tensor out, boolean ta, boolean tb, float alpha, float beta) {
        int[] so = out.shape(), sa = a.shape(), sb = b.shape();
        int batch = so.length == 3 ? so[0] : 1, m = so[so.length - 2], n = so[so.length - 1];
        int k = ta ? sa[sa.length - 2] : sa[sa.length - 1];
        boolean bcA = sa.length == 2 || sa[0] == 1, bcB = sb.length == 2 || sb[0] == 1;
        float[] x = st(a).f, y = st(b).f, z = st(out).f;
        int xo = off(a), yo = off(b), zo = off(out), lda = ta ? m : k, ldb = tb ? k : n;
        long sA = bcA ? 0 : (long) m * k, sB = bcB ? 0 : (long) k * n, sC = (long) m * n;
        overBatch(batch, (i, threads) -> Sgemm.gemm(ta, tb, m, n, k, alpha, x, (int) (xo + i * sA), lda,
                y, (int) (yo + i * sB), ldb, beta, z, (int) (zo + i * sC), n, threads));
    }

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

    private static float[] floats(Tensor t) {
        if (t == null) return null;
        if (f32(t)) {
            float[] r = new float[n(t)];
            System.arraycopy(st(t).f, off(t), r, 0, r.length);
            return r;
        }
        return t.backend().readFloats(t);
    }

    /** Images per GEMM: small feature maps go side by side so that N = images·Ho·Wo ≥ 256. */
    static int imagesPerGemm(int hw, int nb) { return hw >= 256 ? 1 : Math.max(1, Math.min(nb, (256 + hw - 1) / hw)); }

    /**
     * out[b] (m × ho·wo, images yImg apart) = A · col(x[b]) (+ bias), where A (m × c·k², dense at
     * a/aOff) is the (possibly flipped) kernel and col the implicit im2col of image b of x (images
     * xImg apart, geometry h, w, k, s, pad → ho, wo). Images go in groups ({@link #imagesPerGemm})
     * over the batch; A is packed once.
     */
    private static void convForward(int nb, int m, int c, float[] a, int aOff, float[] bias,
                                    float[] x, int xo, int xImg, int h, int w, int k, int s, int pad, int ho, int wo,
                                    float[] y, int yo, int yImg) {
        int kdim = c * k * k, hw = ho * wo, g = imagesPerGemm(hw, nb), groups = (nb + g - 1) / g;
        float[] ap = nb > 1 ? Sgemm.packA(false, m, kdim, 1f, a, aOff, kdim) : null;
        overBatch(groups, (gi, threads) -> {
            int b0 = gi * g, gn = Math.min(g, nb - b0), n = gn * hw;
            ConvPack cp = new ConvPack(x, xo + b0 * xImg, h, w, k, s, pad, ho, wo, gn, xImg);
            Sgemm.BPacker cols = k == 1 && s == 1 && pad == 0 && gn == 1 ? Sgemm.dense(false, x, xo + b0 * xImg, hw) : cp.cols();
            if (gn == 1) {
                int y0 = yo + b0 * yImg;
                if (bias != null) for (int oc = 0; oc < m; oc++) Arrays.fill(y, y0 + oc * hw, y0 + (oc + 1) * hw, bias[oc]);
                float beta = bias != null ? 1f : 0f;
                if (ap != null) Sgemm.gemmPacked(m, hw, kdim, ap, cols, beta, y, y0, hw, threads);
                else Sgemm.gemm(false, m, hw, kdim, 1f, a, aOff, kdim, cols, beta, y, y0, hw, threads);
            } else {
                // [m × images·hw] in scratch, then scattered to [images][m][hw] with the bias
                float[] tmp = scratch(0, m * n);
                Sgemm.gemmPacked(m, n, kdim, ap, cols, 0f, tmp, 0, n, threads);
                for (int oc = 0; oc < m; oc++) {
                    float bv = bias != null ? bias[oc] : 0f;
                    for (int img = 0; img < gn; img++) {
                        int src = oc * n + img * hw, dst = yo + (b0 + img) * yImg + oc * hw;
                        for (int p = 0; p < hw; p++) y[dst + p] = tmp[src + p] + bv;
                    }
                }
            }
        });
    }

    static void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        int[] xs = x.shape(), ws = w.shape(), os = out.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = os[2], wo = os[3];
        convForward(nb, o, c, st(w).f, off(w), floats(bias), st(x).f, off(x), c * h * wd, h, wd, k, stride, pad, ho, wo,
                st(out).f, off(out), o * ho * wo);
    }

    static void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        int[] xs = gx.shape(), ws = w.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        int ckk = c * k * k, hw = ho * wo, xImg = c * h * wd, yImg = o * hw;
        float[] G = st(gy).f, W = st(w).f, GX = st(gx).f;
        int go = off(gy), wOff = off(w), xo = off(gx);
        if (stride == 1 && pad <= k - 1) {
            // stride 1: gx = conv(gy, W flipped and transposed, pad k−1−pad), an implicit-im2col GEMM
            // with K = O·k² and no col2im scatter (1×1: gx = Wᵀ·gy)
            int okk = o * k * k, kk = k * k;
            float[] wt = new float[c * okk];
            for (int oc = 0; oc < o; oc++)
                for (int ic = 0; ic < c; ic++)
                    for (int q = 0; q < kk; q++) wt[ic * okk + oc * kk + (kk - 1 - q)] = W[wOff + (oc * c + ic) * kk + q];
            convForward(nb, c, o, wt, 0, null, G, go, yImg, ho, wo, k, 1, k - 1 - pad, h, wd, GX, xo, xImg);
            return;
        }
        // stride 2: col = Wᵀ·gy[b], then the col2im scatter
        overBatch(nb, (b, threads) -> {
            int x0 = xo + b * xImg;
            float[] col = scratch(0, ckk * hw);
            Sgemm.gemm(true, false, ckk, hw, o, 1f, W, wOff, ckk, G, go + b * yImg, hw, 0f, col, 0, hw, threads);
            Arrays.fill(GX, x0, x0 + xImg, 0f);
            col2im(col, c, h, wd, k, stride, pad, ho, wo, GX, x0);
        });
    }

    static void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        int[] xs = x.shape(), ws = gw.shape(), gs = gy.shape();
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        int ckk = c * k * k, hw = ho * wo, xImg = c * h * wd, yImg = o * hw, wn = o * ckk;
        float[] X = st(x).f, G = st(gy).f, GW = st(gw).f;
        int xo = off(x), go = off(gy), wOff = off(gw);
        int t = Parallel.threads();
        if (nb == 0) { Arrays.fill(GW, wOff, wOff + wn, 0f); return; }
        // gw = Σ_b gy[b] [o × hw] · col[b]ᵀ [hw × ckk], small maps in groups of images (K = images·hw)
        int g = imagesPerGemm(hw, nb), groups = (nb + g - 1) / g;
        Geo geo = new Geo(X, xo, xImg, G, go, yImg, c, h, wd, o, k, stride, pad, ho, wo, g, nb);
        if (t > 1 && groups >= t && (groups % t == 0 || groups >= 4 * t)) {
            float[][] partial = new float[t][];
            Parallel.tasks(t, task -> {
                int g0 = (int) ((long) groups * task / t), g1 = (int) ((long) groups * (task + 1) / t);
                float[] dst = task == 0 ? GW : (partial[task] = new float[wn]);
                int d0 = task == 0 ? wOff : 0;
                for (int gi = g0; gi < g1; gi++) weightGrad(geo, gi, dst, d0, gi == g0 ? 0f : 1f, 1);
            });
            Parallel.range(wn, GRAIN, (lo, hi) -> {
                for (int p = 1; p < t; p++) {
                    float[] q = partial[p];
                    for (int e = lo; e < hi; e++) GW[wOff + e] += q[e];
                }
            });
        } else {
            for (int gi = 0; gi < groups; gi++) weightGrad(geo, gi, GW, wOff, gi == 0 ? 0f : 1f, t);
        }
    }

    private record Geo(float[] x, int xo, int xImg, float[] g, int go, int yImg, int c, int h, int wd, int o, int k,
                       int stride, int pad, int ho, int wo, int perGroup, int nb) {}

    /** gw (+)= gy[group] · col[group]ᵀ for the images of group gi. */
    private static void weightGrad(Geo q, int gi, float[] gw, int gwo, float beta, int threads) {
        int ckk = q.c * q.k * q.k, hw = q.ho * q.wo, b0 = gi * q.perGroup, gn = Math.min(q.perGroup, q.nb - b0);
        boolean direct = q.k == 1 && q.stride == 1 && q.pad == 0;
        float[] a = q.g;
        int ao = q.go + b0 * q.yImg, lda = hw;
        if (gn > 1) {   // gy of the group side by side: [o × gn·hw]
            int n = gn * hw;
            a = scratch(2, q.o * n);
            for (int oc = 0; oc < q.o; oc++)
                for (int img = 0; img < gn; img++)
                    System.arraycopy(q.g, q.go + (b0 + img) * q.yImg + oc * hw, a, oc * n + img * hw, hw);
            ao = 0;
            lda = n;
        }
        Sgemm.BPacker colsT = direct && gn == 1 ? Sgemm.dense(true, q.x, q.xo + b0 * q.xImg, hw)
                : new ConvPack(q.x, q.xo + b0 * q.xImg, q.h, q.wd, q.k, q.stride, q.pad, q.ho, q.wo, gn, q.xImg).colsT();
        Sgemm.gemm(false, q.o, ckk, gn * hw, 1f, a, ao, lda, colsT, beta, gw, gwo, ckk, threads);
    }

    // ---------------------------------------------------------------- normalisation
    /** Σ x[o .. o+n) with float partial sums over short runs, totalled in double. */
    static double sum(float[] x, int o, int n) {
        double total = 0;
        for (int s = 0; s < n; s += 512) {
            int e = Math.min(n, s + 512);
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            int p = o + s, end = o + e;
            for (; p + 8 <= end; p += 8) {
                a0 += x[p]; a1 += x[p + 1]; a2 += x[p + 2]; a3 += x[p + 3];
                a4 += x[p + 4]; a5 += x[p + 5]; a6 += x[p + 6]; a7 += x[p + 7];
            }
            for (; p < end; p++) a0 += x[p];
            total += (double) ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
        }
        return total;
    }

    /** Σ (x − mu)² over x[o .. o+n), as {@link #sum}. */
    static double sumSqDev(float[] x, int o, int n, float mu) {
        double total = 0;
        for (int s = 0; s < n; s += 512) {
            int e = Math.min(n, s + 512);
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            int p = o + s, end = o + e;
            for (; p + 8 <= end; p += 8) {
                float d0 = x[p] - mu, d1 = x[p + 1] - mu, d2 = x[p + 2] - mu, d3 = x[p + 3] - mu;
                float d4 = x[p + 4] - mu, d5 = x[p + 5] - mu, d6 = x[p + 6] - mu, d7 = x[p + 7] - mu;
                a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3;
                a4 += d4 * d4; a5 += d5 * d5; a6 += d6 * d6; a7 += d7 * d7;
            }
            for (; p < end; p++) { float d = x[p] - mu; a0 += d * d; }
            total += (double) ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
        }
        return total;
    }

    static float silu(float y) { return y / (1f + (float) Math.exp(-y)); }

    static void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, boolean silu,
                          Tensor out, Tensor mean, Tensor rstd) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / Math.max(1L, (long) nb * c)), cg = c / groups, cnt = cg * hw;
        float[] X = st(x).f, Y = st(out).f, M = st(mean).f, R = st(rstd).f, G = floats(gamma), B = floats(beta);
        int xo = off(x), yo = off(out), mo = off(mean), ro = off(rstd);
        Parallel.range(nb * groups, Math.max(1, GRAIN / Math.max(1, cnt)), (lo, hi) -> {
            for (int unit = lo; unit < hi; unit++) {
                int base = unit * cnt;   // (b·c + g·cg)·hw
                double mu = cnt == 0 ? 0 : sum(X, xo + base, cnt) / cnt;
                double var = cnt == 0 ? 0 : sumSqDev(X, xo + base, cnt, (float) mu) / cnt;
                double rs = 1.0 / Math.sqrt(var + eps);
                M[mo + unit] = (float) mu;
                R[ro + unit] = (float) rs;
                int g = unit % groups;
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    float scale = (float) (rs * G[ch]), shift = (float) (B[ch] - mu * rs * G[ch]);
                    if (silu) FastMath.siluAffine(X, xo + p0, Y, yo + p0, hw, scale, shift);
                    else affineRun(X, xo + p0, Y, yo + p0, hw, scale, shift);
                }
            }
        });
    }

    static void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                  boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / Math.max(1L, (long) nb * c)), cg = c / groups, cnt = cg * hw;
        float[] X = st(x).f, GY = st(gy).f, GX = st(gx).f, M = st(mean).f, R = st(rstd).f, G = floats(gamma), B = floats(beta);
        int xo = off(x), go = off(gy), gxo = off(gx), mo = off(mean), ro = off(rstd);
        double[] dg = new double[nb * c], db = new double[nb * c];   // per (sample, channel), summed over samples below
        Parallel.range(nb * groups, Math.max(1, GRAIN / Math.max(1, cnt)), (lo, hi) -> {
            for (int unit = lo; unit < hi; unit++) {
                int base = unit * cnt, g = unit % groups, b = unit / groups;
                float mu = M[mo + unit], rs = R[ro + unit];
                double s1 = 0, s2 = 0;
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    float gm = G[ch], bt = B[ch];
                    float pg = 0, pb = 0, q1 = 0, q2 = 0;
                    double cg1 = 0, cb1 = 0, c1 = 0, c2 = 0;
                    for (int e = 0; e < hw; e++) {
                        float xh = (X[xo + p0 + e] - mu) * rs;
                        float d = GY[go + p0 + e];
                        if (silu) {
                            float yv = xh * gm + bt, sg = 1f / (1f + (float) Math.exp(-yv));
                            d *= sg * (1f + yv * (1f - sg));
                        }
                        pg += d * xh;
                        pb += d;
                        float dxh = d * gm;
                        q1 += dxh;
                        q2 += dxh * xh;
                        GX[gxo + p0 + e] = dxh;   // dx̂ for now; finished below
                        if ((e & 255) == 255) { cg1 += pg; cb1 += pb; c1 += q1; c2 += q2; pg = pb = q1 = q2 = 0; }
                    }
                    dg[b * c + ch] = cg1 + pg;
                    db[b * c + ch] = cb1 + pb;
                    s1 += c1 + q1;
                    s2 += c2 + q2;
                }
                float m1 = (float) (s1 / cnt), m2 = (float) (s2 / cnt);
                if (xo == gxo) {
                    for (int e = xo + base; e < xo + base + cnt; e++) GX[e] = rs * (GX[e] - m1 - (X[e] - mu) * rs * m2);
                } else {
                    for (int e = 0; e < cnt; e++) {
                        float xh = (X[xo + base + e] - mu) * rs;
                        GX[gxo + base + e] = rs * (GX[gxo + base + e] - m1 - xh * m2);
                    }
                }
            }
        });
        float[] GG = st(ggamma).f, GB = st(gbeta).f;
        int ggo = off(ggamma), gbo = off(gbeta);
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sb = 0;
            for (int b = 0; b < nb; b++) { sg += dg[b * c + ch]; sb += db[b * c + ch]; }
            GG[ggo + ch] = (float) sg;
            GB[gbo + ch] = (float) sb;
        }
    }

    // ---------------------------------------------------------------- attention
    static void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse) {
        int nb = q.dim(0), l = q.dim(1), s = k.dim(1), d = q.dim(2), dv = v.dim(2);
        float[] Q = st(q).f, K = st(k).f, V = st(v).f, O = st(out).f, LSE = st(lse).f;
        int qo = off(q), ko = off(k), vo = off(v), oo = off(out), lo = off(lse);
        overBatch(nb, (b, threads) -> {
            float[] p = scratch(0, l * s);
            Sgemm.gemm(false, true, l, s, d, scale, Q, qo + b * l * d, d, K, ko + b * s * d, d, 0f, p, 0, s, threads);
            for (int i = 0; i < l; i++) {
                int r = i * s;
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) m = Math.max(m, p[r + j]);
                double sum = FastMath.expShiftSum(p, r, s, m);
                float inv = (float) (1.0 / sum);
                for (int j = 0; j < s; j++) p[r + j] *= inv;
                LSE[lo + b * l + i] = (float) (m + Math.log(sum));
            }
            Sgemm.gemm(false, false, l, dv, s, 1f, p, 0, s, V, vo + b * s * dv, dv, 0f, O, oo + b * l * dv, dv, threads);
        });
    }

    static void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout, float scale,
                                  Tensor gq, Tensor gk, Tensor gv) {
        int nb = q.dim(0), l = q.dim(1), s = k.dim(1), d = q.dim(2), dv = v.dim(2);
        float[] Q = st(q).f, K = st(k).f, V = st(v).f, O = st(out).f, LSE = st(lse).f, GO = st(gout).f,
                GQ = st(gq).f, GK = st(gk).f, GV = st(gv).f;
        int qo = off(q), ko = off(k), vo = off(v), oo = off(out), lo = off(lse), goo = off(gout),
                gqo = off(gq), gko = off(gk), gvo = off(gv);
        overBatch(nb, (b, threads) -> {
            float[] p = scratch(0, l * s), dp = scratch(1, l * s);
            int qb = qo + b * l * d, kb = ko + b * s * d, vb = vo + b * s * dv, ob = b * l * dv;
            // P = exp(scale·q kᵀ − lse), recomputed from the saved log-sum-exp
            Sgemm.gemm(false, true, l, s, d, scale, Q, qb, d, K, kb, d, 0f, p, 0, s, threads);
            for (int i = 0; i < l; i++) {
                int r = i * s;
                float li = LSE[lo + b * l + i];
                FastMath.expShiftSum(p, r, s, li);
            }
            // dV = Pᵀ dO, dP = dO Vᵀ
            Sgemm.gemm(true, false, s, dv, l, 1f, p, 0, s, GO, goo + ob, dv, 0f, GV, gvo + b * s * dv, dv, threads);
            Sgemm.gemm(false, true, l, s, dv, 1f, GO, goo + ob, dv, V, vb, dv, 0f, dp, 0, s, threads);
            // dS = P ⊙ (dP − rowdot(dO, O)) · scale
            for (int i = 0; i < l; i++) {
                int r = i * s, oi = ob + i * dv;
                // a float FMA chain in the order the SGEMM kernel accumulates dP, so that where
                // dP_ij and D_i are the same sum (one key: P = 1, O = V) they cancel exactly
                float di = 0;
                for (int e = 0; e < dv; e++) di = Math.fma(GO[goo + oi + e], O[oo + oi + e], di);
                for (int j = 0; j < s; j++) dp[r + j] = p[r + j] * (dp[r + j] - di) * scale;
            }
            // dQ = dS K, dK = dSᵀ Q
            Sgemm.gemm(false, false, l, d, s, 1f, dp, 0, s, K, kb, d, 0f, GQ, gqo + b * l * d, d, threads);
            Sgemm.gemm(true, false, s, d, l, 1f, dp, 0, s, Q, qb, d, 0f, GK, gko + b * s * d, d, threads);
        });
    }

    static void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                     double wd, boolean decoupled, long step, double gradScale) {
        float[] p = st(param).f, g = st(grad).f, mm = st(m).f, vv = st(v).f;
        int po = off(param), go = off(grad), mo = off(m), vo = off(v);
        float c1 = (float) (1 - Math.pow(b1, step)), c2 = (float) (1 - Math.pow(b2, step));
        float fb1 = (float) b1, fb2 = (float) b2, flr = (float) lr, fe = (float) eps, fwd = (float) wd, gs = (float) gradScale;
        float ng = 1 - fb1, nv = 1 - fb2, dec = flr * fwd;
        boolean same = po == go && po == mo && po == vo;
        Parallel.range(n(param), GRAIN, (lo, hi) -> {
            if (same && decoupled) {   // one shared index: vectorised (see the note above affineRun)
                for (int k = po + lo; k < po + hi; k++) {
                    float pk = p[k], gk = g[k] * gs;
                    float mk = mm[k] = fb1 * mm[k] + ng * gk;
                    float vk = vv[k] = fb2 * vv[k] + nv * gk * gk;
                    p[k] = pk - (flr * (mk / c1) / ((float) Math.sqrt(vk / c2) + fe) + dec * pk);
                }
                return;
            }
            if (same) {
                for (int k = po + lo; k < po + hi; k++) {
                    float pk = p[k], gk = g[k] * gs + fwd * pk;
                    float mk = mm[k] = fb1 * mm[k] + ng * gk;
                    float vk = vv[k] = fb2 * vv[k] + nv * gk * gk;
                    p[k] = pk - flr * (mk / c1) / ((float) Math.sqrt(vk / c2) + fe);
                }
                return;
            }
            for (int k = lo; k < hi; k++) {
                float pk = p[po + k], gk = g[go + k] * gs;
                if (!decoupled) gk += fwd * pk;
                float mk = mm[mo + k] = fb1 * mm[mo + k] + (1 - fb1) * gk;
                float vk = vv[vo + k] = fb2 * vv[vo + k] + (1 - fb2) * gk * gk;
                float upd = flr * (mk / c1) / ((float) Math.sqrt(vk / c2) + fe);
                if (decoupled) upd += flr * fwd * pk;
                p[po + k] = pk - upd;
            }
        });
    }
}
