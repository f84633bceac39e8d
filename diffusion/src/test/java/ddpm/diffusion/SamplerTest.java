package ddpm.diffusion;

import ddpm.diffusion.DdimSampler.Spacing;
import ddpm.diffusion.GaussianDiffusion.MeanType;
import ddpm.diffusion.GaussianDiffusion.VarianceType;
import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** DDPM and DDIM samplers: determinism, their agreement at η = 1, flat memory, guidance, and sample statistics. */
class SamplerTest {
    static final VarianceType[] FIXED = {VarianceType.FIXED_LARGE, VarianceType.FIXED_SMALL};
    static final Schedule S1000 = Schedule.linear(1000);

    static List<double[]> trajectory(Sampler sampler, EpsModel model, Tensor xT, long seed) {
        List<double[]> xs = new ArrayList<>();
        Tensor out = sampler.sample(model, xT, null, new Rng(seed), Sampler.Listener.progressive(1,
                (done, total, t, x0, x) -> xs.add(x.toDoubles())));
        assertArrayEquals(out.toDoubles(), xs.get(xs.size() - 1), 0);
        out.release();
        return xs;
    }

    @Test void ddimWithEtaZeroIsDeterministic() {
        GaussianDiffusion g = new GaussianDiffusion(S1000);
        GaussianDataModel model = new GaussianDataModel(S1000, 0.1, 0.04);
        Tensor xT = Tensor.randn(new Rng(1), 4, 1, 2, 2);
        DdimSampler ddim = new DdimSampler(g, 50, 0.0, Spacing.UNIFORM, true);
        double[] a = ddim.sample(model, xT, null, new Rng(123), null).toDoubles();
        double[] b = ddim.sample(model, xT, null, new Rng(456), null).toDoubles();
        assertArrayEquals(a, b, 0, "η = 0: the seed does not matter, x_T fixes the sample");
        assertEquals(50, model.calls / 2, "one model call per step");
        DdimSampler noisy = new DdimSampler(g, 50, 1.0, Spacing.UNIFORM, true);
        double[] c = noisy.sample(model, xT, null, new Rng(123), null).toDoubles();
        double[] d = noisy.sample(model, xT, null, new Rng(123), null).toDoubles();
        double[] e = noisy.sample(model, xT, null, new Rng(456), null).toDoubles();
        assertArrayEquals(c, d, 0, "η = 1: same seed, same sample");
        assertFalse(java.util.Arrays.equals(c, e), "η = 1: another seed, another sample");
        // DDPM: seeded
        DdpmSampler ddpm = new DdpmSampler(g);
        assertArrayEquals(ddpm.sample(model, xT, null, new Rng(5), null).toDoubles(),
                ddpm.sample(model, xT, null, new Rng(5), null).toDoubles(), 0);
    }

    @Test void timestepSpacings() {
        assertArrayEquals(new int[]{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}, DdimSampler.timesteps(1000, 10, Spacing.UNIFORM));
        int[] all = DdimSampler.timesteps(1000, 1000, Spacing.UNIFORM);
        for (int i = 0; i < 1000; i++) assertEquals(i, all[i]);
        assertArrayEquals(new int[]{0, 333, 666}, DdimSampler.timesteps(1000, 3, Spacing.UNIFORM));
        // quadratic: int(v²) for v in numpy.linspace(0, √800, S), as the DDIM code for CIFAR-10
        int[] q = DdimSampler.timesteps(1000, 5, Spacing.QUADRATIC);
        assertArrayEquals(new int[]{0, 50, 200, 450, 800}, q);   // numpy: int(√800² = 800.0000000000001)
        int[] q100 = DdimSampler.timesteps(1000, 100, Spacing.QUADRATIC);
        for (int i = 1; i < q100.length; i++) assertTrue(q100[i] > q100[i - 1]);
        assertEquals(96, q100.length, "numpy gives 96 distinct values (4 duplicates near 0 dropped)");
    }

