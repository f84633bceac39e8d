package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Layer outputs against hand computations and plain float64 loops. */
class LayerTest {
    Scope scope;
    Grad.Guard noGrad;

    @BeforeEach void open() { scope = Scope.open(); noGrad = Grad.noGrad(); }

    @AfterEach void close() { noGrad.close(); scope.close(); }

    static <M extends Module> M f64(M m) { return m.build(Device.CPU, DType.F64, 1); }

    static void set(Parameter p, double... v) { p.get().copyFrom(v); }

    static double[] rnd(long seed, int n) {
        double[] a = new double[n];
        Rng r = new Rng(seed);
        for (int i = 0; i < n; i++) a[i] = r.nextDouble() * 2 - 1;
        return a;
    }

    /** bf16 autocast through every layer kind: BF16 activations meet the float32 parameters and each
     *  layer's output stays BF16, so the U-Net stores no float32 activation between its ends. */
    @Test void bf16ActivationsStayBf16ThroughEveryLayer() {
        Rng r = new Rng(5);
        Tensor x = Tensor.randn(r, 2, 32, 8, 8).to(DType.BF16), emb = Tensor.randn(r, 2, 64).to(DType.BF16);
        try (ResBlock rb = new ResBlock(32, 64, 64, 0.1, 8).build(Device.CPU, DType.F32, 1);
             AttnBlock ab = new AttnBlock(32, 8).build(Device.CPU, DType.F32, 2);
             Downsample down = new Downsample(32).build(Device.CPU, DType.F32, 3);
             Upsample up = new Upsample(32).build(Device.CPU, DType.F32, 4);
             Linear lin = new Linear(64, 16).build(Device.CPU, DType.F32, 5)) {
            rb.setDropoutRng(new Rng(9));
            for (Tensor y : new Tensor[]{rb.forward(x, emb), ab.forward(x), down.forward(x), up.forward(x), lin.forward(emb)})
                assertEquals(DType.BF16, y.dtype(), y.describe());
        }
        try (UNet net = new UNet(UNetConfig.tiny(), Device.CPU, 1)) {
            net.activations(DType.BF16);
            assertEquals(DType.BF16, net.activations());
            Tensor eps = net.forward(Tensor.randn(r, 2, 3, 16, 16), Tensor.ofInts(new int[]{3, 700}, Device.CPU, 2));
            assertEquals(DType.F32, eps.dtype(), "ε̂ comes back in float32");
            assertThrows(IllegalArgumentException.class, () -> net.activations(DType.F64));
        }
    }

    @Test void linearByHand() {
        try (Linear l = f64(new Linear(2, 3))) {
            set(l.weight, 1, 2, 3, 4, 5, 6);      // [[1,2],[3,4],[5,6]]
            set(l.bias, 0.5, -1, 0);
            Tensor y = l.forward(Tensor.of(new double[]{1, -1, 2, 0.5}, 2, 2));
            assertArrayEquals(new double[]{-0.5, -2, -1, 3.5, 7, 13}, y.toDoubles(), 1e-12);
        }
    }

    @Test void conv2dAgainstLoops() {
        int n = 2, c = 3, o = 4, h = 5, w = 6;
        for (int[] g : new int[][]{{3, 1, 1}, {3, 2, 1}, {1, 1, 0}}) {
            int k = g[0], s = g[1], p = g[2];
            try (Conv2d conv = f64(new Conv2d(c, o, k, s, p))) {
                double[] x = rnd(1, n * c * h * w), wt = conv.weight.get().toDoubles(), b = rnd(2, o);
                set(conv.bias, b);
                Tensor y = conv.forward(Tensor.of(x, n, c, h, w));
                int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
                assertArrayEquals(new int[]{n, o, ho, wo}, y.shape());
                double[] got = y.toDoubles();
                for (int in = 0; in < n; in++) for (int oc = 0; oc < o; oc++) for (int i = 0; i < ho; i++) for (int j = 0; j < wo; j++) {
                    double acc = b[oc];
                    for (int ic = 0; ic < c; ic++) for (int di = 0; di < k; di++) for (int dj = 0; dj < k; dj++) {
                        int yy = i * s - p + di, xx = j * s - p + dj;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        acc += wt[((oc * c + ic) * k + di) * k + dj] * x[((in * c + ic) * h + yy) * w + xx];
                    }
                    assertEquals(acc, got[((in * o + oc) * ho + i) * wo + j], 1e-12);
                }
            }
        }
    }

