package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** sum, mean, max over axis sets (with and without keepDim), and sumSquares. */
class ReduceTest {
    private static final int[] SHAPE = {3, 4, 5};
    private static final int[][] AXES = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {0, 1}, {1, 2}, {0, 1, 2}};
    private final Random r = new Random(8);

    /** Plain-loop reduction over the given axes: kind 0 sum, 1 mean, 2 max. */
    private static double[] reduce(double[] x, int[] shape, int[] axes, int kind, int[] outShape) {
        boolean[] red = new boolean[shape.length];
        if (axes.length == 0) Arrays.fill(red, true);
        for (int a : axes) red[a < 0 ? a + shape.length : a] = true;
        int[] kept = shape.clone();
        for (int i = 0; i < shape.length; i++) if (red[i]) kept[i] = 1;
        int n = (int) Shapes.numel(kept);
        double[] out = new double[n];
        int[] cnt = new int[n];
        Arrays.fill(out, kind == 2 ? Double.NEGATIVE_INFINITY : 0);
        for (int f = 0; f < x.length; f++) {
            int[] idx = unravel(f, shape);
            int o = broadcastFlat(idx, kept);
            out[o] = kind == 2 ? Math.max(out[o], x[f]) : out[o] + x[f];
            cnt[o]++;
        }
        if (kind == 1) for (int o = 0; o < n; o++) out[o] /= cnt[o];
        System.arraycopy(kept, 0, outShape, 0, kept.length);
        return out;
    }

    private static int[] dropped(int[] shape, int[] axes) {
        boolean[] red = new boolean[shape.length];
        if (axes.length == 0) Arrays.fill(red, true);
        for (int a : axes) red[a < 0 ? a + shape.length : a] = true;
        return java.util.stream.IntStream.range(0, shape.length).filter(i -> !red[i]).map(i -> shape[i]).toArray();
    }

    @Test void sumMeanMax() {
        double[] x = roundToFloat(normal(r, 60));
        for (int[] axes : AXES)
            for (int kind = 0; kind < 3; kind++)
                for (boolean keep : new boolean[]{false, true}) {
                    String name = new String[]{"sum", "mean", "max"}[kind] + Arrays.toString(axes) + (keep ? " keepDim" : "");
                    int[] ks = new int[3];
                    double[] e = reduce(x, SHAPE, axes, kind, ks);
                    int[] es = keep ? ks : dropped(SHAPE, axes);
                    final int k = kind;
                    java.util.function.Function<Tensor, Tensor> op = t -> k == 0 ? t.sum(keep, axes) : k == 1 ? t.mean(keep, axes) : t.max(keep, axes);
                    try (Scope s = Scope.open()) {
                        Tensor y = op.apply(f64(x, SHAPE));
                        assertTensor(name, e, es, y, 1e-14, 1e-15);
                        assertF32MatchesF64(name, y, op.apply(f32(x, SHAPE)), 1e-5);
                    }
                    GradCheck.check(name, in -> op.apply(in[0]), f64(x, SHAPE));
                }
    }

    @Test void defaultOverloadsDropAxes() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 2, 3);
            assertArrayEquals(new int[]{3}, x.sum(0).shape());
            assertArrayEquals(new int[]{}, x.sum().shape());
            assertArrayEquals(new int[]{2}, x.mean(1).shape());
            assertEquals(x.sum().item() / 6, x.mean().item(), 1e-14);
        }
    }

    @Test void maxSharesTheGradientAmongTies() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1, 3, 3, 2, 5, 0}, 2, 3).requiresGrad(true);
            Tensor m = x.max(false, 1);
            assertArrayEquals(new double[]{3, 5}, m.toDoubles());
            m.sum().backward();
            assertArrayEquals(new double[]{0, 0.5, 0.5, 0, 1, 0}, x.grad().toDoubles());
        }
    }

    @Test void sumSquares() {
        double[] x = normal(r, 105);
        double e = 0;
        for (double v : x) e += v * v;
        try (Scope s = Scope.open()) {
            Tensor y = f64(x, 3, 5, 7).sumSquares();
            assertEquals(0, y.rank());
            assertEquals(e, y.item(), 1e-13 * e);
            assertEquals(e, f32(x, 3, 5, 7).sumSquares().item(), 1e-5 * e);
        }
    }

    @Test void reducingAScalar() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{4}).requiresGrad(true);
            Tensor y = x.sum();
            assertEquals(4, y.item());
            y.backward();
            assertEquals(1, x.grad().item());
        }
    }
}
