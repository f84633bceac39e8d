package ddpm.kernels.cuda;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One kernel family (src/main/cuda/&lt;family&gt;.cu): its entry points, looked up through the driver on
 * first use (on a GPU, the family's PTX module is loaded and JIT-compiled then), and the launch
 * helpers its launcher uses.
 */
final class KernelModule {
    /** Launch threads for 1-D elementwise kernels. */
    static final int THREADS = 256;

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

    /** Lets {@code name} use up to {@code bytes} of dynamic shared memory (needed above 48 KB). */
    void allowSharedMemory(String name, int bytes) { backend.driver().allowSharedMemory(kernel(name), bytes); }

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
        backend.driver().launch(kernel(name), gx, gy, gz, bx, by, bz, sharedBytes, args, shapes);
    }
}
