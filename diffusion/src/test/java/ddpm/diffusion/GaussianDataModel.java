package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.F;
import ddpm.engine.Tensor;

import java.util.Arrays;

/**
 * The Bayes-optimal predictor for data x0 ~ N(m, v) i.i.d. per dimension. Then
 * x_t ~ N(√ᾱ m, ᾱ v + 1 − ᾱ) and E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ m)/(ᾱ v + 1 − ᾱ),
 * E[x0 | x_t] = m + √ᾱ v (x_t − √ᾱ m)/(ᾱ v + 1 − ᾱ). Outputs ε̂ (or x̂0 when {@code predictX0}).
 * The mean can be a tensor requiring grad (a one-element "parameter") for gradient checks.
 */
final class GaussianDataModel implements EpsModel {
    final Schedule schedule;
    final double m, v;
    final boolean predictX0;
    Tensor meanParam;      // when set, replaces m and carries gradients
    int calls;

    GaussianDataModel(Schedule schedule, double m, double v, boolean predictX0) {
        this.schedule = schedule;
        this.m = m;
        this.v = v;
        this.predictX0 = predictX0;
    }

    GaussianDataModel(Schedule schedule, double m, double v) { this(schedule, m, v, false); }

    /** K[t] (coefficient of x_t) and the coefficient of m, for ε̂ or x̂0. */
    double[][] coefficients() {
        int T = schedule.steps();
        double[] k = new double[T], c = new double[T];
        for (int t = 0; t < T; t++) {
            double ab = schedule.at(Coef.ALPHA_BAR, t), den = ab * v + 1 - ab;
            if (!predictX0) {
                k[t] = Math.sqrt(1 - ab) / den;
                c[t] = -k[t] * Math.sqrt(ab);
            } else {
                k[t] = Math.sqrt(ab) * v / den;
                c[t] = 1 - ab * v / den;
            }
        }
        return new double[][]{k, c};
    }

    @Override public Tensor predictEps(Tensor x, Tensor t, Tensor labels) {
        calls++;
        int[] s = new int[x.rank()];
        Arrays.fill(s, 1);
        s[0] = x.dim(0);
        Tensor[] tables = tables(x.dtype());
        Tensor k = F.gather(tables[0], t).reshape(s);
        Tensor c = F.gather(tables[1], t).reshape(s);
        Tensor mean = meanParam != null ? meanParam : x.scalarLike(m);
        return x.mul(k).add(c.mul(mean));
    }

    private final java.util.Map<DType, Tensor[]> tables = new java.util.EnumMap<>(DType.class);

    private synchronized Tensor[] tables(DType dt) {
        return tables.computeIfAbsent(dt, d -> {
            double[][] kc = coefficients();
            Tensor[] ts = {Tensor.ofDoubles(d, ddpm.engine.Device.CPU, kc[0], kc[0].length),
                    Tensor.ofDoubles(d, ddpm.engine.Device.CPU, kc[1], kc[1].length)};
            for (Tensor t : ts) ddpm.engine.Scope.disown(t);
            return ts;
        });
    }

    /** Per-t expectation of (ε − E[ε|x_t])² = ᾱv/(ᾱv + 1 − ᾱ). */
    double optimalEpsMse(int t) {
        double ab = schedule.at(Coef.ALPHA_BAR, t);
        return ab * v / (ab * v + 1 - ab);
    }

    /** Var(x0 | x_t) = v(1 − ᾱ)/(ᾱv + 1 − ᾱ). */
    double posteriorX0Var(int t) {
        double ab = schedule.at(Coef.ALPHA_BAR, t);
        return v * (1 - ab) / (ab * v + 1 - ab);
    }

    static Tensor param(double value) {
        return Tensor.ofDoubles(DType.F64, ddpm.engine.Device.CPU, new double[]{value}).requiresGrad(true);
    }
}
