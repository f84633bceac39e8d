package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.Ops;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The whole CUDA backend without a GPU: launchers run in dry mode and every recorded launch and
 * cuBLAS call is executed by {@link KernelEmulator} (a line-by-line port of the .cu kernels, run
 * over the launch's grid and block, phase by phase between barriers) on host memory; results are
 * compared with the CPU backend, the specification, at odd shapes (partial tiles, partial warps,
 * n not a multiple of the block, chunked convs). Tensors start 3 elements into NaN-filled storage,
 * and outputs are NaN-poisoned, so a missing offset or an unwritten element fails.
 * This checks the launchers' index math and the kernels' logic; it cannot see races, real shuffle
 * semantics or float differences of the device (the gpu-tagged parity tests do that).
 */
class EmulatedParityTest {
    DryCuda d;
    CudaBackend gpu;
    final Backend cpu = Backends.cpu();
    Random rnd;

    @BeforeEach void setUp() {
        d = new DryCuda(true);
        gpu = d.be;
        KernelEmulator emu = new KernelEmulator(d.run);
        d.run.onCall = emu::execute;
        rnd = new Random(7);
    }

    record P(Tensor c, Tensor g) {}

    Tensor dev(DType dt, int... shape) {
        Tensor t = d.make(dt, shape);
        int[] idx = {0};
        int[] w = d.run.wordsAt(((CudaStorage) t.storage()).block.address(), idx);
        Arrays.fill(w, Float.floatToRawIntBits(Float.NaN));   // padding and contents: NaN
        return t;
    }

    P of(float[] v, int... shape) {
        Tensor g = dev(DType.F32, shape);
        gpu.write(g, v);
        return new P(Tensor.of(v, Device.CPU, shape), g);
    }

    P rand(int... shape) {
        float[] v = new float[(int) Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((rnd.nextBoolean() ? 1 : -1) * (0.05 + rnd.nextDouble()));
        return of(v, shape);
    }

    P randPos(int... shape) {
        float[] v = new float[(int) Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (0.05 + rnd.nextDouble());
        return of(v, shape);
    }

    P ints(int bound, int n) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = rnd.nextInt(bound);
        Tensor g = dev(DType.I32, n);
        gpu.write(g, v);
        return new P(Tensor.ofInts(v, Device.CPU, n), g);
    }

    P out(int... shape) { return new P(Tensor.zeros(DType.F32, Device.CPU, shape), dev(DType.F32, shape)); }

    static void close(String what, P p, double tol) {
        float[] e = p.c().toFloats(), a = p.g().toFloats();
        double maxRef = 0, maxDiff = 0;
        int worst = -1;
        for (int i = 0; i < e.length; i++) {
            if (Float.isNaN(e[i]) != Float.isNaN(a[i])) fail(what + ": NaN mismatch at " + i + " (cpu " + e[i] + ", emulated " + a[i] + ")");
            if (Float.isNaN(e[i])) continue;
            maxRef = Math.max(maxRef, Math.abs(e[i]));
            double df = Math.abs((double) a[i] - e[i]);
            if (df > maxDiff) { maxDiff = df; worst = i; }
        }
        double err = maxDiff / Math.max(maxRef, 1e-30);
        if (!(err <= tol)) fail(String.format("%s: rel err %.3g > %.3g at %d (cpu %s, emulated %s)", what, err, tol, worst, e[worst], a[worst]));
    }

    // ------------------------------------------------------------------ tests
    @Test void elementwise() {
        int[] s = {3, 5, 7};
        for (Ops.Unary op : Ops.Unary.values()) {
            boolean pos = op == Ops.Unary.LOG || op == Ops.Unary.SQRT || op == Ops.Unary.RSQRT;
            P x = pos ? randPos(s) : rand(s), y = out(s), gy = rand(s), gx = out(s), gx2 = out(s);
            cpu.unary(op, x.c(), y.c());
            gpu.unary(op, x.g(), y.g());
            close("unary " + op, y, 1e-6);
            cpu.unaryBackward(op, x.c(), y.c(), gy.c(), gx.c());
            gpu.unaryBackward(op, x.g(), y.g(), gy.g(), gx.g());
            close("unaryBackward " + op, gx, 1e-5);
            gpu.unaryBackward(op, x.g(), null, gy.g(), gx2.g());
            cpu.unaryBackward(op, x.c(), y.c(), gy.c(), gx2.c());
            close("unaryBackward (y null) " + op, gx2, 1e-5);
        }
        int[][][] shapes = {{{3, 5, 7}, {3, 5, 7}, {3, 5, 7}}, {{3, 5, 7}, {1}, {3, 5, 7}}, {{}, {3, 5, 7}, {3, 5, 7}},
                {{3, 5, 7}, {5, 1}, {3, 5, 7}}, {{1, 5, 7}, {3, 1, 7}, {3, 5, 7}},
                {{2, 3, 1, 4, 1, 5, 1, 2, 3}, {3, 4, 2, 1, 2, 1, 3}, {2, 3, 3, 4, 2, 5, 2, 2, 3}}};
        for (int[][] sh : shapes)
            for (Ops.Binary op : Ops.Binary.values()) {
                P a = op == Ops.Binary.POW ? randPos(sh[0]) : rand(sh[0]), b = rand(sh[1]), o = out(sh[2]);
                cpu.binary(op, a.c(), b.c(), o.c());
                gpu.binary(op, a.g(), b.g(), o.g());
                close("binary " + op + " " + Arrays.toString(sh[0]) + " " + Arrays.toString(sh[1]), o, 1e-5);
            }
        P x = rand(s), o = out(s);
        cpu.affine(x.c(), 1.5, -0.25, o.c()); gpu.affine(x.g(), 1.5, -0.25, o.g()); close("affine", o, 1e-6);
        cpu.clamp(x.c(), -0.5, 0.7, o.c()); gpu.clamp(x.g(), -0.5, 0.7, o.g()); close("clamp", o, 0);
        P xp = randPos(s);
        for (double pw : new double[]{2, 1, 0.5, 3, -1.5}) {
            cpu.powScalar(xp.c(), pw, o.c()); gpu.powScalar(xp.g(), pw, o.g()); close("pow " + pw, o, 1e-5);
        }
        P cond = rand(5, 1), a = rand(3, 1, 7), b = rand(1), wo = out(3, 5, 7);
        cpu.where(cond.c(), a.c(), b.c(), wo.c()); gpu.where(cond.g(), a.g(), b.g(), wo.g()); close("where", wo, 0);
        P ci = ints(2, 7);
        cpu.where(ci.c(), a.c(), b.c(), wo.c()); gpu.where(ci.g(), a.g(), b.g(), wo.g()); close("where i32", wo, 0);
        Tensor ig = dev(DType.I32, 3, 5, 7);
        gpu.copy(x.g(), ig);
        P back = out(s);
        gpu.copy(ig, back.g());
        float[] xs = x.c().toFloats();
        float[] tr = new float[xs.length];
        for (int i = 0; i < xs.length; i++) tr[i] = (int) (xs[i] * 1f);
        cpu.write(back.c(), tr);
        close("cast round trip", back, 0);
    }

    @Test void reduceSoftmaxLayout() {
        for (Ops.Reduce op : Ops.Reduce.values())
            for (int[] on : new int[][]{{7, 33, 1}, {3, 2500, 1}, {4, 9, 37}, {2, 1, 70}, {5, 0, 1}, {3, 0, 4}}) {
                P x = rand(on[0], on[1], on[2]), o = out(on[0], on[2]);
                cpu.reduce(op, x.c(), on[0], on[1], on[2], o.c());
                gpu.reduce(op, x.g(), on[0], on[1], on[2], o.g());
                close("reduce " + op + " " + Arrays.toString(on), o, 1e-5);
            }
        for (Ops.Reduce op : Ops.Reduce.values())   // a NaN must reach the result, as Math.max/min propagate it
            for (int[] on : new int[][]{{3, 33, 1}, {2, 2500, 1}, {2, 9, 37}}) {
                float[] v = new float[on[0] * on[1] * on[2]];
                for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
                v[v.length / 2] = Float.NaN;
                P x = of(v, on), o = out(on[0], on[2]);
                cpu.reduce(op, x.c(), on[0], on[1], on[2], o.c());
                gpu.reduce(op, x.g(), on[0], on[1], on[2], o.g());
                close("reduce with NaN " + op + " " + Arrays.toString(on), o, 1e-5);
            }
        for (int[] s : new int[][]{{5, 7, 33}, {3, 1}, {2, 100}}) {
            P x = rand(s), y = out(s), gy = rand(s), gx = out(s);
            cpu.softmax(x.c(), y.c()); gpu.softmax(x.g(), y.g()); close("softmax", y, 1e-6);
            cpu.softmaxBackward(y.c(), gy.c(), gx.c()); gpu.softmaxBackward(y.g(), gy.g(), gx.g()); close("softmaxBackward", gx, 1e-5);
        }
        int[][] perms = {{2, 0, 1}, {0, 2, 3, 1}, {7, 6, 5, 4, 3, 2, 1, 0}, {0}};
        int[][] pshapes = {{3, 5, 7}, {2, 3, 4, 5}, {2, 1, 3, 1, 2, 3, 2, 2}, {11}};
        for (int i = 0; i < perms.length; i++) {
            int[] os = new int[perms[i].length];
            for (int k = 0; k < os.length; k++) os[k] = pshapes[i][perms[i][k]];
            P x = rand(pshapes[i]), o = out(os);
            cpu.permute(x.c(), perms[i], o.c()); gpu.permute(x.g(), perms[i], o.g()); close("permute", o, 0);
        }
        for (int[] sl : new int[][]{{1, 2, 4}, {0, 1, 2}, {2, 4, 1}, {2, 0, 5}}) {
            int[] big = {3, 7, 5}, small = big.clone();
            small[sl[0]] = sl[2];
            P src = rand(small), dst = rand(big), r = out(small);
            cpu.writeSlice(src.c(), dst.c(), sl[0], sl[1]); gpu.writeSlice(src.g(), dst.g(), sl[0], sl[1]); close("writeSlice", dst, 0);
            cpu.readSlice(dst.c(), r.c(), sl[0], sl[1]); gpu.readSlice(dst.g(), r.g(), sl[0], sl[1]); close("readSlice", r, 0);
        }
        P x = rand(2, 3, 5, 7), up = out(2, 3, 10, 14), g = rand(2, 3, 10, 14), gx = out(2, 3, 5, 7);
        cpu.upsampleNearest2x(x.c(), up.c()); gpu.upsampleNearest2x(x.g(), up.g()); close("upsample", up, 0);
        cpu.upsampleNearest2xBackward(g.c(), gx.c()); gpu.upsampleNearest2xBackward(g.g(), gx.g()); close("upsample backward", gx, 1e-6);
        P table = rand(11, 6), idx = ints(11, 9), go = out(9, 6), gt = out(11, 6);
        cpu.gather(table.c(), idx.c(), go.c()); gpu.gather(table.g(), idx.g(), go.g()); close("gather", go, 0);
        gt.g().fill(0);
        cpu.scatterAdd(go.c(), idx.c(), gt.c()); gpu.scatterAdd(go.g(), idx.g(), gt.g()); close("scatterAdd", gt, 1e-6);
    }

    @Test void matmul() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true})
                for (int[] bb : new int[][]{{3, 3}, {1, 3}, {3, 1}, {1, 1}}) {
                    int m = 5, k = 7, n = 4, batch = Math.max(bb[0], bb[1]);
                    P a = ta ? rand(bb[0], k, m) : rand(bb[0], m, k), b = tb ? rand(bb[1], n, k) : rand(bb[1], k, n);
                    for (double beta : new double[]{0, 0.5}) {
                        P o = beta == 0 ? out(batch, m, n) : rand(batch, m, n);
                        cpu.matmul(a.c(), b.c(), o.c(), ta, tb, 1.5, beta);
                        gpu.matmul(a.g(), b.g(), o.g(), ta, tb, 1.5, beta);
                        close("matmul ta=" + ta + " tb=" + tb + " Ba=" + bb[0] + " Bb=" + bb[1] + " beta=" + beta, o, 1e-6);
                    }
                }
        P a = rand(6, 10), b = rand(10, 3), o = out(6, 3);
        cpu.matmul(a.c(), b.c(), o.c(), false, false, 1, 0); gpu.matmul(a.g(), b.g(), o.g(), false, false, 1, 0);
        close("matmul rank 2", o, 1e-6);
    }

    @Test void conv() {
        int[][] cases = {{2, 3, 7, 9, 5, 3, 1, 1}, {2, 3, 7, 9, 5, 3, 2, 1}, {3, 4, 6, 5, 2, 1, 1, 0}, {3, 4, 6, 5, 2, 1, 2, 0},
                {2, 3, 5, 5, 4, 3, 1, 0}, {3, 2, 8, 8, 3, 3, 2, 1}};
        long saved = ConvKernel.workspaceBytes;
        try {
            for (long ws : new long[]{saved, 3 * 4 * 27 * 63})
                for (int[] cs : cases) {
                    ConvKernel.workspaceBytes = ws;
                    int n = cs[0], c = cs[1], h = cs[2], w = cs[3], o = cs[4], k = cs[5], st = cs[6], pad = cs[7];
                    int ho = (h + 2 * pad - k) / st + 1, wo = (w + 2 * pad - k) / st + 1;
                    String what = "conv " + Arrays.toString(cs) + " ws " + ws;
                    P x = rand(n, c, h, w), wt = rand(o, c, k, k), bias = rand(o), y = out(n, o, ho, wo);
                    cpu.conv2d(x.c(), wt.c(), bias.c(), y.c(), st, pad); gpu.conv2d(x.g(), wt.g(), bias.g(), y.g(), st, pad);
                    close(what + " forward", y, 1e-5);
                    P y2 = out(n, o, ho, wo);
                    cpu.conv2d(x.c(), wt.c(), null, y2.c(), st, pad); gpu.conv2d(x.g(), wt.g(), null, y2.g(), st, pad);
                    close(what + " forward no bias", y2, 1e-5);
                    P gy = rand(n, o, ho, wo), gx = out(n, c, h, w), gw = out(o, c, k, k);
                    cpu.conv2dBackwardInput(gy.c(), wt.c(), gx.c(), st, pad); gpu.conv2dBackwardInput(gy.g(), wt.g(), gx.g(), st, pad);
                    close(what + " backward input", gx, 1e-5);
                    cpu.conv2dBackwardWeight(x.c(), gy.c(), gw.c(), st, pad); gpu.conv2dBackwardWeight(x.g(), gy.g(), gw.g(), st, pad);
                    close(what + " backward weight", gw, 1e-5);
                }
        } finally {
            ConvKernel.workspaceBytes = saved;
        }
    }

    @Test void groupNorm() {
        for (Object[] cs : new Object[][]{{4, new int[]{3, 12, 5, 7}}, {1, new int[]{2, 3, 1, 1}}, {3, new int[]{1, 3, 33}},
                {2, new int[]{2, 20, 7, 9}}})
            for (boolean silu : new boolean[]{false, true}) {
                int groups = (int) cs[0];
                int[] s = (int[]) cs[1];
                int n = s[0], c = s[1];
                P x = rand(s), gm = rand(c), bt = rand(c), o = out(s), mean = out(n, groups), rstd = out(n, groups);
                cpu.groupNorm(x.c(), gm.c(), bt.c(), groups, 1e-5, silu, o.c(), mean.c(), rstd.c());
                gpu.groupNorm(x.g(), gm.g(), bt.g(), groups, 1e-5, silu, o.g(), mean.g(), rstd.g());
                String w = "groupNorm " + Arrays.toString(s) + " G=" + groups + " silu=" + silu;
                close(w + " out", o, 1e-5);
                close(w + " mean", mean, 1e-5);
                close(w + " rstd", rstd, 1e-5);
                P gy = rand(s), gx = out(s), gg = out(c), gb = out(c);
                cpu.groupNormBackward(x.c(), gm.c(), bt.c(), mean.c(), rstd.c(), groups, silu, gy.c(), gx.c(), gg.c(), gb.c());
                gpu.groupNormBackward(x.g(), gm.g(), bt.g(), mean.g(), rstd.g(), groups, silu, gy.g(), gx.g(), gg.g(), gb.g());
                close(w + " gx", gx, 1e-4);
                close(w + " ggamma", gg, 1e-4);
                close(w + " gbeta", gb, 1e-4);
            }
    }

    /** No spatial elements: gx is empty, but ggamma and gbeta [C] must still be written (zeros, as on the CPU). */
    @Test void groupNormEmpty() {
        P x = rand(2, 4, 0), gm = rand(4), bt = rand(4), mean = rand(2, 2), rstd = randPos(2, 2), gy = rand(2, 4, 0), gx = out(2, 4, 0),
                gg = out(4), gb = out(4);
        cpu.groupNormBackward(x.c(), gm.c(), bt.c(), mean.c(), rstd.c(), 2, true, gy.c(), gx.c(), gg.c(), gb.c());
        gpu.groupNormBackward(x.g(), gm.g(), bt.g(), mean.g(), rstd.g(), 2, true, gy.g(), gx.g(), gg.g(), gb.g());
        close("groupNormBackward empty ggamma", gg, 0);
        close("groupNormBackward empty gbeta", gb, 0);
    }

    @Test void attention() {
        for (int[] s : new int[][]{{3, 37, 45, 19, 23}, {2, 5, 3, 70, 129}, {1, 16, 32, 64, 64}, {2, 33, 65, 8, 8}, {1, 3, 1, 5, 4}}) {
            int b = s[0], l = s[1], sl = s[2], dd = s[3], dv = s[4];
            double scale = 1 / Math.sqrt(dd);
            P q = rand(b, l, dd), k = rand(b, sl, dd), v = rand(b, sl, dv), o = out(b, l, dv), lse = out(b, l);
            cpu.attention(q.c(), k.c(), v.c(), scale, o.c(), lse.c());
            gpu.attention(q.g(), k.g(), v.g(), scale, o.g(), lse.g());
            String w = "attention " + Arrays.toString(s);
            close(w + " out", o, 1e-5);
            close(w + " lse", lse, 1e-5);
            P go = rand(b, l, dv), gq = out(b, l, dd), gk = out(b, sl, dd), gv = out(b, sl, dv);
            cpu.attentionBackward(q.c(), k.c(), v.c(), o.c(), lse.c(), go.c(), scale, gq.c(), gk.c(), gv.c());
            gpu.attentionBackward(q.g(), k.g(), v.g(), o.g(), lse.g(), go.g(), scale, gq.g(), gk.g(), gv.g());
            if (sl > 1) close(w + " gq", gq, 1e-4);
            if (sl > 1) close(w + " gk", gk, 1e-4);
            close(w + " gv", gv, 1e-4);
        }
    }

    @Test void diffusionRngAdam() {
        int T = 10;
        int[] s = {5, 3, 7, 7};
        P x0 = rand(s), eps = rand(s), t = ints(T, 5), a = randPos(T), sc = randPos(T), o = out(s);
        FusedOps.of(cpu).qSample(x0.c(), eps.c(), t.c(), a.c(), sc.c(), o.c()); gpu.qSample(x0.g(), eps.g(), t.g(), a.g(), sc.g(), o.g());
        close("qSample", o, 1e-6);
        P c1 = randPos(T), c2 = randPos(T), sg = randPos(T), z = rand(s);
        FusedOps.of(cpu).posteriorStep(x0.c(), eps.c(), z.c(), t.c(), c1.c(), c2.c(), sg.c(), o.c());
        gpu.posteriorStep(x0.g(), eps.g(), z.g(), t.g(), c1.g(), c2.g(), sg.g(), o.g());
        close("posteriorStep", o, 1e-6);
        FusedOps.of(cpu).posteriorStep(x0.c(), eps.c(), null, t.c(), c1.c(), c2.c(), sg.c(), o.c());
        gpu.posteriorStep(x0.g(), eps.g(), null, t.g(), c1.g(), c2.g(), sg.g(), o.g());
        close("posteriorStep no z", o, 1e-6);
        P coefs = randPos(T, 5);
        for (double clip : new double[]{0, 1}) {
            FusedOps.of(cpu).ddimStep(x0.c(), eps.c(), z.c(), t.c(), coefs.c(), clip, o.c());
            gpu.ddimStep(x0.g(), eps.g(), z.g(), t.g(), coefs.g(), clip, o.g());
            close("ddimStep clip " + clip, o, 1e-5);
            FusedOps.of(cpu).ddimStep(x0.c(), eps.c(), null, t.c(), coefs.c(), clip, o.c());
            gpu.ddimStep(x0.g(), eps.g(), null, t.g(), coefs.g(), clip, o.g());
            close("ddimStep no z clip " + clip, o, 1e-5);
        }
        P epsOut = out(s);
        gpu.diffusion().qSampleWithNoise(x0.g(), t.g(), a.g(), sc.g(), 99, 12345, epsOut.g(), o.g());
        cpu.randNormal(epsOut.c(), 99, 12345);
        close("qSampleWithNoise eps", epsOut, 1e-6);
        FusedOps.of(cpu).qSample(x0.c(), epsOut.c(), t.c(), a.c(), sc.c(), o.c());
        close("qSampleWithNoise out", o, 1e-5);
        for (long seed : new long[]{0, -1, 0x9E3779B97F4A7C15L})
            for (int n : new int[]{1, 3, 13, 1001}) {
                P u = out(n);
                cpu.randUniform(u.c(), seed, 1L << 40); gpu.randUniform(u.g(), seed, 1L << 40); close("uniform", u, 0);
                cpu.randNormal(u.c(), seed, 7); gpu.randNormal(u.g(), seed, 7); close("normal", u, 1e-6);
                cpu.dropoutMask(u.c(), 0.3, seed, 7); gpu.dropoutMask(u.g(), 0.3, seed, 7); close("dropout", u, 0);
            }
        for (boolean dec : new boolean[]{true, false}) {
            P p = rand(1001), g = rand(1001), m = rand(1001), v = randPos(1001);
            FusedOps.of(cpu).adam(p.c(), g.c(), m.c(), v.c(), 1e-2, 0.9, 0.999, 1e-8, 0.1, dec, 3, 0.5);
            gpu.adam(p.g(), g.g(), m.g(), v.g(), 1e-2, 0.9, 0.999, 1e-8, 0.1, dec, 3, 0.5);
            close("adam p dec=" + dec, p, 1e-6);
            close("adam m", m, 1e-6);
            close("adam v", v, 1e-6);
            P e = rand(1001);
            FusedOps.of(cpu).ema(e.c(), p.c(), 0.999); gpu.ema(e.g(), p.g(), 0.999); close("ema", e, 1e-6);
        }
    }
}
