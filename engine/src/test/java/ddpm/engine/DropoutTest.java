package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Inverted dropout: mask values, keep rate, determinism, gradient. */
class DropoutTest {
    @Test void maskAndStatistics() {
        double p = 0.3;
        int n = 40_000;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.full(DType.F64, Device.CPU, 1, n);
            Rng rng = new Rng(8);
            long off = rng.offset();
            double[] y = F.dropout(x, p, rng, true).toDoubles();
            assertEquals(off + Philox.countersFor(n), rng.offset(), "dropout advances the stream by its counters");
            // independently: element i is kept iff its Philox uniform is >= p
            double[] u = new double[n];
            Philox.fillUniform(8, off, u, n);
            int kept = 0;
            for (int i = 0; i < n; i++) {
                double want = u[i] >= p ? 1 / (1 - p) : 0;
                assertEquals(want, y[i], 1e-15, "element " + i);
                if (y[i] != 0) kept++;
            }
            assertEquals(1 - p, kept / (double) n, 5 * Math.sqrt(p * (1 - p) / n), "keep rate");
            // F32 uses the same stream
            float[] y32 = F.dropout(Tensor.full(DType.F32, Device.CPU, 1, n), p, new Rng(8), true).toFloats();
            for (int i = 0; i < n; i++) assertEquals((float) y[i], y32[i], 1e-6, "F32 element " + i);
        }
    }

    @Test void identityWhenNotTraining() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(new Random(1), 3, 5);
            assertSame(x, F.dropout(x, 0.5, new Rng(1), false));
            assertSame(x, F.dropout(x, 0, new Rng(1), true));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> F.dropout(x, 1, new Rng(1), true));
            assertTrue(e.getMessage().contains("1.0"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> F.dropout(x, -0.1, new Rng(1), true));
            assertThrows(IllegalArgumentException.class, () -> F.dropout(x, Double.NaN, new Rng(1), true));
        }
    }

    @Test void gradientIsTheMask() {
        // the same (seed, offset) each call makes the function deterministic
        GradCheck.check("dropout", in -> F.dropout(in[0], 0.4, new Rng(3), true), randn64(new Random(4), 3, 5, 7));
    }
}
