package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import java.util.function.Supplier;

/**
 * The few driver calls the CUDA backend makes: device facts, memory, module functions, launches,
 * synchronisation, events and cuBLAS's SGEMM. Two implementations: {@link GpuDriver} (the GPU,
 * through JCuda and JCublas) and {@link HostDriver} (the very same .cu kernels compiled for the CPU,
 * checked for shared-memory races and out-of-bounds accesses while they run). {@link CudaBackend}
 * has one code path over either; {@code -Dddpm.cuda.driver=host} selects the host driver.
 *
 * <p>Device memory is addressed by 64-bit device addresses. Failures throw {@link CudaException}
 * naming the call (and, through {@code what}, the kernel and shapes).
 */
interface CudaDriver {
    /** Facts about the device the driver has opened; {@code itemsPerThread}: how many items a 1-D
     *  grid-stride kernel should give each thread (1 on a GPU). */
    record DeviceInfo(String name, int smCount, int maxSharedOptin, int ccMajor, int ccMinor, int itemsPerThread) {}

    /** A kernel entry point of a family (.cu file). */
    interface Kernel {
        String family();

        String name();
    }

    /** "jcuda" or "host". */
    String kind();

    DeviceInfo device();

    /** Makes the device's context current on the calling thread (a no-op where there is none). */
    void makeCurrent();

    /** A fresh block of {@code bytes}, or 0 when the device is out of memory. */
    long malloc(long bytes);

    void free(long address);

    /** {free, total} device bytes. */
    long[] memInfo();

    /** Copies {@code count} 4-byte values of a float[] or int[] to device address {@code dst}
     *  after the stream's queued work. Does not wait for that work (the GPU driver stages the values
     *  in pinned memory, {@link UploadRing}); the array may be reused as soon as this returns. */
    void copyToDevice(long dst, Object hostArray, int count);

    /** Copies {@code count} 4-byte values from {@code src} into a float[] or int[], waiting for the stream. */
    void copyToHost(Object hostArray, long src, int count);

    /** Stream-ordered device-to-device copy. */
    void copyDeviceToDevice(long dst, long src, long bytes, Supplier<String> what);

    /** Stream-ordered fill of {@code count} 32-bit words with {@code bits}. */
    void memsetD32(long dst, int bits, long count, Supplier<String> what);

    Kernel kernel(String family, String name);

    /** Lets {@code k} use up to {@code bytes} of dynamic shared memory (needed above 48 KB). */
    void allowSharedMemory(Kernel k, int bytes);

    /** Queues {@code k} on the stream. */
    void launch(Kernel k, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Args args,
                Supplier<String> what);

    /** Waits for the stream. */
    void synchronize();

    /** An event recorded on the stream now; {@link #elapsedMs} between two of them. */
    long recordEvent();

    float elapsedMs(long startEvent, long endEvent);

    void destroyEvent(long event);

    /** Starts recording the stream's work (kernels, device copies and fills, GEMMs) into a graph
     *  instead of running it; host transfers and synchronisation are not allowed until {@link #endCapture}. */
    void beginCapture();

    /** Ends the recording: an executable graph of everything queued since {@link #beginCapture}. */
    long endCapture();

    /** Queues the graph's work on the stream. */
    void launchGraph(long graph);

    void destroyGraph(long graph);

    /**
     * cuBLAS's column-major {@code cublasGemmEx} ({@code batch} = 1) or {@code cublasGemmStridedBatchedEx}
     * on float32 matrices: C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i], op(A) m×k, op(B) k×n, element
     * strides between batch entries (0 = the same matrix for every entry), with the compute type of
     * {@code precision} (32F, 32F_FAST_TF32, 32F_FAST_16BF; on the host: inputs rounded likewise).
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long strideA,
               long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch,
               MathPrecision precision, Supplier<String> what);

    /** One line for logs and the doctor: driver, versions, natives. */
    String describe();
}
