package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** permute, transpose and reshape. */
class PermuteTest {
    private final Random r = new Random(6);

    @Test void allPermutationsOfRank4() {
        int[] shape = {2, 3, 1, 5};
        double[] x = normal(r, 30);
        int[][] perms = {{0, 1, 2, 3}, {3, 2, 1, 0}, {0, 2, 3, 1}, {0, 3, 1, 2}, {1, 0, 3, 2}, {2, 0, 3, 1}, {-1, 0, 1, 2}};
        for (int[] p : perms) {
            int[] pp = p.clone();
            for (int i = 0; i < 4; i++) if (pp[i] < 0) pp[i] += 4;
            int[] so = new int[4];
            for (int i = 0; i < 4; i++) so[i] = shape[pp[i]];
            double[] e = new double[30];
            for (int o = 0; o < 30; o++) {
                int[] oi = unravel(o, so), ii = new int[4];
                for (int i = 0; i < 4; i++) ii[pp[i]] = oi[i];
                e[o] = x[((ii[0] * 3 + ii[1]) * 1 + ii[2]) * 5 + ii[3]];
            }
            String name = "permute " + java.util.Arrays.toString(p);
            try (Scope s = Scope.open()) {
                Tensor y = f64(x, shape).permute(p);
                assertTensor(name, e, so, y, 0, 0);
                assertF32MatchesF64(name, f64(roundToFloat(e), so), f32(x, shape).permute(p), 0);
            }
            GradCheck.check(name, in -> in[0].permute(p), f64(x, shape));
        }
    }

    @Test void transposeAndReshape() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1, 2, 3, 4, 5, 6}, 2, 3);
            assertArrayEquals(new double[]{1, 4, 2, 5, 3, 6}, x.transpose(0, 1).toDoubles());
            assertArrayEquals(new int[]{3, 2}, x.transpose(-1, -2).shape());
            assertArrayEquals(new int[]{3, 2}, x.reshape(3, -1).shape());
            assertArrayEquals(new int[]{6}, x.flatten().shape());
            assertArrayEquals(x.toDoubles(), x.reshape(1, 6, 1).toDoubles());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> x.reshape(4, 2));
            assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.reshape(-1, -1));
            assertTrue(e.getMessage().contains("[-1, -1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.reshape(4, -1));
            assertTrue(e.getMessage().contains("[4, -1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.reshape(-2, -3));
            assertTrue(e.getMessage().contains("[-2, -3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0));
            assertTrue(e.getMessage().contains("[0, 0]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.permute(0, 2));
            assertTrue(e.getMessage().contains("axis 2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> x.permute(0));
            assertTrue(e.getMessage().contains("[0]") && e.getMessage().contains("[2, 3]"), e.getMessage());
        }
        GradCheck.check("transpose of a batch", in -> in[0].transpose(1, 2).mul(in[0].transpose(1, 2)), randn64(r, 2, 3, 4));
    }
}
