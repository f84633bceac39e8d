package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.MathPrecision;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The host driver: runs the CUDA backend's very own .cu kernels on the CPU. build-host.sh compiles
 * them with g++ against a CUDA-on-CPU header into a kernel library; the runtime (JNI) runs a launch
 * block by block, each GPU thread a fiber, with real barriers, warp collectives, per-block shared
 * memory, and checks for shared-memory races and out-of-bounds accesses (see kernels/README.md).
 * cuBLAS calls run on the engine's CPU GEMM with cuBLAS's column-major contract (TF32 mode rounds
 * the inputs to TF32). Everything is synchronous.
 *
 * <p>Selected with {@code -Dddpm.cuda.driver=host}. The native libraries come from
 * {@code -Dddpm.cuda.host.lib} / {@code -Dddpm.cuda.host.kernels} or the class path
 * ({@code ddpm/kernels/host/}, where the Maven build puts them).
 */
final class HostDriver implements CudaDriver {
    static final String RESOURCES = "/ddpm/kernels/host/";
    /** What the host "device" reports: an sm_90 part with the H100/H200 shared-memory limit. Fibers
     *  run one after another, so a grid-stride loop must not stride far: the grid is sized for 16
     *  items per thread (enough to amortise a fiber's start), and consecutive threads then touch
     *  neighbouring memory (a grid capped at a few blocks per SM would stride over the whole tensor
     *  and miss the CPU's caches and TLB on every access). */
    static final DeviceInfo INFO = new DeviceInfo("jddpm host driver (CUDA kernels on the CPU)", 1 << 16, 232448, 9, 0, 16);

    private static String loadFailure;
    private static boolean loaded;

    /** One kernel entry point and its C++ signature. */
    record Entry(String family, String name, int index, String kinds, int[] sizes, int launchBound) implements Kernel {}

    private final Path library;
    private final long handle;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<Entry, Integer> sharedLimit = new HashMap<>();
    private final Map<Long, Long> events = new HashMap<>();
    private final Map<Long, List<Runnable>> graphs = new HashMap<>();
    private long nextEvent = 1, nextGraph = 1;
    /** The work recorded since beginCapture, or null when not capturing. */
    private List<Runnable> capture;

    /** Loads the runtime (once per JVM) or throws Unavailable saying why it cannot. */
    static synchronized void loadRuntime() {
        if (loaded) return;
        if (loadFailure != null) throw new CudaException.Unavailable(loadFailure, null);
        try {
            String unavailable = resourceText("UNAVAILABLE");
            if (unavailable != null && System.getProperty("ddpm.cuda.host.lib", "").isBlank()) {
                loadFailure = "CUDA host driver unavailable: " + unavailable.trim();
                throw new CudaException.Unavailable(loadFailure, null);
            }
            Path lib = locate("ddpm.cuda.host.lib", "libjddpm_host.so");
            System.load(lib.toString());
            loaded = true;
        } catch (UnsatisfiedLinkError | IOException e) {
            loadFailure = "CUDA host driver unavailable: " + e.getMessage();
            throw new CudaException.Unavailable(loadFailure, e);
        }
    }

    /** Why the host driver cannot run here, or null. */
    static String unavailableReason() {
        try {
            loadRuntime();
            locate("ddpm.cuda.host.kernels", "libjddpm_kernels.so");
            return null;
        } catch (RuntimeException | IOException e) {
            return e.getMessage();
        }
    }

    /** The default kernel library (the build's checked one, or -Dddpm.cuda.host.kernels). */
    static HostDriver open() {
        loadRuntime();
        try {
            return new HostDriver(locate("ddpm.cuda.host.kernels", "libjddpm_kernels.so"));
        } catch (IOException e) {
            throw new CudaException.Unavailable("CUDA host driver unavailable: " + e.getMessage(), e);
        }
    }

    /** A driver over another kernel library (for example one built from mutated kernels). */
    static HostDriver open(Path kernelLibrary) {
        loadRuntime();
        return new HostDriver(kernelLibrary);
    }

