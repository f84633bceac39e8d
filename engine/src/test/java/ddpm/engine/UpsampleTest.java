package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Nearest-neighbour 2× upsampling. */
class UpsampleTest {
    private final Random r = new Random(12);

    @Test void forwardAndGradients() {
        int[] xs = {2, 3, 3, 5}, os = {2, 3, 6, 10};
        double[] x = roundToFloat(normal(r, 90)), e = new double[360];
        for (int p = 0; p < 6; p++)
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 10; j++) e[(p * 6 + i) * 10 + j] = x[(p * 3 + i / 2) * 5 + j / 2];
        try (Scope s = Scope.open()) {
            Tensor y = F.upsampleNearest2x(f64(x, xs));
            assertTensor("upsample", e, os, y, 0, 0);
            assertF32MatchesF64("upsample", y, F.upsampleNearest2x(f32(x, xs)), 0);
            // the backward sums each 2×2 block
            Tensor xt = f64(x, xs).requiresGrad(true);
            double[] g = normal(r, 360), ge = new double[90];
            for (int p = 0; p < 6; p++)
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 10; j++) ge[(p * 3 + i / 2) * 5 + j / 2] += g[(p * 6 + i) * 10 + j];
            F.upsampleNearest2x(xt).backward(f64(g, os));
            assertTensor("upsample backward", ge, xs, xt.grad(), 1e-15, 1e-15);
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> F.upsampleNearest2x(randn64(r, 3, 4, 5)));
            assertTrue(ex.getMessage().contains("[3, 4, 5]"), ex.getMessage());
        }
        GradCheck.check("upsample", in -> F.upsampleNearest2x(in[0]), f64(x, xs));
    }
}
