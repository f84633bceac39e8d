package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.BackendProvider;
import ddpm.engine.Device;

/**
 * Plugs the CUDA backend into the engine (META-INF/services/ddpm.engine.BackendProvider).
 * The driver is {@code -Dddpm.cuda.driver}: {@code jcuda} (default, a GPU) or {@code host} (the same
 * kernels compiled for the CPU, for development and tests without a GPU). {@link #open} throws
 * {@link CudaException.Unavailable} with one clear sentence when the driver cannot be used (no
 * natives, no NVIDIA driver, no device, no host build), so the engine can log one line and fall
 * back to the CPU.
 */
public final class CudaBackendProvider implements BackendProvider {
    /** The driver property and its values. */
    public static final String DRIVER_PROPERTY = "ddpm.cuda.driver";

    @Override public Device.Kind kind() { return Device.Kind.CUDA; }

    /** "jcuda" or "host", from {@value #DRIVER_PROPERTY}. */
    public static String driverKind() {
        String d = System.getProperty(DRIVER_PROPERTY, "jcuda").trim().toLowerCase(java.util.Locale.ROOT);
        if (!d.equals("jcuda") && !d.equals("host"))
            throw new CudaException.Unavailable("CUDA unavailable: -D" + DRIVER_PROPERTY + "=" + d
                    + " is not a driver (use jcuda or host)", null);
        return d;
    }

    @Override public Backend open(Device device) {
        if (driverKind().equals("host")) {
            if (device.index != 0)
                throw new CudaException.Unavailable("no CUDA device " + device.index + ": the host driver has device 0 only", null);
            return new CudaBackend(device, HostDriver.open());
        }
        return new CudaBackend(device, GpuDriver.open(device.index));
    }

    /** Why CUDA (with the selected driver) cannot be used here, or null when a device is usable. */
    public static String unavailableReason() {
        try {
            if (driverKind().equals("host")) return HostDriver.unavailableReason();
            GpuDriver.init();
            return null;
        } catch (RuntimeException | LinkageError e) {
            return e.getMessage();
        }
    }
}
