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
 * float partial sums over blocks totalled in double (two passes: mean, then squared
 * deviations); the normalisation (and SiLU) runs as one affine per channel. The backward is
 * per channel: d = gy (· SiLU'), the sums Σd and Σd·(x − μ), then gx as one affine combination
 * of d and x. Every inner loop is vectorised ({@link FastMath}).
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
                double mu = cnt == 0 ? 0 : FastMath.sum(X, xo + base, cnt) / cnt;
                double var = cnt == 0 ? 0 : FastMath.sumSqDev(X, xo + base, cnt, (float) mu) / cnt;
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
            double[] acc = new double[2];
            for (int unit = lo; unit < hi; unit++) {
                int base = unit * cnt, g = unit % groups, b = unit / groups;
                float mu = M[mo + unit], rs = R[ro + unit];
                double s1 = 0, s2 = 0;   // Σ dx̂ and Σ dx̂·x̂ over the group, dx̂ = d·γ
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    float gm = G[gmo + ch], bt = B[bto + ch];
                    // d = gy, or gy·silu'(x̂·γ + β) (kept in gx until the end)
                    if (silu) FastMath.siluBackwardAffine(X, xo + p0, GY, go + p0, GX, gxo + p0, hw, rs * gm, bt - mu * rs * gm);
                    acc[0] = acc[1] = 0;
                    FastMath.sumAndCentredDot(silu ? GX : GY, silu ? gxo + p0 : go + p0, X, xo + p0, hw, mu, acc);
                    dg[b * c + ch] = rs * acc[1];   // Σ d·x̂
                    db[b * c + ch] = acc[0];        // Σ d
                    s1 += gm * acc[0];
                    s2 += gm * rs * acc[1];
                }
                // gx = rs·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) = (rs·γ)·d − rs²·m2·(x − μ) − rs·m1
                float m1 = (float) (s1 / cnt), m2 = (float) (s2 / cnt);
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc, p0 = base + cc * hw;
                    FastMath.combine(silu ? GX : GY, silu ? gxo + p0 : go + p0, X, xo + p0, mu, GX, gxo + p0, hw,
                            rs * G[gmo + ch], -rs * rs * m2, -rs * m1);
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