    /** The DDIM code's quadratic timesteps, written out from numpy's linspace semantics (not from the sampler). */
    static int[] numpyQuadratic(int T, int S) {
        double stop = Math.sqrt(T * 0.8);
        java.util.TreeSet<Integer> seq = new java.util.TreeSet<>();
        if (S == 1) seq.add(0);
        else {
            double step = stop / (S - 1);          // numpy: step = delta / div
            for (int i = 0; i < S; i++) {
                double v = i == S - 1 ? stop : i * step;   // y = arange(num) * step + start; y[-1] = stop
                seq.add((int) (v * v));            // (seq ** 2), then int() truncates
            }
        }
        return seq.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test void quadraticSpacingMatchesNumpyLinspace() {
        // sequences printed by numpy 1.24 (sorted, distinct) where the earlier formula i·√(0.8T)/(S−1) was off by one
        assertArrayEquals(new int[]{0, 3, 14, 31, 56, 88, 127, 174, 227, 287, 355, 430, 511, 600, 696, 800},
                DdimSampler.timesteps(1000, 16, Spacing.QUADRATIC));
        assertArrayEquals(new int[]{0, 3, 7, 14, 22, 31, 43, 56, 71, 88, 107, 127, 150, 174, 200},
                DdimSampler.timesteps(250, 16, Spacing.QUADRATIC));
        assertArrayEquals(new int[]{0, 2, 3, 5, 8, 11, 15, 19, 23, 28, 34, 40}, DdimSampler.timesteps(50, 14, Spacing.QUADRATIC));
        int pairs = 0;
        for (int T : new int[]{50, 100, 250, 500, 1000, 2000, 4000})
            for (int S = 1; S <= Math.min(T, 200); S += (S < 60 ? 1 : 7)) {
                assertArrayEquals(numpyQuadratic(T, S), DdimSampler.timesteps(T, S, Spacing.QUADRATIC), "T=" + T + " S=" + S);
                pairs++;
            }
        assertTrue(pairs >= 300, pairs + " pairs");
    }

    /**
     * With clipping, DDIM re-derives ε from the clipped x̂0, so at T = 1000, η = 1, S = T one DDIM step
     * is the ancestral step with σ² = β̃ even where clipping bites: x_t = 1, ε̂ = 0 at t = 999 gives
     * x̂0 = 1/√ᾱ ≈ 157, clipped to 1 (without re-deriving ε, DDIM gave √ᾱ_998 ≈ 0.0064 instead of ≈ 0.990).
     */
    @Test void clippedDdimStepIsTheAncestralStepWithPosteriorVariance() {
        GaussianDiffusion g = new GaussianDiffusion(S1000, MeanType.EPSILON, VarianceType.FIXED_SMALL);
        DdimSampler ddim = new DdimSampler(g, 1000, 1.0, Spacing.UNIFORM, true);
        DdpmSampler ddpm = new DdpmSampler(g, true);
        EpsModel zero = (x, t, y) -> x.mul(0.0);
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            double tol = dt == DType.F64 ? 1e-12 : 2e-6;
            Tensor x = Tensor.full(dt, Device.CPU, 1.0, 2, 1, 2, 2);
            Tensor z = Tensor.randn(new Rng(8), dt, Device.CPU, 2, 1, 2, 2);
            Tensor t = Tensor.ofInts(new int[]{999, 999}, Device.CPU, 2);
            for (Tensor noise : new Tensor[]{null, z}) {
                double[] d = ddim.step(x, x.mul(0.0), noise, 999).toDoubles();
                GaussianDiffusion.PMeanVariance p = g.pMeanVariance(zero, x, t, null, true);
                double[] a = (noise == null ? p.mean() : ddpm.addNoise(p.mean(), noise, t)).toDoubles();
                assertEquals(1.0, p.predX0().toDoubles()[0], 0, "clipping bites");
                assertArrayEquals(a, d, tol, dt + " noise " + (noise != null));
                if (noise == null) {
                    double c1 = S1000.at(Coef.POSTERIOR_MEAN_COEF1, 999), c2 = S1000.at(Coef.POSTERIOR_MEAN_COEF2, 999);
                    assertEquals(c1 + c2, d[0], tol, "the posterior mean at x̂0 = 1, x_t = 1");
                    assertEquals(0.990, d[0], 5e-4);
                }
            }
        }
    }

