package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Scopes release what they own, deterministically; the CPU backend's live bytes prove it. */
class ScopeTest {
    private final Random r = new Random(5);

    private static long live() { return Backends.cpu().memoryStats().liveBytes(); }

    @Test void releasesEverythingAtClose() {
        long before = live();
        Tensor a, b;
        try (Scope s = Scope.open()) {
            a = randn64(r, 3, 5);
            b = a.exp().add(a).sum(1);
            assertTrue(live() >= before + 15 * 8 + 3 * 8, "tensors are live inside the scope");
            assertTrue(s.size() >= 3);
            assertSame(s, Scope.current());
        }
        assertEquals(before, live(), "live bytes return to their value before the scope");
        assertTrue(a.isReleased() && b.isReleased());
        assertNull(Scope.current());
    }

    @Test void releasesTheWholeGraphAfterBackward() {
        long before = live();
        Tensor w = randn64(r, 4, 3).requiresGrad(true);   // a parameter, outside any scope
        long withParam = live();
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 2, 4);
            Tensor loss = x.matmul(w).tanh().square().mean();
            loss.backward();
        }
        assertFalse(w.isReleased());
        assertNotNull(w.grad());
        assertFalse(w.grad().isReleased(), "a parameter's gradient outlives the step's scope");
        assertEquals(withParam + 4 * 3 * 8, live(), "only the parameter and its gradient remain");
        w.grad().close();
        w.close();
        assertEquals(before, live());
    }

    @Test void keepHandsToTheEnclosingScope() {
        long before = live();
        Tensor kept;
        try (Scope outer = Scope.open()) {
            try (Scope inner = Scope.open()) {
                Tensor t = randn64(r, 2, 2);
                int outerBefore = outer.size();
                kept = inner.keep(t.mul(2));
                assertEquals(outerBefore + 1, outer.size(), "the enclosing scope adopts the kept tensor");
            }
            assertFalse(kept.isReleased(), "kept tensor survives its scope");
            assertEquals(4, kept.toDoubles().length);
        }
        assertTrue(kept.isReleased(), "then the enclosing scope releases it");
        assertEquals(before, live());

        Tensor free;
        try (Scope s = Scope.open()) { free = s.keep(randn64(r, 3)); }
        assertFalse(free.isReleased(), "kept from the outermost scope: owned by nobody");
        free.close();
        assertTrue(free.isReleased());
        assertEquals(before, live());
    }

    @Test void keepOfAForeignTensorThrows() {
        try (Scope a = Scope.open()) {
            Tensor t = randn64(r, 2).named("t");
            try (Scope b = Scope.open()) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.keep(t));
                assertTrue(e.getMessage().contains("'t'") && e.getMessage().contains("[2]"), e.getMessage());
            }
        }
    }

    @Test void useAfterReleaseThrowsNamingTheTensor() {
        Tensor t;
        try (Scope s = Scope.open()) { t = randn64(r, 3, 4).named("activations"); }
        IllegalStateException e = assertThrows(IllegalStateException.class, t::toDoubles);
        assertTrue(e.getMessage().contains("'activations'") && e.getMessage().contains("[3, 4]")
                && e.getMessage().contains("released"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> t.add(t));
        assertThrows(IllegalStateException.class, () -> t.reshape(12));
        IllegalStateException d = assertThrows(IllegalStateException.class, t::detach);
        assertTrue(d.getMessage().contains("'activations'"), d.getMessage());
        assertThrows(IllegalStateException.class, () -> t.flatView(0, 2));
        assertTrue(t.toString().contains("released"));
        t.close();   // releasing twice is harmless
    }

    @Test void viewsKeepStorageAlive() {
        long before = live();
        try (Scope s = Scope.open()) {
            Tensor base = randn64(r, 4, 3);
            Tensor view = base.reshape(12);
            Scope.disown(view);
            double[] expect = base.toDoubles();
            s.close();
            assertTrue(base.isReleased());
            assertEquals(before + 12 * 8, live(), "the view holds the storage");
            assertArrayEquals(expect, view.toDoubles());
            view.close();
            assertEquals(before, live());
        }
    }

    @Test void closingOutOfOrderThrowsAndCanBeRetried() {
        long before = live();
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        randn64(r, 3);
        IllegalStateException e = assertThrows(IllegalStateException.class, outer::close);
        assertTrue(e.getMessage().contains("innermost"), e.getMessage());
        inner.close();
        outer.close();   // the failed attempt must not have marked it closed
        assertNull(Scope.current(), "both scopes left the stack");
        assertEquals(before, live());
    }

    @Test void tensorsOutsideAnyScopeLiveUntilClosed() {
        long before = live();
        Tensor t = randn64(r, 5);
        try (Scope s = Scope.open()) { t.mul(2); }
        assertFalse(t.isReleased());
        assertEquals(before + 5 * 8, live());
        t.close();
        assertEquals(before, live());
    }

    @Test void f32BytesCounted() {
        long before = live();
        try (Scope s = Scope.open()) {
            Tensor.zeros(7, 3);
            assertEquals(before + 7 * 3 * 4, live());
        }
        assertEquals(before, live());
    }
}
