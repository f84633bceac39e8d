package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JITOptions;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.cudaDataType;
import jcuda.jcublas.cublasComputeType;
import jcuda.jcublas.cublasGemmAlgo;
import jcuda.jcublas.cublasOperation;
import jcuda.jcublas.cublasStatus;
import jcuda.runtime.cudaStream_t;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The GPU driver: JCuda's driver API on the device's primary context (shared with cuBLAS, which uses
 * the runtime API), one blocking stream for every kernel, copy and GEMM, PTX modules loaded with
 * cuModuleLoadData on first use (on failure the JIT's error log is part of the message), and
 * JCublas2 for SGEMM. Every call is checked; JCuda's own exceptions stay off so each message can
 * name the call, kernel and shapes.
 */
final class GpuDriver implements CudaDriver {
    static final String PTX_DIR = "/ddpm/kernels/ptx/";
    static final long BLAS_WORKSPACE = 32L << 20;

    private static volatile String initFailure;
    private static volatile boolean initDone;

    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final cublasHandle blas = new cublasHandle();
    private final DeviceInfo info;
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
    /** Live allocations by base address: cuBLAS and memcpy take pointer objects derived from them. */
    private final TreeMap<Long, DevPtr> blocks = new TreeMap<>();
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<Long, CUevent> events = new HashMap<>();
    private final Map<Long, CUgraph[]> graphs = new HashMap<>();
    private final Map<Long, CUgraphExec> graphExecs = new HashMap<>();
    private long nextEvent = 1, nextGraph = 1;
    /** Uploads staged through pinned buffers so that they need not drain the stream. */
    private final UploadRing uploads = new UploadRing(new PinnedOps());
    /** cuBLAS's workspace, set once so that GEMMs inside a graph capture allocate nothing. */
    private DevPtr blasWorkspace;

    /** A loaded kernel. */
    private record Fn(String family, String name, CUfunction function) implements Kernel {}

    /** Loads the natives, runs cuInit once; returns the device count or throws Unavailable with the reason. */
    static synchronized int init() {
        if (initFailure != null) throw new CudaException.Unavailable(initFailure, null);
        try {
            if (!initDone) {
                JCudaDriver.setExceptionsEnabled(false);
                int r = JCudaDriver.cuInit(0);
                if (r != CUresult.CUDA_SUCCESS) {
                    initFailure = "CUDA unavailable: cuInit failed with " + errorName(r)
                            + (r == CUresult.CUDA_ERROR_NO_DEVICE ? " (no NVIDIA GPU visible)" : "");
                    throw new CudaException.Unavailable(initFailure, null);
                }
                initDone = true;
            }
            int[] n = {0};
            check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
            if (n[0] == 0) throw new CudaException.Unavailable("CUDA unavailable: the driver reports no devices", null);
            return n[0];
        } catch (LinkageError e) {
            // JCuda's natives load in JCudaDriver's static initialiser; they need libcuda.so.1
            initFailure = "CUDA unavailable: JCuda driver natives could not be loaded (is an NVIDIA driver with"
                    + " libcuda.so.1 installed?): " + firstLine(e);
            throw new CudaException.Unavailable(initFailure, e);
        }
    }

    /** Opens device {@code index}: primary context, stream, cuBLAS handle. */
    static GpuDriver open(int index) {
        int count = init();
        if (index >= count)
            throw new CudaException.Unavailable("no CUDA device " + index + ": the driver reports " + count + " device(s)", null);
        try {
            return new GpuDriver(index);
        } catch (LinkageError e) {
            throw new CudaException.Unavailable("CUDA libraries failed to load while opening cuda:" + index + ": " + e, e);
        }
    }

    private GpuDriver(int index) {
        check(JCudaDriver.cuDeviceGet(cuDevice, index), "cuDeviceGet(" + index + ")");
        byte[] nm = new byte[256];
        check(JCudaDriver.cuDeviceGetName(nm, nm.length, cuDevice), "cuDeviceGetName");
        int len = 0;
        while (len < nm.length && nm[len] != 0) len++;
        info = new DeviceInfo(new String(nm, 0, len),
                attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), 1);
        check(JCudaDriver.cuDevicePrimaryCtxRetain(context, cuDevice), "cuDevicePrimaryCtxRetain(" + index + ")");
        check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        current.set(true);
        // a blocking stream: it also orders against the legacy default stream that synchronous
        // cuMemcpy calls use
        check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
        try {
            JCublas2.setExceptionsEnabled(false);   // loads the cuBLAS natives
        } catch (LinkageError e) {
            throw new CudaException.Unavailable("cuBLAS natives could not be loaded (JCublas2 needs libcublas.so.12,"
                    + " or the patched copy for CUDA 13 that .device/run.sh selects): " + firstLine(e), e);
        }
        checkBlas(JCublas2.cublasCreate(blas), "cublasCreate", () -> "device " + index);
        checkBlas(JCublas2.cublasSetStream(blas, new cudaStream_t(stream)), "cublasSetStream", () -> "device " + index);
        blasWorkspace = new DevPtr();
        check(JCudaDriver.cuMemAlloc(blasWorkspace, BLAS_WORKSPACE), "cuMemAlloc(cuBLAS workspace)");
        checkBlas(JCublas2.cublasSetWorkspace(blas, blasWorkspace, BLAS_WORKSPACE), "cublasSetWorkspace", () -> "32 MiB");
    }

    private int attribute(int attr) {
        int[] v = {0};
        check(JCudaDriver.cuDeviceGetAttribute(v, attr, cuDevice), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    // ---------------------------------------------------------------- checks
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) throw new CudaException(call + " failed: " + errorName(result));
    }

    static void check(int result, String call, Supplier<String> context) {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(call + " failed: " + errorName(result) + " (" + context.get() + ")");
    }

    static String errorName(int result) {
        String name = CUresult.stringFor(result);
        try {
            String[] desc = new String[1];
            if (JCudaDriver.cuGetErrorString(result, desc) == CUresult.CUDA_SUCCESS && desc[0] != null)
                return name + " (" + desc[0] + ")";
        } catch (Throwable ignored) {
            // natives unusable: the code name alone must do
        }
        return name;
    }

    private static void checkBlas(int status, String call, Supplier<String> context) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS)
            throw new CudaException(call + " failed: " + cublasStatus.stringFor(status) + " (" + context.get() + ")");
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return e.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
    }

    private void afterCall(String what) {
        if (CudaBackend.SYNC_CHECK) {
            int r = JCudaDriver.cuStreamSynchronize(stream);
            if (r != CUresult.CUDA_SUCCESS) throw new CudaException(what + " failed: " + errorName(r));
        }
    }

    // ---------------------------------------------------------------- CudaDriver
    @Override public String kind() { return "jcuda"; }

    @Override public DeviceInfo device() { return info; }

    @Override public void makeCurrent() {
        if (!current.get()) {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            current.set(true);
        }
    }

    /** A pointer object for device address {@code address}: the allocation's own pointer plus an offset. */
    private synchronized DevPtr pointer(long address) {
        Map.Entry<Long, DevPtr> e = blocks.floorEntry(address);
        if (e == null) throw new CudaException("device address 0x" + Long.toHexString(address) + " is in no allocation");
        return e.getValue().at(address - e.getKey());
    }

    @Override public synchronized long malloc(long bytes) {
        DevPtr p = new DevPtr();
        int r = JCudaDriver.cuMemAlloc(p, bytes);
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) return 0;
        check(r, "cuMemAlloc(" + bytes + " bytes)");
        long address = p.address();
        blocks.put(address, p);
        return address;
    }

    @Override public synchronized void free(long address) {
        DevPtr p = blocks.remove(address);
        if (p == null) throw new CudaException("cuMemFree: 0x" + Long.toHexString(address) + " is not an allocation");
        check(JCudaDriver.cuMemFree(p), "cuMemFree");
    }

    @Override public long[] memInfo() {
        long[] fr = {0}, tot = {0};
        JCudaDriver.cuMemGetInfo(fr, tot);
        return new long[]{fr[0], tot[0]};
    }

    private static Pointer host(Object array) {
        return array instanceof float[] f ? Pointer.to(f) : Pointer.to((int[]) array);
    }

    /** Stream-ordered: staged in pinned memory and queued behind the stream's work (see {@link UploadRing}). */
    @Override public void copyToDevice(long dst, Object hostArray, int count) {
        makeCurrent();
        uploads.upload(dst, hostArray, count);
    }

    /** {@link UploadRing}'s calls: page-locked host buffers, async copies and events on the stream. */
    private final class PinnedOps implements UploadRing.Ops {
        private final Map<Long, Pointer> pinned = new HashMap<>();
        private final Map<Long, CUevent> ringEvents = new HashMap<>();
        private long nextHandle = 1;

        @Override public long allocPinned(long bytes) {
            Pointer p = new Pointer();
            check(JCudaDriver.cuMemAllocHost(p, bytes), "cuMemAllocHost(" + bytes + " bytes)");
            pinned.put(nextHandle, p);
            return nextHandle++;
        }

        @Override public void freePinned(long handle) {
            check(JCudaDriver.cuMemFreeHost(pinned.remove(handle)), "cuMemFreeHost");
        }

        @Override public void fill(long handle, Object hostArray, int count) {
            java.nio.ByteBuffer b = pinned.get(handle).getByteBuffer(0, 4L * count).order(java.nio.ByteOrder.nativeOrder());
            if (hostArray instanceof float[] f) b.asFloatBuffer().put(f, 0, count);
            else b.asIntBuffer().put((int[]) hostArray, 0, count);
        }

        @Override public void copyAsync(long dst, long handle, long bytes) {
            check(JCudaDriver.cuMemcpyHtoDAsync(pointer(dst), pinned.get(handle), bytes, stream), "cuMemcpyHtoDAsync",
                    () -> bytes + " bytes to 0x" + Long.toHexString(dst));
        }

        @Override public void copySync(long dst, Object hostArray, int count) {
            synchronize();
            check(JCudaDriver.cuMemcpyHtoD(pointer(dst), host(hostArray), 4L * count), "cuMemcpyHtoD",
                    () -> count + " values to 0x" + Long.toHexString(dst));
        }

        @Override public long createEvent() {
            CUevent e = new CUevent();
            check(JCudaDriver.cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
            ringEvents.put(nextHandle, e);
            return nextHandle++;
        }

        @Override public void destroyEvent(long event) {
            check(JCudaDriver.cuEventDestroy(ringEvents.remove(event)), "cuEventDestroy");
        }

        @Override public void record(long event) {
            check(JCudaDriver.cuEventRecord(ringEvents.get(event), stream), "cuEventRecord");
        }

        @Override public boolean done(long event) {
            int r = JCudaDriver.cuEventQuery(ringEvents.get(event));
            if (r == CUresult.CUDA_ERROR_NOT_READY) return false;
            check(r, "cuEventQuery");
            return true;
        }

        @Override public void waitFor(long event) {
            check(JCudaDriver.cuEventSynchronize(ringEvents.get(event)), "cuEventSynchronize");
        }
    }

    @Override public void copyToHost(Object hostArray, long src, int count) {
        synchronize();
        check(JCudaDriver.cuMemcpyDtoH(host(hostArray), pointer(src), 4L * count), "cuMemcpyDtoH",
                () -> count + " values from 0x" + Long.toHexString(src));
    }

    @Override public void copyDeviceToDevice(long dst, long src, long bytes, Supplier<String> what) {
        check(JCudaDriver.cuMemcpyDtoDAsync(pointer(dst), pointer(src), bytes, stream), "cuMemcpyDtoDAsync", what);
    }

    @Override public void memsetD32(long dst, int bits, long count, Supplier<String> what) {
        check(JCudaDriver.cuMemsetD32Async(pointer(dst), bits, count, stream), "cuMemsetD32Async", what);
    }

    /** The PTX of a family, NUL-terminated as cuModuleLoadData wants it. */
    static byte[] ptx(String family) {
        try (InputStream in = GpuDriver.class.getResourceAsStream(PTX_DIR + family + ".ptx")) {
            if (in == null) throw new CudaException("PTX resource " + PTX_DIR + family + ".ptx is missing from the class path");
            byte[] b = in.readAllBytes();
            byte[] z = new byte[b.length + 1];
            System.arraycopy(b, 0, z, 0, b.length);
            return z;
        } catch (IOException e) {
            throw new CudaException("cannot read PTX " + family, e);
        }
    }

    private synchronized CUmodule module(String family) {
        CUmodule m = modules.get(family);
        if (m != null) return m;
        byte[] image = ptx(family);
        m = new CUmodule();
        int r = JCudaDriver.cuModuleLoadData(m, image);
        if (r != CUresult.CUDA_SUCCESS)
            throw new CudaException("cuModuleLoadData(" + family + ".ptx) failed: " + errorName(r) + jitLog(image));
        modules.put(family, m);
        return m;
    }

    /** The JIT compiler's error log for a PTX image that failed to load (a second, logged attempt). */
    private static String jitLog(byte[] image) {
        try {
            int size = 1 << 14;
            JITOptions o = new JITOptions();
            o.putInt(CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, size);
            o.putBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER, new byte[size]);
            JCudaDriver.cuModuleLoadDataJIT(new CUmodule(), Pointer.to(image), o);
            String log = o.getString(CUjit_option.CU_JIT_ERROR_LOG_BUFFER);
            return log == null || log.isBlank() ? "; the JIT gave no error log" : "; JIT error log:\n" + log.trim();
        } catch (Throwable t) {
            return "; the JIT error log could not be read (" + firstLine(t) + ")";
        }
    }

    @Override public Kernel kernel(String family, String name) {
        CUfunction f = new CUfunction();
        check(JCudaDriver.cuModuleGetFunction(f, module(family), name), "cuModuleGetFunction(" + family + "." + name + ")");
        return new Fn(family, name, f);
    }

    @Override public void allowSharedMemory(Kernel k, int bytes) {
        check(JCudaDriver.cuFuncSetAttribute(((Fn) k).function(),
                CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
                "cuFuncSetAttribute(" + k.name() + ", max dynamic shared = " + bytes + ")");
    }

    /** cuLaunchKernel's kernelParams: a pointer to an array of pointers to the values. */
    private static Pointer params(Args args) {
        java.util.List<Args.Arg> list = args.list();
        Pointer[] ps = new Pointer[list.size()];
        for (int i = 0; i < ps.length; i++) {
            Args.Arg a = list.get(i);
            ps[i] = switch (a.kind()) {
                case PTR, I64 -> Pointer.to(new long[]{a.bits()});
                case I32 -> Pointer.to(new int[]{(int) a.bits()});
                case F32 -> Pointer.to(new float[]{(float) a.value()});
                case F64 -> Pointer.to(new double[]{a.value()});
                case DIMS8 -> Pointer.to(a.dims().clone());
            };
        }
        return Pointer.to(ps);
    }

    @Override public void launch(Kernel k, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Args args,
                                 Supplier<String> what) {
        int r = JCudaDriver.cuLaunchKernel(((Fn) k).function(), gx, gy, gz, bx, by, bz, sharedBytes, stream, params(args), null);
        if (r != CUresult.CUDA_SUCCESS)
            throw new CudaException("cuLaunchKernel(" + k.family() + "." + k.name() + ", grid " + gx + "x" + gy + "x" + gz
                    + ", block " + bx + "x" + by + "x" + bz + ", shared " + sharedBytes + " B) failed: "
                    + errorName(r) + " [" + what.get() + "]");
        if (CudaBackend.SYNC_CHECK) {
            r = JCudaDriver.cuStreamSynchronize(stream);
            if (r != CUresult.CUDA_SUCCESS)
                throw new CudaException("kernel " + k.family() + "." + k.name() + " failed: " + errorName(r)
                        + " [" + what.get() + "]");
        }
    }

    @Override public void synchronize() {
        makeCurrent();
        check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    @Override public synchronized long recordEvent() {
        CUevent e = new CUevent();
        check(JCudaDriver.cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        check(JCudaDriver.cuEventRecord(e, stream), "cuEventRecord");
        long id = nextEvent++;
        events.put(id, e);
        return id;
    }

    @Override public synchronized float elapsedMs(long startEvent, long endEvent) {
        CUevent a = events.get(startEvent), b = events.get(endEvent);
        check(JCudaDriver.cuEventSynchronize(b), "cuEventSynchronize");
        float[] ms = {0};
        check(JCudaDriver.cuEventElapsedTime(ms, a, b), "cuEventElapsedTime");
        return ms[0];
    }

    @Override public synchronized void destroyEvent(long event) {
        CUevent e = events.remove(event);
        if (e != null) check(JCudaDriver.cuEventDestroy(e), "cuEventDestroy");
    }

    @Override public void beginCapture() {
        makeCurrent();
        // relaxed: the caching allocator may still call cuMemAlloc for a block the graph will own
        check(JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED),
                "cuStreamBeginCapture");
    }

    @Override public synchronized long endCapture() {
        CUgraph g = new CUgraph();
        check(JCudaDriver.cuStreamEndCapture(stream, g), "cuStreamEndCapture");
        CUgraphExec e = new CUgraphExec();
        check(JCudaDriver.cuGraphInstantiate(e, g, 0), "cuGraphInstantiate");
        long id = nextGraph++;
        graphs.put(id, new CUgraph[]{g});
        graphExecs.put(id, e);
        return id;
    }

    @Override public synchronized void launchGraph(long graph) {
        CUgraphExec e = graphExecs.get(graph);
        if (e == null) throw new CudaException("cuGraphLaunch: no graph " + graph + " (closed?)");
        check(JCudaDriver.cuGraphLaunch(e, stream), "cuGraphLaunch");
        afterCall("CUDA graph " + graph);
    }

    @Override public synchronized void destroyGraph(long graph) {
        CUgraphExec e = graphExecs.remove(graph);
        CUgraph[] g = graphs.remove(graph);
        if (e != null) check(JCudaDriver.cuGraphExecDestroy(e), "cuGraphExecDestroy");
        if (g != null) check(JCudaDriver.cuGraphDestroy(g[0]), "cuGraphDestroy");
    }

    @Override public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                                long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC,
                                int batch, MathPrecision precision, Supplier<String> what) {
        int opA = transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
        int opB = transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
        int compute = switch (precision) {
            case FP32 -> cublasComputeType.CUBLAS_COMPUTE_32F;
            case TF32 -> cublasComputeType.CUBLAS_COMPUTE_32F_FAST_TF32;
            case BF16 -> cublasComputeType.CUBLAS_COMPUTE_32F_FAST_16BF;
        };
        int f32 = cudaDataType.CUDA_R_32F, algo = cublasGemmAlgo.CUBLAS_GEMM_DEFAULT;
        Pointer al = Pointer.to(new float[]{alpha}), bt = Pointer.to(new float[]{beta});
        if (batch == 1) {
            checkBlas(JCublas2.cublasGemmEx(blas, opA, opB, m, n, k, al, pointer(a), f32, lda, pointer(b), f32, ldb, bt,
                    pointer(c), f32, ldc, compute, algo), "cublasGemmEx (" + precision + ")", what);
        } else {
            checkBlas(JCublas2.cublasGemmStridedBatchedEx(blas, opA, opB, m, n, k, al, pointer(a), f32, lda, strideA,
                    pointer(b), f32, ldb, strideB, bt, pointer(c), f32, ldc, strideC, batch, compute, algo),
                    "cublasGemmStridedBatchedEx (" + precision + ")", what);
        }
        afterCall("cuBLAS GEMM");
    }

    @Override public String describe() {
        int[] drv = {0}, blasVersion = {0};
        JCudaDriver.cuDriverGetVersion(drv);
        JCublas2.cublasGetVersion(blas, blasVersion);
        return String.format("jcuda driver: %s (sm_%d%d, %d SMs, %d B shared/block opt-in); CUDA driver API %d.%d; cuBLAS %d;"
                        + " JCuda %s, JCublas %s; natives from %s",
                info.name(), info.ccMajor(), info.ccMinor(), info.smCount(), info.maxSharedOptin(),
                drv[0] / 1000, drv[0] % 1000 / 10, blasVersion[0], mavenVersion("jcuda"), mavenVersion("jcublas"),
                System.getProperty("java.library.path", "?"));
    }

    private static String mavenVersion(String artifact) {
        try (InputStream in = GpuDriver.class.getResourceAsStream("/META-INF/maven/org.jcuda/" + artifact + "/pom.properties")) {
            if (in == null) return "?";
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "?");
        } catch (IOException e) {
            return "?";
        }
    }
}
