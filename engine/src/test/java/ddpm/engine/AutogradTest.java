package ddpm.engine;

import ddpm.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** The autograd machinery: fan-out, accumulation, no-grad, detach, zeroGrad, errors. */
class AutogradTest {
    private final Random r = new Random(11);

    @Test void fanOutAccumulates() {
        try (Scope s = Scope.open()) {
            double[] xv = normal(r, 6);
            Tensor x = f64(xv, 2, 3).requiresGrad(true);
            // y = x·2 + x·3 + x² : x used three times
            Tensor y = x.mul(2).add(x.mul(3)).add(x.square()).sum();
            y.backward();
            double[] g = x.grad().toDoubles();
            for (int i = 0; i < 6; i++) assertEquals(5 + 2 * xv[i], g[i], 1e-12, "element " + i);
        }
    }

    @Test void fanOutThroughSharedGradient() {
        // add passes its gradient on unchanged to both inputs; both branches must still see it
        try (Scope s = Scope.open()) {
            double[] xv = normal(r, 5);
            Tensor x = f64(xv, 5).requiresGrad(true);
            Tensor a = x.mul(2), b = x.exp();
            Tensor y = a.add(b).mul(a.add(b)).sum();   // (2x + eˣ)²
            y.backward();
            double[] g = x.grad().toDoubles();
            for (int i = 0; i < 5; i++) {
                double u = 2 * xv[i] + Math.exp(xv[i]);
                assertEquals(2 * u * (2 + Math.exp(xv[i])), g[i], 1e-10, "element " + i);
            }
        }
    }

    @Test void diamondGraphGradCheck() {
        GradCheck.check("diamond", in -> {
            Tensor x = in[0];
            Tensor a = x.tanh(), b = x.sin();
            Tensor c = a.add(b);
            return c.mul(a).add(c.mul(b)).add(x.add(x));
        }, randn64(r, 3, 5));
    }

    @Test void sameTensorTwiceInOneOp() {
        try (Scope s = Scope.open()) {
            double[] xv = normal(r, 4);
            Tensor x = f64(xv, 4).requiresGrad(true);
            x.add(x).mul(x).sum().backward();   // 2x² → 4x
            double[] g = x.grad().toDoubles();
            for (int i = 0; i < 4; i++) assertEquals(4 * xv[i], g[i], 1e-12);
        }
    }

    @Test void accumulatesAcrossBackwardCalls() {
        try (Scope s = Scope.open()) {
            double[] xv = normal(r, 3);
            Tensor x = f64(xv, 3).requiresGrad(true);
            Tensor y = x.square().sum();
            y.backward();
            y.backward();   // the graph survives a backward pass
            x.mul(3).sum().backward();
            double[] g = x.grad().toDoubles();
            for (int i = 0; i < 3; i++) assertEquals(4 * xv[i] + 3, g[i], 1e-12);
            Tensor gradBuffer = x.grad();
            x.zeroGrad();
            assertSame(gradBuffer, x.grad(), "zeroGrad keeps the buffer");
            assertArrayEquals(new double[3], x.grad().toDoubles());
            x.mul(2).sum().backward();
            assertArrayEquals(new double[]{2, 2, 2}, x.grad().toDoubles());
        }
    }

