package ddpm.engine;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * BF16 activations meeting F32 tensors at the op level (bf16 autocast): elementwise ops promote to
 * F32, layers (convolution, linear, group norm, attention) keep the activation's dtype, statistics
 * and dropout's scale stay float32, and every gradient comes back in its own tensor's dtype with the
 * values of the float32 computation on the same (rounded) inputs, within bfloat16 rounding.
 */
class MixedDtypeTest {
    Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }

    @AfterEach void close() { scope.close(); }

    static Tensor randn(long seed, DType dtype, int... shape) {
        return Tensor.randn(new Rng(seed), shape).to(DType.BF16).to(dtype);   // bf16-representable values either way
    }

    static void assertNear(Tensor want, Tensor got, double rel, String what) {
        float[] w = want.toFloats(), g = got.toFloats();
        double max = 1e-30;
        for (float v : w) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < w.length; i++)
            assertEquals(w[i], g[i], rel * max, what + " element " + i);
    }

    @Test void elementwiseOpsPromoteAndLayersKeepTheActivationDtype() {
        Tensor a = randn(1, DType.BF16, 3, 4), b = randn(2, DType.F32, 3, 4);
        assertEquals(DType.F32, a.add(b).dtype());
        assertEquals(DType.F32, b.mul(a).dtype());
        assertEquals(DType.BF16, a.mul(a).dtype());
        assertEquals(DType.F32, Tensor.concat(0, a, b).dtype());
        assertEquals(DType.BF16, Tensor.concat(0, a, a).dtype());
        assertEquals(DType.BF16, a.matmul(b, false, true).dtype(), "the left operand sets a matmul's dtype");
        assertEquals(DType.BF16, F.linear(a, randn(3, DType.F32, 5, 4), randn(4, DType.F32, 5)).dtype());
        assertEquals(DType.BF16, F.groupNorm(randn(5, DType.BF16, 2, 4, 3, 3), randn(6, DType.F32, 4), randn(7, DType.F32, 4), 2, 1e-5, true).dtype());
        Tensor q = randn(8, DType.BF16, 2, 5, 8);
        assertEquals(DType.BF16, F.attention(q, q, q, 0.3).dtype());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.add(a.to(DType.F64)));
        assertTrue(e.getMessage().contains("dtypes differ"), e.getMessage());
    }

    /** conv2d of a BF16 x with F32 weight and bias: each gradient in its tensor's dtype, near float32's. */
    @Test void gradientsComeBackInTheirTensorsDtype() {
        Tensor x = randn(1, DType.BF16, 2, 3, 7, 5).requiresGrad(true), w = randn(2, DType.F32, 4, 3, 3, 3).requiresGrad(true),
                b = randn(3, DType.F32, 4).requiresGrad(true);
        Tensor y = F.conv2d(x, w, b, 1, 1);
        assertEquals(DType.BF16, y.dtype());
        F.mseLoss(y, Tensor.zeros(2, 4, 7, 5)).backward();
        assertEquals(DType.BF16, x.grad().dtype());
        assertEquals(DType.F32, w.grad().dtype());
        assertEquals(DType.F32, b.grad().dtype());

        Tensor x32 = x.detach().to(DType.F32).requiresGrad(true), w32 = w.detach().copy().requiresGrad(true), b32 = b.detach().copy().requiresGrad(true);
        F.mseLoss(F.conv2d(x32, w32, b32, 1, 1), Tensor.zeros(2, 4, 7, 5)).backward();
        assertNear(x32.grad(), x.grad(), 1e-2, "grad x");
        assertNear(w32.grad(), w.grad(), 1e-2, "grad w");
        assertNear(b32.grad(), b.grad(), 1e-2, "grad b");
    }

    /** Dropout of a BF16 x: the mask and 1/(1−p) in float32, the product rounded once. */
    @Test void dropoutScalesInFloat32() {
        Tensor x = randn(4, DType.BF16, 3, 50);
        Tensor y = F.dropout(x, 0.1, new Rng(11), true), mask = Tensor.empty(DType.F32, Device.CPU, 3, 50);
        Backends.cpu().dropoutMask(mask, 0.1, 11, 0);   // the stream F.dropout drew from
        assertEquals(DType.BF16, y.dtype());
        float[] xv = x.toFloats(), mv = mask.toFloats(), yv = y.toFloats();
        int kept = 0;
        for (int i = 0; i < xv.length; i++) {
            assertEquals(BFloat16.round(xv[i] * mv[i]), yv[i], 0, "element " + i);
            if (mv[i] != 0) { kept++; assertEquals(1 / 0.9f, mv[i], 1e-7); }
        }
        assertTrue(kept > 100 && kept < 150, kept + " of 150 kept");
    }
}
