package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.AdamW;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import ddpm.nn.optim.LinearWarmup;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Adam/AdamW against hand computation, clipping, EMA, warmup. */
class OptimTest {
    /** A module with two parameter tensors, so the flat buffers hold padding between them. */
    static final class Two extends Module {
        final Parameter a = param("a", Init.constant(0.5), 3), b = param("b", Init.constant(-1), 2, 2);
    }

    static Two two(DType dt) { return new Two().build(Device.CPU, dt, 0); }

    static void setGrads(Two m, double[] ga, double[] gb) {
        m.a.get().grad().copyFrom(ga);
        m.b.get().grad().copyFrom(gb);
    }

    @Test void flatBuffersHoldEveryParameterAligned() {
        try (Two m = two(DType.F32)) {
            assertEquals(7, m.paramCount());
            assertEquals(0, m.a.flatOffset());
            assertEquals(Module.ALIGN, m.b.flatOffset());
            assertEquals(Module.ALIGN + 4, m.flatParams().numel());
            assertSame(m.flatParams().storage(), m.b.get().storage());
            assertSame(m.flatGrads().storage(), m.b.get().grad().storage());
            setGrads(m, new double[]{1, 2, 3}, new double[]{4, 5, 6, 7});
            assertEquals(Math.sqrt(1 + 4 + 9 + 16 + 25 + 36 + 49), GradClip.norm(m.flatGrads()), 1e-5);
            m.zeroGrad();
            assertEquals(0, GradClip.norm(m.flatGrads()));
        }
    }

    /** Two Adam steps on F64 against the formulas, with L2 weight decay, then AdamW. */
    @Test void adamMatchesHandComputation() {
        for (boolean decoupled : new boolean[]{false, true}) {
            try (Two m = two(DType.F64)) {
                double lr = 0.1, wd = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
                Adam opt = decoupled ? new AdamW(m, b1, b2, eps, wd) : new Adam(m, b1, b2, eps, wd);
                double[][] g = {{0.3, -0.2, 1.0, 2, -3, 0.5, 0.25}, {-0.1, 0.4, 0.0, 1, 1, -1, 2}};
                double[] p = {0.5, 0.5, 0.5, -1, -1, -1, -1}, mm = new double[7], vv = new double[7];
                for (int step = 1; step <= 2; step++) {
                    double[] gs = g[step - 1];
                    setGrads(m, java.util.Arrays.copyOfRange(gs, 0, 3), java.util.Arrays.copyOfRange(gs, 3, 7));
                    opt.step(lr, 1.0);
                    for (int i = 0; i < 7; i++) {
                        double gi = gs[i] + (decoupled ? 0 : wd * p[i]);
                        mm[i] = b1 * mm[i] + (1 - b1) * gi;
                        vv[i] = b2 * vv[i] + (1 - b2) * gi * gi;
                        double mh = mm[i] / (1 - Math.pow(b1, step)), vh = vv[i] / (1 - Math.pow(b2, step));
                        p[i] -= lr * (mh / (Math.sqrt(vh) + eps) + (decoupled ? wd * p[i] : 0));
                    }
                }
                assertEquals(2, opt.stepCount());
                double[] got = new double[7];
                System.arraycopy(m.a.get().toDoubles(), 0, got, 0, 3);
                System.arraycopy(m.b.get().toDoubles(), 0, got, 3, 4);
                assertArrayEquals(p, got, 1e-12, "decoupled=" + decoupled);
                // padding between parameters stays exactly zero
                double[] flat = m.flatParams().toDoubles();
                for (int i = 3; i < Module.ALIGN; i++) assertEquals(0.0, flat[i]);
                opt.close();
            }
        }
    }

    @Test void clippingScalesLikeTorchAndIsFreeThroughGradScale() {
        try (Two m = two(DType.F64); Two ref = two(DType.F64)) {
            double[] ga = {3, 0, 0}, gb = {0, 4, 0, 0};   // norm 5
            setGrads(m, ga, gb);
            GradClip.Result r = GradClip.compute(m.flatGrads(), 1.0);
            assertEquals(5.0, r.norm(), 1e-12);
            assertEquals(1.0 / (5.0 + 1e-6), r.scale(), 1e-15);
            assertTrue(r.clipped());
            assertEquals(1.0, GradClip.compute(m.flatGrads(), 10.0).scale());
            assertEquals(1.0, GradClip.compute(m.flatGrads(), 0).scale(), "maxNorm 0 disables clipping");
            // gradScale in Adam == clipping the gradients first
            Adam a = new Adam(m), b = new Adam(ref);
            a.step(0.01, r.scale());
            setGrads(ref, ga, gb);
            GradClip.Result r2 = GradClip.apply(ref.flatGrads(), 1.0);
            assertEquals(1.0, GradClip.norm(ref.flatGrads()), 1e-6);
            assertEquals(r.scale(), r2.scale());
            b.step(0.01, 1.0);
            assertArrayEquals(ref.flatParams().toDoubles(), m.flatParams().toDoubles(), 1e-15);
            a.close(); b.close();
        }
    }

    @Test void emaFollowsTheFormulaAndSwaps() {
        try (Two m = two(DType.F64); Ema ema = new Ema(m, 0.9)) {
            double[] start = m.flatParams().toDoubles();
            assertArrayEquals(start, ema.flat().toDoubles(), 0, "starts as a copy");
            m.a.get().copyFrom(new double[]{1.5, 1.5, 1.5});
            ema.update();
            assertEquals(0.9 * 0.5 + 0.1 * 1.5, ema.flat().toDoubles()[0], 1e-15);
            assertEquals(-1.0, ema.flat().toDoubles()[Module.ALIGN], 1e-15);
            double[] raw = m.flatParams().toDoubles(), avg = ema.flat().toDoubles();
            try (Ema.Swap s = ema.swap()) {
                assertTrue(ema.isSwapped());
                assertArrayEquals(avg, m.flatParams().toDoubles(), 0);
                assertArrayEquals(java.util.Arrays.copyOf(avg, 3), m.a.get().toDoubles(), 0, "parameter views see the EMA weights");
                assertThrows(IllegalStateException.class, ema::update);
                try (Two other = two(DType.F64)) {
                    ema.copyTo(other);
                    assertArrayEquals(avg, other.flatParams().toDoubles(), 0);
                }
            }
            assertFalse(ema.isSwapped());
            assertArrayEquals(raw, m.flatParams().toDoubles(), 0);
            assertArrayEquals(avg, ema.flat().toDoubles(), 0);
        }
    }

    @Test void defaultsAndWarmup() {
        try (Two m = two(DType.F32); Adam a = new Adam(m); AdamW w = new AdamW(m); Ema e = new Ema(m)) {
            assertEquals(0.9, a.beta1);
            assertEquals(0.999, a.beta2);
            assertEquals(1e-8, a.eps);
            assertFalse(a.decoupled());
            assertTrue(w.decoupled());
            assertEquals(0.9999, e.decay);
        }
        LinearWarmup s = new LinearWarmup(2e-4, 5000);
        assertEquals(2e-4 / 5000, s.lr(1), 1e-20);
        assertEquals(1e-4, s.lr(2500), 1e-18);
        assertEquals(2e-4, s.lr(5000));
        assertEquals(2e-4, s.lr(100000));
        assertEquals(1e-3, new LinearWarmup(1e-3, 0).lr(1));
        assertThrows(IllegalArgumentException.class, () -> s.lr(0));
    }
}