    private HostDriver(Path library) {
        this.library = library;
        long[] h = {0};
        String err = HostNative.open(library.toString(), h);
        if (err != null) throw new CudaException.Unavailable("CUDA host driver unavailable: " + err, null);
        handle = h[0];
        String[] lines = HostNative.entries(handle);
        for (int i = 0; i < lines.length; i++) {
            String[] f = lines[i].split("\t", -1);
            int[] sizes = f[3].isEmpty() ? new int[0] : java.util.Arrays.stream(f[3].split(",")).mapToInt(Integer::parseInt).toArray();
            entries.put(f[0] + "." + f[1], new Entry(f[0], f[1], i, f[2], sizes, Integer.parseInt(f[4])));
        }
    }

    private static String resourceText(String name) throws IOException {
        try (InputStream in = HostDriver.class.getResourceAsStream(RESOURCES + name)) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** A native library: the path a system property names, else the class-path resource (a file, or
     *  extracted from a jar into a temporary file). */
    private static Path locate(String property, String name) throws IOException {
        String p = System.getProperty(property, "");
        if (!p.isBlank()) {
            Path path = Path.of(p).toAbsolutePath();
            if (!Files.isRegularFile(path)) throw new IOException(property + "=" + p + ": no such file");
            return path;
        }
        URL url = HostDriver.class.getResource(RESOURCES + name);
        if (url == null)
            throw new IOException(name + " is not on the class path (kernels/build-host.sh builds it during the Maven build)");
        if (url.getProtocol().equals("file")) {
            try {
                return Path.of(url.toURI());
            } catch (URISyntaxException e) {
                throw new IOException(e);
            }
        }
        Path tmp = Files.createTempFile("jddpm-", "-" + name);
        tmp.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }

    /** Every entry point of the kernel library, "family.name". */
    List<String> entryNames() { return List.copyOf(entries.keySet()); }

    /** How often each entry point was launched, "family.name" -> count. */
    Map<String, Long> launchCounts() {
        long[] c = HostNative.launchCounts(handle);
        Map<String, Long> m = new LinkedHashMap<>();
        for (Entry e : entries.values()) m.put(e.family() + "." + e.name(), c[e.index()]);
        return m;
    }

    /** Limits the emulated device memory (for out-of-memory tests); applies to every host driver. */
    static void setMemoryLimit(long bytes) { HostNative.setMemoryLimit(bytes); }

    private static void check(String error, String call, Supplier<String> what) {
        if (error != null) throw new CudaException(call + " failed: " + error + (what == null ? "" : " [" + what.get() + "]"));
    }

    // ---------------------------------------------------------------- CudaDriver
    @Override public String kind() { return "host"; }

    @Override public DeviceInfo device() { return INFO; }

    @Override public void makeCurrent() {}

    @Override public long malloc(long bytes) { return HostNative.malloc(bytes); }

    @Override public void free(long address) { check(HostNative.free(address), "cuMemFree", null); }

    @Override public long[] memInfo() { return HostNative.memInfo(); }

    /** Runs stream work now, or records it into the graph being captured. */
    private synchronized void enqueue(Runnable work) {
        if (capture != null) capture.add(work);
        else work.run();
    }

    private synchronized void notCapturing(String call) {
        if (capture != null)
            throw new CudaException(call + " failed: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (the stream is capturing a graph)");
    }

    @Override public void copyToDevice(long dst, Object hostArray, int count) {
        notCapturing("cuMemcpyHtoD");
        check(HostNative.copy(dst, hostArray, 0, count, true), "cuMemcpyHtoD", null);
    }

    @Override public void copyToHost(Object hostArray, long src, int count) {
        notCapturing("cuMemcpyDtoH");
        check(HostNative.copy(src, hostArray, 0, count, false), "cuMemcpyDtoH", null);
    }

    @Override public void copyDeviceToDevice(long dst, long src, long bytes, Supplier<String> what) {
        enqueue(() -> check(HostNative.copyDeviceToDevice(dst, src, bytes), "cuMemcpyDtoDAsync", what));
    }

    @Override public void memsetD32(long dst, int bits, long count, Supplier<String> what) {
        enqueue(() -> check(HostNative.memset32(dst, bits, count), "cuMemsetD32Async", what));
    }

    @Override public Kernel kernel(String family, String name) {
        Entry e = entries.get(family + "." + name);
        if (e == null)
            throw new CudaException("cuModuleGetFunction(" + family + "." + name + ") failed: no such entry point in "
                    + library + " (the host build of " + family + ".cu)");
        return e;
    }

    @Override public synchronized void allowSharedMemory(Kernel k, int bytes) { sharedLimit.put((Entry) k, bytes); }

    @Override public void launch(Kernel k, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Args args,
                                 Supplier<String> what) {
        Entry e = (Entry) k;
        List<Args.Arg> list = args.list();
        String name = e.family() + "." + e.name();
        if (list.size() != e.sizes().length)
            throw new CudaException("cuLaunchKernel(" + name + ") failed: " + list.size() + " arguments for "
                    + e.sizes().length + " parameters [" + what.get() + "]");
        int[] offsets = new int[list.size()];
        int words = 0;
        for (int i = 0; i < list.size(); i++) {
            Args.Arg a = list.get(i);
            if (a.kind().bytes != e.sizes()[i] || a.kind().cKind != e.kinds().charAt(i))
                throw new CudaException("cuLaunchKernel(" + name + ") failed: parameter " + i + " is a "
                        + e.sizes()[i] + "-byte '" + e.kinds().charAt(i) + "' but the launch passes " + a
                        + " (kinds: p pointer, i integer, f floating point, s struct) [" + what.get() + "]");
            offsets[i] = words * 8;
            words += (a.kind().bytes + 7) / 8;
        }
        long[] packed = new long[words];
        for (int i = 0; i < list.size(); i++) {
            Args.Arg a = list.get(i);
            int w = offsets[i] / 8;
            switch (a.kind()) {
                case PTR, I64 -> packed[w] = a.bits();
                case I32 -> packed[w] = a.bits() & 0xffffffffL;
                case F32 -> packed[w] = Float.floatToRawIntBits((float) a.value()) & 0xffffffffL;
                case F64 -> packed[w] = Double.doubleToRawLongBits(a.value());
                case DIMS8 -> {
                    int[] d = a.dims();
                    for (int j = 0; j < 4; j++) packed[w + j] = (d[2 * j] & 0xffffffffL) | ((long) d[2 * j + 1] << 32);
                }
            }
        }
        int limit;
        synchronized (this) {
            limit = sharedLimit.getOrDefault(e, 0);
        }
        enqueue(() -> {
            String err = HostNative.launch(handle, e.index(), gx, gy, gz, bx, by, bz, sharedBytes, limit, packed, offsets);
            if (err != null) throw new CudaException(err + " [" + what.get() + "]");
        });
    }

    @Override public void synchronize() { notCapturing("cuStreamSynchronize"); }

    @Override public synchronized void beginCapture() {
        if (capture != null) throw new CudaException("cuStreamBeginCapture failed: the stream is already capturing");
        capture = new java.util.ArrayList<>();
    }

    @Override public synchronized long endCapture() {
        if (capture == null) throw new CudaException("cuStreamEndCapture failed: the stream is not capturing");
        long id = nextGraph++;
        graphs.put(id, capture);
        capture = null;
        return id;
    }

    @Override public void launchGraph(long graph) {
        List<Runnable> work;
        synchronized (this) {
            work = graphs.get(graph);
        }
        if (work == null) throw new CudaException("cuGraphLaunch failed: no graph " + graph + " (closed?)");
        enqueue(() -> work.forEach(Runnable::run));
    }

    @Override public synchronized void destroyGraph(long graph) { graphs.remove(graph); }

    @Override public synchronized long recordEvent() {
        notCapturing("cuEventRecord");
        long id = nextEvent++;
        events.put(id, System.nanoTime());
        return id;
    }

    @Override public synchronized float elapsedMs(long startEvent, long endEvent) {
        return (events.get(endEvent) - events.get(startEvent)) / 1e6f;
    }

    @Override public synchronized void destroyEvent(long event) { events.remove(event); }

    /** cuBLAS's argument checks (CUBLAS_STATUS_INVALID_VALUE), then the product on the CPU backend
     *  with the inputs rounded as the precision's tensor cores take them. */
    @Override public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                                long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC,
                                int batch, MathPrecision precision, Supplier<String> what) {
        String call = batch == 1 ? "cublasGemmEx" : "cublasGemmStridedBatchedEx";
        if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < Math.max(1, transA ? k : m) || ldb < Math.max(1, transB ? n : k)
                || ldc < Math.max(1, m))
            throw new CudaException(call + " failed: CUBLAS_STATUS_INVALID_VALUE (m=" + m + " n=" + n + " k=" + k + " lda="
                    + lda + " ldb=" + ldb + " ldc=" + ldc + " batch=" + batch + ") [" + what.get() + "]");
        if (m == 0 || n == 0 || batch == 0) return;
        enqueue(() -> gemmOnCpu(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC,
                batch, precision, call, what));
    }

    private void gemmOnCpu(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                           long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC,
                           int batch, MathPrecision precision, String call, Supplier<String> what) {
        Backend cpu = Backends.cpu();
        try (Scope ignored = Scope.open()) {
            int ba = strideA == 0 ? 1 : batch, bb = strideB == 0 ? 1 : batch;
            Tensor ta = Tensor.of(readOp(a, transA, m, k, lda, strideA, ba, precision, call, what), Device.CPU, ba, m, k);
            Tensor tb = Tensor.of(readOp(b, transB, k, n, ldb, strideB, bb, precision, call, what), Device.CPU, bb, k, n);
            Tensor tc = Tensor.of(beta == 0 ? new float[batch * m * n]
                    : readOp(c, false, m, n, ldc, strideC, batch, MathPrecision.FP32, call, what), Device.CPU, batch, m, n);
            cpu.matmul(ta, tb, tc, false, false, alpha, beta);
            writeColumnMajor(tc.toFloats(), c, m, n, ldc, strideC, batch, call, what);
        }
    }

    /** op(X) of each batch entry as a row-major [rows, cols] block, from a column-major matrix with
     *  leading dimension ld (transposed when trans), rounded as {@code precision} takes its inputs. */
    private static float[] readOp(long x, boolean trans, int rows, int cols, int ld, long stride, int batch,
                                  MathPrecision precision, String call, Supplier<String> what) {
        int storedRows = trans ? cols : rows, storedCols = trans ? rows : cols;
        long span = (long) ld * (storedCols - 1) + storedRows;
        float[] out = new float[Math.multiplyExact(batch, rows * cols)];
        float[] raw = new float[(int) span];
        for (int bi = 0; bi < batch; bi++) {
            check(HostNative.copy(x + 4 * stride * bi, raw, 0, (int) span, false), call + " (operand read)", what);
            int base = bi * rows * cols;
            for (int r = 0; r < rows; r++)
                for (int cc = 0; cc < cols; cc++) {
                    float v = trans ? raw[r * ld + cc] : raw[cc * ld + r];
                    out[base + r * cols + cc] = precision.round(v);
                }
        }
        return out;
    }

    private static void writeColumnMajor(float[] rowMajor, long c, int m, int n, int ldc, long strideC, int batch, String call,
                                  Supplier<String> what) {
        long span = (long) ldc * (n - 1) + m;
        float[] raw = new float[(int) span];
        for (int bi = 0; bi < batch; bi++) {
            long base = c + 4 * strideC * bi;
            if (ldc != m) check(HostNative.copy(base, raw, 0, (int) span, false), call + " (C read)", what);
            for (int r = 0; r < m; r++)
                for (int cc = 0; cc < n; cc++) raw[cc * ldc + r] = rowMajor[bi * m * n + r * n + cc];
            check(HostNative.copy(base, raw, 0, (int) span, true), call + " (C write)", what);
        }
    }

    @Override public String describe() {
        return "host driver: the .cu kernels compiled by g++ for the CPU (" + library + "), " + entries.size()
                + " entry points";
    }
}
