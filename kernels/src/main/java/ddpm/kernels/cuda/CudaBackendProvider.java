package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.BackendProvider;
import ddpm.engine.Device;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Plugs the CUDA backend into the engine (META-INF/services/ddpm.engine.BackendProvider).
 * {@link #open} throws {@link CudaException.Unavailable} with one clear sentence when JCuda's
 * natives or the NVIDIA driver cannot be loaded, or there is no such device, so the engine can
 * log one line and fall back to the CPU.
 */
public final class CudaBackendProvider implements BackendProvider {
    private static volatile String initFailure;
    private static volatile boolean initDone;

    @Override public Device.Kind kind() { return Device.Kind.CUDA; }

    @Override public Backend open(Device device) {
        int count = init();
        if (device.index >= count)
            throw new CudaException.Unavailable("no CUDA device " + device.index + ": the driver reports " + count
                    + " device(s)", null);
        try {
            return new CudaBackend(device);
        } catch (CudaException e) {
            throw e;
        } catch (LinkageError e) {
            throw new CudaException.Unavailable("CUDA libraries failed to load while opening " + device + ": " + e, e);
        }
    }

    /** Loads the driver natives and runs cuInit once; returns the device count. */
    static synchronized int init() {
        if (initFailure != null) throw new CudaException.Unavailable(initFailure, null);
        try {
            if (!initDone) {
                JCudaDriver.setExceptionsEnabled(false);
                int r = JCudaDriver.cuInit(0);
                if (r != CUresult.CUDA_SUCCESS) {
                    initFailure = "CUDA unavailable: cuInit failed with " + Cuda.errorName(r)
                            + (r == CUresult.CUDA_ERROR_NO_DEVICE ? " (no NVIDIA GPU visible)" : "");
                    throw new CudaException.Unavailable(initFailure, null);
                }
                initDone = true;
            }
            int[] n = {0};
            Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
            if (n[0] == 0) throw new CudaException.Unavailable("CUDA unavailable: the driver reports no devices", null);
            return n[0];
        } catch (LinkageError e) {
            // JCuda's natives load in JCudaDriver's static initialiser; they need libcuda.so.1
            initFailure = "CUDA unavailable: JCuda driver natives could not be loaded (is an NVIDIA driver with"
                    + " libcuda.so.1 installed?): " + firstLine(e);
            throw new CudaException.Unavailable(initFailure, e);
        }
    }

    /** Why CUDA cannot be used here, or null when a device is usable (for tests to skip with). */
    public static String unavailableReason() {
        try {
            init();
            return null;
        } catch (RuntimeException | LinkageError e) {
            return e.getMessage();
        }
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return e.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
    }
}
