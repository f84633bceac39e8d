package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Unary ops, scalar ops (affine, pow, clamp), where, maximum and comparisons. */
class ElementwiseTest {
    private static final int[] SHAPE = {3, 5, 7};
    private static final double FWD = 1e-14, F32 = 1e-5;
    private final Random r = new Random(2024);

    /** Values in [lo, hi), with |x| ≥ gap when gap > 0 (away from kinks). */
    private double[] data(double lo, double hi, double gap) {
        double[] a = uniform(r, 105, lo, hi);
        for (int i = 0; i < a.length; i++)
            if (Math.abs(a[i]) < gap) a[i] = a[i] < 0 ? a[i] - gap : a[i] + gap;
        return a;
    }

    private void unary(String name, UnaryOperator<Tensor> op, DoubleUnaryOperator ref, double lo, double hi, double gap) {
        double[] x = roundToFloat(data(lo, hi, gap));
        double[] expected = new double[x.length];
        for (int i = 0; i < x.length; i++) expected[i] = ref.applyAsDouble(x[i]);
        try (Scope s = Scope.open()) {
            Tensor y64 = op.apply(f64(x, SHAPE));
            assertTensor(name + " forward", expected, SHAPE, y64, FWD, 0);
            Tensor y32 = op.apply(f32(x, SHAPE));
            assertF32MatchesF64(name, y64, y32, F32);
        }
        GradCheck.check(name, in -> op.apply(in[0]), f64(x, SHAPE));
    }

    @Test void neg() { unary("neg", Tensor::neg, v -> -v, -3, 3, 0); }
    @Test void exp() { unary("exp", Tensor::exp, Math::exp, -3, 3, 0); }
    @Test void log() { unary("log", Tensor::log, Math::log, 0.2, 4, 0); }
    @Test void sqrt() { unary("sqrt", Tensor::sqrt, Math::sqrt, 0.2, 4, 0); }
    @Test void rsqrt() { unary("rsqrt", Tensor::rsqrt, v -> 1 / Math.sqrt(v), 0.2, 4, 0); }
    @Test void square() { unary("square", Tensor::square, v -> v * v, -3, 3, 0); }
    @Test void abs() { unary("abs", Tensor::abs, Math::abs, -3, 3, 0.05); }
    @Test void silu() { unary("silu", Tensor::silu, v -> v / (1 + Math.exp(-v)), -6, 6, 0); }
    @Test void sigmoid() { unary("sigmoid", Tensor::sigmoid, v -> 1 / (1 + Math.exp(-v)), -6, 6, 0); }
    @Test void tanh() { unary("tanh", Tensor::tanh, Math::tanh, -3, 3, 0); }
    @Test void relu() { unary("relu", Tensor::relu, v -> Math.max(v, 0), -3, 3, 0.05); }
    @Test void sin() { unary("sin", Tensor::sin, Math::sin, -4, 4, 0); }
    @Test void cos() { unary("cos", Tensor::cos, Math::cos, -4, 4, 0); }

    @Test void scalarOps() {
        unary("affine", t -> t.affine(-1.5, 0.25), v -> v * -1.5 + 0.25, -3, 3, 0);
        unary("add(s)", t -> t.add(2.0), v -> v + 2, -3, 3, 0);
        unary("sub(s)", t -> t.sub(0.5), v -> v - 0.5, -3, 3, 0);
        unary("mul(s)", t -> t.mul(3.0), v -> v * 3, -3, 3, 0);
        unary("div(s)", t -> t.div(4.0), v -> v / 4, -3, 3, 0);
        unary("pow 2.5", t -> t.pow(2.5), v -> Math.pow(v, 2.5), 0.3, 3, 0);
        unary("pow -1", t -> t.pow(-1), v -> 1 / v, 0.3, 3, 0);
        unary("pow 3 negative base", t -> t.pow(3), v -> v * v * v, -2, 2, 0);
    }

    @Test void clamp() {
        // keep inputs away from the clamp bounds, where the derivative jumps
        double[] x = data(-3, 3, 0);
        for (int i = 0; i < x.length; i++) if (Math.abs(Math.abs(x[i]) - 1) < 0.05) x[i] += 0.1;
        double[] xs = roundToFloat(x), e = new double[xs.length];
        for (int i = 0; i < xs.length; i++) e[i] = Math.min(Math.max(xs[i], -1), 1);
        try (Scope s = Scope.open()) {
            Tensor y = f64(xs, SHAPE).clamp(-1, 1);
            assertTensor("clamp forward", e, SHAPE, y, 0, 0);
            assertF32MatchesF64("clamp", y, f32(xs, SHAPE).clamp(-1, 1), F32);
        }
        GradCheck.check("clamp", in -> in[0].clamp(-1, 1), f64(xs, SHAPE));
    }

