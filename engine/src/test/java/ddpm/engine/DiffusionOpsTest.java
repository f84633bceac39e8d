package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** The fused diffusion ops: qSample, posteriorStep, ddimStep. */
class DiffusionOpsTest {
    private static final int[] SHAPE = {3, 2, 5};
    private static final int PER = 10, T = 6;
    private static final int[] STEPS = {5, 0, 3};
    private final Random r = new Random(100);

    private Tensor steps() { return Tensor.ofInts(STEPS, Device.CPU, 3); }

    @Test void qSample() {
        double[] x0 = roundToFloat(normal(r, 30)), eps = roundToFloat(normal(r, 30));
        double[] a = roundToFloat(uniform(r, T, 0.1, 1)), s = roundToFloat(uniform(r, T, 0.1, 1));
        double[] e = new double[30];
        for (int b = 0; b < 3; b++)
            for (int k = 0; k < PER; k++) e[b * PER + k] = a[STEPS[b]] * x0[b * PER + k] + s[STEPS[b]] * eps[b * PER + k];
        try (Scope sc = Scope.open()) {
            Tensor y = F.qSample(f64(x0, SHAPE), f64(eps, SHAPE), steps(), f64(a, T), f64(s, T));
            assertTensor("qSample", e, SHAPE, y, 1e-15, 1e-15);
            assertF32MatchesF64("qSample", y, F.qSample(f32(x0, SHAPE), f32(eps, SHAPE), steps(), f32(a, T), f32(s, T)), 1e-6);
        }
        GradCheck.of("qSample", in -> F.qSample(in[0], in[1], in[2], in[3], in[4])).skip(3).skip(4)
                .check(f64(x0, SHAPE), f64(eps, SHAPE), steps(), f64(a, T), f64(s, T));
        GradCheck.of("qSample, constant noise", in -> F.qSample(in[0], in[1], in[2], in[3], in[4])).skip(1).skip(3).skip(4)
                .check(f64(x0, SHAPE), f64(eps, SHAPE), steps(), f64(a, T), f64(s, T));
    }

    @Test void posteriorStep() {
        double[] xt = roundToFloat(normal(r, 30)), eh = roundToFloat(normal(r, 30)), z = roundToFloat(normal(r, 30));
        double[] c1 = roundToFloat(uniform(r, T, 0.5, 1.5)), c2 = roundToFloat(uniform(r, T, 0, 0.5)), sg = roundToFloat(uniform(r, T, 0, 0.3));
        for (boolean noise : new boolean[]{true, false}) {
            double[] e = new double[30];
            for (int b = 0; b < 3; b++)
                for (int k = 0; k < PER; k++) {
                    int i = b * PER + k, t = STEPS[b];
                    e[i] = c1[t] * (xt[i] - c2[t] * eh[i]) + (noise ? sg[t] * z[i] : 0);
                }
            try (Scope sc = Scope.open()) {
                Tensor y = F.posteriorStep(f64(xt, SHAPE), f64(eh, SHAPE), noise ? f64(z, SHAPE) : null, steps(), f64(c1, T), f64(c2, T), f64(sg, T));
                assertTensor("posteriorStep noise=" + noise, e, SHAPE, y, 1e-15, 1e-15);
                Tensor y32 = F.posteriorStep(f32(xt, SHAPE), f32(eh, SHAPE), noise ? f32(z, SHAPE) : null, steps(), f32(c1, T), f32(c2, T), f32(sg, T));
                assertF32MatchesF64("posteriorStep", y, y32, 1e-6);
            }
        }
    }

