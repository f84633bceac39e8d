package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import ddpm.engine.cpu.CpuBackend.Buf;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuBackend.commit;
import static ddpm.engine.cpu.CpuBackend.in;
import static ddpm.engine.cpu.CpuBackend.n;
import static ddpm.engine.cpu.CpuBackend.off;
import static ddpm.engine.cpu.CpuBackend.out;
import static ddpm.engine.cpu.CpuBackend.st;

/** Float32 kernels for the hot ops: multithreaded, written so the JIT vectorises them. Each is
 *  tested against {@link CpuReference}. */
final class CpuFloatKernels {
    private CpuFloatKernels() {}

    private static final int GRAIN = 1 << 15;

    static void unary(Ops.Unary op, float[] x, int xo, float[] y, int yo, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> {
            switch (op) {
                case SILU -> { for (int k = lo; k < hi; k++) { float v = x[xo + k]; y[yo + k] = v / (1f + (float) Math.exp(-v)); } }
                case SQUARE -> { for (int k = lo; k < hi; k++) { float v = x[xo + k]; y[yo + k] = v * v; } }
                case NEG -> { for (int k = lo; k < hi; k++) y[yo + k] = -x[xo + k]; }
                default -> { for (int k = lo; k < hi; k++) y[yo + k] = (float) CpuReference.unary(op, x[xo + k]); }
            }
        });
    }

    static void affine(float[] x, int xo, float scale, float shift, float[] y, int yo, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> { for (int k = lo; k < hi; k++) y[yo + k] = x[xo + k] * scale + shift; });
    }

    /** Same-shape and scalar-operand cases; returns false for general broadcasting. */
    static boolean binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        int n = n(out);
        boolean same = n(a) == n && n(b) == n, bScalar = n(a) == n && n(b) == 1;
        if (!same && !bScalar) return false;
        if (same && !Arrays.equals(a.shape(), b.shape()) ) return false;
        float[] x = st(a).f, y = st(b).f, z = st(out).f;
        int xo = off(a), yo = off(b), zo = off(out);
        int ys = same ? 1 : 0;
        switch (op) {
            case ADD -> Parallel.range(n, GRAIN, (lo, hi) -> { for (int k = lo; k < hi; k++) z[zo + k] = x[xo + k] + y[yo + k * ys]; });
            case SUB -> Parallel.range(n, GRAIN, (lo, hi) -> { for (int k = lo; k < hi; k++) z[zo + k] = x[xo + k] - y[yo + k * ys]; });
            case MUL -> Parallel.range(n, GRAIN, (lo, hi) -> { for (int k = lo; k < hi; k++) z[zo + k] = x[xo + k] * y[yo + k * ys]; });
            case DIV -> Parallel.range(n, GRAIN, (lo, hi) -> { for (int k = lo; k < hi; k++) z[zo + k] = x[xo + k] / y[yo + k * ys]; });
            default -> Parallel.range(n, GRAIN, (lo, hi) -> {
                for (int k = lo; k < hi; k++) z[zo + k] = (float) CpuReference.binary(op, x[xo + k], y[yo + k * ys]);
            });
        }
        return true;
    }

    // The kernels below run the reference on double copies until their fast versions land.
    static void matmul(Tensor a, Tensor b, Tensor out, boolean ta, boolean tb, float alpha, float beta) {
        Buf o = beta == 0 ? out(out) : in(out);
        CpuReference.matmul(in(a), a.shape(), in(b), b.shape(), o, out.shape(), ta, tb, alpha, beta);
        commit(out, o);
    }

    static void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        Buf o = out(out);
        CpuReference.conv2d(in(x), x.shape(), in(w), w.shape(), in(bias), o, out.shape(), stride, pad);
        commit(out, o);
    }

    static void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        Buf o = out(gx);
        CpuReference.conv2dBackwardInput(in(gy), gy.shape(), in(w), w.shape(), o, gx.shape(), stride, pad);
        commit(gx, o);
    }

    static void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        Buf o = out(gw);
        CpuReference.conv2dBackwardWeight(in(x), x.shape(), in(gy), gy.shape(), o, gw.shape(), stride, pad);
        commit(gw, o);
    }

    static void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, boolean silu,
                          Tensor out, Tensor mean, Tensor rstd) {
        Buf o = out(out), m = out(mean), r = out(rstd);
        CpuReference.groupNorm(in(x), x.shape(), in(gamma), in(beta), groups, eps, silu, o, m, r);
        commit(out, o);
        commit(mean, m);
        commit(rstd, r);
    }

    static void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                  boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        Buf o = out(gx), gg = out(ggamma), gb = out(gbeta);
        CpuReference.groupNormBackward(in(x), x.shape(), in(gamma), in(beta), in(mean), in(rstd), groups, silu,
                in(gy), o, gg, gb);
        commit(gx, o);
        commit(ggamma, gg);
        commit(gbeta, gb);
    }

    static void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse) {
        Buf o = out(out), l = out(lse);
        CpuReference.attention(in(q), in(k), in(v), q.dim(0), q.dim(1), k.dim(1), q.dim(2), v.dim(2), scale, o, l);
        commit(out, o);
        commit(lse, l);
    }

    static void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout, float scale,
                                  Tensor gq, Tensor gk, Tensor gv) {
        Buf a = out(gq), b = out(gk), c = out(gv);
        CpuReference.attentionBackward(in(q), in(k), in(v), in(out), in(lse), in(gout), q.dim(0), q.dim(1), k.dim(1),
                q.dim(2), v.dim(2), scale, a, b, c);
        commit(gq, a);
        commit(gk, b);
        commit(gv, c);
    }

    static void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                     double wd, boolean decoupled, long step, double gradScale) {
        float[] p = st(param).f, g = st(grad).f, mm = st(m).f, vv = st(v).f;
        int po = off(param), go = off(grad), mo = off(m), vo = off(v);
        float c1 = (float) (1 - Math.pow(b1, step)), c2 = (float) (1 - Math.pow(b2, step));
        float fb1 = (float) b1, fb2 = (float) b2, flr = (float) lr, fe = (float) eps, fwd = (float) wd, gs = (float) gradScale;
        Parallel.range(n(param), GRAIN, (lo, hi) -> {
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
