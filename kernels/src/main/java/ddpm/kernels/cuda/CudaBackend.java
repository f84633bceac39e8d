package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.MemoryStats;
import ddpm.engine.Ops;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.runtime.cudaStream_t;

import java.util.function.Supplier;

/**
 * The CUDA backend: one device, its primary context (shared with cuBLAS, which uses the runtime
 * API), one stream on which every kernel, copy and GEMM is queued in order, a caching allocator,
 * and the kernel families (one PTX module each, loaded on first use).
 *
 * <p>Only F32 (data) and I32 (indices) live on the GPU; other dtypes are refused with an
 * IllegalArgumentException. Host transfers (write / read*) synchronise the stream; nothing else
 * waits for the GPU. Set {@code -Dddpm.cuda.syncCheck=true} to synchronise after every kernel
 * so an asynchronous fault names the kernel and shapes that caused it.
 */
public final class CudaBackend implements Backend, FusedOps {
    static final boolean SYNC_CHECK = Boolean.getBoolean("ddpm.cuda.syncCheck");

    private final Device device;
    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final cublasHandle blas;
    private final CudaAllocator allocator;
    private final String name;
    private final int smCount, maxSharedOptin, ccMajor, ccMinor;
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
    /** Non-null only in the test-only dry mode (no driver; see {@link DryRun}). */
    private final DryRun dry;

    private final ElementwiseKernel elementwise;
    private final ReduceKernel reduce;
    private final SoftmaxKernel softmax;
    private final LayoutKernel layout;
    private final UpsampleKernel upsample;
    private final GatherKernel gather;
    private final RngKernel rng;
    private final AdamKernel adam;
    private final DiffusionKernels diffusion;
    private final GroupNormKernel groupNorm;
    private final AttentionKernel attention;
    private final ConvKernel conv;
    private final GemmKernel gemm;