    @Test void groupNormAgainstLoops() {
        int n = 2, c = 8, g = 4, hw = 6;
        for (boolean silu : new boolean[]{false, true}) {
            try (GroupNorm gn = f64(new GroupNorm(c, g, 1e-6, silu))) {
                double[] x = rnd(3, n * c * hw), gam = rnd(4, c), bet = rnd(5, c);
                set(gn.weight, gam);
                set(gn.bias, bet);
                double[] got = gn.forward(Tensor.of(x, n, c, 2, 3)).toDoubles();
                int cpg = c / g;
                for (int in = 0; in < n; in++) for (int gi = 0; gi < g; gi++) {
                    double mean = 0, var = 0;
                    int base = (in * c + gi * cpg) * hw, cnt = cpg * hw;
                    for (int k = 0; k < cnt; k++) mean += x[base + k];
                    mean /= cnt;
                    for (int k = 0; k < cnt; k++) var += (x[base + k] - mean) * (x[base + k] - mean);
                    var /= cnt;
                    for (int k = 0; k < cnt; k++) {
                        int ch = gi * cpg + k / hw;
                        double v = (x[base + k] - mean) / Math.sqrt(var + 1e-6) * gam[ch] + bet[ch];
                        if (silu) v = v / (1 + Math.exp(-v));
                        assertEquals(v, got[base + k], 1e-10);
                    }
                }
            }
        }
        // defaults: 32 groups, eps 1e-6, γ = 1, β = 0
        try (GroupNorm d = f64(new GroupNorm(64))) {
            assertEquals(32, d.groups);
            assertEquals(1e-6, d.eps);
            assertArrayEquals(new double[64], d.bias.get().toDoubles());
            for (double v : d.weight.get().toDoubles()) assertEquals(1.0, v);
        }
    }

    @Test void sinusoidalTimestepEmbedding() {
        try (TimestepEmbedding te = f64(new TimestepEmbedding(8, 16))) {
            int[] ts = {0, 1, 17, 999};
            double[] got = te.sinusoidal(Tensor.ofInts(ts, Device.CPU, 4)).toDoubles();
            for (int b = 0; b < 4; b++) for (int i = 0; i < 4; i++) {
                double f = Math.exp(-Math.log(10000) * i / 3.0);
                assertEquals(Math.sin(ts[b] * f), got[b * 8 + i], 1e-12);
                assertEquals(Math.cos(ts[b] * f), got[b * 8 + 4 + i], 1e-12);
            }
            assertArrayEquals(new int[]{4, 16}, te.forward(Tensor.ofInts(ts, Device.CPU, 4)).shape());
        }
    }

    @Test void upsampleIsNearestThenConv() {
        try (Upsample u = f64(new Upsample(1))) {
            double[] k = new double[9];
            k[4] = 2;   // centre tap ×2: the conv returns 2·input
            set(u.conv.weight, k);
            set(u.conv.bias, 1);
            double[] y = u.forward(Tensor.of(new double[]{1, 2, 3, 4}, 1, 1, 2, 2)).toDoubles();
            assertArrayEquals(new double[]{3, 3, 5, 5, 3, 3, 5, 5, 7, 7, 9, 9, 7, 7, 9, 9}, y, 0);
        }
        try (Downsample d = f64(new Downsample(2))) {
            assertArrayEquals(new int[]{3, 2, 4, 4}, d.forward(Tensor.zeros(DType.F64, Device.CPU, 3, 2, 8, 8)).shape());
            assertArrayEquals(new int[]{3, 2, 4, 4}, d.forward(Tensor.zeros(DType.F64, Device.CPU, 3, 2, 7, 7)).shape());
        }
        // the top-left tap alone: output (i, j) sees input (2i−1, 2j−1) padded symmetrically, (2i, 2j) with TF's "SAME"
        double[] x = new double[16];
        for (int i = 0; i < 16; i++) x[i] = i + 1;
        double[] tap = new double[9];
        tap[0] = 1;
        for (UNetConfig.DownsamplePad pad : UNetConfig.DownsamplePad.values()) {
            try (Downsample d = f64(new Downsample(1, pad))) {
                set(d.conv.weight, tap);
                set(d.conv.bias, 0);
                double[] y = d.forward(Tensor.of(x, 1, 1, 4, 4)).toDoubles();
                assertArrayEquals(pad == UNetConfig.DownsamplePad.TF_SAME ? new double[]{1, 3, 9, 11} : new double[]{0, 0, 0, 6}, y, 0, pad.json);
            }
        }
    }

