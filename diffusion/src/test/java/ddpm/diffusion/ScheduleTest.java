package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Every schedule coefficient against an independent double-precision computation from its definition. */
class ScheduleTest {

    static void close(double expected, double actual, double relTol, String what) {
        double tol = relTol * Math.max(1e-300, Math.abs(expected));
        assertTrue(Math.abs(expected - actual) <= tol, what + ": expected " + expected + ", got " + actual);
    }

    @Test void linearEndpointsAndRescaling() {
        Schedule s = Schedule.linear(1000);
        assertEquals(1000, s.steps());
        assertEquals(1e-4, s.at(Coef.BETA, 0), 1e-18);
        assertEquals(0.02, s.at(Coef.BETA, 999), 1e-17);
        // uniform spacing: (0.02 − 1e-4)/999 per step
        for (int t = 1; t < 1000; t++)
            assertEquals((0.02 - 1e-4) / 999, s.at(Coef.BETA, t) - s.at(Coef.BETA, t - 1), 1e-15);
        // improved-DDPM rescaling for other T: both ends times 1000/T
        Schedule s250 = Schedule.linear(250);
        assertEquals(4e-4, s250.at(Coef.BETA, 0), 1e-17);
        assertEquals(0.08, s250.at(Coef.BETA, 249), 1e-16);
        Schedule s4000 = Schedule.linear(4000);
        assertEquals(0.25e-4, s4000.at(Coef.BETA, 0), 1e-18);
        assertEquals(0.005, s4000.at(Coef.BETA, 3999), 1e-17);
        // Ho et al.: ᾱ_T ≈ 4.04e-5 for the T = 1000 linear schedule (L_T ≈ 1e-5 bits/dim territory)
        double logAbar = 0;
        for (int t = 0; t < 1000; t++) logAbar += Math.log1p(-(1e-4 + (0.02 - 1e-4) * t / 999.0));
        close(Math.exp(logAbar), s.at(Coef.ALPHA_BAR, 999), 1e-10, "alpha_bar_T");
        assertEquals(4.036e-5, s.at(Coef.ALPHA_BAR, 999), 0.01e-5);
    }

    @Test void cosineMatchesClosedFormAlphaBar() {
        int T = 1000;
        Schedule s = Schedule.cosine(T);
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        int clipped = 0;
        for (int t = 0; t < T; t++) {
            double beta = s.at(Coef.BETA, t);
            assertTrue(beta > 0 && beta <= 0.999);
            if (beta == 0.999) { clipped++; continue; }
            if (clipped > 0) continue;
            // without clipping, ᾱ_t = f((t+1)/T)/f(0) exactly (the product telescopes)
            double f = Math.pow(Math.cos(((t + 1.0) / T + 0.008) / 1.008 * Math.PI / 2), 2);
            close(f / f0, s.at(Coef.ALPHA_BAR, t), 1e-9, "cosine alpha_bar[" + t + "]");
        }
        assertEquals(1, clipped, "only the last beta reaches the 0.999 clip at T=1000");
        assertEquals(0.999, s.at(Coef.BETA, T - 1));
    }

