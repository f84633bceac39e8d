package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Group norm, alone and fused with SiLU, over groups ∈ {1, 2, 4} and ranks 3 and 4. */
class GroupNormTest {
    private static final double EPS = 1e-5;
    private final Random r = new Random(17);

    /** Plain two-pass group norm (+ SiLU); mean and rstd [n, groups] written when non-null. */
    private static double[] groupNorm(double[] x, int[] shape, double[] gamma, double[] beta, int groups, boolean silu,
                                      double[] mean, double[] rstd) {
        int n = shape[0], c = shape[1], hw = (int) (Shapes.numel(shape) / (n * c)), cg = c / groups;
        double[] y = new double[x.length];
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++) {
                double s = 0, cnt = cg * hw;
                for (int ch = g * cg; ch < (g + 1) * cg; ch++)
                    for (int p = 0; p < hw; p++) s += x[(b * c + ch) * hw + p];
                double mu = s / cnt, v = 0;
                for (int ch = g * cg; ch < (g + 1) * cg; ch++)
                    for (int p = 0; p < hw; p++) v += Math.pow(x[(b * c + ch) * hw + p] - mu, 2);
                double rs = 1 / Math.sqrt(v / cnt + EPS);
                if (mean != null) { mean[b * groups + g] = mu; rstd[b * groups + g] = rs; }
                for (int ch = g * cg; ch < (g + 1) * cg; ch++)
                    for (int p = 0; p < hw; p++) {
                        int i = (b * c + ch) * hw + p;
                        double z = (x[i] - mu) * rs * gamma[ch] + beta[ch];
                        y[i] = silu ? z / (1 + Math.exp(-z)) : z;
                    }
            }
        return y;
    }

    @Test void forwardAndGradients() {
        int[][] shapes = {{2, 4, 3, 5}, {3, 4, 7}};
        for (int[] shape : shapes)
            for (int groups : new int[]{1, 2, 4})
                for (boolean silu : new boolean[]{false, true}) {
                    int c = shape[1];
                    String name = (silu ? "groupNorm+SiLU " : "groupNorm ") + java.util.Arrays.toString(shape) + " groups " + groups;
                    double[] x = roundToFloat(normal(r, (int) Shapes.numel(shape)));
                    for (int i = 0; i < x.length; i++) x[i] = (float) (x[i] * 2 + 0.7);   // non-zero mean, non-unit variance
                    double[] gamma = roundToFloat(uniform(r, c, 0.5, 1.5)), beta = roundToFloat(normal(r, c));
                    int n = shape[0];
                    double[] mean = new double[n * groups], rstd = new double[n * groups];
                    double[] e = groupNorm(x, shape, gamma, beta, groups, silu, mean, rstd);
                    try (Scope s = Scope.open()) {
                        Tensor y = F.groupNorm(f64(x, shape), f64(gamma, c), f64(beta, c), groups, EPS, silu);
                        assertTensor(name, e, shape, y, 1e-12, 1e-13);
                        Tensor y32 = F.groupNorm(f32(x, shape), f32(gamma, c), f32(beta, c), groups, EPS, silu);
                        assertF32MatchesF64(name, y, y32, 1e-5);
                        // the statistics, through the backend primitive
                        for (DType dt : new DType[]{DType.F64, DType.F32}) {
                            Tensor out = Tensor.empty(dt, Device.CPU, shape), m = Tensor.empty(dt, Device.CPU, n, groups),
                                    rs = Tensor.empty(dt, Device.CPU, n, groups);
                            Backends.cpu().groupNorm(Tensor.ofDoubles(dt, Device.CPU, x, shape), Tensor.ofDoubles(dt, Device.CPU, gamma, c),
                                    Tensor.ofDoubles(dt, Device.CPU, beta, c), groups, EPS, silu, out, m, rs);
                            double tol = dt == DType.F64 ? 1e-12 : 1e-5;
                            assertTensor(name + " mean " + dt, mean, new int[]{n, groups}, m, tol, tol);
                            assertTensor(name + " rstd " + dt, rstd, new int[]{n, groups}, rs, tol, tol);
                        }
                        // F32 backward against F64 backward
                        Tensor x64 = f64(x, shape).requiresGrad(true), g64 = f64(gamma, c).requiresGrad(true), b64 = f64(beta, c).requiresGrad(true);
                        Tensor x32 = f32(x, shape).requiresGrad(true), g32 = f32(gamma, c).requiresGrad(true), b32 = f32(beta, c).requiresGrad(true);
                        double[] gy = normal(r, x.length);
                        F.groupNorm(x64, g64, b64, groups, EPS, silu).backward(f64(gy, shape));
                        F.groupNorm(x32, g32, b32, groups, EPS, silu).backward(f32(gy, shape));
                        assertF32MatchesF64(name + " grad x", x64.grad(), x32.grad(), 1e-4);
                        assertF32MatchesF64(name + " grad gamma", g64.grad(), g32.grad(), 1e-5);
                        assertF32MatchesF64(name + " grad beta", b64.grad(), b32.grad(), 1e-5);
                    }
                    GradCheck.check(name, in -> F.groupNorm(in[0], in[1], in[2], groups, EPS, silu),
                            f64(x, shape), f64(gamma, c), f64(beta, c));
                }
    }

    @Test void constantGroupIsFinite() {
        // zero variance: rstd = 1/√eps, output = β
        try (Scope s = Scope.open()) {
            Tensor y = F.groupNorm(f64(new double[]{3, 3, 3, 3}, 1, 2, 2), f64(new double[]{1, 1}, 2), f64(new double[]{0.5, -1}, 2), 1, EPS, false);
            assertArrayEquals(new double[]{0.5, 0.5, -1, -1}, y.toDoubles(), 1e-12);
        }
    }

    @Test void validation() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 2, 6, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> F.groupNorm(x, randn64(r, 6), randn64(r, 6), 4, EPS, false));
            assertTrue(e.getMessage().contains("6 channels") && e.getMessage().contains("4 groups"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.groupNorm(x, randn64(r, 5), randn64(r, 6), 2, EPS, false));
            assertTrue(e.getMessage().contains("[5]") && e.getMessage().contains("[6]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.groupNorm(x, randn64(r, 6), randn64(r, 6), 2, -1, false));
            assertTrue(e.getMessage().contains("-1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.groupNorm(x, toF32(randn64(r, 6)), randn64(r, 6), 2, EPS, false));
            assertTrue(e.getMessage().contains("f32") && e.getMessage().contains("f64"), e.getMessage());
        }
    }
}
