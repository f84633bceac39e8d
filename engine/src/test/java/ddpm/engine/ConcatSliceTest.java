package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** concat, slice and flat views. */
class ConcatSliceTest {
    private final Random r = new Random(21);

    @Test void concatAlongEachAxis() {
        for (int ax = -1; ax < 3; ax++) {
            final int axis = ax, a = axis < 0 ? axis + 3 : axis;
            int[] s1 = {2, 3, 4}, s2 = {2, 3, 4}, s3 = {2, 3, 4};
            s1[a] = 1; s2[a] = 3; s3[a] = 2;
            int[] so = {2, 3, 4};
            so[a] = 6;
            double[] x1 = normal(r, (int) Shapes.numel(s1)), x2 = normal(r, (int) Shapes.numel(s2)), x3 = normal(r, (int) Shapes.numel(s3));
            double[] e = new double[(int) Shapes.numel(so)];
            for (int o = 0; o < e.length; o++) {
                int[] idx = unravel(o, so);
                int k = idx[a];
                double[] src; int[] ss;
                if (k < 1) { src = x1; ss = s1; }
                else if (k < 4) { src = x2; ss = s2; idx[a] -= 1; }
                else { src = x3; ss = s3; idx[a] -= 4; }
                int f = 0;
                for (int i = 0; i < 3; i++) f = f * ss[i] + idx[i];
                e[o] = src[f];
            }
            String name = "concat axis " + axis;
            try (Scope s = Scope.open()) {
                Tensor y = Tensor.concat(axis, f64(x1, s1), f64(x2, s2), f64(x3, s3));
                assertTensor(name, e, so, y, 0, 0);
                assertF32MatchesF64(name, f64(roundToFloat(e), so), Tensor.concat(axis, f32(x1, s1), f32(x2, s2), f32(x3, s3)), 0);
            }
            GradCheck.check(name, in -> Tensor.concat(axis, in[0], in[1], in[2]), f64(x1, s1), f64(x2, s2), f64(x3, s3));
        }
        GradCheck.of("concat, one constant", in -> Tensor.concat(1, in[0], in[1])).skip(0).check(randn64(r, 2, 2), randn64(r, 2, 3));
    }

    @Test void sliceAlongEachAxis() {
        int[] shape = {3, 5, 4};
        double[] x = normal(r, 60);
        int[][] cuts = {{0, 1, 3}, {1, 2, 5}, {2, 0, 1}, {-1, 1, 4}, {1, 0, 5}, {0, 2, 2}};
        for (int[] c : cuts) {
            int axis = c[0], a = axis < 0 ? axis + 3 : axis, start = c[1], end = c[2];
            int[] so = shape.clone();
            so[a] = end - start;
            double[] e = new double[(int) Shapes.numel(so)];
            for (int o = 0; o < e.length; o++) {
                int[] idx = unravel(o, so);
                idx[a] += start;
                e[o] = x[(idx[0] * 5 + idx[1]) * 4 + idx[2]];
            }
            String name = "slice axis " + axis + " [" + start + ", " + end + ")";
            try (Scope s = Scope.open()) {
                Tensor y = f64(x, shape).slice(axis, start, end);
                assertTensor(name, e, so, y, 0, 0);
                assertF32MatchesF64(name, f64(roundToFloat(e), so), f32(x, shape).slice(axis, start, end), 0);
            }
            if (end > start) GradCheck.check(name, in -> in[0].slice(axis, start, end), f64(x, shape));
        }
    }

    @Test void sliceOfIntsAndConcatOfInts() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.ofInts(new int[]{1, 2, 3, 4, 5, 16777217}, Device.CPU, 2, 3);
            assertArrayEquals(new int[]{2, 3, 5, 16777217}, t.slice(1, 1, 3).toInts(), "int slices copy exactly");
            assertArrayEquals(new int[]{1, 2, 3, 4, 5, 16777217, 1, 2, 3, 4, 5, 16777217}, Tensor.concat(0, t, t).toInts());
        }
    }

    @Test void flatViewsShareStorage() {
        try (Scope s = Scope.open()) {
            Tensor flat = f64(new double[]{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10);
            Tensor v = flat.flatView(3, 2, 2);
            assertArrayEquals(new double[]{3, 4, 5, 6}, v.toDoubles());
            v.fill(-1);
            assertArrayEquals(new double[]{0, 1, 2, -1, -1, -1, -1, 7, 8, 9}, flat.toDoubles());
            // ops on a view read from its offset
            assertArrayEquals(new double[]{-2, -2, -2, -2}, v.mul(2).toDoubles());
            Tensor w = flat.flatView(7, 3);
            assertArrayEquals(new double[]{14, 16, 18}, w.add(w).toDoubles());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> flat.flatView(8, 3));
            assertTrue(e.getMessage().contains("[3]") && e.getMessage().contains("8") && e.getMessage().contains("[10]"), e.getMessage());
        }
    }

    @Test void errors() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 3, 5);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> x.slice(1, 2, 6));
            assertTrue(e.getMessage().contains("[2, 6)") && e.getMessage().contains("[3, 5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.slice(2, 0, 1));
            assertTrue(e.getMessage().contains("axis 2") && e.getMessage().contains("rank 2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.concat(0, x, randn64(r, 3, 4)));
            assertTrue(e.getMessage().contains("[3, 5]") && e.getMessage().contains("[3, 4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.concat(0, x, randn64(r, 15)));
            assertTrue(e.getMessage().contains("[15]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.concat(0, x, toF32(x)));
            assertTrue(e.getMessage().contains("f32") && e.getMessage().contains("f64"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Tensor.concat(0));
        }
    }
}
