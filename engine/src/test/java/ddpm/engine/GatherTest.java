package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** gather (embedding lookup) and its scatter-add backward, with repeated indices. */
class GatherTest {
    private final Random r = new Random(42);

    @Test void forwardAndGradients() {
        int[] ts = {5, 3, 2};
        int[] idx = {4, 0, 4, 2, 4};
        double[] t = normal(r, 30), e = new double[idx.length * 6];
        for (int b = 0; b < idx.length; b++) System.arraycopy(t, idx[b] * 6, e, b * 6, 6);
        try (Scope s = Scope.open()) {
            Tensor index = Tensor.ofInts(idx, Device.CPU, idx.length);
            Tensor y = F.gather(f64(t, ts), index);
            assertTensor("gather", e, new int[]{5, 3, 2}, y, 0, 0);
            assertF32MatchesF64("gather", f64(roundToFloat(e), 5, 3, 2), F.gather(f32(t, ts), index), 0);
            Tensor table = f64(t, ts).requiresGrad(true);
            double[] g = normal(r, 30), ge = new double[30];
            for (int b = 0; b < idx.length; b++) for (int k = 0; k < 6; k++) ge[idx[b] * 6 + k] += g[b * 6 + k];
            F.gather(table, index).backward(f64(g, 5, 3, 2));
            assertTensor("scatterAdd", ge, ts, table.grad(), 1e-15, 1e-15);
            // a vector table (per-timestep coefficients)
            Tensor vec = f64(new double[]{10, 11, 12}, 3);
            assertArrayEquals(new double[]{12, 10, 12}, F.gather(vec, Tensor.ofInts(new int[]{2, 0, 2}, Device.CPU, 3)).toDoubles());
        }
        GradCheck.check("gather", in -> F.gather(in[0], in[1]), f64(t, ts), Tensor.ofInts(idx, Device.CPU, idx.length));
    }

    @Test void errors() {
        try (Scope s = Scope.open()) {
            Tensor table = randn64(r, 4, 2);
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
                    () -> F.gather(table, Tensor.ofInts(new int[]{1, 4}, Device.CPU, 2)));
            assertTrue(e.getMessage().contains("4") && e.getMessage().contains("[0, 4)"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> F.gather(table, Tensor.ofInts(new int[]{-1}, Device.CPU, 1)));
            IllegalArgumentException a = assertThrows(IllegalArgumentException.class, () -> F.gather(table, randn64(r, 2)));
            assertTrue(a.getMessage().contains("f64[2]"), a.getMessage());
            a = assertThrows(IllegalArgumentException.class, () -> F.gather(table, Tensor.ofInts(new int[]{1, 2}, Device.CPU, 1, 2)));
            assertTrue(a.getMessage().contains("i32[1, 2]"), a.getMessage());
            a = assertThrows(IllegalArgumentException.class, () -> F.gather(Tensor.of(new double[]{1}), Tensor.ofInts(new int[]{0}, Device.CPU, 1)));
            assertTrue(a.getMessage().contains("f64[]"), a.getMessage());
        }
    }
}
