package ddpm.engine;

import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/** Finds the backend of a device through the {@link BackendProvider}s on the class path (the CPU
 *  one in this module's {@code ddpm.engine.cpu}, the CUDA one in module kernels), so the engine
 *  depends on no backend and a CPU-only user never loads native code. */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());
    private static final Map<Device, Backend> OPEN = new ConcurrentHashMap<>();
    private static volatile Backend cpu;

    private Backends() {}

    /** The CPU backend (always present). */
    public static Backend cpu() {
        Backend b = cpu;
        if (b == null) cpu = b = get(Device.CPU);
        return b;
    }

    /** The backend of {@code device}; throws with the provider's reason when it cannot be opened. */
    public static Backend get(Device device) {
        if (device.isCpu() && cpu != null) return cpu;
        Backend b = OPEN.get(device);
        if (b != null) return b;
        synchronized (OPEN) {
            b = OPEN.get(device);
            if (b != null) return b;
            BackendProvider provider = find(device.kind);
            if (provider == null)
                throw new IllegalStateException("no backend for " + device + " on the class path"
                        + (device.isCpu() ? "" : " (the CUDA backend is in module 'kernels')"));
            try {
                b = provider.open(device);
            } catch (Exception e) {
                throw new IllegalStateException("cannot open " + device + ": " + e.getMessage(), e);
            }
            OPEN.put(device, b);
            return b;
        }
    }

    /** The provider of a device kind: from the context class loader, else from the engine's own. */
    private static BackendProvider find(Device.Kind kind) {
        for (ClassLoader loader : new ClassLoader[]{Thread.currentThread().getContextClassLoader(), Backends.class.getClassLoader()})
            for (BackendProvider p : ServiceLoader.load(BackendProvider.class, loader))
                if (p.kind() == kind) return p;
        return null;
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
