package ddpm.diffusion;

import ddpm.diffusion.GaussianDiffusion.LossType;
import ddpm.diffusion.GaussianDiffusion.MeanType;
import ddpm.diffusion.GaussianDiffusion.VarianceType;
import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The three parameterisations (ε, x0, v), the learned-range variance, the hybrid loss with its
 * stop-gradient, and respacing — each against formulas written out per element in double precision.
 */
class ParameterisationTest {
    static final Schedule S = Schedule.linear(1000);
    static final int B = 4;
    static final int[] TS = {0, 1, 500, 999};
    static final double LN2 = Math.log(2);

    static Tensor ts() { return Tensor.ofInts(TS, Device.CPU, B); }

    static double ab(int t) { return S.at(Coef.ALPHA_BAR, t); }

    @Test void everyParameterisationConvertsToEpsAndX0() {
        Rng rng = new Rng(1);
        Tensor x0 = Tensor.randn(rng, DType.F64, Device.CPU, B, 2, 3).mul(0.5), eps = Tensor.randn(rng, DType.F64, Device.CPU, B, 2, 3);
        double[] a = x0.toDoubles(), e = eps.toDoubles();
        for (MeanType mt : MeanType.values()) {
            GaussianDiffusion g = new GaussianDiffusion(S, mt, VarianceType.FIXED_LARGE);
            Tensor t = ts(), xt = g.qSample(x0, t, eps), out = g.target(x0, t, eps);
            double[] x = xt.toDoubles(), o = out.toDoubles(), x0Back = g.predictX0(xt, t, out).toDoubles(),
                    epsBack = g.epsFromModelOutput(xt, t, out).toDoubles();
            for (int b = 0; b < B; b++) {
                double sa = Math.sqrt(ab(TS[b])), s1 = Math.sqrt(1 - ab(TS[b]));
                for (int i = b * 6; i < (b + 1) * 6; i++) {
                    double want = switch (mt) {
                        case EPSILON -> e[i];
                        case START_X -> a[i];
                        case V -> sa * e[i] - s1 * a[i];
                    };
                    assertEquals(want, o[i], 1e-15, mt + " target");
                    // the conversions invert q_sample; ε from x0 divides by √(1−ᾱ) (0.01 at t = 0): rounding grows by that
                    assertEquals(a[i], x0Back[i], 1e-13, mt + " x0 at t=" + TS[b]);
                    assertEquals(e[i], epsBack[i], mt == MeanType.START_X ? 1e-14 / s1 : 1e-13, mt + " eps at t=" + TS[b]);
                }
            }
            if (mt == MeanType.V) {   // the v conversions by hand: x̂0 = √ᾱ x_t − √(1−ᾱ) v, ε̂ = √(1−ᾱ) x_t + √ᾱ v
                for (int b = 0; b < B; b++) {
                    double sa = Math.sqrt(ab(TS[b])), s1 = Math.sqrt(1 - ab(TS[b]));
                    for (int i = b * 6; i < (b + 1) * 6; i++) {
                        assertEquals(sa * x[i] - s1 * o[i], x0Back[i], 1e-15);
                        assertEquals(s1 * x[i] + sa * o[i], epsBack[i], 1e-15);
                    }
                }
            }
        }
        assertEquals(MeanType.V, MeanType.named("v"));
        assertEquals(MeanType.START_X, MeanType.named("X0"));
        assertThrows(IllegalArgumentException.class, () -> MeanType.named("score"));
    }

    /** A model that outputs the given mean part and a fixed v_σ channel block. */
    static EpsModel withVariance(Tensor meanOut, Tensor varValues) {
        return (x, t, y) -> Tensor.concat(1, meanOut, varValues);
    }

