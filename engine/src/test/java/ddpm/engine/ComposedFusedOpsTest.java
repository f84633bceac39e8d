package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The composed fallback of the fused ops (written in core primitives) against the CPU backend's
 * fused kernels: in double precision (the reference) to rounding, and in float32, on odd shapes,
 * with and without noise and clipping; bad timesteps give the same message on both paths.
 */
class ComposedFusedOpsTest {
    private final Random r = new Random(2026_12_02);
    private static final FusedOps FUSED = FusedOps.of(Backends.cpu()), COMPOSED = ComposedFusedOps.INSTANCE;

    @Test void theCpuBackendHasItsOwnAndOthersGetTheFallback() {
        assertSame(Backends.cpu(), FUSED);
        Backend coreOnly = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[]{Backend.class}, (p, m, a) -> { throw new UnsupportedOperationException(); });
        assertSame(COMPOSED, FusedOps.of(coreOnly));
    }

    private Tensor t(DType dt, double[] v, int... shape) { return Tensor.ofDoubles(dt, Device.CPU, v, shape); }

    private static void same(String what, DType dt, Tensor fused, Tensor composed) {
        double tol = dt == DType.F64 ? 1e-13 : 2e-6;
        assertClose(what + " " + dt, fused.toDoubles(), composed.toDoubles(), fused.shape(), tol, tol * maxAbs(fused.toDoubles()));
    }

    @Test void diffusionSteps() {
        int[] shape = {5, 3, 7, 9};
        int n = 5 * 3 * 7 * 9, T = 17;
        int[] steps = {0, 16, 3, 3, 9};
        double[] x = roundToFloat(normal(r, n)), e = roundToFloat(normal(r, n)), z = roundToFloat(normal(r, n));
        double[] a = roundToFloat(uniform(r, T, 0.1, 1)), s = roundToFloat(uniform(r, T, 0, 1)),
                c1 = roundToFloat(uniform(r, T, 1, 1.1)), c2 = roundToFloat(uniform(r, T, 0, 0.1)),
                coefs = roundToFloat(uniform(r, 5 * T, 0.05, 1));
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            try (Scope sc = Scope.open()) {
                Tensor ts = Tensor.ofInts(steps, Device.CPU, 5);
                Tensor o1 = Tensor.empty(dt, Device.CPU, shape), o2 = Tensor.empty(dt, Device.CPU, shape);
                FUSED.qSample(t(dt, x, shape), t(dt, e, shape), ts, t(dt, a, T), t(dt, s, T), o1);
                COMPOSED.qSample(t(dt, x, shape), t(dt, e, shape), ts, t(dt, a, T), t(dt, s, T), o2);
                same("qSample", dt, o1, o2);
                for (boolean noise : new boolean[]{true, false}) {
                    Tensor zn = noise ? t(dt, z, shape) : null;
                    FUSED.posteriorStep(t(dt, x, shape), t(dt, e, shape), zn, ts, t(dt, c1, T), t(dt, c2, T), t(dt, s, T), o1);
                    COMPOSED.posteriorStep(t(dt, x, shape), t(dt, e, shape), zn, ts, t(dt, c1, T), t(dt, c2, T), t(dt, s, T), o2);
                    same("posteriorStep noise=" + noise, dt, o1, o2);
                    for (double clip : new double[]{0, 0.7}) {
                        FUSED.ddimStep(t(dt, x, shape), t(dt, e, shape), zn, ts, t(dt, coefs, T, 5), clip, o1);
                        COMPOSED.ddimStep(t(dt, x, shape), t(dt, e, shape), zn, ts, t(dt, coefs, T, 5), clip, o2);
                        same("ddimStep noise=" + noise + " clip=" + clip, dt, o1, o2);
                    }
                }
                int[] bad = {0, 1, T, 2, 3};
                Tensor tb = Tensor.ofInts(bad, Device.CPU, 5);
                String m1 = assertThrows(IndexOutOfBoundsException.class,
                        () -> FUSED.qSample(t(dt, x, shape), t(dt, e, shape), tb, t(dt, a, T), t(dt, s, T), o1)).getMessage();
                String m2 = assertThrows(IndexOutOfBoundsException.class,
                        () -> COMPOSED.qSample(t(dt, x, shape), t(dt, e, shape), tb, t(dt, a, T), t(dt, s, T), o2)).getMessage();
                assertEquals(m1, m2);
                assertTrue(m1.contains("timestep " + T + " of sample 2"), m1);
            }
        }
    }

    @Test void optimiserUpdates() {
        int n = 4099;
        double[] p = roundToFloat(normal(r, n)), g = roundToFloat(normal(r, n)), m = roundToFloat(normal(r, n)),
                v = roundToFloat(uniform(r, n, 0, 2));
        for (DType dt : new DType[]{DType.F64, DType.F32})
            for (boolean decoupled : new boolean[]{false, true})
                for (double wd : new double[]{0, 0.01}) {
                    try (Scope sc = Scope.open()) {
                        Tensor p1 = t(dt, p, n), m1 = t(dt, m, n), v1 = t(dt, v, n), p2 = t(dt, p, n), m2 = t(dt, m, n), v2 = t(dt, v, n);
                        for (int step = 1; step <= 3; step++) {
                            FUSED.adam(p1, t(dt, g, n), m1, v1, 1e-3, 0.9, 0.999, 1e-8, wd, decoupled, step, 0.5);
                            COMPOSED.adam(p2, t(dt, g, n), m2, v2, 1e-3, 0.9, 0.999, 1e-8, wd, decoupled, step, 0.5);
                        }
                        String what = "adam decoupled=" + decoupled + " wd=" + wd;
                        same(what + " param", dt, p1, p2);
                        same(what + " m", dt, m1, m2);
                        same(what + " v", dt, v1, v2);
                        Tensor e1 = t(dt, m, n), e2 = t(dt, m, n);
                        FUSED.ema(e1, p1, 0.999);
                        COMPOSED.ema(e2, p1, 0.999);
                        same("ema", dt, e1, e2);
                    }
                }
    }

    @Test void theFallbackLeavesNoTemporariesBehind() {
        try (Scope sc = Scope.open()) {
            Tensor p = Tensor.zeros(DType.F32, Device.CPU, 64), g = Tensor.ones(64), m = Tensor.zeros(64), v = Tensor.zeros(64);
            int before = sc.size();
            long live = Backends.cpu().memoryStats().liveBytes();
            COMPOSED.adam(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0, false, 1, 1);
            COMPOSED.ema(m, p, 0.5);
            assertEquals(before, sc.size());
            assertEquals(live, Backends.cpu().memoryStats().liveBytes());
        }
    }
}