    @Test void attentionAgainstLoops() {
        int b = 2, c = 4, hw = 6;
        try (AttnBlock ab = f64(new AttnBlock(c, 2))) {
            Fd.randomize(ab, 8, 0.8);
            double[] x = rnd(9, b * c * hw);
            double[] got = ab.forward(Tensor.of(x, b, c, 2, 3)).toDoubles();
            double[] h = ab.norm.forward(Tensor.of(x, b, c, 2, 3)).toDoubles();   // group norm is checked separately
            double[][] w = new double[4][], bias = new double[4][];
            Conv2d[] cs = {ab.q, ab.k, ab.v, ab.projOut};
            for (int i = 0; i < 4; i++) { w[i] = cs[i].weight.get().toDoubles(); bias[i] = cs[i].bias.get().toDoubles(); }
            for (int bi = 0; bi < b; bi++) {
                double[][][] qkv = new double[3][hw][c];
                for (int m = 0; m < 3; m++) for (int pos = 0; pos < hw; pos++) for (int oc = 0; oc < c; oc++) {
                    double acc = bias[m][oc];
                    for (int ic = 0; ic < c; ic++) acc += w[m][oc * c + ic] * h[(bi * c + ic) * hw + pos];
                    qkv[m][pos][oc] = acc;
                }
                double[][] att = new double[hw][c];
                for (int i = 0; i < hw; i++) {
                    double[] s = new double[hw];
                    double mx = Double.NEGATIVE_INFINITY, z = 0;
                    for (int j = 0; j < hw; j++) {
                        for (int d = 0; d < c; d++) s[j] += qkv[0][i][d] * qkv[1][j][d];
                        s[j] /= Math.sqrt(c);
                        mx = Math.max(mx, s[j]);
                    }
                    for (int j = 0; j < hw; j++) { s[j] = Math.exp(s[j] - mx); z += s[j]; }
                    for (int j = 0; j < hw; j++) for (int d = 0; d < c; d++) att[i][d] += s[j] / z * qkv[2][j][d];
                }
                for (int oc = 0; oc < c; oc++) for (int pos = 0; pos < hw; pos++) {
                    double acc = bias[3][oc];
                    for (int ic = 0; ic < c; ic++) acc += w[3][oc * c + ic] * att[pos][ic];
                    int idx = (bi * c + oc) * hw + pos;
                    assertEquals(x[idx] + acc, got[idx], 1e-10);
                }
            }
        }
    }

    @Test void freshBlocksAreIdentityOrShortcut() {
        // conv2 and proj_out start at exactly zero, so fresh blocks add nothing to their input path
        try (ResBlock rb = f64(new ResBlock(4, 4, 8, 0.0, 2))) {
            Tensor x = Fd.randn(1, 2, 4, 3, 3);
            assertArrayEquals(x.toDoubles(), rb.forward(x, Fd.randn(2, 2, 8)).toDoubles(), 0);
            for (double v : rb.conv2.weight.get().toDoubles()) assertEquals(0.0, v);
        }
        try (AttnBlock ab = f64(new AttnBlock(4, 2))) {
            Tensor x = Fd.randn(3, 2, 4, 3, 3);
            assertArrayEquals(x.toDoubles(), ab.forward(x).toDoubles(), 0);
        }
    }

    @Test void dropoutTrainsAndEvaluates() {
        try (Dropout d = f64(new Dropout(0.25))) {
            Tensor x = Tensor.full(DType.F64, Device.CPU, 1.0, 4000);
            d.eval();
            assertSame(x, d.forward(x));
            d.train(true);
            assertThrows(IllegalStateException.class, () -> d.forward(x));
            d.setDropoutRng(new Rng(5));
            double[] y = d.forward(x).toDoubles();
            int zeros = 0;
            for (double v : y) {
                if (v == 0) zeros++;
                else assertEquals(1 / 0.75, v, 1e-12);
            }
            assertEquals(1000, zeros, 120);
            d.setDropoutRng(new Rng(5));
            assertArrayEquals(y, d.forward(x).toDoubles(), 0, "same stream, same mask");
        }
    }

    @Test void initialisationFollowsTheReference() {
        try (Conv2d c = new Conv2d(16, 32, 3, 1, 1).build(Device.CPU, DType.F32, 3)) {
            double lim = Math.sqrt(3.0 / ((16 * 9 + 32 * 9) / 2.0));
            double[] w = c.weight.get().toDoubles();
            double max = 0, sum2 = 0;
            for (double v : w) { max = Math.max(max, Math.abs(v)); sum2 += v * v; }
            assertTrue(max <= lim && max > 0.95 * lim, "uniform in ±" + lim + ", max |w| " + max);
            assertEquals(lim * lim / 3, sum2 / w.length, 0.1 * lim * lim / 3, "variance of U(±lim)");
            for (double v : c.bias.get().toDoubles()) assertEquals(0.0, v);
        }
        try (Linear a = new Linear(7, 5).build(Device.CPU, DType.F32, 42);
             Linear b = new Linear(7, 5).build(Device.CPU, DType.F32, 42);
             Linear other = new Linear(7, 5).build(Device.CPU, DType.F32, 43)) {
            assertArrayEquals(a.weight.get().toFloats(), b.weight.get().toFloats(), "same seed, same weights");
            assertFalse(java.util.Arrays.equals(a.weight.get().toFloats(), other.weight.get().toFloats()));
        }
    }
}
