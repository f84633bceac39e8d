package ddpm.diffusion;

import ddpm.diffusion.GaussianDiffusion.LossType;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The bound's building blocks against closed forms and numeric integration; gradients against finite differences. */
class LossesTest {

    static Tensor d(double... v) { return Tensor.of(v, v.length); }

    static double simpson(java.util.function.DoubleUnaryOperator f, double lo, double hi, int n) {
        double h = (hi - lo) / n, s = f.applyAsDouble(lo) + f.applyAsDouble(hi);
        for (int i = 1; i < n; i++) s += (i % 2 == 1 ? 4 : 2) * f.applyAsDouble(lo + i * h);
        return s * h / 3;
    }

    @Test void normalKlIsZeroForEqualGaussiansAndMatchesNumericIntegration() {
        double[] m1 = {0, 0.5, -1.3, 2.0, 0.1}, lv1 = {0, -2.0, 1.0, -7.0, -9.2};
        double[] m2 = {0, 0.4, 0.7, 2.1, 0.1}, lv2 = {0, -1.5, 0.2, -6.5, -9.2};
        double[] kl = Losses.normalKl(d(m1), d(lv1), d(m2), d(lv2)).toDoubles();
        double[] same = Losses.normalKl(d(m1), d(lv1), d(m1), d(lv1)).toDoubles();
        for (int i = 0; i < m1.length; i++) {
            assertEquals(0.0, same[i], 1e-15, "KL(p||p)");
            double s1 = Math.exp(0.5 * lv1[i]), s2 = Math.exp(0.5 * lv2[i]);
            final int k = i;
            double numeric = simpson(x -> {
                double lp = -0.5 * Math.log(2 * Math.PI) - Math.log(s1) - 0.5 * Math.pow((x - m1[k]) / s1, 2);
                double lq = -0.5 * Math.log(2 * Math.PI) - Math.log(s2) - 0.5 * Math.pow((x - m2[k]) / s2, 2);
                return Math.exp(lp) * (lp - lq);
            }, m1[i] - 14 * s1, m1[i] + 14 * s1, 20000);
            assertEquals(numeric, kl[i], 1e-9 * Math.max(1, numeric), "KL vs numeric integration, case " + i);
            assertTrue(kl[i] >= 0);
        }
        // the last case has equal variances: KL = (m1−m2)²/(2σ²) = 0
        assertEquals(0.0, kl[4], 1e-15);
    }

    @Test void approxCdfIsWithin2e4OfTheNormalCdf() {
        double[] xs = new double[121];
        for (int i = 0; i < xs.length; i++) xs[i] = -6 + 0.1 * i;
        double[] got = Losses.approxStandardNormalCdf(d(xs)).toDoubles();
        for (int i = 0; i < xs.length; i++) {
            double x = xs[i];
            double phi = 0.5 + simpson(u -> Math.exp(-u * u / 2) / Math.sqrt(2 * Math.PI), 0, x, 2000) ;
            assertEquals(phi, got[i], 2e-4, "CDF at " + x);
            assertEquals(Losses.approxStandardNormalCdf(x), got[i], 1e-15);
        }
    }

    @Test void discretizedDecoderSumsToOneOverAll256BinsAndMatchesCdfDifferences() {
        double[] grid = new double[256];
        for (int k = 0; k < 256; k++) grid[k] = 2.0 * k / 255 - 1;
        double[][] cases = {{0.0, Math.log(0.01)}, {0.3, Math.log(0.2)}, {-0.99, Math.log(0.005)}, {1.0, Math.log(0.05)}, {0.5, Math.log(2.0)}};
        for (double[] c : cases) {
            Tensor x = d(grid);
            double[] logp = Losses.discretizedGaussianLogLikelihood(x, x.scalarLike(c[0]), x.scalarLike(c[1])).toDoubles();
            double sum = 0;
            for (int k = 0; k < 256; k++) {
                double p = Math.exp(logp[k]);
                sum += p;
                double s = Math.exp(c[1]);
                double lo = k == 0 ? 0 : Losses.approxStandardNormalCdf((grid[k] - 1.0 / 255 - c[0]) / s);
                double hi = k == 255 ? 1 : Losses.approxStandardNormalCdf((grid[k] + 1.0 / 255 - c[0]) / s);
                double expected = Math.log(Math.max(hi - lo, 1e-12));
                assertEquals(expected, logp[k], 1e-9 * Math.max(1, Math.abs(expected)), "bin " + k + " of " + java.util.Arrays.toString(c));
            }
            assertEquals(1.0, sum, 1e-9, "bin probabilities sum to 1 for mean " + c[0] + ", scale " + Math.exp(c[1]));
        }
        // a narrow Gaussian centred on a bin puts ≈ all mass there: P = 2Φ((1/255)/σ) − 1
        Tensor x = d(0.2 * 255 / 255);
        double sigma = 1e-3, p = Math.exp(Losses.discretizedGaussianLogLikelihood(x, x, x.scalarLike(Math.log(sigma))).item());
        assertEquals(2 * Losses.approxStandardNormalCdf(1.0 / 255 / sigma) - 1, p, 1e-12);
        assertTrue(p > 0.9999);
        // far outside: floored at 1e-12
        Tensor far = d(0.0);
        assertEquals(Math.log(1e-12), Losses.discretizedGaussianLogLikelihood(far, far.scalarLike(0.9), far.scalarLike(Math.log(1e-3))).item(), 1e-9);
    }