    @Test void whereBroadcasts() {
        int[] sc = {3, 1, 5}, sa = {4, 1}, sb = {1, 5};
        int[] so = broadcastShape(broadcastShape(sc, sa), sb);
        double[] c = new double[15];
        for (int i = 0; i < c.length; i++) c[i] = r.nextBoolean() ? 1 : 0;
        double[] a = roundToFloat(normal(r, 4)), b = roundToFloat(normal(r, 5));
        double[] e = new double[(int) Shapes.numel(so)];
        for (int o = 0; o < e.length; o++) {
            int[] idx = unravel(o, so);
            e[o] = c[broadcastFlat(idx, sc)] != 0 ? a[broadcastFlat(idx, sa)] : b[broadcastFlat(idx, sb)];
        }
        try (Scope s = Scope.open()) {
            Tensor y = Tensor.where(f64(c, sc), f64(a, sa), f64(b, sb));
            assertTensor("where forward", e, so, y, 0, 0);
            Tensor y32 = Tensor.where(f32(c, sc), f32(a, sa), f32(b, sb));
            assertF32MatchesF64("where", y, y32, 0);
            Tensor yi = Tensor.where(Tensor.ofInts(toInts(c), Device.CPU, sc), f64(a, sa), f64(b, sb));
            assertTensor("where with an int condition", e, so, yi, 0, 0);
        }
        GradCheck.of("where", in -> Tensor.where(in[0], in[1], in[2])).skip(0)
                .check(f64(c, sc), f64(a, sa), f64(b, sb));
    }

    private static int[] toInts(double[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) r[i] = (int) a[i];
        return r;
    }

    @Test void maximumBroadcasts() {
        int[] sa = {3, 1, 5}, sb = {4, 1};
        int[] so = broadcastShape(sa, sb);
        double[] a = roundToFloat(normal(r, 15)), b = roundToFloat(normal(r, 4));
        double[] e = new double[(int) Shapes.numel(so)];
        for (int o = 0; o < e.length; o++) {
            int[] idx = unravel(o, so);
            e[o] = Math.max(a[broadcastFlat(idx, sa)], b[broadcastFlat(idx, sb)]);
        }
        try (Scope s = Scope.open()) {
            Tensor y = f64(a, sa).maximum(f64(b, sb));
            assertTensor("maximum forward", e, so, y, 0, 0);
            assertF32MatchesF64("maximum", y, f32(a, sa).maximum(f32(b, sb)), 0);
        }
        GradCheck.check("maximum", in -> in[0].maximum(in[1]), f64(a, sa), f64(b, sb));
    }

    @Test void comparisons() {
        double[] a = {1, 2, 3, 4, 5, 6}, b = {3, 3, 3};
        try (Scope s = Scope.open()) {
            Tensor ta = f64(a, 2, 3), tb = f64(b, 3);
            assertArrayEquals(new double[]{1, 1, 0, 0, 0, 0}, ta.compare(Ops.Binary.LT, f64(new double[]{3, 3, 3, 3, 3, 3}, 2, 3)).toDoubles());
            assertArrayEquals(new double[]{1, 1, 1, 0, 0, 0}, ta.compare(Ops.Binary.LE, tb).toDoubles());
            assertArrayEquals(new double[]{0, 0, 0, 1, 1, 1}, ta.compare(Ops.Binary.GT, tb).toDoubles());
            assertArrayEquals(new double[]{0, 0, 1, 1, 1, 1}, ta.compare(Ops.Binary.GE, tb).toDoubles());
            assertArrayEquals(new double[]{0, 0, 1, 0, 0, 0}, ta.compare(Ops.Binary.EQ, tb).toDoubles());
            assertArrayEquals(new double[]{1, 0, 0, 0, 0, 0}, ta.lt(1.5).toDoubles());
            assertArrayEquals(new double[]{0, 0, 0, 0, 1, 1}, ta.gt(4.5).toDoubles());
            assertArrayEquals(new double[]{0, 0, 0, 0, 1, 1}, f32(a, 2, 3).gt(4.5).toDoubles());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ta.compare(Ops.Binary.ADD, tb));
            assertTrue(e.getMessage().contains("ADD"), e.getMessage());
            Tensor g = f64(a, 2, 3).requiresGrad(true);
            assertFalse(g.gt(2).requiresGrad(), "comparisons are not differentiable");
        }
    }

    @Test void fillsAndCopies() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.full(DType.F64, Device.CPU, 2.5, 2, 3);
            assertArrayEquals(new double[]{2.5, 2.5, 2.5, 2.5, 2.5, 2.5}, t.toDoubles());
            Tensor c = t.copy();
            c.fill(1);
            assertEquals(2.5, t.toDoubles()[0], "copy shares nothing");
            Tensor f = Tensor.zeros(2, 3).copyFrom(t);
            assertEquals(DType.F32, f.dtype());
            assertArrayEquals(new float[]{2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f}, f.toFloats());
            assertEquals(3.0, Tensor.scalar(3).item());
            assertEquals(0, Tensor.scalar(3).rank());
            Tensor i = Tensor.ofInts(new int[]{1, -2, 3}, Device.CPU, 3);
            assertArrayEquals(new double[]{1, -2, 3}, i.to(DType.F64).toDoubles());
            assertArrayEquals(new int[]{1, -2, 3}, i.to(DType.F32).toInts());
        }
    }
}
