package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** The flat-buffer optimiser primitives: Adam/AdamW and EMA. */
class AdamEmaTest {
    private final Random r = new Random(55);

    @Test void adamMatchesThePaperAlgorithm() {
        int n = 37;
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        for (boolean decoupled : new boolean[]{false, true})
            for (double wd : new double[]{0, 0.1})
                for (double gs : new double[]{1, 0.5}) {
                    String name = "adam decoupled=" + decoupled + " wd=" + wd + " gradScale=" + gs;
                    double[] p = roundToFloat(normal(r, n)), m = new double[n], v = new double[n];
                    double[] p0 = p.clone();
                    double[][] grads = new double[3][];
                    for (int s = 0; s < 3; s++) grads[s] = roundToFloat(normal(r, n));
                    // independent: three steps
                    for (int s = 1; s <= 3; s++)
                        for (int i = 0; i < n; i++) {
                            double g = grads[s - 1][i] * gs;
                            if (!decoupled) g += wd * p[i];
                            m[i] = b1 * m[i] + (1 - b1) * g;
                            v[i] = b2 * v[i] + (1 - b2) * g * g;
                            double mh = m[i] / (1 - Math.pow(b1, s)), vh = v[i] / (1 - Math.pow(b2, s));
                            p[i] -= lr * mh / (Math.sqrt(vh) + eps) + (decoupled ? lr * wd * p[i] : 0);
                        }
                    try (Scope sc = Scope.open()) {
                        Tensor[] res = new Tensor[2];
                        for (DType dt : new DType[]{DType.F64, DType.F32}) {
                            Tensor pt = Tensor.ofDoubles(dt, Device.CPU, p0, n), mt = Tensor.zeros(dt, Device.CPU, n), vt = Tensor.zeros(dt, Device.CPU, n);
                            for (int s = 1; s <= 3; s++)
                                FusedOps.of(Backends.cpu()).adam(pt, Tensor.ofDoubles(dt, Device.CPU, grads[s - 1], n), mt, vt, lr, b1, b2, eps, wd, decoupled, s, gs);
                            if (dt == DType.F64) {
                                assertTensor(name + " params", p, new int[]{n}, pt, 1e-13, 1e-15);
                                assertTensor(name + " m", m, new int[]{n}, mt, 1e-13, 1e-15);
                                assertTensor(name + " v", v, new int[]{n}, vt, 1e-13, 1e-17);
                            }
                            res[dt == DType.F64 ? 0 : 1] = pt;
                        }
                        // float32 m/v carry the same update to ~1e-6 of the step; compare the parameters
                        assertF32MatchesF64(name, res[0], res[1], 1e-5);
                    }
                }
    }

    @Test void adamOnAView() {
        // optimisers run over flat buffers: the parameter may start at a non-zero offset
        try (Scope sc = Scope.open()) {
            Tensor flat = f64(new double[]{1, 2, 3, 4}, 4), g = f64(new double[]{9, 1, 1, 9}, 4);
            Tensor m = Tensor.zeros(DType.F64, Device.CPU, 4), v = Tensor.zeros(DType.F64, Device.CPU, 4);
            FusedOps.of(Backends.cpu()).adam(flat.flatView(1, 2), g.flatView(1, 2), m.flatView(1, 2), v.flatView(1, 2), 0.1, 0.9, 0.999, 0, 0, true, 1, 1);
            double[] p = flat.toDoubles();
            assertEquals(1, p[0]);
            assertEquals(4, p[3]);
            assertEquals(1.9, p[1], 1e-12);   // first step moves by lr·sign(g)
            assertEquals(2.9, p[2], 1e-12);
        }
    }

    @Test void ema() {
        int n = 23;
        double decay = 0.99;
        double[] e = roundToFloat(normal(r, n)), p = roundToFloat(normal(r, n)), want = new double[n];
        for (int i = 0; i < n; i++) want[i] = decay * e[i] + (1 - decay) * p[i];
        try (Scope sc = Scope.open()) {
            Tensor e64 = f64(e, n), e32 = f32(e, n);
            FusedOps.of(Backends.cpu()).ema(e64, f64(p, n), decay);
            FusedOps.of(Backends.cpu()).ema(e32, f32(p, n), decay);
            assertTensor("ema", want, new int[]{n}, e64, 1e-15, 1e-15);
            assertF32MatchesF64("ema", e64, e32, 1e-6);
        }
    }
}
