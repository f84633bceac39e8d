package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Softmax over the last axis. */
class SoftmaxTest {
    private final Random r = new Random(3);

    private static double[] softmax(double[] x, int n) {
        double[] y = new double[x.length];
        for (int row = 0; row < x.length / n; row++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += Math.exp(x[row * n + k]);
            for (int k = 0; k < n; k++) y[row * n + k] = Math.exp(x[row * n + k]) / s;
        }
        return y;
    }

    @Test void forwardAndGradients() {
        int[][] shapes = {{7}, {3, 7}, {2, 3, 5}, {4, 1}};
        for (int[] shape : shapes) {
            String name = "softmax " + java.util.Arrays.toString(shape);
            double[] x = roundToFloat(normal(r, (int) Shapes.numel(shape)));
            for (int i = 0; i < x.length; i++) x[i] = (float) (2 * x[i]);
            double[] e = softmax(x, shape[shape.length - 1]);
            try (Scope s = Scope.open()) {
                Tensor y = F.softmax(f64(x, shape));
                assertTensor(name, e, shape, y, 1e-13, 1e-15);
                assertF32MatchesF64(name, y, F.softmax(f32(x, shape)), 1e-5);
            }
            GradCheck.check(name, in -> F.softmax(in[0]), f64(x, shape));
        }
    }

    @Test void largeLogitsAreStable() {
        try (Scope s = Scope.open()) {
            double[] x = {1000, 1001, 1002, -1000, -1001, -1002};
            double[] y = F.softmax(f64(x, 2, 3)).toDoubles();
            double[] e = softmax(new double[]{0, 1, 2, 2, 1, 0}, 3);
            assertArrayEquals(new double[]{e[0], e[1], e[2], e[2], e[1], e[0]}, y, 1e-14);
            float[] f = F.softmax(f32(x, 2, 3)).toFloats();
            for (float v : f) assertTrue(Float.isFinite(v));
            assertThrows(IllegalArgumentException.class, () -> F.softmax(Tensor.of(new double[]{1})));
        }
    }
}
