package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.BinaryOperator;
import java.util.function.DoubleBinaryOperator;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Binary add/sub/mul/div under numpy broadcasting, forward, F32 vs F64 and gradients. */
class BroadcastTest {
    private static final int[][][] PAIRS = {
            {{3, 5, 7}, {3, 5, 7}},     // same shape (fast float path)
            {{3, 1, 5}, {4, 1}},        // both sides broadcast
            {{2, 3}, {3}},              // lower rank
            {{3}, {2, 3}},              // lower rank on the left
            {{3, 5}, {}},               // scalar right (fast float path)
            {{}, {2, 3}},               // scalar left
            {{2, 1, 3}, {2, 4, 1}},
            {{1, 1}, {5}},
            {{3, 5}, {1, 1}},           // one-element right of equal numel... to a larger output
            {{5}, {1, 1}},              // same numel as output, different rank
    };
    private final Random r = new Random(77);

    private void check(String name, BinaryOperator<Tensor> op, DoubleBinaryOperator ref, boolean divisor) {
        for (int[][] p : PAIRS) {
            int[] sa = p[0], sb = p[1], so = broadcastShape(sa, sb);
            String what = name + " " + java.util.Arrays.toString(sa) + " op " + java.util.Arrays.toString(sb);
            double[] a = roundToFloat(normal(r, (int) Shapes.numel(sa)));
            double[] b = roundToFloat(normal(r, (int) Shapes.numel(sb)));
            if (divisor) for (int i = 0; i < b.length; i++) b[i] = Math.copySign(0.5 + Math.abs(b[i]), b[i]);
            double[] e = new double[(int) Shapes.numel(so)];
            for (int o = 0; o < e.length; o++) {
                int[] idx = unravel(o, so);
                e[o] = ref.applyAsDouble(a[broadcastFlat(idx, sa)], b[broadcastFlat(idx, sb)]);
            }
            try (Scope s = Scope.open()) {
                Tensor y = op.apply(f64(a, sa), f64(b, sb));
                assertTensor(what + " forward", e, so, y, 1e-15, 0);
                assertF32MatchesF64(what, y, op.apply(f32(a, sa), f32(b, sb)), 1e-6);
            }
            GradCheck.check(what, in -> op.apply(in[0], in[1]), f64(a, sa), f64(b, sb));
        }
    }

    @Test void add() { check("add", Tensor::add, Double::sum, false); }

    @Test void sub() { check("sub", Tensor::sub, (x, y) -> x - y, false); }

    @Test void mul() { check("mul", Tensor::mul, (x, y) -> x * y, false); }

    @Test void div() { check("div", Tensor::div, (x, y) -> x / y, true); }

    /** Seeded random shape pairs: rank 0–4, sizes 1–4, each axis of each side independently 1. */
    @Test void randomShapes() {
        Random g = new Random(2718);
        for (int trial = 0; trial < 25; trial++) {
            int rank = g.nextInt(5);
            int[] full = new int[rank];
            for (int i = 0; i < rank; i++) full[i] = 1 + g.nextInt(4);
            int[] sa = cut(full, g), sb = cut(full, g);
            int[] so = broadcastShape(sa, sb);
            String what = "random " + java.util.Arrays.toString(sa) + " · " + java.util.Arrays.toString(sb);
            double[] a = roundToFloat(normal(r, (int) Shapes.numel(sa))), b = roundToFloat(uniform(r, (int) Shapes.numel(sb), 0.5, 2));
            double[] e = new double[(int) Shapes.numel(so)];
            for (int o = 0; o < e.length; o++) {
                int[] idx = unravel(o, so);
                e[o] = a[broadcastFlat(idx, sa)] * b[broadcastFlat(idx, sb)] - a[broadcastFlat(idx, sa)] / b[broadcastFlat(idx, sb)];
            }
            BinaryOperator<Tensor> op = (x, y) -> x.mul(y).sub(x.div(y));
            try (Scope s = Scope.open()) {
                Tensor y = op.apply(f64(a, sa), f64(b, sb));
                assertTensor(what, e, so, y, 1e-15, 1e-15);
                assertF32MatchesF64(what, y, op.apply(f32(a, sa), f32(b, sb)), 1e-6);
            }
            GradCheck.check(what, in -> op.apply(in[0], in[1]), f64(a, sa), f64(b, sb));
        }
    }

    /** A random suffix of {@code full} with random axes set to 1. */
    private static int[] cut(int[] full, Random g) {
        int drop = full.length == 0 ? 0 : g.nextInt(full.length + 1);
        int[] s = java.util.Arrays.copyOfRange(full, drop, full.length);
        for (int i = 0; i < s.length; i++) if (g.nextInt(3) == 0) s[i] = 1;
        return s;
    }

    @Test void gradientOnlyToTheInputThatNeedsIt() {
        GradCheck.of("mul, constant right", in -> in[0].mul(in[1])).skip(1)
                .check(randn64(r, 3, 1, 5), randn64(r, 4, 1));
        GradCheck.of("div, constant left", in -> in[0].div(in[1])).skip(0)
                .check(randn64(r, 3, 1, 5), rand64(r, 0.5, 2, 4, 1));
    }

    @Test void expandAndSumTo() {
        try (Scope s = Scope.open()) {
            double[] a = normal(r, 3);
            Tensor e = f64(a, 3, 1).expand(3, 4);
            double[] ev = e.toDoubles();
            for (int i = 0; i < 12; i++) assertEquals(a[i / 4], ev[i]);
            Tensor g = f64(normal(r, 24), 2, 3, 4);
            double[] gv = g.toDoubles(), want = new double[3];
            for (int i = 0; i < 24; i++) want[(i / 4) % 3] += gv[i];
            assertTensor("sumTo [3,1]", want, new int[]{3, 1}, g.sumTo(new int[]{3, 1}), 1e-14, 1e-15);
            assertSame(g, g.sumTo(new int[]{2, 3, 4}));
            double total = 0;
            for (double v : gv) total += v;
            assertEquals(total, g.sumTo(new int[]{}).item(), 1e-12, "sumTo a scalar");
            assertEquals(total, g.sumTo(new int[]{1}).item(), 1e-12, "sumTo [1]");
            assertArrayEquals(a, f64(a, 3).sumTo(new int[]{1, 3}).toDoubles(), "sumTo a higher rank of leading 1s");
            assertArrayEquals(new int[]{1, 3}, f64(a, 3).sumTo(new int[]{1, 3}).shape());
            assertArrayEquals(new int[]{3}, f64(a, 1, 3).sumTo(new int[]{3}).shape());
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> g.sumTo(new int[]{4, 3}));
            assertTrue(x.getMessage().contains("[2, 3, 4]") && x.getMessage().contains("[4, 3]"), x.getMessage());
            IllegalArgumentException y = assertThrows(IllegalArgumentException.class, () -> f64(a, 3, 1).expand(2, 3));
            assertTrue(y.getMessage().contains("[3, 1]") && y.getMessage().contains("[2, 3]"), y.getMessage());
        }
        GradCheck.check("expand", in -> in[0].expand(2, 3, 5), randn64(r, 3, 1));
        GradCheck.check("sumTo", in -> in[0].sumTo(new int[]{3, 1}), randn64(r, 2, 3, 5));
    }
}
