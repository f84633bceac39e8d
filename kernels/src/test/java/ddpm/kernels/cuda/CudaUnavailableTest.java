package ddpm.kernels.cuda;

import ddpm.engine.Backends;
import ddpm.engine.Device;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Without a GPU, asking for CUDA gives a clear one-line reason, never a crash or a JCuda trace. */
class CudaUnavailableTest {
    @Test
    void providerIsRegistered() {
        boolean found = false;
        for (ddpm.engine.BackendProvider p : java.util.ServiceLoader.load(ddpm.engine.BackendProvider.class))
            found |= p instanceof CudaBackendProvider && p.kind() == Device.Kind.CUDA;
        assertTrue(found, "META-INF/services registers CudaBackendProvider");
    }

    @Test
    void noGpuGivesClearMessage() {
        String why = CudaBackendProvider.unavailableReason();
        assumeTrue(why != null, "a CUDA device is usable here; this test is for machines without one");
        CudaException e = assertThrows(CudaException.Unavailable.class, () -> new CudaBackendProvider().open(Device.cuda(0)));
        String m = e.getMessage();
        assertTrue(m.startsWith("CUDA unavailable"), m);
        assertFalse(m.contains("\n"), "one line: " + m);
        assertTrue(m.length() < 400, "short: " + m);
        // a second attempt answers the same (cached) reason instead of failing differently
        assertEquals(m, assertThrows(CudaException.Unavailable.class, () -> new CudaBackendProvider().open(Device.cuda(0))).getMessage());
        // the engine's view: a clear IllegalStateException, and best() falls back to the CPU
        IllegalStateException ise = assertThrows(IllegalStateException.class, () -> Backends.get(Device.cuda(0)));
        assertTrue(ise.getMessage().contains("CUDA unavailable"), ise.getMessage());
        assertFalse(Backends.available(Device.cuda(0)));
        assertEquals(Device.CPU, Backends.best());
    }
}
