package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Group norm over x [N, C, *] with C split into groups, optionally fused with SiLU, and its
 * backward: the double-precision reference beside the float32 kernels. The float statistics are
 * float partial sums over short runs totalled in double (two passes: mean, then squared
 * deviations); the normalisation (and SiLU) runs as one affine per channel, vectorised.
 */
final class GroupNorm {
    private GroupNorm() {}

    private static final int GRAIN = Elementwise.GRAIN;

    static void groupNormRef(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                             Tensor out, Tensor mean, Tensor rstd) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / ((long) nb * c)), cg = c / groups;
        double[] X = d(x), G = d(gamma), B = d(beta), Y = d(out), M = d(mean), R = d(rstd);
        int xo = off(x), go = off(gamma), bo = off(beta), yo = off(out), mo = off(mean), ro = off(rstd);
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw, cnt = cg * hw;
                double mu = 0;
                for (int e = 0; e < cnt; e++) mu += X[xo + base + e];
                mu /= cnt;
                double var = 0;
                for (int e = 0; e < cnt; e++) { double dv = X[xo + base + e] - mu; var += dv * dv; }
                var /= cnt;
                double rs = 1.0 / Math.sqrt(var + eps);
                M[mo + b * groups + g] = mu;
                R[ro + b * groups + g] = rs;
                for (int e = 0; e < cnt; e++) {
                    int ch = g * cg + e / hw;
                    double y = (X[xo + base + e] - mu) * rs * G[go + ch] + B[bo + ch];
                    Y[yo + base + e] = silu ? y / (1.0 + Math.exp(-y)) : y;
                }
            }
    }

    static void groupNormBackwardRef(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                     boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / ((long) nb * c)), cg = c / groups;
        double[] X = d(x), G = d(gamma), B = d(beta), M = d(mean), R = d(rstd), GY = d(gy), GX = d(gx),
                GG = d(ggamma), GB = d(gbeta);
        int xo = off(x), go = off(gamma), bo = off(beta), mo = off(mean), ro = off(rstd), gyo = off(gy), gxo = off(gx),
                ggo = off(ggamma), gbo = off(gbeta);
        Arrays.fill(GG, ggo, ggo + c, 0.0);
        Arrays.fill(GB, gbo, gbo + c, 0.0);
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw, cnt = cg * hw;
                double mu = M[mo + b * groups + g], rs = R[ro + b * groups + g];
                double[] dxhat = new double[cnt], xhat = new double[cnt];
                double s1 = 0, s2 = 0;
                for (int e = 0; e < cnt; e++) {
                    int ch = g * cg + e / hw;
                    double gm = G[go + ch];
                    xhat[e] = (X[xo + base + e] - mu) * rs;
                    double dv = GY[gyo + base + e];
                    if (silu) dv *= Elementwise.derivative(Ops.Unary.SILU, xhat[e] * gm + B[bo + ch], 0);
                    GG[ggo + ch] += dv * xhat[e];
                    GB[gbo + ch] += dv;
                    dxhat[e] = dv * gm;
                    s1 += dxhat[e];
                    s2 += dxhat[e] * xhat[e];
                }
                s1 /= cnt;
                s2 /= cnt;
                for (int e = 0; e < cnt; e++) GX[gxo + base + e] = rs * (dxhat[e] - s1 - xhat[e] * s2);
            }
    }

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

    static void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                          Tensor out, Tensor mean, Tensor rstd) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / Math.max(1L, (long) nb * c)), cg = c / groups, cnt = cg * hw;
        float[] X = f(x), Y = f(out), M = f(mean), R = f(rstd), G = f(gamma), B = f(beta);
        int xo = off(x), yo = off(out), mo = off(mean), ro = off(rstd), gmo = off(gamma), bto = off(beta);
        float epsF = (float) eps;
        Parallel.range(nb * groups, Math.max(1, GRAIN / Math.max(1, cnt)), (lo, hi) -> {
            for (int unit = lo; unit < hi; unit++) {
                int base = unit * cnt;   // (b·c + g·cg)·hw
                double mu = cnt == 0 ? 0 : sum(X, xo + base, cnt) / cnt;
                double var = cnt == 0 ? 0 : sumSqDev(X, xo + base, cnt, (float) mu) / cnt;
                double rs = 1.0 / Math.sqrt(var + epsF);
                M[mo + unit] = (float) mu;
                R[ro + unit] = (float) rs;
                int g = unit % groups;
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    float scale = (float) (rs * G[gmo + ch]), shift = (float) (B[bto + ch] - mu * rs * G[gmo + ch]);
                    if (silu) FastMath.siluAffine(X, xo + p0, Y, yo + p0, hw, scale, shift);
                    else Elementwise.affineRun(X, xo + p0, Y, yo + p0, hw, scale, shift);
                }
            }
        });
    }

    static void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                  boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        int[] xs = x.shape();
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / Math.max(1L, (long) nb * c)), cg = c / groups, cnt = cg * hw;
        float[] X = f(x), GY = f(gy), GX = f(gx), M = f(mean), R = f(rstd), G = f(gamma), B = f(beta);
        int xo = off(x), go = off(gy), gxo = off(gx), mo = off(mean), ro = off(rstd), gmo = off(gamma), bto = off(beta);
        double[] dg = new double[nb * c], db = new double[nb * c];   // per (sample, channel), summed over samples below
        Parallel.range(nb * groups, Math.max(1, GRAIN / Math.max(1, cnt)), (lo, hi) -> {
            for (int unit = lo; unit < hi; unit++) {
                int base = unit * cnt, g = unit % groups, b = unit / groups;
                float mu = M[mo + unit], rs = R[ro + unit];
                double s1 = 0, s2 = 0;
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    float gm = G[gmo + ch], bt = B[bto + ch];
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
        float[] GG = f(ggamma), GB = f(gbeta);
        int ggo = off(ggamma), gbo = off(gbeta);
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sb = 0;
            for (int b = 0; b < nb; b++) { sg += dg[b * c + ch]; sb += db[b * c + ch]; }
            GG[ggo + ch] = (float) sg;
            GB[gbo + ch] = (float) sb;
        }
    }
}