    @Test void ddimWithEtaOneOverAllStepsIsDdpmWithPosteriorVarianceStepByStep() {
        // F64 so agreement is to rounding; same seed, so both draw the same z at every step
        GaussianDiffusion g = new GaussianDiffusion(S1000, MeanType.EPSILON, VarianceType.FIXED_SMALL);
        GaussianDataModel model = new GaussianDataModel(S1000, 0.1, 0.04);
        Tensor xT = Tensor.randn(new Rng(2), DType.F64, Device.CPU, 3, 1, 2, 2);
        DdimSampler ddim = new DdimSampler(g, 1000, 1.0, Spacing.UNIFORM, false);
        for (int i = 1; i < 1000; i++) {   // σ² of the DDIM row equals β̃
            double sigma = ddim.coefficients(i)[4];
            assertEquals(S1000.at(Coef.POSTERIOR_VARIANCE, i), sigma * sigma, 1e-15);
        }
        List<double[]> a = trajectory(ddim, model, xT, 77), b = trajectory(new DdpmSampler(g, false), model, xT, 77);
        assertEquals(1000, a.size());
        assertEquals(1000, b.size());
        double worst = 0;
        for (int k = 0; k < 1000; k++)
            for (int i = 0; i < a.get(k).length; i++) worst = Math.max(worst, Math.abs(a.get(k)[i] - b.get(k)[i]));
        assertTrue(worst < 1e-9, "max |DDIM(η=1) − DDPM(σ²=β̃)| over all steps = " + worst);
    }

    @Test void fusedAlgorithm2EqualsTheGenericPosteriorPath() {
        // ε-prediction without clipping takes F.posteriorStep; an x0-predicting model of the same
        // optimal predictor takes x̂0 → posterior mean → + σz. Same seed ⇒ same trajectory.
        for (VarianceType vt : FIXED) {
            Tensor xT = Tensor.randn(new Rng(4), DType.F64, Device.CPU, 2, 1, 2, 2);
            List<double[]> fused = trajectory(new DdpmSampler(new GaussianDiffusion(S1000, MeanType.EPSILON, vt), false),
                    new GaussianDataModel(S1000, -0.2, 0.05, false), xT, 9);
            List<double[]> generic = trajectory(new DdpmSampler(new GaussianDiffusion(S1000, MeanType.START_X, vt), false),
                    new GaussianDataModel(S1000, -0.2, 0.05, true), xT, 9);
            for (int k = 0; k < 1000; k++) assertArrayEquals(fused.get(k), generic.get(k), 1e-9, vt + " step " + k);
        }
    }

    @Test void samplingMemoryStaysFlat() {
        Schedule s100 = Schedule.linear(100);
        GaussianDiffusion g = new GaussianDiffusion(s100);
        GaussianDataModel model = new GaussianDataModel(s100, 0.1, 0.04);
        for (Sampler sampler : new Sampler[]{new DdpmSampler(g), new DdpmSampler(g, false), new DdimSampler(g, 30, 0.5, Spacing.QUADRATIC, true)}) {
            Tensor xT = Tensor.randn(new Rng(1), 8, 3, 4, 4);
            List<Long> live = new ArrayList<>();
            int[] steps = {0};
            Tensor out;
            try (Scope scope = Scope.open()) {
                out = sampler.sample(model, xT, null, new Rng(3), Sampler.Listener.progress((d, n) -> {
                    live.add(Backends.cpu().memoryStats().liveBytes());
                    steps[0] = d;
                    assertEquals(sampler.steps(), n);
                }));
                assertEquals(1, scope.size(), "only the result is left in the caller's scope");
            }
            assertTrue(out.isReleased());
            assertEquals(sampler.steps(), steps[0]);
            long first = live.get(1);
            for (int k = 1; k < live.size(); k++) assertEquals(first, live.get(k), sampler + ": live bytes at step " + k);
            xT.release();
        }
    }

