package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * The optimiser updates of {@link ddpm.engine.FusedOps} over flat buffers, one pass each: Adam/AdamW
 * and the parameter EMA. The double-precision reference beside the float32 kernels (float
 * arithmetic, bias corrections computed once in double; same-offset loops vectorised).
 */
final class Optim {
    private Optim() {}

    private static final int GRAIN = Elementwise.GRAIN;

    static void adamRef(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                        double wd, boolean decoupled, long step, double gradScale) {
        double[] p = d(param), g = d(grad), mm = d(m), vv = d(v);
        int po = off(param), go = off(grad), mo = off(m), vo = off(v), n = n(param);
        double c1 = 1 - Math.pow(b1, step), c2 = 1 - Math.pow(b2, step);
        for (int k = 0; k < n; k++) {
            double pk = p[po + k], gk = g[go + k] * gradScale;
            if (!decoupled && wd != 0) gk += wd * pk;
            double mk = mm[mo + k] = b1 * mm[mo + k] + (1 - b1) * gk;
            double vk = vv[vo + k] = b2 * vv[vo + k] + (1 - b2) * gk * gk;
            double upd = lr * (mk / c1) / (Math.sqrt(vk / c2) + eps);
            if (decoupled && wd != 0) upd += lr * wd * pk;
            p[po + k] = pk - upd;
        }
    }

    static void emaRef(Tensor ema, Tensor param, double decay) {
        double[] e = d(ema), p = d(param);
        int eo = off(ema), po = off(param), n = n(ema);
        for (int k = 0; k < n; k++) e[eo + k] = decay * e[eo + k] + (1 - decay) * p[po + k];
    }

    static void ema(Tensor ema, Tensor param, double decay) {
        float[] e = f(ema), p = f(param);
        int eo = off(ema), po = off(param);
        float dc = (float) decay, c = (float) (1 - decay);
        Parallel.range(n(ema), 1 << 16, (lo, hi) -> { for (int k = lo; k < hi; k++) e[eo + k] = dc * e[eo + k] + c * p[po + k]; });
    }

    static void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                     double wd, boolean decoupled, long step, double gradScale) {
        float[] p = f(param), g = f(grad), mm = f(m), vv = f(v);
        int po = off(param), go = off(grad), mo = off(m), vo = off(v);
        float c1 = (float) (1 - Math.pow(b1, step)), c2 = (float) (1 - Math.pow(b2, step));
        float fb1 = (float) b1, fb2 = (float) b2, flr = (float) lr, fe = (float) eps, fwd = (float) wd, gs = (float) gradScale;
        float ng = 1 - fb1, nv = 1 - fb2, dec = flr * fwd;
        boolean same = po == go && po == mo && po == vo;
        Parallel.range(n(param), GRAIN, (lo, hi) -> {
            if (same && decoupled) {   // one shared index: vectorised (see Elementwise)
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
