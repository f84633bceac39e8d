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

import static org.junit.jupiter.api.Assertions.*;

/**
 * The diffusion maths on data whose optimal predictor is known in closed form: x0 ~ N(m, v) per
 * dimension (8-bit discretized for likelihoods). For it E[ε|x_t] = √(1−ᾱ)(x_t − √ᾱm)/(ᾱv + 1 − ᾱ)
 * ({@link GaussianDataModel}), so L_simple, every bound term and the bits/dim have closed forms.
 */
class AnalyticGaussianTest {
    static final VarianceType[] FIXED = {VarianceType.FIXED_LARGE, VarianceType.FIXED_SMALL};
    static final double M = 0.1, V = 0.04, S = Math.sqrt(V), LN2 = Math.log(2);
    static final Schedule SCHED = Schedule.linear(1000);

    static Tensor gaussianData(Rng rng, DType dt, int n, boolean discretize, int... shape) {
        double[] x = Tensor.randn(rng, DType.F64, Device.CPU, n * 48).toDoubles();
        for (int i = 0; i < x.length; i++) {
            x[i] = M + S * x[i];
            if (discretize) x[i] = Math.max(-1, Math.min(1, Math.round((x[i] + 1) * 127.5) / 127.5 - 1));
        }
        return Tensor.ofDoubles(dt, Device.CPU, x, n, 3, 4, 4);
    }

    static double simpson(java.util.function.DoubleUnaryOperator f, double lo, double hi, int n) {
        double h = (hi - lo) / n, s = f.applyAsDouble(lo) + f.applyAsDouble(hi);
        for (int i = 1; i < n; i++) s += (i % 2 == 1 ? 4 : 2) * f.applyAsDouble(lo + i * h);
        return s * h / 3;
    }

    static double density(double x) { return Math.exp(-0.5 * (x - M) * (x - M) / V) / Math.sqrt(2 * Math.PI * V); }

    /** P(bin k) of round-to-grid(clamp) of N(m, v), by quadrature of the density over the bin. */
    static double[] binProbabilities() {
        double[] p = new double[256];
        double lo = M - 14 * S, hi = M + 14 * S;
        for (int k = 0; k < 256; k++) {
            double a = k == 0 ? lo : 2.0 * k / 255 - 1 - 1.0 / 255, b = k == 255 ? hi : 2.0 * k / 255 - 1 + 1.0 / 255;
            a = Math.max(a, lo);
            b = Math.min(b, hi);
            p[k] = b > a ? simpson(AnalyticGaussianTest::density, a, b, k == 0 || k == 255 ? 20000 : 64) : 0;
        }
        return p;
    }

    // ---------------------------------------------------------------- (a) L_simple
    @Test void lSimpleOfTheOptimalModelHasItsClosedFormExpectationAndBeatsWrongModels() {
        GaussianDiffusion g = new GaussianDiffusion(SCHED);
        GaussianDataModel opt = new GaussianDataModel(SCHED, M, V), wrongMean = new GaussianDataModel(SCHED, M + 0.3, V),
                wrongVar = new GaussianDataModel(SCHED, M, 4 * V);
        EpsModel zero = (x, t, y) -> x.mul(0.0);
        // per t: E[(ε − E[ε|x_t])²] = ᾱv/(ᾱv + 1 − ᾱ)
        Rng rng = new Rng(100);
        for (int t : new int[]{0, 20, 100, 400, 999}) {
            Tensor x0 = gaussianData(rng, DType.F32, 64, false);
            int[] ts = new int[64];
            java.util.Arrays.fill(ts, t);
            Tensor noise = Tensor.randn(rng, 64, 3, 4, 4);
            double[] mse = g.trainingTerms(opt, x0, Tensor.ofInts(ts, Device.CPU, 64), null, noise, LossType.SIMPLE, 0).mse().toDoubles();
            double mean = java.util.Arrays.stream(mse).average().orElseThrow();
            double expected = opt.optimalEpsMse(t), se = expected * Math.sqrt(2.0 / (64 * 48));   // χ² scaled: Var = 2e²
            System.out.printf("t=%d: L_simple %.6f, closed form %.6f (SE %.6f)%n", t, mean, expected, se);
            assertEquals(expected, mean, 4 * se + 1e-6, "per-t L_simple at t=" + t);
        }
        // over uniform t: E[L_simple] = (1/T) Σ_t ᾱv/(ᾱv+1−ᾱ)
        double expected = 0;
        for (int t = 0; t < 1000; t++) expected += opt.optimalEpsMse(t) / 1000;
        int batches = 200;
        double[] lo = new double[batches], lw = new double[batches], lv = new double[batches], lz = new double[batches];
        for (int k = 0; k < batches; k++) {
            Tensor x0 = gaussianData(rng, DType.F32, 16, false);
            long seed = 1000 + k;   // the same t and ε for every model
            lo[k] = g.lossSimple(opt, x0, null, new Rng(seed)).item();
            lw[k] = g.lossSimple(wrongMean, x0, null, new Rng(seed)).item();
            lv[k] = g.lossSimple(wrongVar, x0, null, new Rng(seed)).item();
            lz[k] = g.lossSimple(zero, x0, null, new Rng(seed)).item();
        }
        double mo = mean(lo), se = Math.sqrt(variance(lo) / batches);
        System.out.printf("E[L_simple]: optimal %.5f ± %.5f (closed form %.5f), wrong mean %.5f, wrong variance %.5f, zero %.5f%n",
                mo, se, expected, mean(lw), mean(lv), mean(lz));
        assertEquals(expected, mo, 4 * se);
        assertEquals(1.0, mean(lz), 0.02, "the zero model's L_simple is E[ε²] = 1");
        for (double[] w : new double[][]{lw, lv, lz}) {
            double[] diff = new double[batches];
            for (int k = 0; k < batches; k++) diff[k] = w[k] - lo[k];
            assertTrue(mean(diff) > 8 * Math.sqrt(variance(diff) / batches), "a wrong model has a higher L_simple (paired)");
        }
    }

