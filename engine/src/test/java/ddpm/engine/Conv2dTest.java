package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** 2-D convolution: strides, padding, kernel sizes, with and without bias. */
class Conv2dTest {
    private final Random r = new Random(404);

    /** {n, c, h, w, o, k, stride, pad} */
    private static final int[][] CONFIGS = {
            {2, 3, 7, 6, 4, 3, 1, 1},
            {2, 3, 7, 6, 4, 3, 2, 1},
            {1, 2, 8, 5, 3, 3, 2, 0},
            {3, 4, 5, 5, 2, 1, 1, 0},
            {1, 1, 6, 7, 2, 5, 1, 2},
            {2, 3, 5, 4, 3, 2, 2, 1},   // even kernel
    };

    private static double[] conv(double[] x, double[] w, double[] b, int[] c, int ho, int wo) {
        int n = c[0], ch = c[1], h = c[2], wd = c[3], o = c[4], k = c[5], st = c[6], pad = c[7];
        double[] out = new double[n * o * ho * wo];
        for (int bi = 0; bi < n; bi++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double acc = b == null ? 0 : b[oc];
                        for (int ic = 0; ic < ch; ic++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++) {
                                    int y = i * st + u - pad, xx = j * st + v - pad;
                                    if (y >= 0 && y < h && xx >= 0 && xx < wd)
                                        acc += x[((bi * ch + ic) * h + y) * wd + xx] * w[((oc * ch + ic) * k + u) * k + v];
                                }
                        out[((bi * o + oc) * ho + i) * wo + j] = acc;
                    }
        return out;
    }

    @Test void forwardAndGradients() {
        for (int[] c : CONFIGS)
            for (boolean bias : new boolean[]{true, false}) {
                int n = c[0], ch = c[1], h = c[2], wd = c[3], o = c[4], k = c[5], st = c[6], pad = c[7];
                int ho = (h + 2 * pad - k) / st + 1, wo = (wd + 2 * pad - k) / st + 1;
                int[] xs = {n, ch, h, wd}, ws = {o, ch, k, k}, os = {n, o, ho, wo};
                String name = "conv2d " + java.util.Arrays.toString(c) + (bias ? " bias" : "");
                double[] x = roundToFloat(normal(r, (int) Shapes.numel(xs))), w = roundToFloat(normal(r, (int) Shapes.numel(ws)));
                double[] b = bias ? roundToFloat(normal(r, o)) : null;
                double[] e = conv(x, w, b, c, ho, wo);
                try (Scope s = Scope.open()) {
                    Tensor y = F.conv2d(f64(x, xs), f64(w, ws), bias ? f64(b, o) : null, st, pad);
                    assertTensor(name, e, os, y, 1e-13, 1e-14);
                    Tensor y32 = F.conv2d(f32(x, xs), f32(w, ws), bias ? f32(b, o) : null, st, pad);
                    assertF32MatchesF64(name, y, y32, 1e-5);
                    // the F32 backward kernels against the F64 ones
                    Tensor x64 = f64(x, xs).requiresGrad(true), w64 = f64(w, ws).requiresGrad(true);
                    Tensor x32 = f32(x, xs).requiresGrad(true), w32 = f32(w, ws).requiresGrad(true);
                    double[] g = normal(r, (int) Shapes.numel(os));
                    F.conv2d(x64, w64, null, st, pad).backward(f64(g, os));
                    F.conv2d(x32, w32, null, st, pad).backward(f32(g, os));
                    assertF32MatchesF64(name + " grad x", x64.grad(), x32.grad(), 1e-5);
                    assertF32MatchesF64(name + " grad w", w64.grad(), w32.grad(), 1e-5);
                }
                if (bias)
                    GradCheck.check(name, in -> F.conv2d(in[0], in[1], in[2], st, pad), f64(x, xs), f64(w, ws), f64(b, o));
                else
                    GradCheck.check(name, in -> F.conv2d(in[0], in[1], null, st, pad), f64(x, xs), f64(w, ws));
            }
    }

