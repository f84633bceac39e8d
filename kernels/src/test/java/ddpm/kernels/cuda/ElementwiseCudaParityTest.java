package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** elementwise.cu against the CPU: unary ± backward, broadcast binary, affine, pow, clamp, where, casts. */
class ElementwiseCudaParityTest extends CudaTestBase {
    static final double TOL = 2e-6;          // a few float ulps (transcendentals: CUDA ≤ 2 ulp)

    static boolean positiveDomain(Ops.Unary op) {
        return op == Ops.Unary.LOG || op == Ops.Unary.SQRT || op == Ops.Unary.RSQRT;
    }

    void unaryAt(int... shape) {
        for (Ops.Unary op : Ops.Unary.values()) {
            P x = positiveDomain(op) ? randPos(shape) : rand(shape);
            P y = out(shape);
            cpu.unary(op, x.c(), y.c());
            gpu.unary(op, x.g(), y.g());
            assertClose("unary " + op, y, TOL);
            // backward from the CPU's y on both sides, and with y = null on the GPU (recomputed)
            P gy = rand(shape), gx = out(shape);
            Tensor yOnGpu = y.c().to(GPU);
            cpu.unaryBackward(op, x.c(), y.c(), gy.c(), gx.c());
            gpu.unaryBackward(op, x.g(), yOnGpu, gy.g(), gx.g());
            assertClose("unaryBackward " + op, gx, 1e-5);
            gx.g().fill(Double.NaN);
            gpu.unaryBackward(op, x.g(), null, gy.g(), gx.g());
            assertClose("unaryBackward (y null) " + op, gx, 1e-5);
        }
    }

    @Test void unarySmall() { unaryAt(3, 5, 7); }

    @Test void unaryUNet() { unaryAt(pick(128, 2), 128, 32, 32); }

    void binaryAt(int[] as, int[] bs, int[] os) {
        for (Ops.Binary op : Ops.Binary.values()) {
            P a = op == Ops.Binary.POW ? randPos(as) : rand(as);
            P b = rand(bs);
            P o = out(os);
            cpu.binary(op, a.c(), b.c(), o.c());
            gpu.binary(op, a.g(), b.g(), o.g());
            assertClose("binary " + op + " " + java.util.Arrays.toString(as) + " , " + java.util.Arrays.toString(bs), o,
                    op == Ops.Binary.POW ? 1e-5 : TOL);
        }
    }

    @Test void binaryShapes() {
        binaryAt(new int[]{3, 5, 7}, new int[]{3, 5, 7}, new int[]{3, 5, 7});       // flat
        binaryAt(new int[]{3, 5, 7}, new int[]{1}, new int[]{3, 5, 7});             // scalar b
        binaryAt(new int[]{}, new int[]{3, 5, 7}, new int[]{3, 5, 7});              // scalar a
        binaryAt(new int[]{3, 5, 7}, new int[]{5, 1}, new int[]{3, 5, 7});          // general
        binaryAt(new int[]{1, 5, 7}, new int[]{3, 1, 7}, new int[]{3, 5, 7});       // both broadcast
        binaryAt(new int[]{2, 3, 1, 4, 1, 5, 1, 2, 3}, new int[]{3, 4, 2, 1, 2, 1, 3},
                new int[]{2, 3, 3, 4, 2, 5, 2, 2, 3});                               // rank 9, merges to ≤ 8
    }

    @Test void binaryUNetBias() {
        int n = pick(128, 2);
        binaryAt(new int[]{n, 256, 16, 16}, new int[]{1, 256, 1, 1}, new int[]{n, 256, 16, 16});
        binaryAt(new int[]{n, 256, 16, 16}, new int[]{n, 256, 1, 1}, new int[]{n, 256, 16, 16});
    }

    @Test void equalityAndComparisonsExact() {
        P a = rand(4, 9);
        P o = out(4, 9);
        cpu.binary(Ops.Binary.EQ, a.c(), a.c(), o.c());
        gpu.binary(Ops.Binary.EQ, a.g(), a.g(), o.g());
        assertArrayEquals(o.c().toFloats(), o.g().toFloats());
    }

