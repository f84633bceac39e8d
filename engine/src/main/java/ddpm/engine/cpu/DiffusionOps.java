package ddpm.engine.cpu;

import ddpm.engine.FusedOps;
import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.ints;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * The fused diffusion steps of {@link ddpm.engine.FusedOps}: the forward noising q(x_t | x_0),
 * the DDPM posterior step and the DDIM step, each one pass over the batch with per-sample
 * coefficients read from tables by timestep. The double-precision reference beside the float32
 * kernels; every timestep is checked against every table first, with the same message.
 *
 * <p>The float kernels run in float (a few roundings per element: the reference's double result
 * is matched to ~1e-7 of the largest term); double arithmetic inside the loop would cost the
 * float↔double conversions and keep it from vectorising (a float DDIM step runs 30× faster).
 */
final class DiffusionOps {
    private DiffusionOps() {}

    private static final int GRAIN = Elementwise.GRAIN;

    /** The steps of t, each checked against every table's own length. */
    private static int[] steps(String op, Tensor t, int rowLength, Tensor... tables) {
        return FusedOps.checkSteps(op, ints(t), rowLength, tables);
    }

    private static int perSample(Tensor x) { return n(x) / x.dim(0); }

    // ================================================================ reference
    static void qSampleRef(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        int[] ts = steps("qSample", t, 1, a, s);
        double[] x = d(x0), e = d(eps), ca = d(a), cs = d(s), z = d(out);
        int xo = off(x0), eo = off(eps), ao = off(a), so = off(s), zo = off(out), per = perSample(x0);
        for (int b = 0; b < ts.length; b++) {
            double ka = ca[ao + ts[b]], ks = cs[so + ts[b]];
            for (int i = b * per; i < (b + 1) * per; i++) z[zo + i] = ka * x[xo + i] + ks * e[eo + i];
        }
    }

    static void posteriorStepRef(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma,
                                 Tensor out) {
        int[] ts = steps("posteriorStep", t, 1, c1, c2, sigma);
        double[] x = d(xt), e = d(epsHat), zn = d(z), k1 = d(c1), k2 = d(c2), sg = d(sigma), o = d(out);
        int xo = off(xt), eo = off(epsHat), zno = off(z), o1 = off(c1), o2 = off(c2), os = off(sigma), oo = off(out),
                per = perSample(xt);
        for (int b = 0; b < ts.length; b++) {
            double a1 = k1[o1 + ts[b]], a2 = k2[o2 + ts[b]], s = sg[os + ts[b]];
            for (int i = b * per; i < (b + 1) * per; i++) {
                double noise = zn == null ? 0 : s * zn[zno + i];
                o[oo + i] = a1 * (x[xo + i] - a2 * e[eo + i]) + noise;
            }
        }
    }

    static void ddimStepRef(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        int[] rows = steps("ddimStep", idx, 5, coefs);
        double[] x = d(xt), e = d(epsHat), zn = d(z), cf = d(coefs), o = d(out);
        int xo = off(xt), eo = off(epsHat), zno = off(z), co = off(coefs), oo = off(out), per = perSample(xt);
        for (int b = 0; b < rows.length; b++) {
            int r = co + rows[b] * 5;
            double sa = cf[r], s1a = cf[r + 1], sap = cf[r + 2], dir = cf[r + 3], sg = cf[r + 4];
            for (int i = b * per; i < (b + 1) * per; i++) {
                double xi = x[xo + i], ep = e[eo + i];
                double x0 = (xi - s1a * ep) / sa;
                if (clip > 0) {
                    x0 = Math.min(Math.max(x0, -clip), clip);
                    ep = (xi - sa * x0) / s1a;   // the ε that the clipped x̂0 implies
                }
                double noise = zn == null ? 0 : sg * zn[zno + i];
                o[oo + i] = sap * x0 + dir * ep + noise;
            }
        }
    }