    @Test void guidanceCombinesConditionalAndUnconditional() {
        // a toy conditional model: ε = x·(1 + label/10) + 0.01·t, with label −1 meaning ∅, null → ∅ as well
        int[] calls = {0};
        EpsModel cond = (x, t, y) -> {
            calls[0]++;
            int n = x.dim(0);
            double[] scale = new double[n], tv = new double[n];
            int[] yy = y == null ? null : y.toInts(), tt = t.toInts();
            for (int i = 0; i < n; i++) {
                scale[i] = 1 + (yy == null || yy[i] < 0 ? 0 : yy[i] / 10.0);
                tv[i] = 0.01 * tt[i];
            }
            return x.mul(Tensor.ofDoubles(x.dtype(), x.device(), scale, n, 1)).add(Tensor.ofDoubles(x.dtype(), x.device(), tv, n, 1));
        };
        Tensor x = Tensor.of(new double[]{1, 2, -1, 0.5, 3, -2}, 3, 2);
        Tensor t = Tensor.ofInts(new int[]{5, 6, 7}, Device.CPU, 3);
        Tensor y = Tensor.ofInts(new int[]{2, 0, 9}, Device.CPU, 3);
        double[] c = cond.predictEps(x, t, y).toDoubles(), u = cond.predictEps(x, t, null).toDoubles();
        calls[0] = 0;
        assertArrayEquals(c, new Guidance(cond, 0.0, -1).predictEps(x, t, y).toDoubles(), 0, "w = 0 is the conditional model");
        assertArrayEquals(c, new Guidance(cond, 0.0).predictEps(x, t, y).toDoubles(), 0);
        assertEquals(2, calls[0]);
        for (double w : new double[]{0.5, 3.0}) {
            double[] expected = new double[c.length];
            for (int i = 0; i < c.length; i++) expected[i] = (1 + w) * c[i] - w * u[i];
            calls[0] = 0;
            assertArrayEquals(expected, new Guidance(cond, w).predictEps(x, t, y).toDoubles(), 1e-12);
            assertEquals(2, calls[0], "null-labels form: two calls");
            calls[0] = 0;
            assertArrayEquals(expected, new Guidance(cond, w, -1).predictEps(x, t, y).toDoubles(), 1e-12);
            assertEquals(1, calls[0], "null-label form: cond and uncond in one batched call");
        }
        assertArrayEquals(u, new Guidance(cond, 2.0, -1).predictEps(x, t, null).toDoubles(), 0, "labels null: unconditional");
        // a learned variance (twice the channels): the mean half is guided, the variance half is the conditional one
        EpsModel twice = (xx, tt, yy) -> { Tensor e = cond.predictEps(xx, tt, yy); return Tensor.concat(1, e, e.mul(3.0)); };
        double[] gv = new Guidance(twice, 0.5, -1).predictEps(x, t, y).toDoubles();
        for (int b = 0; b < 3; b++)
            for (int k = 0; k < 2; k++) {
                assertEquals(1.5 * c[b * 2 + k] - 0.5 * u[b * 2 + k], gv[b * 4 + k], 1e-12);
                assertEquals(3 * c[b * 2 + k], gv[b * 4 + 2 + k], 1e-12);
            }
        // guided sampling runs through the samplers
        GaussianDiffusion g = new GaussianDiffusion(Schedule.linear(50));
        Tensor img = new DdimSampler(g, 10).sample(new Guidance(cond, 1.5, -1), new int[]{3, 2}, Device.CPU,
                Tensor.ofInts(new int[]{1, 2, 3}, Device.CPU, 3), new Rng(1), null);
        assertArrayEquals(new int[]{3, 2}, img.shape());
    }

    /** Mean and variance per step of an affine sampler x' = A x + c + σ z, tracked exactly in double. */
    static double[] exactMoments(GaussianDataModel model, Sampler sampler, GaussianDiffusion g) {
        Schedule s = g.schedule();
        double[][] kc = model.coefficients();
        double mu = 0, var = 1;
        if (sampler instanceof DdpmSampler) {
            double[] sig = s.get(g.sigmaCoef());
            for (int t = s.steps() - 1; t >= 0; t--) {
                double r = s.at(Coef.RECIP_SQRT_ALPHA, t), e = s.at(Coef.EPS_COEF, t);
                double A = r * (1 - e * kc[0][t]), c = -r * e * kc[1][t] * model.m, sg = t > 0 ? sig[t] : 0;
                mu = A * mu + c;
                var = A * A * var + sg * sg;
            }
        } else {
            DdimSampler d = (DdimSampler) sampler;
            int[] tau = d.timesteps();
            for (int i = tau.length - 1; i >= 0; i--) {
                double[] row = d.coefficients(i);
                double K = kc[0][tau[i]], C = kc[1][tau[i]] * model.m;
                // x̂0 = (x − s1(Kx + C))/sa ; x' = sap·x̂0 + dir·(Kx + C) + σz
                double A = row[2] * (1 - row[1] * K) / row[0] + row[3] * K;
                double c = -row[2] * row[1] * C / row[0] + row[3] * C;
                mu = A * mu + c;
                var = A * A * var + row[4] * row[4];
            }
        }
        return new double[]{mu, var};
    }

