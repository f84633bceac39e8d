package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Fused attention softmax(q kᵀ·scale) v, its log-sum-exp, and its backward. */
class AttentionTest {
    private final Random r = new Random(1);

    /** {B, L, S, D, Dv} */
    private static final int[][] CONFIGS = {{2, 3, 5, 4, 3}, {1, 5, 5, 8, 8}, {3, 1, 4, 2, 5}, {2, 4, 1, 3, 2}};

    @Test void forwardAndGradients() {
        for (int[] c : CONFIGS) {
            int bn = c[0], l = c[1], sl = c[2], d = c[3], dv = c[4];
            double scale = 1 / Math.sqrt(d);
            int[] qs = {bn, l, d}, ks = {bn, sl, d}, vs = {bn, sl, dv}, os = {bn, l, dv};
            String name = "attention " + java.util.Arrays.toString(c);
            double[] q = roundToFloat(normal(r, bn * l * d)), k = roundToFloat(normal(r, bn * sl * d)), v = roundToFloat(normal(r, bn * sl * dv));
            double[] e = new double[bn * l * dv], lse = new double[bn * l];
            for (int b = 0; b < bn; b++)
                for (int i = 0; i < l; i++) {
                    double[] sc = new double[sl];
                    double z = 0;
                    for (int j = 0; j < sl; j++) {
                        for (int t = 0; t < d; t++) sc[j] += q[(b * l + i) * d + t] * k[(b * sl + j) * d + t];
                        sc[j] *= scale;
                        z += Math.exp(sc[j]);
                    }
                    lse[b * l + i] = Math.log(z);
                    for (int t = 0; t < dv; t++)
                        for (int j = 0; j < sl; j++) e[(b * l + i) * dv + t] += Math.exp(sc[j]) / z * v[(b * sl + j) * dv + t];
                }
            try (Scope s = Scope.open()) {
                Tensor y = F.attention(f64(q, qs), f64(k, ks), f64(v, vs), scale);
                assertTensor(name, e, os, y, 1e-12, 1e-14);
                assertF32MatchesF64(name, y, F.attention(f32(q, qs), f32(k, ks), f32(v, vs), scale), 1e-5);
                for (DType dt : new DType[]{DType.F64, DType.F32}) {
                    Tensor out = Tensor.empty(dt, Device.CPU, os), ls = Tensor.empty(dt, Device.CPU, bn, l);
                    Backends.cpu().attention(Tensor.ofDoubles(dt, Device.CPU, q, qs), Tensor.ofDoubles(dt, Device.CPU, k, ks),
                            Tensor.ofDoubles(dt, Device.CPU, v, vs), scale, out, ls);
                    double tol = dt == DType.F64 ? 1e-13 : 1e-5;
                    assertTensor(name + " lse " + dt, lse, new int[]{bn, l}, ls, tol, tol);
                }
                Tensor q64 = f64(q, qs).requiresGrad(true), k64 = f64(k, ks).requiresGrad(true), v64 = f64(v, vs).requiresGrad(true);
                Tensor q32 = f32(q, qs).requiresGrad(true), k32 = f32(k, ks).requiresGrad(true), v32 = f32(v, vs).requiresGrad(true);
                double[] g = normal(r, e.length);
                F.attention(q64, k64, v64, scale).backward(f64(g, os));
                F.attention(q32, k32, v32, scale).backward(f32(g, os));
                assertF32MatchesF64(name + " grad q", q64.grad(), q32.grad(), 1e-5);
                assertF32MatchesF64(name + " grad k", k64.grad(), k32.grad(), 1e-5);
                assertF32MatchesF64(name + " grad v", v64.grad(), v32.grad(), 1e-5);
            }
            GradCheck.check(name, in -> F.attention(in[0], in[1], in[2], scale), f64(q, qs), f64(k, ks), f64(v, vs));
        }
    }

    @Test void matchesTheUnfusedComposition() {
        double scale = 0.7;
        Tensor q = randn64(r, 2, 3, 4), k = randn64(r, 2, 5, 4), v = randn64(r, 2, 5, 3);
        try (Scope s = Scope.open()) {
            Tensor fused = F.attention(q, k, v, scale);
            Tensor unfused = F.softmax(q.matmul(k, false, true).mul(scale)).matmul(v);
            assertClose("fused vs unfused", unfused.toDoubles(), fused.toDoubles(), fused.shape(), 1e-13, 1e-14);
        }
        GradCheck.check("attention, scale 0.7", in -> F.attention(in[0], in[1], in[2], scale), q, k, v);
    }

    @Test void validation() {
        try (Scope s = Scope.open()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> F.attention(randn64(r, 2, 3, 4), randn64(r, 2, 5, 3), randn64(r, 2, 5, 3), 1));
            assertTrue(e.getMessage().contains("[2, 3, 4]") && e.getMessage().contains("[2, 5, 3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> F.attention(randn64(r, 2, 3, 4), randn64(r, 2, 5, 4), randn64(r, 2, 6, 3), 1));
            assertTrue(e.getMessage().contains("[2, 6, 3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> F.attention(randn64(r, 3, 4), randn64(r, 2, 5, 4), randn64(r, 2, 5, 3), 1));
            assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("rank 3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> F.attention(randn64(r, 2, 3, 4), toF32(randn64(r, 2, 5, 4)), randn64(r, 2, 5, 3), 1));
            assertTrue(e.getMessage().contains("f32") && e.getMessage().contains("f64"), e.getMessage());
        }
    }
}
