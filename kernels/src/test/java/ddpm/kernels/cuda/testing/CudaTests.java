package ddpm.kernels.cuda.testing;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.kernels.cuda.CudaBackend;
import ddpm.kernels.cuda.CudaBackendProvider;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * For tests tagged "gpu" in every module. They run twice in `mvn verify` (see the root pom): with
 * {@code -Dddpm.cuda.driver=host} on the host driver (the .cu kernels compiled for the CPU) and with
 * the JCuda driver on a real GPU. Where the selected driver cannot run they skip, saying why;
 * with {@code -Dddpm.cuda.required=true} that skip is a failure instead, so a GPU run cannot pass
 * green without having tested anything.
 */
public final class CudaTests {
    private CudaTests() {}

    public static final Device GPU = Device.cuda(0);

    /** Skips (or, when required, fails) unless the selected CUDA driver can open device 0. */
    public static void assumeCuda() {
        String why = CudaBackendProvider.unavailableReason();
        if (why == null) {
            try {
                Backends.get(GPU);
            } catch (RuntimeException e) {
                why = e.getMessage();
            }
        }
        if (why != null && Boolean.getBoolean("ddpm.cuda.required"))
            fail("CUDA is required here (-Dddpm.cuda.required=true) but the " + CudaBackendProvider.driverKind()
                    + " driver cannot run: " + why);
        String reason = why;
        assumeTrue(reason == null, () -> "no usable CUDA device (" + CudaBackendProvider.driverKind() + " driver): " + reason);
    }

    /** The CUDA backend under test (after {@link #assumeCuda}). */
    public static CudaBackend backend() { return (CudaBackend) Backends.get(GPU); }

    /** True when the kernels run on the host driver (the CPU): tests keep batches small there. */
    public static boolean onHost() { return backend().driverKind().equals("host"); }

    /** {@code device} on a GPU, {@code host} on the host driver: problem sizes for the two. */
    public static int pick(int device, int host) { return onHost() ? host : device; }

    public static Backend cpu() { return Backends.cpu(); }
}