    @Test void viewsAtOffsets() {
        // flat views starting at odd element offsets exercise the storage-offset arithmetic
        P big = rand(101);
        Tensor ac = big.c().flatView(3, 7, 5), ag = big.g().flatView(3, 7, 5);
        Tensor bc = big.c().flatView(41, 5), bg = big.g().flatView(41, 5);
        P o = out(7, 5);
        cpu.binary(Ops.Binary.MUL, ac, bc, o.c());
        gpu.binary(Ops.Binary.MUL, ag, bg, o.g());
        assertClose("mul of views", o, TOL);
    }

    void scalarsAt(int... shape) {
        P x = rand(shape), xp = randPos(shape);
        P o = out(shape);
        cpu.affine(x.c(), 1.7, -0.3, o.c());
        gpu.affine(x.g(), 1.7, -0.3, o.g());
        assertClose("affine", o, TOL);
        for (double p : new double[]{2, 0.5, 1, 3, -1.5, 2.2}) {
            P src = (p == 3 || p == 2 || p == 1) ? x : xp;
            cpu.powScalar(src.c(), p, o.c());
            gpu.powScalar(src.g(), p, o.g());
            assertClose("powScalar " + p, o, 1e-5);
        }
        cpu.clamp(x.c(), -0.4, 0.6, o.c());
        gpu.clamp(x.g(), -0.4, 0.6, o.g());
        assertClose("clamp", o, 0);
    }

    @Test void scalarsSmall() { scalarsAt(5, 3, 7); }

    @Test void scalarsUNet() { scalarsAt(pick(128, 8), 3, 32, 32); }

    @Test void whereBroadcast() {
        P a = rand(4, 5, 6), b = rand(5, 1), o = out(4, 5, 6);
        P x = rand(4, 1, 6), zero = of(new float[]{0}, 1);
        P cond = out(4, 1, 6);
        cpu.binary(Ops.Binary.GT, x.c(), zero.c(), cond.c());
        gpu.binary(Ops.Binary.GT, x.g(), zero.g(), cond.g());
        cpu.where(cond.c(), a.c(), b.c(), o.c());
        gpu.where(cond.g(), a.g(), b.g(), o.g());
        assertClose("where (F32 cond)", o, 0);
        int[] ci = new int[24];
        for (int i = 0; i < ci.length; i++) ci[i] = rnd.nextInt(3) - 1;
        P icond = ints(ci, 4, 1, 6);
        cpu.where(icond.c(), a.c(), b.c(), o.c());
        gpu.where(icond.g(), a.g(), b.g(), o.g());
        assertClose("where (I32 cond)", o, 0);
    }

    @Test void castsAndCopies() {
        float[] d = {1.5f, -2.7f, 3e9f, -3e9f, Float.NaN, 0.49f, -0.5f};
        Tensor f = Tensor.of(d, GPU, 7);
        Tensor i = Tensor.empty(DType.I32, GPU, 7);
        gpu.copy(f, i);
        int[] expect = new int[d.length];
        for (int k = 0; k < d.length; k++) expect[k] = (int) d[k];
        assertArrayEquals(expect, i.toInts());
        Tensor back = Tensor.empty(DType.F32, GPU, 7);
        gpu.copy(i, back);
        float[] eb = new float[d.length];
        for (int k = 0; k < d.length; k++) eb[k] = expect[k];
        assertArrayEquals(eb, back.toFloats());
        Tensor filled = Tensor.empty(DType.I32, GPU, 5).fill(-7);
        assertArrayEquals(new int[]{-7, -7, -7, -7, -7}, filled.toInts());
        double[] dd = {0.25, -1e-3, 7};
        assertArrayEquals(new float[]{0.25f, -1e-3f, 7f}, Tensor.ofDoubles(DType.F32, GPU, dd, 3).toFloats());
    }

    @Test void otherDtypesAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.allocate(DType.F64, 4));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("F64"), e.getMessage());
        Tensor i = Tensor.ofInts(new int[]{1, 2}, GPU, 2);
        Tensor o = Tensor.empty(DType.F32, GPU, 2);
        assertThrows(IllegalArgumentException.class, () -> gpu.unary(Ops.Unary.EXP, i, o));
        assertThrows(IllegalArgumentException.class, () -> Tensor.empty(DType.F64, Device.cuda(0), 2));
    }
}
