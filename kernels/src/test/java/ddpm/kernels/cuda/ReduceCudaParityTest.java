package ddpm.kernels.cuda;

import ddpm.engine.Ops;
import org.junit.jupiter.api.Test;

/** reduce.cu against the CPU (which accumulates in double): the direct paths (a warp or a block per
 *  row, column tiles) and the split ones (chunks of n into partials, then a second pass). */
class ReduceCudaParityTest extends CudaTestBase {
    void at(int outer, int n, int inner, double tol) {
        for (Ops.Reduce op : Ops.Reduce.values()) {
            P x = rand(outer, n, inner);
            P o = out(outer, inner);
            cpu.reduce(op, x.c(), outer, n, inner, o.c());
            gpu.reduce(op, x.g(), outer, n, inner, o.g());
            String what = "reduce " + op + " [" + outer + "," + n + "," + inner + "]";
            if (op == Ops.Reduce.SUM) sumClose(what, x, o, outer, n, inner, SUM_TOL);
            else assertClose(what, o, op == Ops.Reduce.MAX || op == Ops.Reduce.MIN ? 0 : tol);
        }
    }

    /**
     * A float sum's error against Σ|x|: measured up to 1.6e-7 (sums of 4 terms, where it is the
     * rounding of the float result itself) and ~1e-9 for the long rows; 4 float ulps leave margin,
     * and one term of 0.5 lost from the 1M-term row (9e-7) still fails it.
     */
    static final double SUM_TOL = 5e-7;

    /**
     * A sum of values of both signs can cancel to almost nothing, where a float accumulation's error
     * is small against the terms but not against the result: the error of each output is measured
     * against Σ|x| of its terms (the sum's condition), which a float sum keeps to ~1e-7·√n.
     */
    static void sumClose(String what, P x, P o, int outer, int n, int inner, double tol) {
        float[] xs = x.c().toFloats(), e = o.c().toFloats(), a = o.g().toFloats();
        double worst = 0;
        for (int b = 0; b < outer; b++)
            for (int i = 0; i < inner; i++) {
                double abs = 1e-30;
                for (int k = 0; k < n; k++) abs += Math.abs(xs[(b * n + k) * inner + i]);
                double err = Math.abs((double) a[b * inner + i] - e[b * inner + i]) / abs;
                if (!(err <= worst)) worst = err;   // NaN too
            }
        if (!(worst <= tol)) org.junit.jupiter.api.Assertions.fail(String.format(
                "%s: max error %.3g of Σ|x| > %.3g (seed %d)", what, worst, tol, seed));
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

    @Test void blockRows() { at(6, 5001, 1, 1e-5); at(5, 3001, 1, 1e-5); }

    /** The global gradient norm's shape: one long row, split over many blocks. */
    @Test void splitOneLongRow() { at(1, 1_000_003, 1, 1e-5); }

    /** Few column tiles and a long reduced axis: split too. */
    @Test void splitColumns() { at(2, 20_001, 3, 1e-5); at(1, 777, 70, 1e-5); }

    @Test void columns() { at(7, 13, 5, 1e-6); at(1, 300, 33, 1e-5); }

    @Test void oneRowAll() { at(1, 100_003, 1, 1e-5); }

    /** U-Net: bias gradient over the batch, [1, 128, 256·16·16], and a channel sum. */
    @Test void uNet() { at(1, pick(128, 4), 256 * 256, 1e-5); at(pick(128, 4) * 256, 256, 1, 1e-5); }
}
