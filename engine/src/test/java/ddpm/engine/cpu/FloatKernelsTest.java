package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static ddpm.engine.cpu.FastKernelCheck.CPU;
import static ddpm.engine.cpu.FastKernelCheck.close;
import static ddpm.engine.cpu.FastKernelCheck.empty;
import static ddpm.engine.cpu.FastKernelCheck.random;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Group norm, attention and broadcast binary float kernels vs the reference. */
class FloatKernelsTest {
    @AfterEach void restoreThreads() { Parallel.setThreads(0); }

    private static void groupNorm(Random r, int[] shape, int groups, boolean silu, double offset) {
        String what = "groupNorm " + java.util.Arrays.toString(shape) + " groups=" + groups + " silu=" + silu;
        int nb = shape[0], c = shape[1];
        Tensor[] x = random(r, 2, shape);
        if (offset != 0) { x[0] = x[0].add(offset); x[1] = x[1].add(offset); }   // a large mean tests the statistics
        Tensor[] g = random(r, 1, c), b = random(r, 1, c);
        Tensor[] y = empty(shape), m = empty(nb, groups), rs = empty(nb, groups);
        CPU.groupNorm(x[0], g[0], b[0], groups, 1e-5, silu, y[0], m[0], rs[0]);
        CPU.groupNorm(x[1], g[1], b[1], groups, 1e-5, silu, y[1], m[1], rs[1]);
        close(what + " mean", m[0], m[1], 1e-5, 1e-6);
        close(what + " rstd", rs[0], rs[1], 1e-6, 1e-4);
        close(what + " out", y[0], y[1], 1e-4, 1e-4);
        Tensor[] gy = random(r, 1, shape), gx = empty(shape), gg = empty(c), gb = empty(c);
        CPU.groupNormBackward(x[0], g[0], b[0], m[0], rs[0], groups, silu, gy[0], gx[0], gg[0], gb[0]);
        CPU.groupNormBackward(x[1], g[1], b[1], m[1], rs[1], groups, silu, gy[1], gx[1], gg[1], gb[1]);
        close(what + " gx", gx[0], gx[1], 1e-4, 1e-3);
        close(what + " ggamma", gg[0], gg[1], 1e-3, 1e-4);
        close(what + " gbeta", gb[0], gb[1], 1e-3, 1e-4);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void groupNormFwdBwd(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(2);
        for (boolean silu : new boolean[]{false, true}) {
            groupNorm(r, new int[]{2, 8, 5, 7}, 4, silu, 0);
            groupNorm(r, new int[]{3, 6, 9}, 3, silu, 0);
            groupNorm(r, new int[]{2, 32, 16, 16}, 8, silu, 0);
            groupNorm(r, new int[]{1, 4, 33, 31}, 1, silu, 50);
        }
    }

    private static void attention(Random r, int nb, int l, int s, int d, int dv) {
        String what = "attention b=" + nb + " l=" + l + " s=" + s + " d=" + d + " dv=" + dv;
        Tensor[] q = random(r, 1, nb, l, d), k = random(r, 1, nb, s, d), v = random(r, 1, nb, s, dv);
        double scale = 1 / Math.sqrt(d);
        Tensor[] o = empty(nb, l, dv), lse = empty(nb, l);
        CPU.attention(q[0], k[0], v[0], scale, o[0], lse[0]);
        CPU.attention(q[1], k[1], v[1], scale, o[1], lse[1]);
        close(what + " out", o[0], o[1], 1e-5, 1e-4);
        close(what + " lse", lse[0], lse[1], 1e-5, 1e-5);
        Tensor[] go = random(r, 1, nb, l, dv), gq = empty(nb, l, d), gk = empty(nb, s, d), gv = empty(nb, s, dv);
        CPU.attentionBackward(q[0], k[0], v[0], o[0], lse[0], go[0], scale, gq[0], gk[0], gv[0]);
        CPU.attentionBackward(q[1], k[1], v[1], o[1], lse[1], go[1], scale, gq[1], gk[1], gv[1]);
        close(what + " gq", gq[0], gq[1], 1e-4, 1e-3);
        close(what + " gk", gk[0], gk[1], 1e-4, 1e-3);
        close(what + " gv", gv[0], gv[1], 1e-4, 1e-3);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void attentionFwdBwd(int threads) {
        Parallel.setThreads(threads);
        Random r = new Random(8);
        attention(r, 1, 7, 5, 3, 4);
        attention(r, 3, 17, 33, 16, 8);
        attention(r, 4, 64, 64, 32, 32);
        attention(r, 2, 40, 70, 24, 40);
    }

    private static void binary(Random r, Ops.Binary op, int[] sa, int[] sb, int[] so) {
        Tensor[] a = random(r, 1, sa), b = random(r, 1, sb), out = empty(so);
        if (op == Ops.Binary.DIV) { b[0] = b[0].abs().add(0.5); b[1] = b[1].abs().add(0.5); }
        CPU.binary(op, a[0], b[0], out[0]);
        CPU.binary(op, a[1], b[1], out[1]);
        close(op + " " + java.util.Arrays.toString(sa) + " " + java.util.Arrays.toString(sb), out[0], out[1], 1e-6, 1e-6);
    }

    @Test
    void broadcastBinary() {
        Random r = new Random(3);
        int[] x = {3, 5, 6, 7};
        for (Ops.Binary op : Ops.Binary.values()) {
            if (op == Ops.Binary.POW) continue;
            binary(r, op, x, x, x);
            binary(r, op, x, new int[]{1, 5, 1, 1}, x);
            binary(r, op, x, new int[]{3, 5, 1, 1}, x);
            binary(r, op, x, new int[]{5, 1, 1}, x);
            binary(r, op, new int[]{1, 5, 1, 1}, x, x);
            binary(r, op, x, new int[]{7}, x);
            binary(r, op, x, new int[]{}, x);
            binary(r, op, new int[]{}, x, x);
            binary(r, op, new int[]{3, 1, 6, 7}, new int[]{1, 5, 1, 1}, x);   // both broadcast: reference path
            binary(r, op, new int[]{3, 5, 1, 7}, new int[]{1, 1, 6, 1}, x);
            binary(r, op, new int[]{4, 9, 10}, new int[]{4, 9, 1}, new int[]{4, 9, 10});
            binary(r, op, new int[]{4, 1, 10}, new int[]{1, 9, 10}, new int[]{4, 9, 10});
        }
    }

    @Test
    void fastExpAndSilu() {
        // the vectorised exp (or its scalar fallback) over the range softmax and SiLU use
        int n = 20001;
        float[] a = new float[n], x = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) x[i] = a[i] = -87f + 175f * i / (n - 1);
        FastMath.expShiftSum(a, 0, n, 0f);
        for (int i = 0; i < n; i++) {
            double e = Math.exp(x[i]);
            assertTrue(Math.abs(a[i] - e) <= 4e-7 * e + 1e-37, "exp(" + x[i] + ") = " + a[i] + ", want " + e);
        }
        // as softmax uses it: shifted by the row maximum, all results ≤ 1
        System.arraycopy(x, 0, a, 0, n);
        double sum = FastMath.expShiftSum(a, 0, n, 88f), want = 0;
        for (int i = 0; i < n; i++) want += Math.exp(x[i] - 88f);
        assertTrue(Math.abs(sum - want) <= 1e-6 * want, "sum " + sum + " vs " + want);
        FastMath.siluAffine(x, 0, y, 0, n, 0.5f, 0.25f);
        for (int i = 0; i < n; i++) {
            double v = x[i] * 0.5f + 0.25f, s = v / (1 + Math.exp(-v));
            assertTrue(Math.abs(y[i] - s) <= 1e-6 * Math.abs(s) + 1e-30, "silu(" + v + ") = " + y[i] + ", want " + s);
        }
    }

    @Test
    void largeBroadcastSplitsOverThreads() {
        Parallel.setThreads(2);
        Random r = new Random(4);
        int[] x = {4, 64, 32, 32};
        binary(r, Ops.Binary.ADD, x, new int[]{1, 64, 1, 1}, x);
        binary(r, Ops.Binary.MUL, x, new int[]{4, 64, 1, 1}, x);
        binary(r, Ops.Binary.SUB, x, x, x);
        assertTrue(Parallel.threads() == 2);
    }
}
