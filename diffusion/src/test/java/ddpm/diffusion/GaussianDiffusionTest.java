package ddpm.diffusion;

import ddpm.diffusion.GaussianDiffusion.MeanType;
import ddpm.diffusion.GaussianDiffusion.VarianceType;
import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** q, the posterior, x̂0/ε conversions, p_θ and the bound terms against per-element double computations. */
class GaussianDiffusionTest {
    static final VarianceType[] FIXED = {VarianceType.FIXED_LARGE, VarianceType.FIXED_SMALL};
    static final int B = 3, D = 8;
    final Schedule s = Schedule.linear(1000);
    final int[] ts = {0, 1, 640};

    Tensor grid(Rng rng, DType dt) {   // 8-bit-grid data in [−1, 1]
        double[] v = Tensor.randn(rng, DType.F64, Device.CPU, B, D).toDoubles();
        for (int i = 0; i < v.length; i++) v[i] = Math.round((Math.max(-1, Math.min(1, 0.5 * v[i])) + 1) * 127.5) / 127.5 - 1;
        v[0] = -1;
        v[1] = 1;
        return Tensor.ofDoubles(dt, Device.CPU, v, B, 2, 2, 2);
    }

    Tensor t() { return Tensor.ofInts(ts, Device.CPU, B); }