    @Test void derivedCoefficientsFromDefinitions() {
        for (Schedule s : new Schedule[]{Schedule.linear(1000), Schedule.cosine(100), Schedule.linear(40)}) {
            int T = s.steps();
            double[] b = s.betas();
            double prod = 1;
            for (int t = 0; t < T; t++) {
                double a = 1 - b[t], abPrev = prod;
                prod *= a;
                double ab = prod;
                String at = s + " t=" + t;
                close(a, s.at(Coef.ALPHA, t), 1e-15, "alpha " + at);
                close(ab, s.at(Coef.ALPHA_BAR, t), 1e-12, "alpha_bar " + at);
                close(abPrev, s.at(Coef.ALPHA_BAR_PREV, t), 1e-12, "alpha_bar_prev " + at);
                close(Math.sqrt(ab), s.at(Coef.SQRT_ALPHA_BAR, t), 1e-12, "sqrt ab " + at);
                close(Math.sqrt(1 - ab), s.at(Coef.SQRT_ONE_MINUS_ALPHA_BAR, t), 1e-12, "sqrt 1-ab " + at);
                close(Math.log(1 - ab), s.at(Coef.LOG_ONE_MINUS_ALPHA_BAR, t), 1e-10, "log 1-ab " + at);
                close(1 / Math.sqrt(ab), s.at(Coef.SQRT_RECIP_ALPHA_BAR, t), 1e-12, "1/sqrt ab " + at);
                close(Math.sqrt(1 / ab - 1), s.at(Coef.SQRT_RECIPM1_ALPHA_BAR, t), 1e-10, "sqrt(1/ab-1) " + at);
                close(1 / Math.sqrt(a), s.at(Coef.RECIP_SQRT_ALPHA, t), 1e-14, "1/sqrt a " + at);
                close(b[t] / Math.sqrt(1 - ab), s.at(Coef.EPS_COEF, t), 1e-12, "eps coef " + at);
                double pv = b[t] * (1 - abPrev) / (1 - ab);
                close(pv, s.at(Coef.POSTERIOR_VARIANCE, t), 1e-10, "posterior var " + at);
                close(b[t] * Math.sqrt(abPrev) / (1 - ab), s.at(Coef.POSTERIOR_MEAN_COEF1, t), 1e-10, "coef1 " + at);
                close((1 - abPrev) * Math.sqrt(a) / (1 - ab), s.at(Coef.POSTERIOR_MEAN_COEF2, t), 1e-10, "coef2 " + at);
                double pv1 = b[1] * (1 - (1 - b[0])) / (1 - (1 - b[0]) * (1 - b[1]));
                close(Math.log(t == 0 ? pv1 : pv), s.at(Coef.POSTERIOR_LOG_VARIANCE_CLIPPED, t), 1e-10, "log pv clipped " + at);
                close(b[t], s.at(Coef.VARIANCE_LARGE, t), 1e-15, "var large " + at);
                close(Math.log(t == 0 ? pv1 : b[t]), s.at(Coef.LOG_VARIANCE_LARGE, t), 1e-12, "log var large " + at);
                if (t >= 1) {
                    close(Math.sqrt(b[t]), s.at(Coef.SIGMA_LARGE, t), 1e-12, "sigma large " + at);
                    close(Math.sqrt(pv), s.at(Coef.SIGMA_SMALL, t), 1e-10, "sigma small " + at);
                    // the posterior of q(x_{t-1}|x0) q(x_t|x_{t-1}) by completing the square: precision
                    // 1/(1−ᾱ_{t−1}) + α/β, mean = var·(√ᾱ_{t−1}·x0/(1−ᾱ_{t−1}) + √α·x_t/β)
                    double var = 1 / (1 / (1 - abPrev) + a / b[t]);
                    close(var, pv, 1e-9, "posterior variance by completing the square " + at);
                    close(var * Math.sqrt(abPrev) / (1 - abPrev), s.at(Coef.POSTERIOR_MEAN_COEF1, t), 1e-9, "coef1 by Bayes " + at);
                    close(var * Math.sqrt(a) / b[t], s.at(Coef.POSTERIOR_MEAN_COEF2, t), 1e-9, "coef2 by Bayes " + at);
                }
                // x̂0 and ε from x̂0 invert q_sample: x_t = √ab x0 + √(1−ab) ε
                double x0 = 0.3, eps = -1.2, xt = Math.sqrt(ab) * x0 + Math.sqrt(1 - ab) * eps;
                close(x0, s.at(Coef.SQRT_RECIP_ALPHA_BAR, t) * xt + s.at(Coef.NEG_SQRT_RECIPM1_ALPHA_BAR, t) * eps, 1e-8, "x0 from eps " + at);
                close(eps, s.at(Coef.EPS_FROM_X0_XT, t) * xt + s.at(Coef.EPS_FROM_X0_X0, t) * x0, 1e-6, "eps from x0 " + at);
            }
            assertEquals(0.0, s.at(Coef.POSTERIOR_VARIANCE, 0));
            assertEquals(1.0, s.at(Coef.ALPHA_BAR_PREV, 0));
        }
    }

    @Test void tablesAreFloatCopiesCachedAndOutliveScopes() {
        Schedule s = Schedule.linear(50);
        Tensor t32;
        try (Scope scope = Scope.open()) {
            t32 = s.table(Coef.POSTERIOR_MEAN_COEF2, Device.CPU);
        }
        assertFalse(t32.isReleased(), "a table made inside a scope must not be released with it");
        assertSame(t32, s.table(Coef.POSTERIOR_MEAN_COEF2, DType.F32, Device.CPU));
        assertEquals(DType.F32, t32.dtype());
        assertArrayEquals(new int[]{50}, t32.shape());
        float[] f = t32.toFloats();
        double[] d = s.get(Coef.POSTERIOR_MEAN_COEF2);
        for (int t = 0; t < 50; t++) assertEquals((float) d[t], f[t]);
        Tensor t64 = s.table(Coef.POSTERIOR_MEAN_COEF2, DType.F64, Device.CPU);
        assertNotSame(t32, t64);
        assertArrayEquals(d, t64.toDoubles());
        s.releaseTables();
        assertTrue(t32.isReleased());
        assertFalse(s.table(Coef.POSTERIOR_MEAN_COEF2, Device.CPU).isReleased());
        assertThrows(IllegalArgumentException.class, () -> Schedule.fromBetas(new double[]{0.1, 1.0}));
        assertThrows(IllegalArgumentException.class, () -> Schedule.linear(10), "rescaled betas reach 2 at T=10");
        assertEquals(Schedule.linear(1000), Schedule.named("linear", 1000));
    }
}
