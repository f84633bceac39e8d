package ddpm.kernels.cuda;

import ddpm.engine.Ops;
import org.junit.jupiter.api.Test;

/** reduce.cu against the CPU (which accumulates in double): all three launch paths. */
class ReduceCudaParityTest extends CudaTestBase {
    void at(int outer, int n, int inner, double tol) {
        for (Ops.Reduce op : Ops.Reduce.values()) {
            P x = rand(outer, n, inner);
            P o = out(outer, inner);
            cpu.reduce(op, x.c(), outer, n, inner, o.c());
            gpu.reduce(op, x.g(), outer, n, inner, o.g());
            assertClose("reduce " + op + " [" + outer + "," + n + "," + inner + "]", o,
                    op == Ops.Reduce.MAX || op == Ops.Reduce.MIN ? 0 : tol);
        }
    }

    /** MAX/MIN propagate NaN as Java's Math.max/min do (the CPU spec), in all three launch paths. */
    @Test void nanPropagates() {
        for (int[] on : new int[][]{{3, 33, 1}, {2, 2500, 1}, {2, 9, 37}})
            for (Ops.Reduce op : Ops.Reduce.values()) {
                float[] v = data((long) on[0] * on[1] * on[2], 1);
                v[v.length / 2] = Float.NaN;
                P x = of(v, on), o = out(on[0], on[2]);
                cpu.reduce(op, x.c(), on[0], on[1], on[2], o.c());
                gpu.reduce(op, x.g(), on[0], on[1], on[2], o.g());
                assertClose("reduce with NaN " + op + " " + java.util.Arrays.toString(on), o, 1e-5);
            }
    }

    @Test void warpRows() { at(9, 37, 1, 1e-6); }

    @Test void blockRows() { at(6, 5001, 1, 1e-5); }

    @Test void columns() { at(7, 13, 5, 1e-6); at(1, 300, 33, 1e-5); }

    @Test void oneRowAll() { at(1, 100_003, 1, 1e-5); }

    /** U-Net: bias gradient over the batch, [1, 128, 256·16·16], and a channel sum. */
    @Test void uNet() { at(1, pick(128, 4), 256 * 256, 1e-5); at(pick(128, 4) * 256, 256, 1, 1e-5); }
}