    @Test void meanFlatAveragesAllButTheBatch() {
        Tensor x = Tensor.of(new double[]{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2);
        assertArrayEquals(new double[]{2.5, 6.5}, Losses.meanFlat(x).toDoubles(), 1e-15);
    }

    /** Loss as a function of the model's mean parameter, for finite differences. */
    static double loss(GaussianDiffusion diff, Tensor x0, Tensor t, Tensor noise, LossType type, double mean) {
        GaussianDataModel m = new GaussianDataModel(diff.schedule(), 0, 0.04);
        m.meanParam = GaussianDataModel.param(mean);
        return diff.trainingTerms(m, x0, t, null, noise, type, 0.5).loss().item();
    }

    @Test void lossesBackpropagateExactly() {
        Schedule s = Schedule.linear(100);
        for (GaussianDiffusion diff : new GaussianDiffusion[]{new GaussianDiffusion(s),
                new GaussianDiffusion(s, GaussianDiffusion.MeanType.START_X, GaussianDiffusion.VarianceType.FIXED_SMALL)}) {
            Rng rng = new Rng(7);
            int B = 4;
            Tensor x0 = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 4, 4).mul(0.2).clamp(-1, 1);
            double[] q = x0.toDoubles();
            for (int i = 0; i < q.length; i++) q[i] = Math.round((q[i] + 1) * 127.5) / 127.5 - 1;   // 8-bit grid
            x0 = Tensor.of(q, B, 1, 4, 4);
            Tensor t = Tensor.ofInts(new int[]{0, 1, 37, 99}, Device.CPU, B);   // includes the decoder term
            Tensor noise = Tensor.randn(rng, DType.F64, Device.CPU, B, 1, 4, 4);
            for (LossType type : LossType.values()) {
                GaussianDataModel m = new GaussianDataModel(s, 0, 0.04, diff.meanType() == GaussianDiffusion.MeanType.START_X);
                double mu = 0.05;
                m.meanParam = GaussianDataModel.param(mu);
                Tensor l = diff.trainingTerms(m, x0, t, null, noise, type, 0.5).loss();
                l.backward();
                double analytic = m.meanParam.grad().item();
                double h = 1e-5;
                GaussianDataModel mp = new GaussianDataModel(s, 0, 0.04, m.predictX0), mm = new GaussianDataModel(s, 0, 0.04, m.predictX0);
                mp.meanParam = GaussianDataModel.param(mu + h);
                mm.meanParam = GaussianDataModel.param(mu - h);
                double numeric = (diff.trainingTerms(mp, x0, t, null, noise, type, 0.5).loss().item()
                        - diff.trainingTerms(mm, x0, t, null, noise, type, 0.5).loss().item()) / (2 * h);
                assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)), diff + " " + type + " gradient");
                assertNotEquals(0.0, analytic);
            }
        }
    }

    @Test void simpleLossIsMeanSquaredErrorOverAllElements() {
        Schedule s = Schedule.linear(100);
        GaussianDiffusion diff = new GaussianDiffusion(s);
        Tensor x0 = Tensor.of(new double[]{0.1, -0.2, 0.3, 0.4, 0.0, 0.5}, 2, 3);
        Tensor noise = Tensor.of(new double[]{1, -1, 0.5, 0.2, -0.3, 2}, 2, 3);
        Tensor t = Tensor.ofInts(new int[]{3, 50}, Device.CPU, 2);
        EpsModel zero = (x, tt, y) -> x.mul(0.0);
        GaussianDiffusion.TrainingTerms terms = diff.trainingTerms(zero, x0, t, null, noise, LossType.SIMPLE, 0);
        assertEquals((1 + 1 + 0.25 + 0.04 + 0.09 + 4) / 6, terms.loss().item(), 1e-15);
        assertArrayEquals(new double[]{2.25 / 3, 4.13 / 3}, terms.mse().toDoubles(), 1e-15);
    }
}