    static double mean(double[] a) { return java.util.Arrays.stream(a).average().orElseThrow(); }

    static double variance(double[] a) {
        double m = mean(a), s = 0;
        for (double x : a) s += (x - m) * (x - m);
        return s / (a.length - 1);
    }

    // ---------------------------------------------------------------- (c) bits/dim
    /** E[bound] in nats/dim for the optimal model on the discretized data, term by term (index t; T = prior). */
    static double[] expectedTermsNats(GaussianDiffusion g, GaussianDataModel model, double[] p) {
        int T = SCHED.steps();
        double md = 0, m2 = 0;
        for (int k = 0; k < 256; k++) {
            double x = 2.0 * k / 255 - 1;
            md += p[k] * x;
            m2 += p[k] * x * x;
        }
        double vd = m2 - md * md;
        double[][] kc = new GaussianDataModel(SCHED, M, V, true).coefficients();   // x̂0 = a·x_t + b
        double[] terms = new double[T + 1];
        double[] logVar = SCHED.get(g.logVarianceCoef());
        for (int t = 1; t < T; t++) {
            double ab = SCHED.at(Coef.ALPHA_BAR, t), a = kc[0][t], b = kc[1][t] * M;
            // E[(x0 − x̂0)²] with x̂0 = a(√ᾱ x0 + √(1−ᾱ) ε) + b
            double err2 = Math.pow(1 - a * Math.sqrt(ab), 2) * vd + a * a * (1 - ab) + Math.pow((1 - a * Math.sqrt(ab)) * md - b, 2);
            double c1 = SCHED.at(Coef.POSTERIOR_MEAN_COEF1, t), pv = SCHED.at(Coef.POSTERIOR_VARIANCE, t), var = Math.exp(logVar[t]);
            terms[t] = 0.5 * (-1 + logVar[t] - Math.log(pv) + pv / var + c1 * c1 * err2 / var);
        }
        // decoder: mean = x̂0(x_1) (coef1_0 = 1, coef2_0 = 0), σ² = β̃_1; integrate over ε per bin
        double ab0 = SCHED.at(Coef.ALPHA_BAR, 0), a = kc[0][0], b = kc[1][0] * M, sd = Math.exp(0.5 * logVar[0]);
        double dec = 0;
        for (int k = 0; k < 256; k++) {
            if (p[k] < 1e-15) continue;
            double x = 2.0 * k / 255 - 1;
            final int kk = k;
            dec += p[k] * simpson(e -> {
                double mu = a * (Math.sqrt(ab0) * x + Math.sqrt(1 - ab0) * e) + b;
                double lo = kk == 0 ? 0 : Losses.approxStandardNormalCdf((x - 1.0 / 255 - mu) / sd);
                double hi = kk == 255 ? 1 : Losses.approxStandardNormalCdf((x + 1.0 / 255 - mu) / sd);
                return -Math.log(Math.max(hi - lo, 1e-12)) * Math.exp(-e * e / 2) / Math.sqrt(2 * Math.PI);
            }, -8, 8, 400);
        }
        terms[0] = dec;
        double abT = SCHED.at(Coef.ALPHA_BAR, T - 1);
        terms[T] = 0.5 * (-1 - Math.log(1 - abT) + (1 - abT) + abT * m2);
        return terms;
    }

