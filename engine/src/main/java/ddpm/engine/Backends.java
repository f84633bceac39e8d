package ddpm.engine;

import ddpm.engine.cpu.CpuBackend;

import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/** Finds the backend of a device: the CPU one built in, others through {@link BackendProvider}s on
 *  the class path (the CUDA backend in module kernels), so a CPU-only user never loads native code. */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());
    private static final Map<Device, Backend> OPEN = new ConcurrentHashMap<>();

    private Backends() {}

    public static Backend cpu() { return CpuBackend.INSTANCE; }

    /** The backend of {@code device}; throws with the provider's reason when it cannot be opened. */
    public static Backend get(Device device) {
        if (device.isCpu()) return cpu();
        Backend b = OPEN.get(device);
        if (b != null) return b;
        synchronized (OPEN) {
            b = OPEN.get(device);
            if (b != null) return b;
            BackendProvider provider = null;
            for (BackendProvider p : ServiceLoader.load(BackendProvider.class))
                if (p.kind() == device.kind) provider = p;
            if (provider == null)
                throw new IllegalStateException("no backend for " + device + " on the class path"
                        + " (the CUDA backend is in module 'kernels')");
            try {
                b = provider.open(device);
            } catch (Exception e) {
                throw new IllegalStateException("cannot open " + device + ": " + e.getMessage(), e);
            }
            OPEN.put(device, b);
            return b;
        }
    }

    /** True when {@code device}'s backend can be opened here. */
    public static boolean available(Device device) {
        try {
            get(device);
            return true;
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    /** CUDA device 0 when it can be opened, else the CPU, saying once why it fell back. */
    public static Device best() {
        try {
            get(Device.cuda(0));
            return Device.cuda(0);
        } catch (RuntimeException | LinkageError e) {
            LOG.info("using the CPU: " + e.getMessage());
            return Device.CPU;
        }
    }
}