    /**
     * Samples of the Bayes-optimal ε̂ for x0 ~ N(m, v): (1) every sampler's empirical mean and variance
     * match the exact moments of its own affine recursion within 4 standard errors (n = 4096
     * elements: SE of the mean √(v/n) ≈ 0.0047, of the variance v√(2/n) ≈ 0.0020), which checks the
     * implementation; (2) for the full-length samplers those exact moments are within a stated
     * tolerance of the data's: DDPM σ²=β within 1% in variance, σ²=β̃ within 5% (it is biased low),
     * DDIM η=0 over all 1000 steps within 2%; the mean within 0.001. Few-step DDIM is checked by (1)
     * only: its deterministic map shrinks the variance (by Cauchy–Schwarz each step's gain is at most
     * the exact std ratio), e.g. to 0.076 at S = 50 for v = 0.09.
     */
    @Test void samplesFromTheOptimalModelOfGaussianDataHaveTheDataMoments() {
        double m = 0.1, v = 0.09;
        GaussianDataModel model = new GaussianDataModel(S1000, m, v);
        int n = 256 * 16;
        GaussianDiffusion large = new GaussianDiffusion(S1000, MeanType.EPSILON, VarianceType.FIXED_LARGE);
        GaussianDiffusion small = new GaussianDiffusion(S1000, MeanType.EPSILON, VarianceType.FIXED_SMALL);
        Object[][] cases = {
                {large, new DdpmSampler(large, false), 0.01},
                {large, new DdpmSampler(large, true), 0.01},
                {small, new DdpmSampler(small, false), 0.05},
                {large, new DdimSampler(large, 1000, 0.0, Spacing.UNIFORM, false), 0.02},
                {large, new DdimSampler(large, 50, 0.0, Spacing.UNIFORM, false), -1.0},
                {large, new DdimSampler(large, 100, 0.0, Spacing.QUADRATIC, true), -1.0},
                {large, new DdimSampler(large, 20, 1.0, Spacing.UNIFORM, false), -1.0},
        };
        double seMean = Math.sqrt(v / n), seVar = v * Math.sqrt(2.0 / (n - 1));
        for (Object[] c : cases) {
            GaussianDiffusion g = (GaussianDiffusion) c[0];
            Sampler sampler = (Sampler) c[1];
            double tol = (double) c[2];
            double[] x = sampler.sample(model, new int[]{256, 1, 4, 4}, Device.CPU, null, new Rng(42), null).toDoubles();
            double mean = 0, sq = 0;
            for (double xi : x) mean += xi;
            mean /= n;
            for (double xi : x) sq += (xi - mean) * (xi - mean);
            double var = sq / (n - 1);
            double[] exact = exactMoments(model, sampler, g);
            System.out.printf("%s: mean %.5f (exact %.5f, data %.2f)  var %.5f (exact %.5f, data %.2f)%n",
                    sampler, mean, exact[0], m, var, exact[1], v);
            // x̂0 clipping is not in the affine recursion; it changes almost nothing for this data (allow 1%)
            double clipSlack = sampler.toString().contains("clip=true") ? 0.01 * v : 0;
            assertEquals(exact[0], mean, 4 * seMean, sampler + " mean vs its exact recursion");
            assertEquals(exact[1], var, 4 * seVar + clipSlack, sampler + " variance vs its exact recursion");
            if (tol > 0) {
                assertEquals(m, exact[0], 1e-3, sampler + " exact mean vs data");
                assertEquals(v, exact[1], tol * v, sampler + " exact variance vs data");
                assertEquals(m, mean, 4 * seMean, sampler + " sample mean vs data");
                assertEquals(v, var, 4 * seVar + tol * v, sampler + " sample variance vs data");
            }
        }
    }
}