    @Test void forwardProcessPosteriorAndConversionsMatchDoubleFormulas() {
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            double tol = dt == DType.F64 ? 1e-12 : 2e-5;
            GaussianDiffusion g = new GaussianDiffusion(s);
            Rng rng = new Rng(3);
            Tensor x0 = grid(rng, dt), eps = Tensor.randn(rng, dt, Device.CPU, B, 2, 2, 2), t = t();
            Tensor xt = g.qSample(x0, t, eps);
            GaussianDiffusion.Gaussian post = g.qPosterior(x0, xt, t);
            GaussianDiffusion.Gaussian qm = g.qMeanVariance(x0, t);
            double[] a = x0.toDoubles(), e = eps.toDoubles(), x = xt.toDoubles(), pm = post.mean().toDoubles(),
                    back = g.predictX0FromEps(xt, t, eps).toDoubles(), epsBack = g.predictEpsFromX0(xt, t, x0).toDoubles(),
                    qmean = qm.mean().toDoubles();
            assertArrayEquals(new int[]{B, 1, 1, 1}, post.variance().shape());
            for (int b = 0; b < B; b++) {
                int tb = ts[b];
                double ab = 1, abPrev = 1;
                for (int k = 0; k <= tb; k++) { abPrev = ab; ab *= 1 - s.betas()[k]; }
                double beta = s.betas()[tb];
                assertEquals(beta * (1 - abPrev) / (1 - ab), post.variance().toDoubles()[b], tol * 1e-2);
                assertEquals(1 - ab, qm.variance().toDoubles()[b], tol);
                assertEquals(Math.log(1 - ab), qm.logVariance().toDoubles()[b], tol * 10);
                for (int i = b * D; i < (b + 1) * D; i++) {
                    double xti = Math.sqrt(ab) * a[i] + Math.sqrt(1 - ab) * e[i];
                    assertEquals(xti, x[i], tol, "q_sample");
                    assertEquals(Math.sqrt(ab) * a[i], qmean[i], tol, "q mean");
                    double mu = beta * Math.sqrt(abPrev) / (1 - ab) * a[i] + (1 - abPrev) * Math.sqrt(1 - beta) / (1 - ab) * x[i];
                    assertEquals(mu, pm[i], tol, "posterior mean");
                    assertEquals(a[i], back[i], tol * 50, "x0 from eps inverts q_sample");
                    assertEquals(e[i], epsBack[i], tb == 0 ? tol * 1e3 : tol * 50, "eps from x0 inverts q_sample");
                }
            }
        }
    }

    /** A model that knows the true noise (or x0): p_θ's mean must then be the true posterior mean. */
    static EpsModel oracle(Tensor truth) { return (x, t, y) -> truth; }

    @Test void pMeanVarianceWithAnOracleIsTheTruePosterior() {
        Rng rng = new Rng(5);
        Tensor x0 = grid(rng, DType.F64), eps = Tensor.randn(rng, DType.F64, Device.CPU, B, 2, 2, 2), t = t();
        for (VarianceType vt : FIXED) {
            for (MeanType mt : MeanType.values()) {
                GaussianDiffusion g = new GaussianDiffusion(s, mt, vt);
                Tensor xt = g.qSample(x0, t, eps);
                Tensor truth = switch (mt) {
                    case EPSILON -> eps;
                    case START_X -> x0;
                    case V -> g.velocity(x0, t, eps);
                };
                var p = g.pMeanVariance(oracle(truth), xt, t, null, false);
                var q = g.qPosterior(x0, xt, t);
                assertArrayEquals(q.mean().toDoubles(), p.mean().toDoubles(), 1e-9, vt + " " + mt);
                assertArrayEquals(x0.toDoubles(), p.predX0().toDoubles(), 1e-9);
                for (int b = 0; b < B; b++) {
                    int tb = ts[b];
                    double var = vt == VarianceType.FIXED_LARGE ? s.at(Coef.BETA, tb) : s.at(Coef.POSTERIOR_VARIANCE, tb);
                    double logVar = vt == VarianceType.FIXED_LARGE
                            ? Math.log(tb == 0 ? s.at(Coef.POSTERIOR_VARIANCE, 1) : s.at(Coef.BETA, tb))
                            : Math.log(s.at(Coef.POSTERIOR_VARIANCE, Math.max(1, tb)));
                    assertEquals(var, p.variance().toDoubles()[b], 1e-15);
                    assertEquals(logVar, p.logVariance().toDoubles()[b], 1e-12);
                }
            }
        }
    }

    @Test void clippingBoundsPredX0() {
        GaussianDiffusion g = new GaussianDiffusion(s, MeanType.START_X, VarianceType.FIXED_SMALL);
        Tensor x = Tensor.of(new double[]{-3, -0.5, 0.25, 7}, 4, 1);
        Tensor t = Tensor.ofInts(new int[]{10, 10, 10, 10}, Device.CPU, 4);
        var p = g.pMeanVariance(oracle(x), x, t, null, true);
        assertArrayEquals(new double[]{-1, -0.5, 0.25, 1}, p.predX0().toDoubles(), 0);
        double c1 = s.at(Coef.POSTERIOR_MEAN_COEF1, 10), c2 = s.at(Coef.POSTERIOR_MEAN_COEF2, 10);
        assertEquals(c1 * 1 + c2 * 7, p.mean().toDoubles()[3], 1e-12);
        assertArrayEquals(x.toDoubles(), g.pMeanVariance(oracle(x), x, t, null, false).predX0().toDoubles(), 0);
    }

    @Test void boundTermsOfAnOracleHaveClosedForms() {
        Rng rng = new Rng(11);
        Tensor x0 = grid(rng, DType.F64), eps = Tensor.randn(rng, DType.F64, Device.CPU, B, 2, 2, 2), t = t();
        double ln2 = Math.log(2);
        for (VarianceType vt : FIXED) {
            GaussianDiffusion g = new GaussianDiffusion(s, MeanType.EPSILON, vt);
            Tensor xt = g.qSample(x0, t, eps);
            double[] vb = g.vbTermBpd(oracle(eps), x0, xt, t, null, false).bpd().toDoubles();
            for (int b = 1; b < B; b++) {
                // equal means: KL = ½(−1 + log(σ²/β̃) + β̃/σ²) per dimension
                double pv = s.at(Coef.POSTERIOR_VARIANCE, ts[b]), var = vt == VarianceType.FIXED_LARGE ? s.at(Coef.BETA, ts[b]) : pv;
                double kl = 0.5 * (-1 + Math.log(var / pv) + pv / var) / ln2;
                assertEquals(kl, vb[b], 1e-9, vt + " KL at t=" + ts[b]);
                if (vt == VarianceType.FIXED_SMALL) assertEquals(0, vb[b], 1e-12);
            }
            // t = 0: coef1 = 1, coef2 = 0, so the decoder mean is x0 itself and σ² = β̃_1 for both variance types:
            // −log P(bin) with P = 2Φ̃(1/(255σ)) − 1 inside, Φ̃(1/(255σ)) at the edges ±1
            double sigma = Math.sqrt(s.at(Coef.POSTERIOR_VARIANCE, 1)), c = Losses.approxStandardNormalCdf(1.0 / 255 / sigma);
            double[] x = x0.toDoubles();
            double nll = 0;
            for (int i = 0; i < D; i++) nll -= Math.abs(x[i]) > 0.999 ? Math.log(c) : Math.log(2 * c - 1);
            assertEquals(nll / D / ln2, vb[0], 1e-9, vt + " decoder NLL");
        }
        // the prior term: KL(N(√ᾱ_T x0, 1−ᾱ_T) ‖ N(0,1)) per dimension
        GaussianDiffusion g = new GaussianDiffusion(s);
        double ab = s.at(Coef.ALPHA_BAR, 999);
        double[] x = x0.toDoubles(), prior = g.priorBpd(x0).toDoubles();
        for (int b = 0; b < B; b++) {
            double sum = 0;
            for (int i = b * D; i < (b + 1) * D; i++)
                sum += 0.5 * (-1 - Math.log(1 - ab) + (1 - ab) + ab * x[i] * x[i]);
            assertEquals(sum / D / ln2, prior[b], 1e-12);
            assertTrue(prior[b] < 3e-5, "L_T is negligible for the linear schedule: " + prior[b]);
        }
    }

    @Test void trainingTermsSampleTimestepsUniformly() {
        GaussianDiffusion g = new GaussianDiffusion(Schedule.linear(10, 1e-4, 0.02));
        int[] counts = new int[10];
        Rng rng = new Rng(1);
        int n = 0;
        for (int k = 0; k < 200; k++) for (int t : g.sampleTimesteps(rng, 50, Device.CPU).toInts()) { counts[t]++; n++; }
        double chi2 = 0;
        for (int c : counts) chi2 += (c - n / 10.0) * (c - n / 10.0) / (n / 10.0);
        assertTrue(chi2 < 27.9, "chi-square (9 dof, p=0.001 critical 27.9) = " + chi2);
        // same seed, same draws
        assertArrayEquals(g.sampleTimesteps(new Rng(9), 64, Device.CPU).toInts(), g.sampleTimesteps(new Rng(9), 64, Device.CPU).toInts());
    }
}
