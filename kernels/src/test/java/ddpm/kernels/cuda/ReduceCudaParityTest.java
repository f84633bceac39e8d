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

    @Test void warpRows() { at(9, 37, 1, 1e-6); }

    @Test void blockRows() { at(6, 5001, 1, 1e-5); }

    @Test void columns() { at(7, 13, 5, 1e-6); at(1, 300, 33, 1e-5); }

    @Test void oneRowAll() { at(1, 100_003, 1, 1e-5); }

    /** U-Net: bias gradient over the batch, [1, 128, 256·16·16], and a channel sum. */
    @Test void uNet() { at(1, 128, 256 * 256, 1e-5); at(128 * 256, 256, 1, 1e-5); }
}