    @Test void backwardWithExplicitGradient() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1, 2, 3}, 3).requiresGrad(true);
            Tensor y = x.square();
            y.backward(f64(new double[]{1, 10, 100}, 3));
            assertArrayEquals(new double[]{2, 40, 600}, x.grad().toDoubles(), 1e-12);
        }
    }

    @Test void noGradRecordsNothing() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 3).requiresGrad(true);
            Tensor y;
            try (Grad.Guard g = Grad.noGrad()) {
                assertFalse(Grad.enabled());
                y = x.mul(2).exp();
                try (Grad.Guard g2 = Grad.noGrad()) { assertFalse(Grad.enabled()); }
                assertFalse(Grad.enabled(), "nested no-grad guards restore the outer state");
            }
            assertTrue(Grad.enabled());
            assertFalse(y.requiresGrad());
            assertTrue(y.isLeaf());
            assertThrows(IllegalStateException.class, () -> y.sum().backward());
            Tensor z = x.mul(2);
            assertTrue(z.requiresGrad());
            assertFalse(z.isLeaf());
            assertEquals("affine", z.gradNode().op());
        }
    }

    @Test void enableGradRecordsInsideNoGradAndRestores() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 3);
            try (Grad.Guard g = Grad.noGrad(); Grad.Guard g2 = Grad.noGrad()) {
                Tensor y;
                try (Grad.Guard on = Grad.enableGrad()) {
                    assertTrue(Grad.enabled());
                    Tensor leaf = x.detach().requiresGrad(true);
                    y = leaf.mul(leaf).sum();
                    assertTrue(y.requiresGrad());
                    y.backward();
                    double[] xv = x.toDoubles(), gv = leaf.grad().toDoubles();
                    for (int i = 0; i < xv.length; i++) assertEquals(2 * xv[i], gv[i], 1e-15);
                    on.close();
                    on.close();
                }
                assertFalse(Grad.enabled(), "closing restores the no-grad state (twice closed, once counted)");
            }
            assertTrue(Grad.enabled());
        }
    }

    @Test void noGradGuardClosedTwiceIsHarmless() {
        Grad.Guard g = Grad.noGrad();
        g.close();
        g.close();
        assertTrue(Grad.enabled(), "closing a guard twice must not leave grad mode off");
    }

    @Test void detachCutsTheGraph() {
        try (Scope s = Scope.open()) {
            double[] xv = normal(r, 4);
            Tensor x = f64(xv, 4).requiresGrad(true);
            Tensor d = x.square().detach();
            assertFalse(d.requiresGrad());
            assertTrue(d.isLeaf());
            // y = x · stopgrad(x²): dy/dx = x²
            x.mul(d).sum().backward();
            double[] g = x.grad().toDoubles();
            for (int i = 0; i < 4; i++) assertEquals(xv[i] * xv[i], g[i], 1e-12);
            // detach shares storage
            Tensor e = x.detach();
            e.fill(7);
            assertEquals(7, x.toDoubles()[0]);
        }
    }

    @Test void inputsWithoutGradGetNone() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 3).requiresGrad(true);
            Tensor c = randn64(r, 3);
            x.mul(c).sum().backward();
            assertNull(c.grad());
            assertArrayEquals(c.toDoubles(), x.grad().toDoubles());
        }
    }

    @Test void backwardErrors() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 2, 3).requiresGrad(true);
            Tensor y = x.mul(2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, y::backward);
            assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
            IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> y.backward(randn64(r, 3, 2)));
            assertTrue(e2.getMessage().contains("[3, 2]") && e2.getMessage().contains("[2, 3]"), e2.getMessage());
            Tensor c = randn64(r, 2);
            IllegalStateException e3 = assertThrows(IllegalStateException.class, () -> c.sum().backward());
            assertTrue(e3.getMessage().contains("does not require grad"), e3.getMessage());
            assertThrows(IllegalStateException.class, () -> y.requiresGrad(false));
            Tensor wrongDType = Tensor.ofDoubles(DType.F32, Device.CPU, new double[6], 2, 3);
            IllegalArgumentException e4 = assertThrows(IllegalArgumentException.class, () -> y.backward(wrongDType));
            assertTrue(e4.getMessage().contains("f32") && e4.getMessage().contains("f64"), e4.getMessage());
        }
    }

    @Test void leafBackwardAndSetGrad() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1, 2}, 2).requiresGrad(true);
            Tensor buf = f64(new double[]{10, 10}, 2);
            x.setGrad(buf);
            x.backward(f64(new double[]{1, 2}, 2));
            assertSame(buf, x.grad());
            assertArrayEquals(new double[]{11, 12}, buf.toDoubles());
            assertThrows(IllegalArgumentException.class, () -> x.setGrad(f64(new double[3], 3)));
        }
    }

    @Test void deepChainDoesNotOverflowTheStack() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1}, 1).requiresGrad(true);
            Tensor y = x;
            for (int i = 0; i < 5000; i++) y = y.mul(1.0);
            y.sum().backward();
            assertEquals(1, x.grad().item(), 0);
        }
    }

    @Test void castAndReshapeAreDifferentiable() {
        // finite differences cannot see through float rounding: check the cast's gradient directly
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{0.5, -0.25, 2}, 3).requiresGrad(true);
            Tensor y = x.to(DType.F32);
            assertEquals(DType.F32, y.dtype());
            y.to(DType.F64).mul(f64(new double[]{1, 2, 3}, 3)).sum().backward();
            assertEquals(DType.F64, x.grad().dtype());
            assertArrayEquals(new double[]{1, 2, 3}, x.grad().toDoubles());
        }
        GradCheck.check("reshape/flatten", in -> in[0].reshape(5, 3).flatten().mul(in[1].flatten()),
                randn64(r, 3, 5), randn64(r, 15));
    }
}
