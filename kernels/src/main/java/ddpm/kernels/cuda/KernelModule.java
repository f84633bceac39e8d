package ddpm.kernels.cuda;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * One kernel family (src/main/cuda/&lt;family&gt;.cu): its entry points, looked up through the driver on
 * first use (on a GPU, the family's PTX module is loaded and JIT-compiled then), and the launch
 * helpers its launcher uses.
 */
final class KernelModule {
    /** Launch threads for 1-D elementwise kernels. */
    static final int THREADS = 256;
    /** Launches per "family.kernel" in this JVM, whatever the driver (for the coverage tally). */
    private static final Map<String, LongAdder> LAUNCHES = new ConcurrentHashMap<>();

    private final CudaBackend backend;
    private final String family;
    private final Map<String, CudaDriver.Kernel> kernels = new HashMap<>();

    KernelModule(CudaBackend backend, String family) {
        this.backend = backend;
        this.family = family;
    }

    synchronized CudaDriver.Kernel kernel(String name) {
        return kernels.computeIfAbsent(name, n -> backend.driver().kernel(family, n));
    }

    /** Dynamic shared memory each kernel has been opted in to (above the default 48 KB). */
    private final Map<String, Integer> sharedAllowed = new HashMap<>();

    /** Opts {@code name} in to {@code bytes} of dynamic shared memory once per larger size (a launch
     *  above 48 KB without it fails). */
    private synchronized void allowShared(String name, CudaDriver.Kernel k, int bytes) {
        if (bytes > sharedAllowed.getOrDefault(name, 48 * 1024)) {
            backend.driver().allowSharedMemory(k, bytes);
            sharedAllowed.put(name, bytes);
        }
    }

    /** Grid for a grid-stride loop over {@code n} items: a thread per item (or the device's items per
     *  thread), at most enough blocks to fill the GPU a few times. */
    int blocksFor(long n, int threads) {
        long per = (long) threads * backend.itemsPerThread();
        long b = (n + per - 1) / per;
        return (int) Math.max(1, Math.min(b, (long) backend.smCount() * 16));
    }

    /** 1-D launch over n items (skipped when n = 0: a zero grid is an error). */
    void launch1d(String name, long n, Args args, Supplier<String> shapes) {
        if (n == 0) return;
        CudaBackend.checkIndexable(n, name, shapes);
        launch(name, blocksFor(n, THREADS), 1, 1, THREADS, 1, 1, 0, args, shapes);
    }

    void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Args args,
                Supplier<String> shapes) {
        CudaDriver.Kernel fn = kernel(name);
        if (sharedBytes > 48 * 1024) allowShared(name, fn, sharedBytes);
        backend.driver().launch(fn, gx, gy, gz, bx, by, bz, sharedBytes, args, shapes);
        LAUNCHES.computeIfAbsent(family + "." + name, k -> new LongAdder()).increment();
    }

    /** Launches so far of each "family.kernel" by any CUDA backend in this JVM. */
    static Map<String, Long> launchCounts() {
        Map<String, Long> m = new TreeMap<>();
        LAUNCHES.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }
}
