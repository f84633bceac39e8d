package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Mean squared error. */
class MseLossTest {
    private final Random r = new Random(9);

    @Test void forwardAndGradients() {
        int[] shape = {3, 5, 7};
        double[] p = roundToFloat(normal(r, 105)), t = roundToFloat(normal(r, 105));
        double e = 0;
        for (int i = 0; i < 105; i++) e += (p[i] - t[i]) * (p[i] - t[i]);
        e /= 105;
        try (Scope s = Scope.open()) {
            Tensor l = F.mseLoss(f64(p, shape), f64(t, shape));
            assertEquals(0, l.rank());
            assertEquals(e, l.item(), 1e-14 * e);
            assertF32MatchesF64("mse", l, F.mseLoss(f32(p, shape), f32(t, shape)), 1e-5);
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> F.mseLoss(f64(p, shape), f64(t, 105)));
            assertTrue(ex.getMessage().contains("[3, 5, 7]") && ex.getMessage().contains("[105]"), ex.getMessage());
        }
        GradCheck.check("mseLoss", in -> F.mseLoss(in[0], in[1]), f64(p, shape), f64(t, shape));
    }
}