    /** The empirical distribution over the 256 bins of the pixels of x0. */
    static double[] histogram(Tensor x0) {
        double[] h = new double[256], x = x0.toDoubles();
        for (double v : x) h[(int) Math.round((v + 1) * 127.5)] += 1.0 / x.length;
        return h;
    }

    static double total(double[] termsNats) {
        double s = 0;
        for (double v : termsNats) s += v;
        return s / LN2;
    }

    /**
     * (c) The optimal model's bound, evaluated by {@link LikelihoodEvaluator} over all T = 1000 terms,
     * equals its closed form (E over ε given the test images, computed term by term in double:
     * KL terms from the posterior-mean error, decoder by quadrature, prior exactly) within 4 SE;
     * the population closed form lies above the data's discrete entropy H (a bound must) and within
     * 0.2 bits/dim of it for σ² = β (0.8 for σ² = β̃, which is too small a reverse variance for
     * this data); the zero model's bound is more than 5 bits/dim worse.
     */
    @Test void bitsPerDimOfTheOptimalModelMatchesItsClosedFormAndTheEntropyBound() {
        double[] p = binProbabilities();
        double sumP = 0, entropy = 0;
        for (double q : p) {
            sumP += q;
            if (q > 0) entropy -= q * Math.log(q);
        }
        assertEquals(1.0, sumP, 1e-9);
        double hBits = entropy / LN2;
        int n = 16;
        Tensor x0 = gaussianData(new Rng(7), DType.F32, n, true);
        double[] hist = histogram(x0);
        GaussianDataModel opt = new GaussianDataModel(SCHED, M, V);
        for (VarianceType vt : FIXED) {
            GaussianDiffusion g = new GaussianDiffusion(SCHED, MeanType.EPSILON, vt);
            double[] terms = expectedTermsNats(g, opt, hist), population = expectedTermsNats(g, opt, p);
            double klSum = 0;
            for (int t = 1; t < 1000; t++) klSum += terms[t];
            double expected = total(terms), popBpd = total(population);
            long[] calls = {0};
            var r = new LikelihoodEvaluator(g, 11, false).evaluate(opt, x0, null, n, (d, tot) -> {
                calls[0]++;
                assertEquals(1000, tot);
            });
            assertEquals(1000, calls[0]);
            System.out.printf("%s: bpd %.4f ± %.4f, closed form given the images %.4f (KL %.4f, decoder %.4f, prior %.2e);"
                            + " population closed form %.4f, entropy bound %.4f bits/dim%n",
                    vt, r.bpd(), r.bpdStdError(), expected, klSum / LN2, terms[0] / LN2, terms[1000] / LN2, popBpd, hBits);
            System.out.println("  evaluator: " + r.summary());
            double tol = 4 * r.bpdStdError();
            assertEquals(expected, r.bpd(), tol, vt + " bpd vs closed form");
            assertEquals(terms[1000] / LN2, r.priorBpd(), 1e-6, "prior term");
            assertEquals(terms[0] / LN2, r.decoderNll(), tol, "decoder term");
            assertEquals(klSum / LN2, r.klBpd(), tol, "sum of KL terms");
            for (int t : new int[]{1, 10, 100, 500})   // single terms, mean over 16·48 pixels
                assertEquals(terms[t] / LN2, r.vbPerT()[t], 0.25 * terms[t] / LN2 + 1e-6, "term at t=" + t);
            assertTrue(popBpd > hBits, "a variational bound is above the entropy");
            assertTrue(popBpd - hBits < (vt == VarianceType.FIXED_LARGE ? 0.2 : 0.8), vt + ": gap to the entropy " + (popBpd - hBits));
            if (vt == VarianceType.FIXED_LARGE) {
                EpsModel zero = (x, t, y) -> x.mul(0.0);
                var rz = new LikelihoodEvaluator(g, 11, false).evaluate(zero, x0, null, n, null);
                System.out.println("  zero model: " + rz.summary());
                assertTrue(rz.bpd() > r.bpd() + 5, "the zero model's bound is far worse: " + rz.bpd());
            }
        }
    }
}