    @Test void randomConfigurations() {
        Random g = new Random(31415);
        for (int trial = 0; trial < 6; trial++) {
            int k = 1 + g.nextInt(4), st = 1 + g.nextInt(2), pad = g.nextInt(k);
            int h = k + g.nextInt(4), wd = k + g.nextInt(4);
            int[] c = {1 + g.nextInt(2), 1 + g.nextInt(3), h, wd, 1 + g.nextInt(3), k, st, pad};
            int ho = (h + 2 * pad - k) / st + 1, wo = (wd + 2 * pad - k) / st + 1;
            int[] xs = {c[0], c[1], h, wd}, ws = {c[4], c[1], k, k};
            String name = "random conv2d " + java.util.Arrays.toString(c);
            double[] x = roundToFloat(normal(r, (int) Shapes.numel(xs))), w = roundToFloat(normal(r, (int) Shapes.numel(ws))), b = roundToFloat(normal(r, c[4]));
            try (Scope s = Scope.open()) {
                Tensor y = F.conv2d(f64(x, xs), f64(w, ws), f64(b, c[4]), st, pad);
                assertTensor(name, conv(x, w, b, c, ho, wo), new int[]{c[0], c[4], ho, wo}, y, 1e-13, 1e-14);
                assertF32MatchesF64(name, y, F.conv2d(f32(x, xs), f32(w, ws), f32(b, c[4]), st, pad), 1e-5);
            }
            GradCheck.check(name, in -> F.conv2d(in[0], in[1], in[2], st, pad), f64(x, xs), f64(w, ws), f64(b, c[4]));
        }
    }