    /** Opens CUDA device {@code index}; {@link CudaBackendProvider} maps failures to clear messages. */
    CudaBackend(Device device) {
        this.device = device;
        this.dry = null;
        cuDevice = new CUdevice();
        Cuda.check(JCudaDriver.cuDeviceGet(cuDevice, device.index), "cuDeviceGet(" + device.index + ")");
        byte[] nm = new byte[256];
        Cuda.check(JCudaDriver.cuDeviceGetName(nm, nm.length, cuDevice), "cuDeviceGetName");
        int len = 0;
        while (len < nm.length && nm[len] != 0) len++;
        name = new String(nm, 0, len);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        maxSharedOptin = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        context = new CUcontext();
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, cuDevice), "cuDevicePrimaryCtxRetain(" + device + ")");
        Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        current.set(true);
        stream = new CUstream();
        // a blocking stream: it also orders against the legacy default stream that synchronous
        // cuMemcpy calls use
        Cuda.check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
        allocator = new CudaAllocator(this::synchronize);
        try {
            Cuda.loadBlas();
        } catch (LinkageError e) {
            throw new CudaException.Unavailable("cuBLAS natives could not be loaded (JCublas2 needs libcublas.so.12,"
                    + " or the patched copy for CUDA 13 that .device/run.sh selects): " + e.getMessage(), e);
        }
        blas = new cublasHandle();
        Cuda.checkBlas(JCublas2.cublasCreate(blas), "cublasCreate");
        Cuda.checkBlas(JCublas2.cublasSetStream(blas, new cudaStream_t(stream)), "cublasSetStream");
        gemm = new GemmKernel(this, blas);
        gemm.setTf32(false);
        elementwise = new ElementwiseKernel(this);
        reduce = new ReduceKernel(this);
        softmax = new SoftmaxKernel(this);
        layout = new LayoutKernel(this);
        upsample = new UpsampleKernel(this);
        gather = new GatherKernel(this);
        rng = new RngKernel(this);
        adam = new AdamKernel(this);
        diffusion = new DiffusionKernels(this);
        groupNorm = new GroupNormKernel(this);
        attention = new AttentionKernel(this);
        conv = new ConvKernel(this);
    }

    /**
     * Test-only dry mode: no driver, no cuBLAS, no GPU. Launches, GEMMs, memsets and copies are
     * recorded in {@code dry} instead of issued; allocations get fake addresses. The device is
     * described by {@code smCount} and {@code maxSharedOptin} (an H100 SXM: 132, 232448).
     */
    CudaBackend(Device device, int smCount, int maxSharedOptin, DryRun dry) {
        this.device = device;
        this.dry = java.util.Objects.requireNonNull(dry);
        cuDevice = null;
        context = null;
        stream = null;
        blas = null;
        name = "dry run";
        this.smCount = smCount;
        this.maxSharedOptin = maxSharedOptin;
        ccMajor = 9;
        ccMinor = 0;
        allocator = new CudaAllocator(() -> {}, dry);
        gemm = new GemmKernel(this, null);
        gemm.setTf32(false);
        elementwise = new ElementwiseKernel(this);
        reduce = new ReduceKernel(this);
        softmax = new SoftmaxKernel(this);
        layout = new LayoutKernel(this);
        upsample = new UpsampleKernel(this);
        gather = new GatherKernel(this);
        rng = new RngKernel(this);
        adam = new AdamKernel(this);
        diffusion = new DiffusionKernels(this);
        groupNorm = new GroupNormKernel(this);
        attention = new AttentionKernel(this);
        conv = new ConvKernel(this);
    }

    DryRun dryRun() { return dry; }

    private int attribute(int attr) {
        int[] v = {0};
        Cuda.check(JCudaDriver.cuDeviceGetAttribute(v, attr, cuDevice), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    // ---------------------------------------------------------------- infrastructure
    /** Makes the primary context current on the calling thread (once per thread). */
    private void enter() {
        if (dry != null) return;
        if (!current.get()) {
            Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            current.set(true);
        }
    }

    CUstream stream() { return stream; }

    public CudaAllocator allocator() { return allocator; }

    int smCount() { return smCount; }

    int maxSharedOptin() { return maxSharedOptin; }

    GemmKernel gemm() { return gemm; }

    /** The fused diffusion kernels, including {@link DiffusionKernels#qSampleWithNoise}. */
    public DiffusionKernels diffusion() { enter(); return diffusion; }

    /** TF32 tensor-core math in cuBLAS (matmul, conv): faster, ~1e-3 relative error. Off by default. */
    public void setTf32(boolean on) { enter(); gemm.setTf32(on); }

    public boolean tf32() { return gemm.tf32(); }

    public String deviceName() { return name; }

    public String describe() {
        return device + ": " + name + " (sm_" + ccMajor + ccMinor + ", " + smCount + " SMs)";
    }

    /** Called after a library call (cuBLAS) so that sync-check mode also covers it. */
    void afterLibraryCall(String what) {
        if (SYNC_CHECK) {
            int r = JCudaDriver.cuStreamSynchronize(stream);
            if (r != CUresult.CUDA_SUCCESS) throw new CudaException(what + " failed: " + Cuda.errorName(r));
        }
    }

    /** Kernels index with 32-bit ints: refuse tensors of 2^31 elements or more. */
    static void checkIndexable(long n, String op, Supplier<String> what) {
        if (n >= Integer.MAX_VALUE)
            throw new IllegalArgumentException("CUDA " + op + ": " + n + " elements exceed the 32-bit index range ("
                    + what.get() + ")");
    }

    static void f32(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t.dtype() != DType.F32)
                throw new IllegalArgumentException("CUDA " + op + " supports F32 only, got " + t.describe());
    }

    static void i32(String op, Tensor t) {
        if (t.dtype() != DType.I32)
            throw new IllegalArgumentException("CUDA " + op + " needs an I32 index tensor, got " + t.describe());
    }

    /** Scratch device memory of {@code floats} float32 values, stream-ordered: release it right
     *  after queueing the kernels that use it (later work on the one stream runs after them). */
    CudaAllocator.Block scratch(long floats) { return allocator.allocate(floats * 4); }

    private static DevPtr ptr(Tensor t) { return ((CudaStorage) t.storage()).pointer(t.offset()); }

    // ---------------------------------------------------------------- Backend
    @Override public Device device() { return device; }

    @Override public Storage allocate(DType dtype, long length) {
        if (dtype != DType.F32 && dtype != DType.I32)
            throw new IllegalArgumentException("the CUDA backend stores F32 and I32 only, not " + dtype);
        if (length < 0) throw new IllegalArgumentException("negative length " + length);
        enter();
        return new CudaStorage(this, dtype, length, allocator.allocate(length * dtype.bytes));
    }

    @Override public MemoryStats memoryStats() { return allocator.stats(); }

    @Override public void synchronize() {
        if (dry != null) return;
        enter();
        Cuda.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    private static Pointer hostPointer(Object host) {
        return host instanceof float[] f ? Pointer.to(f) : Pointer.to((int[]) host);
    }

    /** Dry mode: host words <-> the block's backing words (when the dry run keeps memory). */
    private void dryTransfer(Tensor t, Object host, long bytes, boolean toDevice) {
        if (!dry.memory) return;
        int[] idx = {0};
        int[] w = dry.wordsAt(ptr(t).address(), idx);
        int n = (int) (bytes / 4);
        for (int i = 0; i < n; i++) {
            if (host instanceof float[] f) {
                if (toDevice) w[idx[0] + i] = Float.floatToRawIntBits(f[i]);
                else f[i] = Float.intBitsToFloat(w[idx[0] + i]);
            } else {
                int[] v = (int[]) host;
                if (toDevice) w[idx[0] + i] = v[i];
                else v[i] = w[idx[0] + i];
            }
        }
    }

    private void upload(Tensor dst, Object host, long bytes) {
        if (bytes == 0) return;
        if (dry != null) { dryTransfer(dst, host, bytes, true); return; }
        synchronize();
        Cuda.check(JCudaDriver.cuMemcpyHtoD(ptr(dst), hostPointer(host), bytes), "cuMemcpyHtoD", dst::describe);
    }

    private void download(Tensor src, Object host, long bytes) {
        if (bytes == 0) return;
        if (dry != null) { dryTransfer(src, host, bytes, false); return; }
        synchronize();
        Cuda.check(JCudaDriver.cuMemcpyDtoH(hostPointer(host), ptr(src), bytes), "cuMemcpyDtoH", src::describe);
    }

    private static int count(Tensor t, int have, String op) {
        if (have < t.numel())
            throw new IllegalArgumentException(op + ": " + have + " values for " + t.describe());
        return (int) t.numel();
    }

    @Override public void write(Tensor dst, float[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.F32) upload(dst, src, 4L * n);
        else if (dst.dtype() == DType.I32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = (int) src[i];
            upload(dst, v, 4L * n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public void write(Tensor dst, double[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.F32) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) src[i];
            upload(dst, v, 4L * n);
        } else if (dst.dtype() == DType.I32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = (int) src[i];
            upload(dst, v, 4L * n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public void write(Tensor dst, int[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.I32) upload(dst, src, 4L * n);
        else if (dst.dtype() == DType.F32) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = src[i];
            upload(dst, v, 4L * n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public float[] readFloats(Tensor src) {
        int n = (int) src.numel();
        if (src.dtype() == DType.F32) {
            float[] v = new float[n];
            download(src, v, 4L * n);
            return v;
        }
        int[] iv = readInts(src);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = iv[i];
        return v;
    }

    @Override public double[] readDoubles(Tensor src) {
        int n = (int) src.numel();
        double[] d = new double[n];
        if (src.dtype() == DType.I32) {
            int[] iv = readInts(src);
            for (int i = 0; i < n; i++) d[i] = iv[i];
        } else {
            float[] v = readFloats(src);
            for (int i = 0; i < n; i++) d[i] = v[i];
        }
        return d;
    }

    @Override public int[] readInts(Tensor src) {
        int n = (int) src.numel();
        if (src.dtype() == DType.I32) {
            int[] v = new int[n];
            download(src, v, 4L * n);
            return v;
        }
        float[] f = readFloats(src);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = (int) f[i];
        return v;
    }

    @Override public void copy(Tensor src, Tensor dst) {
        enter();
        if (src.numel() != dst.numel())
            throw new IllegalArgumentException("copy: " + src.describe() + " into " + dst.describe() + ": sizes differ");
        if (src.numel() == 0) return;
        if (src.dtype() == dst.dtype()) {
            if (dry != null) {
                long d = ptr(dst).address(), sa = ptr(src).address(), bytes = src.numel() * src.dtype().bytes;
                dry.record(new DryRun.Call(DryRun.Kind.MEMCPY, "driver", "cuMemcpyDtoDAsync", null, null, null, 0,
                        null, new long[]{d, sa}, new long[]{bytes}, null));
                if (dry.memory) {
                    int[] di = {0}, si = {0};
                    int[] dw = dry.wordsAt(d, di), sw = dry.wordsAt(sa, si);
                    System.arraycopy(sw, si[0], dw, di[0], (int) (bytes / 4));
                }
                return;
            }
            Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(ptr(dst), ptr(src), src.numel() * src.dtype().bytes, stream),
                    "cuMemcpyDtoDAsync", () -> src.describe() + " -> " + dst.describe());
        } else {
            elementwise.cast(src, dst);
        }
    }

    @Override public void fill(Tensor dst, double value) {
        enter();
        if (dst.numel() == 0) return;
        int bits;
        if (dst.dtype() == DType.F32) bits = Float.floatToRawIntBits((float) value);
        else if (dst.dtype() == DType.I32) bits = (int) value;
        else throw new IllegalArgumentException("fill: unsupported dtype " + dst.describe());
        if (dry != null) {
            long d = ptr(dst).address();
            dry.record(new DryRun.Call(DryRun.Kind.MEMSET, "driver", "cuMemsetD32Async", null, null, null, 0,
                    new int[]{bits}, new long[]{d}, new long[]{dst.numel()}, null));
            if (dry.memory) {
                int[] di = {0};
                int[] dw = dry.wordsAt(d, di);
                java.util.Arrays.fill(dw, di[0], di[0] + (int) dst.numel(), bits);
            }
            return;
        }
        Cuda.check(JCudaDriver.cuMemsetD32Async(ptr(dst), bits, dst.numel(), stream), "cuMemsetD32Async", dst::describe);
    }

    @Override public void unary(Ops.Unary op, Tensor x, Tensor out) { enter(); elementwise.unary(op, x, out); }

    @Override public void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        enter();
        elementwise.unaryBackward(op, x, y, gy, gx);
    }

    @Override public void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) { enter(); elementwise.binary(op, a, b, out); }

    @Override public void affine(Tensor x, double scale, double shift, Tensor out) {
        enter();
        elementwise.affine(x, scale, shift, out);
    }

    @Override public void powScalar(Tensor x, double p, Tensor out) { enter(); elementwise.powScalar(x, p, out); }

    @Override public void clamp(Tensor x, double lo, double hi, Tensor out) { enter(); elementwise.clamp(x, lo, hi, out); }

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) { enter(); elementwise.where(cond, a, b, out); }

    @Override public void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        enter();
        reduce.reduce(op, x, outer, n, inner, out);
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) { enter(); layout.permute(x, perm, out); }

    @Override public void writeSlice(Tensor src, Tensor dst, int axis, int start) {
        enter();
        layout.writeSlice(src, dst, axis, start);
    }

    @Override public void readSlice(Tensor src, Tensor dst, int axis, int start) {
        enter();
        layout.readSlice(src, dst, axis, start);
    }

    @Override public void matmul(Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta) {
        enter();
        gemm.matmul(a, b, out, transA, transB, alpha, beta);
    }

    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        enter();
        conv.forward(x, w, bias, out, stride, pad);
    }

    @Override public void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        enter();
        conv.backwardInput(gy, w, gx, stride, pad);
    }

    @Override public void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        enter();
        conv.backwardWeight(x, gy, gw, stride, pad);
    }

    @Override public void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                                    Tensor out, Tensor mean, Tensor rstd) {
        enter();
        groupNorm.forward(x, gamma, beta, groups, eps, silu, out, mean, rstd);
    }

    @Override public void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                            boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        enter();
        groupNorm.backward(x, gamma, beta, mean, rstd, groups, silu, gy, gx, ggamma, gbeta);
    }

    @Override public void softmax(Tensor x, Tensor out) { enter(); softmax.forward(x, out); }

    @Override public void softmaxBackward(Tensor y, Tensor gy, Tensor gx) { enter(); softmax.backward(y, gy, gx); }

    @Override public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        enter();
        attention.forward(q, k, v, scale, out, lse);
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout,
                                            double scale, Tensor gq, Tensor gk, Tensor gv) {
        enter();
        attention.backward(q, k, v, out, lse, gout, scale, gq, gk, gv);
    }

    @Override public void upsampleNearest2x(Tensor x, Tensor out) { enter(); upsample.forward(x, out); }

    @Override public void upsampleNearest2xBackward(Tensor gy, Tensor gx) { enter(); upsample.backward(gy, gx); }

    @Override public void gather(Tensor table, Tensor index, Tensor out) { enter(); gather.gather(table, index, out); }

    @Override public void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        enter();
        gather.scatterAdd(gout, index, gtable);
    }

    @Override public void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        enter();
        diffusion.qSample(x0, eps, t, a, s, out);
    }

    @Override public void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2,
                                        Tensor sigma, Tensor out) {
        enter();
        diffusion.posteriorStep(xt, epsHat, z, t, c1, c2, sigma, out);
    }

    @Override public void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        enter();
        diffusion.ddimStep(xt, epsHat, z, idx, coefs, clip, out);
    }

    @Override public void randUniform(Tensor out, long seed, long offset) { enter(); rng.uniform(out, seed, offset); }

    @Override public void randNormal(Tensor out, long seed, long offset) { enter(); rng.normal(out, seed, offset); }

    @Override public void dropoutMask(Tensor out, double p, long seed, long offset) {
        enter();
        rng.dropoutMask(out, p, seed, offset);
    }

    @Override public void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        enter();
        adam.adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
    }

    @Override public void ema(Tensor ema, Tensor param, double decay) { enter(); adam.ema(ema, param, decay); }

    @Override public String toString() { return "CudaBackend(" + describe() + ")"; }
}
