package ddpm.engine;

import org.junit.jupiter.api.Test;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Anomaly mode names the first op (forward or backward) that produced a NaN or infinity. */
class AnomalyTest {
    @Test void forwardNaNNamesTheOp() {
        try (Scope s = Scope.open()) {
            Tensor x = f64(new double[]{1, -1, 2}, 3);
            assertTrue(Double.isNaN(x.log().toDoubles()[1]), "without anomaly mode NaN passes silently");
            try (Grad.Guard g = Grad.detectAnomaly()) {
                assertTrue(Grad.anomalyDetection());
                ArithmeticException e = assertThrows(ArithmeticException.class, x::log);
                assertTrue(e.getMessage().contains("'log'") && e.getMessage().contains("NaN") && e.getMessage().contains("index 1")
                        && e.getMessage().contains("[3]"), e.getMessage());
                ArithmeticException d = assertThrows(ArithmeticException.class, () -> x.div(f64(new double[]{1, 0, 1}, 3)));
                assertTrue(d.getMessage().contains("'div'") && d.getMessage().contains("Infinity"), d.getMessage());
                // finite results pass
                assertEquals(3, x.exp().numel());
            }
            assertFalse(Grad.anomalyDetection(), "the guard restores the previous mode");
        }
    }

    @Test void backwardInfinityNamesTheOp() {
        try (Scope s = Scope.open(); Grad.Guard g = Grad.detectAnomaly()) {
            Tensor x = f64(new double[]{4, 0, 1}, 3).requiresGrad(true);
            Tensor y = x.sqrt().sum();   // forward finite, d√x/dx = ∞ at 0
            ArithmeticException e = assertThrows(ArithmeticException.class, y::backward);
            assertTrue(e.getMessage().contains("backward of 'sqrt'") && e.getMessage().contains("Infinity")
                    && e.getMessage().contains("index 1"), e.getMessage());
        }
    }

    @Test void float32TooLarge() {
        try (Scope s = Scope.open(); Grad.Guard g = Grad.detectAnomaly()) {
            Tensor x = f32(new double[]{100, 1}, 2);
            ArithmeticException e = assertThrows(ArithmeticException.class, x::exp);   // e^100 overflows float
            assertTrue(e.getMessage().contains("'exp'") && e.getMessage().contains("f32[2]"), e.getMessage());
        }
    }
}