    @Test void learnedRangeVarianceInterpolatesLogBetaAndLogPosteriorVariance() {
        GaussianDiffusion g = new GaussianDiffusion(S, MeanType.EPSILON, VarianceType.LEARNED_RANGE);
        Rng rng = new Rng(2);
        Tensor x0 = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2).mul(0.5), eps = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2);
        double[] vv = new double[B * 4];
        for (int i = 0; i < vv.length; i++) vv[i] = -1 + 2.0 * (i % 5) / 4 + (i % 3 == 0 ? 0.3 : 0);   // −1 … 1, and beyond
        Tensor v = Tensor.of(vv, B, 1, 2, 2), t = ts(), xt = g.qSample(x0, t, eps);
        GaussianDiffusion.PMeanVariance p = g.pMeanVariance(withVariance(eps, v), xt, t, null, false);
        double[] lv = p.logVariance().toDoubles(), var = p.variance().toDoubles();
        assertArrayEquals(new int[]{B, 1, 2, 2}, p.logVariance().shape(), "per element");
        for (int b = 0; b < B; b++) {
            int tb = TS[b];
            double logBeta = Math.log(S.at(Coef.BETA, tb));
            double logTilde = Math.log(S.at(Coef.POSTERIOR_VARIANCE, Math.max(tb, 1)));   // β̃_0 = 0 is replaced by β̃_1
            for (int i = b * 4; i < (b + 1) * 4; i++) {
                double frac = (vv[i] + 1) / 2;
                assertEquals(frac * logBeta + (1 - frac) * logTilde, lv[i], 1e-12, "t=" + tb + " v=" + vv[i]);
                assertEquals(Math.exp(lv[i]), var[i], 1e-15 * Math.max(1, var[i]));
            }
        }
        // the mean part is the fixed-variance model's
        GaussianDiffusion fixed = new GaussianDiffusion(S);
        assertArrayEquals(fixed.pMeanVariance((x, tt, y) -> eps, xt, t, null, false).mean().toDoubles(), p.mean().toDoubles(), 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.pMeanVariance((x, tt, y) -> eps, xt, t, null, false));
        assertTrue(e.getMessage().contains("2×1 output channels"), e.getMessage());
    }

    /** KL(N(m1, v1) ‖ N(m2, v2)) in nats. */
    static double kl(double m1, double v1, double m2, double v2) {
        return 0.5 * (-1 + Math.log(v2 / v1) + v1 / v2 + (m1 - m2) * (m1 - m2) / v2);
    }

    @Test void hybridLossIsMsePlusLambdaTTimesTheBoundTermWithTheLearnedVariance() {
        GaussianDiffusion g = new GaussianDiffusion(S, MeanType.EPSILON, VarianceType.LEARNED_RANGE);
        Rng rng = new Rng(3);
        int D = 4;
        double[] q = Tensor.randn(rng, DType.F64, Device.CPU, B * D).toDoubles();
        for (int i = 0; i < q.length; i++) q[i] = Math.round((Math.max(-1, Math.min(1, 0.4 * q[i])) + 1) * 127.5) / 127.5 - 1;
        q[2] = 1;
        q[3] = -1;
        Tensor x0 = Tensor.of(q, B, 1, 2, 2), noise = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2), t = ts();
        Tensor epsHat = noise.mul(0.8).add(0.05), v = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2).mul(0.5);
        double lambda = 0.001;
        GaussianDiffusion.TrainingTerms terms = g.trainingTerms(withVariance(epsHat, v), x0, t, null, noise, LossType.HYBRID, lambda);
        double[] e = noise.toDoubles(), eh = epsHat.toDoubles(), vv = v.toDoubles(), x = g.qSample(x0, t, noise).toDoubles();
        double total = 0;
        for (int b = 0; b < B; b++) {
            int tb = TS[b];
            double abt = ab(tb), abPrev = tb == 0 ? 1 : ab(tb - 1), beta = S.at(Coef.BETA, tb);
            double c1 = beta * Math.sqrt(abPrev) / (1 - abt), c2 = (1 - abPrev) * Math.sqrt(1 - beta) / (1 - abt);
            double tilde = S.at(Coef.POSTERIOR_VARIANCE, tb), logTildeClipped = Math.log(S.at(Coef.POSTERIOR_VARIANCE, Math.max(tb, 1)));
            double mse = 0, vb = 0;
            for (int i = b * D; i < (b + 1) * D; i++) {
                mse += (eh[i] - e[i]) * (eh[i] - e[i]) / D;
                double x0hat = (x[i] - Math.sqrt(1 - abt) * eh[i]) / Math.sqrt(abt);
                double mu = c1 * x0hat + c2 * x[i], muTrue = c1 * q[i] + c2 * x[i];
                double frac = (vv[i] + 1) / 2, logVar = frac * Math.log(beta) + (1 - frac) * logTildeClipped, var = Math.exp(logVar);
                if (tb > 0) {
                    vb += kl(muTrue, tilde, mu, var) / D / LN2;
                } else {   // discretized decoder: −log P(bin of x0) under N(μ, σ²), edges open at ±1
                    double sd = Math.sqrt(var);
                    double up = Losses.approxStandardNormalCdf((q[i] - mu + 1.0 / 255) / sd), lo = Losses.approxStandardNormalCdf((q[i] - mu - 1.0 / 255) / sd);
                    double pbin = q[i] > 0.999 ? 1 - lo : q[i] < -0.999 ? up : up - lo;
                    vb += -Math.log(Math.max(pbin, 1e-12)) / D / LN2;
                }
            }
            assertEquals(mse, terms.mse().toDoubles()[b], 1e-12, "mse at t=" + tb);
            assertEquals(vb, terms.vb().toDoubles()[b], 1e-9, "bound term at t=" + tb);
            total += mse + lambda * 1000 * vb;
        }
        assertEquals(total / B, terms.loss().item(), 1e-9, "L_hybrid = mean(mse + λ·T·L_t)");
        // L_simple alone would leave the learned variance untrained
        assertThrows(IllegalArgumentException.class, () -> g.trainingTerms(withVariance(epsHat, v), x0, t, null, noise, LossType.SIMPLE, 0));
    }

    /** out = [a·x_t, b·1]: a drives the mean, b the variance; both one-element parameters. */
    static double[] hybridGrads(GaussianDiffusion g, Tensor x0, Tensor t, Tensor noise, double a, double b, LossType type) {
        Tensor pa = Tensor.of(new double[]{a}, 1).requiresGrad(true), pb = Tensor.of(new double[]{b}, 1).requiresGrad(true);
        EpsModel m = (x, tt, y) -> Tensor.concat(1, x.mul(pa), x.mul(0.0).add(1.0).mul(pb));
        Tensor loss = g.trainingTerms(m, x0, t, null, noise, type, 0.001).loss();
        loss.backward();
        return new double[]{loss.item(), pa.grad().item(), pb.grad().item()};
    }

    @Test void theBoundTermTrainsOnlyTheVarianceInTheHybridLoss() {
        GaussianDiffusion g = new GaussianDiffusion(S, MeanType.EPSILON, VarianceType.LEARNED_RANGE);
        Rng rng = new Rng(4);
        Tensor x0 = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2).mul(0.3).clamp(-1, 1);
        Tensor noise = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 2, 2);
        Tensor t = Tensor.ofInts(new int[]{3, 100, 600, 999}, Device.CPU, B);
        double a = 0.7, b = 0.2, h = 1e-6;
        double[] hyb = hybridGrads(g, x0, t, noise, a, b, LossType.HYBRID);
        // ∂/∂a: only the mse's: mean over elements of 2(a·x_t − ε)·x_t
        double[] x = g.qSample(x0, t, noise).toDoubles(), e = noise.toDoubles();
        double dmse = 0;
        for (int i = 0; i < x.length; i++) dmse += 2 * (a * x[i] - e[i]) * x[i] / x.length;
        assertEquals(dmse, hyb[1], 1e-12, "stop-gradient: the bound term does not reach the mean");
        // ∂/∂b: the bound term's, by central differences of the whole loss in b
        double num = (hybridGrads(g, x0, t, noise, a, b + h, LossType.HYBRID)[0] - hybridGrads(g, x0, t, noise, a, b - h, LossType.HYBRID)[0]) / (2 * h);
        assertEquals(num, hyb[2], 1e-6 * Math.max(1, Math.abs(num)));
        assertNotEquals(0.0, hyb[2]);
        // the KL loss has no stop-gradient: its gradient in a is not zero and matches finite differences
        double[] kl = hybridGrads(g, x0, t, noise, a, b, LossType.KL);
        double numA = (hybridGrads(g, x0, t, noise, a + h, b, LossType.KL)[0] - hybridGrads(g, x0, t, noise, a - h, b, LossType.KL)[0]) / (2 * h);
        assertEquals(numA, kl[1], 1e-6 * Math.max(1, Math.abs(numA)));
        assertNotEquals(0.0, kl[1]);
    }

    @Test void respacedBetasAreThoseOfTheSubsequence() {
        int[] tau = DdimSampler.timesteps(1000, 50, DdimSampler.Spacing.UNIFORM);
        Schedule r = S.respaced(tau);
        assertEquals(50, r.steps());
        double prev = 1;
        for (int i = 0; i < tau.length; i++) {
            double abt = ab(tau[i]);
            assertEquals(1 - abt / prev, r.at(Coef.BETA, i), 1e-15, "β'_" + i);
            assertEquals(abt, r.at(Coef.ALPHA_BAR, i), 1e-14 * abt, "ᾱ' is ᾱ at τ");
            prev = abt;
        }
        // improved DDPM's respacing of the full set is the identity
        int[] all = new int[1000];
        for (int i = 0; i < 1000; i++) all[i] = i;
        assertArrayEquals(S.betas(), S.respaced(all).betas(), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> S.respaced(new int[]{0, 5, 5}));
        // the respaced diffusion calls the model at the original timesteps
        GaussianDiffusion g = new GaussianDiffusion(S).respaced(tau);
        List<Integer> seen = new ArrayList<>();
        EpsModel spy = (x, t, y) -> {
            for (int v : t.toInts()) seen.add(v);
            return x.mul(0.0);
        };
        DdpmSampler sampler = DdpmSampler.respaced(new GaussianDiffusion(S), 50, true);
        assertEquals(50, sampler.steps());
        sampler.sample(spy, Tensor.randn(new Rng(1), DType.F64, Device.CPU, 1, 1, 2, 2), null, new Rng(2), null);
        assertEquals(50, seen.size());
        for (int i = 0; i < 50; i++) assertEquals(tau[49 - i], seen.get(i));
        assertEquals(tau[7], g.modelTimestep(7));
    }

    /** (x_t per step) of a sampler run with a fixed seed. */
    static List<double[]> run(Sampler s, EpsModel m, Tensor xT) {
        List<double[]> xs = new ArrayList<>();
        s.sample(m, xT, null, new Rng(77), Sampler.Listener.progressive(1, (d, n, t, x0, x) -> xs.add(x.toDoubles())));
        return xs;
    }

    /**
     * The learned variance at its ends reproduces the fixed ones: v_σ = −1 is σ² = β̃ (DDPM: the
     * fixed-small sampler; DDIM with η: the fixed DDIM, whose σ² is η²·β̃' of the respaced process),
     * v_σ = +1 is σ² = β (the fixed-large sampler), step for step with the same noise.
     */
    @Test void samplersUseTheLearnedVariance() {
        Schedule s100 = Schedule.linear(100);
        GaussianDataModel opt = new GaussianDataModel(s100, 0.1, 0.04);
        Tensor xT = Tensor.randn(new Rng(5), DType.F64, Device.CPU, 2, 1, 2, 2);
        GaussianDiffusion learned = new GaussianDiffusion(s100, MeanType.EPSILON, VarianceType.LEARNED_RANGE);
        for (double end : new double[]{-1, 1}) {
            EpsModel m = (x, t, y) -> {
                Tensor eps = opt.predictEps(x, t, y);
                return Tensor.concat(1, eps, eps.mul(0.0).add(end));
            };
            VarianceType fixed = end < 0 ? VarianceType.FIXED_SMALL : VarianceType.FIXED_LARGE;
            GaussianDiffusion f = new GaussianDiffusion(s100, MeanType.EPSILON, fixed);
            List<double[]> a = run(new DdpmSampler(learned, true), m, xT), b = run(new DdpmSampler(f, true), opt, xT);
            for (int k = 0; k < a.size(); k++) assertArrayEquals(b.get(k), a.get(k), 1e-12, "DDPM v=" + end + " step " + k);
        }
        EpsModel small = (x, t, y) -> {
            Tensor eps = opt.predictEps(x, t, y);
            return Tensor.concat(1, eps, eps.mul(0.0).add(-1.0));
        };
        for (boolean clip : new boolean[]{false, true}) {
            List<double[]> a = run(new DdimSampler(learned, 20, 0.6, DdimSampler.Spacing.UNIFORM, clip), small, xT);
            List<double[]> b = run(new DdimSampler(new GaussianDiffusion(s100), 20, 0.6, DdimSampler.Spacing.UNIFORM, clip), opt, xT);
            assertEquals(20, a.size());
            for (int k = 0; k < a.size(); k++) assertArrayEquals(b.get(k), a.get(k), 1e-12, "DDIM η=0.6 clip " + clip + " step " + k);
        }
        // a variance between the ends changes the DDIM trajectory (it is used, not ignored)
        EpsModel mid = (x, t, y) -> {
            Tensor eps = opt.predictEps(x, t, y);
            return Tensor.concat(1, eps, eps.mul(0.0));
        };
        List<double[]> a = run(new DdimSampler(learned, 20, 0.6, DdimSampler.Spacing.UNIFORM, false), mid, xT);
        List<double[]> b = run(new DdimSampler(new GaussianDiffusion(s100), 20, 0.6, DdimSampler.Spacing.UNIFORM, false), opt, xT);
        assertFalse(java.util.Arrays.equals(a.get(10), b.get(10)));
    }
}