    // ================================================================ float32
    static void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        int[] ts = steps("qSample", t, 1, a, s);
        qSample(f(x0), off(x0), f(eps), off(eps), ts, f(a), off(a), f(s), off(s), perSample(x0), f(out), off(out));
    }

    static void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma, Tensor out) {
        int[] ts = steps("posteriorStep", t, 1, c1, c2, sigma);
        posteriorStep(f(xt), off(xt), f(epsHat), off(epsHat), f(z), off(z), ts, f(c1), off(c1), f(c2), off(c2),
                f(sigma), off(sigma), perSample(xt), f(out), off(out));
    }

    static void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        int[] rows = steps("ddimStep", idx, 5, coefs);
        ddimStep(f(xt), off(xt), f(epsHat), off(epsHat), f(z), off(z), rows, f(coefs), off(coefs), clip, perSample(xt),
                f(out), off(out));
    }

    // Offsets: when all tensors sit at the same offset (the common case: fresh tensors at 0) the
    // loops index every array with the same e, which C2 vectorises (see Elementwise).

    /** out[b,…] = a[t[b]]·x0[b,…] + s[t[b]]·eps[b,…]; steps already checked. */
    private static void qSample(float[] x0, int xo, float[] eps, int eo, int[] t, float[] a, int ao, float[] s, int so,
                        int per, float[] z, int zo) {
        if (per == 0) return;
        boolean same = xo == zo && eo == zo;
        Parallel.range(t.length * per, GRAIN, (lo, hi) -> {
            for (int pos = lo; pos < hi; ) {
                int b = pos / per, end = Math.min(hi, (b + 1) * per);
                float ca = a[ao + t[b]], cs = s[so + t[b]];
                if (same) for (int e = pos + zo; e < end + zo; e++) z[e] = ca * x0[e] + cs * eps[e];
                else for (int e = pos; e < end; e++) z[zo + e] = ca * x0[xo + e] + cs * eps[eo + e];
                pos = end;
            }
        });
    }

    /** out[b,…] = c1[t[b]]·(xt − c2[t[b]]·ε̂) + σ[t[b]]·z; z may be null. */
    private static void posteriorStep(float[] xt, int xo, float[] eps, int eo, float[] zn, int zno, int[] t, float[] c1, int c1o,
                              float[] c2, int c2o, float[] sg, int sgo, int per, float[] z, int zo) {
        if (per == 0) return;
        boolean same = xo == zo && eo == zo && (zn == null || zno == zo);
        Parallel.range(t.length * per, GRAIN, (lo, hi) -> {
            for (int pos = lo; pos < hi; ) {
                int b = pos / per, end = Math.min(hi, (b + 1) * per);
                float k1 = c1[c1o + t[b]], k2 = c2[c2o + t[b]], sv = sg[sgo + t[b]];
                if (same) {
                    if (zn == null) for (int e = pos + zo; e < end + zo; e++) z[e] = k1 * (xt[e] - k2 * eps[e]) + 0f;
                    else for (int e = pos + zo; e < end + zo; e++) z[e] = k1 * (xt[e] - k2 * eps[e]) + sv * zn[e];
                } else if (zn == null) {
                    for (int e = pos; e < end; e++) z[zo + e] = k1 * (xt[xo + e] - k2 * eps[eo + e]) + 0f;
                } else {
                    for (int e = pos; e < end; e++) z[zo + e] = k1 * (xt[xo + e] - k2 * eps[eo + e]) + sv * zn[zno + e];
                }
                pos = end;
            }
        });
    }

    /** The DDIM update of {@link ddpm.engine.FusedOps#ddimStep}; rows already checked. */
    private static void ddimStep(float[] xt, int xo, float[] eps, int eo, float[] zn, int zno, int[] idx, float[] cf, int co,
                         double clip, int per, float[] z, int zo) {
        if (per == 0) return;
        // no clip: ±∞ bounds (min/max leave every value, NaN and −0 included, as it is); a bound
        // that is not a float: the float nearest (the clipped x̂0 is rounded anyway)
        float lo = clip > 0 ? (float) -clip : Float.NEGATIVE_INFINITY, hi = clip > 0 ? (float) clip : Float.POSITIVE_INFINITY;
        // with clipping, ε̂ is re-derived from the clipped x̂0 (a loop-invariant test: C2 unswitches it)
        boolean rederive = clip > 0;
        boolean same = xo == zo && eo == zo && (zn == null || zno == zo);
        Parallel.range(idx.length * per, GRAIN, (from, to) -> {
            for (int pos = from; pos < to; ) {
                int b = pos / per, end = Math.min(to, (b + 1) * per), r = co + idx[b] * 5;
                float sa = cf[r], s1a = cf[r + 1], sap = cf[r + 2], dir = cf[r + 3], sv = cf[r + 4];
                if (same && zn != null) {
                    for (int e = pos + zo; e < end + zo; e++) {
                        float x = xt[e], ep = eps[e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[e] = sap * x0 + dir * ep + sv * zn[e];
                    }
                } else if (same) {
                    for (int e = pos + zo; e < end + zo; e++) {
                        float x = xt[e], ep = eps[e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[e] = sap * x0 + dir * ep + 0f;
                    }
                } else if (zn != null) {
                    for (int e = pos; e < end; e++) {
                        float x = xt[xo + e], ep = eps[eo + e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[zo + e] = sap * x0 + dir * ep + sv * zn[zno + e];
                    }
                } else {
                    for (int e = pos; e < end; e++) {
                        float x = xt[xo + e], ep = eps[eo + e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[zo + e] = sap * x0 + dir * ep + 0f;
                    }
                }
                pos = end;
            }
        });
    }
}