    /** conv2dAdd: conv2d + bias + a per-image, per-channel add + a residual, against the reference sum; gradients of all five inputs. */
    @Test void convolutionWithItsAdds() {
        for (int[] c : new int[][]{{2, 3, 7, 6, 4, 3, 1, 1}, {3, 4, 5, 5, 2, 1, 1, 0}, {2, 3, 7, 6, 4, 3, 2, 1}}) {
            int ho = (c[2] + 2 * c[7] - c[5]) / c[6] + 1, wo = (c[3] + 2 * c[7] - c[5]) / c[6] + 1, st = c[6], pad = c[7];
            int[] xs = {c[0], c[1], c[2], c[3]}, ws = {c[4], c[1], c[5], c[5]}, os = {c[0], c[4], ho, wo}, ns = {c[0], c[4]};
            double[] x = roundToFloat(normal(r, (int) Shapes.numel(xs))), w = roundToFloat(normal(r, (int) Shapes.numel(ws)));
            double[] b = roundToFloat(normal(r, c[4])), na = roundToFloat(normal(r, c[0] * c[4])), res = roundToFloat(normal(r, (int) Shapes.numel(os)));
            double[] want = conv(x, w, b, c, ho, wo);
            for (int i = 0; i < want.length; i++) want[i] += na[i / (ho * wo)] + res[i];
            String name = "conv2dAdd " + java.util.Arrays.toString(c);
            try (Scope s = Scope.open()) {
                Tensor y = F.conv2dAdd(f64(x, xs), f64(w, ws), f64(b, c[4]), f64(na, ns), f64(res, os), st, pad);
                assertTensor(name, want, os, y, 1e-13, 1e-14);
                assertF32MatchesF64(name, y, F.conv2dAdd(f32(x, xs), f32(w, ws), f32(b, c[4]), f32(na, ns), f32(res, os), st, pad), 1e-5);
                // one addend at a time equals the unfused sum
                Tensor onlyN = F.conv2dAdd(f64(x, xs), f64(w, ws), null, f64(na, ns), null, st, pad);
                Tensor unfused = F.conv2d(f64(x, xs), f64(w, ws), null, st, pad).add(f64(na, ns).reshape(c[0], c[4], 1, 1));
                assertArrayEquals(unfused.toDoubles(), onlyN.toDoubles(), name + " with nAdd only");
            }
            GradCheck.check(name, in -> F.conv2dAdd(in[0], in[1], in[2], in[3], in[4], st, pad),
                    f64(x, xs), f64(w, ws), f64(b, c[4]), f64(na, ns), f64(res, os));
        }
        try (Scope s = Scope.open()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    F.conv2dAdd(f64(new double[2 * 3 * 5 * 5], 2, 3, 5, 5), f64(new double[4 * 3 * 9], 4, 3, 3, 3), null,
                            f64(new double[8], 4, 2), null, 1, 1));
            assertTrue(e.getMessage().contains("nAdd") && e.getMessage().contains("must be [2, 4]"), e.getMessage());
        }
    }

    /**
     * groupNormSiluConv2dAdd: the same values as the composed groupNorm → SiLU → conv2dAdd, bit for bit
     * on the CPU in float32 and float64, both as the one fused op (no gradient recorded) and as the
     * composition it records when a gradient is wanted; float64 gradients of all seven inputs against
     * finite differences; bad groups and shapes are refused by name.
     */
    @Test void groupNormSiluIntoTheConvolution() {
        for (int[] c : new int[][]{{2, 4, 5, 6, 3, 3, 1, 1}, {1, 6, 4, 4, 2, 3, 2, 1}}) {
            int groups = 2, st = c[6], pad = c[7];
            int ho = (c[2] + 2 * pad - c[5]) / st + 1, wo = (c[3] + 2 * pad - c[5]) / st + 1;
            int[] xs = {c[0], c[1], c[2], c[3]}, ws = {c[4], c[1], c[5], c[5]}, os = {c[0], c[4], ho, wo}, ns = {c[0], c[4]};
            double[] x = roundToFloat(normal(r, (int) Shapes.numel(xs))), w = roundToFloat(normal(r, (int) Shapes.numel(ws)));
            double[] ga = roundToFloat(normal(r, c[1])), be = roundToFloat(normal(r, c[1])), b = roundToFloat(normal(r, c[4]));
            double[] na = roundToFloat(normal(r, c[0] * c[4])), res = roundToFloat(normal(r, (int) Shapes.numel(os)));
            String name = "groupNormSiluConv2dAdd " + java.util.Arrays.toString(c);
            try (Scope s = Scope.open()) {
                for (boolean dbl : new boolean[]{true, false}) {
                    java.util.function.BiFunction<double[], int[], Tensor> t = dbl ? ddpm.engine.testing.Reference::f64 : ddpm.engine.testing.Reference::f32;
                    Tensor fused;
                    try (Grad.Guard ng = Grad.noGrad()) {
                        fused = F.groupNormSiluConv2dAdd(t.apply(x, xs), t.apply(ga, new int[]{c[1]}), t.apply(be, new int[]{c[1]}), groups,
                                1e-5, t.apply(w, ws), t.apply(b, new int[]{c[4]}), t.apply(na, ns), t.apply(res, os), st, pad);
                    }
                    assertFalse(fused.requiresGrad());
                    Tensor composed = F.conv2dAdd(F.groupNorm(t.apply(x, xs), t.apply(ga, new int[]{c[1]}), t.apply(be, new int[]{c[1]}),
                                    groups, 1e-5, true), t.apply(w, ws), t.apply(b, new int[]{c[4]}), t.apply(na, ns), t.apply(res, os), st, pad);
                    assertArrayEquals(composed.toDoubles(), fused.toDoubles(), name + (dbl ? " f64" : " f32"));
                }
            }
            GradCheck.check(name, in -> F.groupNormSiluConv2dAdd(in[0], in[1], in[2], groups, 1e-5, in[3], in[4], in[5], in[6], st, pad),
                    f64(x, xs), f64(ga, c[1]), f64(be, c[1]), f64(w, ws), f64(b, c[4]), f64(na, ns), f64(res, os));
        }
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[2 * 6 * 4 * 4], 2, 6, 4, 4), w = f64(new double[3 * 6 * 9], 3, 6, 3, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    F.groupNormSiluConv2dAdd(x, f64(new double[6], 6), f64(new double[6], 6), 4, 1e-5, w, null, null, null, 1, 1));
            assertTrue(e.getMessage().contains("groupNormSiluConv2dAdd") && e.getMessage().contains("do not split into 4 groups"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () ->
                    F.groupNormSiluConv2dAdd(x, f64(new double[6], 6), f64(new double[6], 6), 2, 1e-5, w, null, null, f64(new double[9], 1, 1, 3, 3), 1, 1));
            assertTrue(e.getMessage().contains("residual f64[1, 1, 3, 3] must be the output's shape [2, 3, 4, 4]"), e.getMessage());
        }
    }

    @Test void largerF32() {
        // channel and spatial sizes past small blockings, for the fast float kernels
        int[] c = {2, 17, 13, 11, 19, 3, 1, 1};
        int[] c2 = {1, 9, 16, 15, 10, 3, 2, 1};
        for (int[] cf : new int[][]{c, c2}) {
            int ho = (cf[2] + 2 * cf[7] - cf[5]) / cf[6] + 1, wo = (cf[3] + 2 * cf[7] - cf[5]) / cf[6] + 1;
            int[] xs = {cf[0], cf[1], cf[2], cf[3]}, ws = {cf[4], cf[1], cf[5], cf[5]};
            double[] x = roundToFloat(normal(r, (int) Shapes.numel(xs))), w = roundToFloat(normal(r, (int) Shapes.numel(ws))), b = roundToFloat(normal(r, cf[4]));
            try (Scope s = Scope.open()) {
                Tensor y = F.conv2d(f64(x, xs), f64(w, ws), f64(b, cf[4]), cf[6], cf[7]);
                assertTensor("conv2d F64 " + java.util.Arrays.toString(cf), conv(x, w, b, cf, ho, wo), new int[]{cf[0], cf[4], ho, wo}, y, 1e-12, 1e-12);
                assertF32MatchesF64("conv2d " + java.util.Arrays.toString(cf), y, F.conv2d(f32(x, xs), f32(w, ws), f32(b, cf[4]), cf[6], cf[7]), 1e-5);
            }
        }
    }
}