    @Test void ddimStep() {
        double[] xt = roundToFloat(normal(r, 30)), eh = roundToFloat(normal(r, 30)), z = roundToFloat(normal(r, 30));
        int S = 4;
        double[] coefs = new double[S * 5];
        for (int i = 0; i < S; i++) {
            double ab = 0.2 + 0.15 * i, abPrev = ab + 0.1, sigma = 0.05 * i;
            coefs[i * 5] = Math.sqrt(ab);
            coefs[i * 5 + 1] = Math.sqrt(1 - ab);
            coefs[i * 5 + 2] = Math.sqrt(abPrev);
            coefs[i * 5 + 3] = Math.sqrt(1 - abPrev - sigma * sigma);
            coefs[i * 5 + 4] = sigma;
        }
        coefs = roundToFloat(coefs);
        int[] idx = {3, 0, 2};
        for (double clip : new double[]{0, 1})
            for (boolean noise : new boolean[]{true, false}) {
                double[] e = new double[30];
                int clipped = 0;
                for (int b = 0; b < 3; b++)
                    for (int k = 0; k < PER; k++) {
                        int i = b * PER + k, row = idx[b] * 5;
                        double x0 = (xt[i] - coefs[row + 1] * eh[i]) / coefs[row], ep = eh[i];
                        if (clip > 0 && Math.abs(x0) > clip) {
                            // clipped: ε is re-derived from the clipped x̂0
                            x0 = Math.max(-clip, Math.min(clip, x0));
                            ep = (xt[i] - coefs[row] * x0) / coefs[row + 1];
                            clipped++;
                        }
                        e[i] = coefs[row + 2] * x0 + coefs[row + 3] * ep + (noise ? coefs[row + 4] * z[i] : 0);
                    }
                if (clip > 0) assertTrue(clipped >= 5, "the inputs exercise clipping: " + clipped + " of 30 clipped");
                String name = "ddimStep clip=" + clip + " noise=" + noise;
                try (Scope sc = Scope.open()) {
                    Tensor ix = Tensor.ofInts(idx, Device.CPU, 3);
                    Tensor y = F.ddimStep(f64(xt, SHAPE), f64(eh, SHAPE), noise ? f64(z, SHAPE) : null, ix, f64(coefs, S, 5), clip);
                    assertTensor(name, e, SHAPE, y, 1e-14, 1e-14);
                    Tensor y32 = F.ddimStep(f32(xt, SHAPE), f32(eh, SHAPE), noise ? f32(z, SHAPE) : null, ix, f32(coefs, S, 5), clip);
                    assertF32MatchesF64(name, y, y32, 1e-5);
                }
            }
    }

    @Test void stepsOutOfRangeAreErrorsEvenForTableViews() {
        try (Scope sc = Scope.open()) {
            Tensor x = randn64(r, SHAPE);
            // the tables are views into one flat buffer: a bad step must not read the neighbouring table
            Tensor buf = f64(uniform(r, 2 * T, 0, 1), 2 * T);
            Tensor a = buf.flatView(0, T), s = buf.flatView(T, T);
            Tensor bad = Tensor.ofInts(new int[]{1, T, 2}, Device.CPU, 3);
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> F.qSample(x, x, bad, a, a));
            assertTrue(e.getMessage().contains("qSample") && e.getMessage().contains("timestep " + T)
                    && e.getMessage().contains("[0, " + T + ")"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> F.posteriorStep(x, x, null, bad, a, a, s));
            Tensor neg = Tensor.ofInts(new int[]{1, -1, 2}, Device.CPU, 3);
            assertThrows(IndexOutOfBoundsException.class, () -> F.qSample(x, x, neg, a, s));
            Tensor coefBuf = f64(uniform(r, 15, 0.1, 1), 15);
            Tensor coefs = coefBuf.flatView(0, 2, 5);
            Tensor idx = Tensor.ofInts(new int[]{0, 2, 1}, Device.CPU, 3);
            e = assertThrows(IndexOutOfBoundsException.class, () -> F.ddimStep(x, x, null, idx, coefs, 0));
            assertTrue(e.getMessage().contains("ddimStep") && e.getMessage().contains("2") && e.getMessage().contains("[0, 2)"), e.getMessage());
        }
    }

    @Test void validation() {
        try (Scope sc = Scope.open()) {
            Tensor x = randn64(r, SHAPE), a = randn64(r, T);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> F.qSample(x, randn64(r, 3, 10), steps(), a, a));
            assertTrue(e.getMessage().contains("[3, 2, 5]") && e.getMessage().contains("[3, 10]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.qSample(x, x, Tensor.ofInts(new int[]{1, 2}, Device.CPU, 2), a, a));
            assertTrue(e.getMessage().contains("i32[2]") && e.getMessage().contains("3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.qSample(x, x, randn64(r, 3), a, a));
            assertTrue(e.getMessage().contains("f64[3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.qSample(x, x, steps(), randn64(r, T, 1), a));
            assertTrue(e.getMessage().contains("[6, 1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.ddimStep(x, x, null, steps(), randn64(r, 6, 4), 0));
            assertTrue(e.getMessage().contains("[6, 4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.qSample(x, x, steps(), toF32(a), toF32(a)));
            assertTrue(e.getMessage().contains("f32") && e.getMessage().contains("f64"), e.getMessage());
        }
    }
}
