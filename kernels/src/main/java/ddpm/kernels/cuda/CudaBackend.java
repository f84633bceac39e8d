package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.MathPrecision;
import ddpm.engine.MemoryStats;
import ddpm.engine.Ops;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * The CUDA backend: one device reached through a {@link CudaDriver} (the GPU through JCuda, or the
 * host driver that runs the same kernels on the CPU), one stream on which every kernel, copy and
 * GEMM is queued in order, a caching allocator, and the kernel families (one .cu file each).
 *
 * <p>F32 and BF16 (data) and I32 (indices) live on the device; F64 and F16 are refused with an
 * IllegalArgumentException. A kernel that has no bfloat16 variant yet reads and writes BF16
 * tensors through float32 scratch copies ({@link Bf16Staging}): the same values as the CPU backend's
 * (computed in float32, rounded as stored), at the price of the extra passes. Host transfers (write / read*) synchronise the stream; nothing else
 * waits for the device. Set {@code -Dddpm.cuda.syncCheck=true} to synchronise after every kernel
 * so an asynchronous fault names the kernel and shapes that caused it.
 */
public final class CudaBackend implements Backend, FusedOps {
    static final boolean SYNC_CHECK = Boolean.getBoolean("ddpm.cuda.syncCheck");

    private final Device device;
    private final CudaDriver driver;
    private final long randomOffsetShift;
    private final CudaDriver.DeviceInfo info;
    private final CudaAllocator allocator;

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

    /** The backend of {@code device} over an opened driver ({@link CudaBackendProvider} picks it). */
    CudaBackend(Device device, CudaDriver driver) {
        this.device = device;
        this.driver = driver;
        this.info = driver.device();
        allocator = new CudaAllocator(driver);
        // the Philox offset shifts, two words a slot, for the backend's lifetime (not the allocator's:
        // graphs' pools must never own them); 0 except around the replays of a recorded graph
        randomOffsetShift = driver.malloc(8L * SHIFT_SLOTS);
        if (randomOffsetShift == 0) throw new IllegalStateException("CUDA: cannot allocate the random offset shifts");
        driver.memsetD32(randomOffsetShift, 0, 2L * SHIFT_SLOTS, () -> "random offset shifts");
        gemm = new GemmKernel(this);
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

    // ---------------------------------------------------------------- infrastructure
    /** Makes the device current on the calling thread (once per thread). */
    private void enter() { driver.makeCurrent(); }

    CudaDriver driver() { return driver; }

    public CudaAllocator allocator() { return allocator; }

    int smCount() { return info.smCount(); }

    int maxSharedOptin() { return info.maxSharedOptin(); }

    int itemsPerThread() { return info.itemsPerThread(); }

    GemmKernel gemm() { return gemm; }

    /** The fused diffusion kernels, including {@link DiffusionKernels#qSampleWithNoise}. */
    public DiffusionKernels diffusion() { enter(); return diffusion; }

    private volatile MathPrecision precision = MathPrecision.FP32;

    /**
     * TF32 and BF16 tensor-core math needs sm_80 or newer on a GPU; the host driver emulates both
     * (inputs rounded as the tensor cores take them).
     */
    @Override public boolean supports(MathPrecision p) {
        return p == MathPrecision.FP32 || driverKind().equals("host") || info.ccMajor() >= 8;
    }

    /** The math precision of matmul, convolution and attention (FP32 by default; see {@link MathPrecision}). */
    @Override public void setPrecision(MathPrecision p) {
        if (!supports(java.util.Objects.requireNonNull(p)))
            throw new IllegalArgumentException(p + " math needs tensor cores of sm_80 or newer; " + info.name() + " is sm_"
                    + info.ccMajor() + info.ccMinor() + " (use --precision fp32)");
        precision = p;
    }

    @Override public MathPrecision precision() { return precision; }

    public String deviceName() { return info.name(); }

    /** "jcuda" (a GPU) or "host" (the kernels on the CPU). */
    public String driverKind() { return driver.kind(); }

    public String describe() {
        return device + ": " + info.name() + " (sm_" + info.ccMajor() + info.ccMinor() + ", " + info.smCount() + " SMs, "
                + driver.kind() + " driver)";
    }

    /** Driver, versions and natives, for logs and the GPU doctor. */
    public String driverDetails() { return driver.describe(); }

    /**
     * A recorded piece of device work (a CUDA graph): {@link #replay} runs it again with the same
     * tensors (their device memory, shapes and scalar arguments are baked in; change inputs by
     * copying new values into the same tensors). Tensors created while capturing keep their device
     * memory for the graph: replays may write them even after they are released, so their blocks
     * return to the cache only when the graph is closed.
     */
    public final class Graph implements Backend.Graph {
        private final long id;
        private final CudaAllocator.Pool pool;
        private boolean closed;

        private Graph(long id, CudaAllocator.Pool pool) {
            this.id = id;
            this.pool = pool;
        }

        /** Queues the recorded work on the stream (no host synchronisation). */
        @Override public void replay() {
            if (closed) throw new IllegalStateException("replay of a closed CUDA graph");
            enter();
            driver.launchGraph(id);
        }

        @Override public void close() {
            if (closed) return;
            closed = true;
            driver.destroyGraph(id);
            allocator.closePool(pool);
        }
    }

    /**
     * Records {@code work} into a {@link Graph} instead of running it (on a GPU: stream capture).
     * Inside, only device work is allowed: host transfers, synchronisation and reading results to
     * the host fail (the stream is capturing). Kernels, copies, fills and GEMMs are recorded.
     */
    @Override public boolean canCapture() { return true; }

    /**
     * Adds {@code delta} to the Philox offset of every later random kernel (uniform, normal,
     * dropout mask, q_sample with noise) of stream {@code seed}, stream-ordered: a recorded graph's
     * draws, whose offsets were fixed when it was recorded, then draw what the same calls would
     * draw {@code delta} blocks later. Each seed has its own shift (a slot in device memory, taken
     * at its first draw), so streams that advance by different amounts per step shift apart.
     * 0 restores plain offsets.
     */
    @Override public void setRandomOffsetShift(long seed, long delta) {
        notCapturing("setting the random offset shift");
        Integer slot;
        synchronized (shiftSlots) {
            slot = shiftSlots.get(seed);
        }
        if (slot == null) {
            if (delta == 0) return;   // never drawn from: nothing to shift
            throw new IllegalStateException("random offset shift for seed " + seed + ": no kernel has drawn from that stream"
                    + (shiftSlots.size() >= SHIFT_SLOTS - 1 ? " with a shift slot (all " + (SHIFT_SLOTS - 1) + " are taken)" : ""));
        }
        enter();
        driver.copyToDevice(randomOffsetShift + 8L * slot, new int[]{(int) delta, (int) (delta >>> 32)}, 2);
    }

    /** Slots of the offset shift: one per seed drawn from, in order of first use; the last stays 0 for seeds beyond. */
    private static final int SHIFT_SLOTS = 1024;
    private final java.util.Map<Long, Integer> shiftSlots = new java.util.HashMap<>();

    /** The device address of seed's offset shift (a slot of its own, or the shared zero slot when all are taken). */
    long randomOffsetShiftAddress(long seed) {
        synchronized (shiftSlots) {
            Integer slot = shiftSlots.get(seed);
            if (slot == null && shiftSlots.size() < SHIFT_SLOTS - 1) shiftSlots.put(seed, slot = shiftSlots.size());
            return randomOffsetShift + 8L * (slot == null ? SHIFT_SLOTS - 1 : slot);
        }
    }

    @Override public Graph capture(Runnable work) {
        enter();
        CudaAllocator.Pool pool = allocator.beginCapture();
        Graph g = null;
        try {
            driver.beginCapture();
            try {
                work.run();
            } finally {
                g = new Graph(driver.endCapture(), pool);
            }
            return g;
        } catch (RuntimeException | Error e) {
            if (g != null) g.close();
            else allocator.closePool(pool);
            throw e;
        } finally {
            allocator.endCapture();
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

    /**
     * The operand dtype mask of a kernel that reads and writes float32 or bfloat16 (common.cuh's
     * ld/st): bit k set when operands[k] is BF16. Each must be F32 or BF16 (a null one counts as F32).
     */
    static int dtypes(String op, Tensor... operands) {
        int mask = 0;
        for (int k = 0; k < operands.length; k++) {
            Tensor t = operands[k];
            if (t == null || t.dtype() == DType.F32) continue;
            if (t.dtype() != DType.BF16)
                throw new IllegalArgumentException("CUDA " + op + " supports F32 and BF16, got " + t.describe());
            mask |= 1 << k;
        }
        return mask;
    }

    /** Whether every (non-null) tensor is F32. */
    static boolean allF32(Tensor... ts) {
        for (Tensor t : ts) if (t != null && t.dtype() != DType.F32) return false;
        return true;
    }

    static void i32(String op, Tensor t) {
        if (t.dtype() != DType.I32)
            throw new IllegalArgumentException("CUDA " + op + " needs an I32 index tensor, got " + t.describe());
    }

    /** Scratch device memory of {@code floats} float32 values, stream-ordered: release it right
     *  after queueing the kernels that use it (later work on the one stream runs after them). */
    CudaAllocator.Block scratch(long floats) { return allocator.allocate(floats * 4); }

    private static long address(Tensor t) { return ((CudaStorage) t.storage()).address(t.offset()); }

    /**
     * BF16 tensors around a kernel that reads and writes float32 only: {@link #in} widens a BF16
     * operand into a float32 scratch tensor, {@link #out} gives a float32 scratch for a BF16 output
     * (narrowed into it, to nearest even, when the work is done) and {@link #inOut} both; other
     * tensors pass through. One tensor staged twice (an in-place op) gets the same scratch.
     */
    final class Bf16Staging {
        /** {a BF16 tensor, its float32 scratch, the tensor again when the scratch is narrowed back into it};
         *  null until the first BF16 tensor (an all-F32 call allocates nothing). */
        private java.util.List<Tensor[]> staged;

        private Tensor stage(Tensor t, boolean read, boolean write) {
            if (t == null || t.dtype() != DType.BF16) return t;
            if (staged == null) staged = new java.util.ArrayList<>(4);
            Tensor[] p = null;
            for (Tensor[] q : staged) if (q[0] == t) p = q;
            if (p == null) {
                p = new Tensor[]{t, Tensor.empty(CudaBackend.this, DType.F32, t.shape()), null};
                staged.add(p);
                if (read) elementwise.cast(t, p[1]);
            }
            if (write) p[2] = t;
            return p[1];
        }

        Tensor in(Tensor t) { return stage(t, true, false); }

        Tensor out(Tensor t) { return stage(t, false, true); }

        Tensor inOut(Tensor t) { return stage(t, true, true); }

        private boolean any() { return staged != null; }

        private void narrow() {
            if (staged != null) for (Tensor[] p : staged) if (p[2] != null) elementwise.cast(p[1], p[0]);
        }

        private void release() {
            if (staged != null) for (Tensor[] p : staged) p[1].release();
        }
    }

    /** Runs a primitive with its BF16 tensors staged through float32 ({@link Bf16Staging}), counting it in {@link #stagedOps}. */
    private void staged(java.util.function.Consumer<Bf16Staging> work) { viaFloat32(work, true); }

    private void viaFloat32(java.util.function.Consumer<Bf16Staging> work, boolean count) {
        enter();
        Bf16Staging s = new Bf16Staging();
        try {
            work.accept(s);
            s.narrow();
        } finally {
            if (count && s.any()) stagedOps.incrementAndGet();
            s.release();
        }
    }

    private final java.util.concurrent.atomic.AtomicLong stagedOps = new java.util.concurrent.atomic.AtomicLong();

    /** Primitive calls so far that went through float32 copies of BF16 tensors (transfers not counted):
     *  what a kernel reading bfloat16 itself would save. */
    public long stagedOps() { return stagedOps.get(); }

    // ---------------------------------------------------------------- Backend
    @Override public Device device() { return device; }

    @Override public Storage allocate(DType dtype, long length) {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.I32)
            throw new IllegalArgumentException("the CUDA backend stores F32, BF16 and I32, not " + dtype);
        if (length < 0) throw new IllegalArgumentException("negative length " + length);
        enter();
        return new CudaStorage(this, dtype, length, allocator.allocate(length * dtype.bytes));
    }

    @Override public MemoryStats memoryStats() { return allocator.stats(); }

    @Override public void synchronize() {
        notCapturing("synchronize");
        enter();
        driver.synchronize();
    }

    /** Host transfers and waits cannot be part of a graph. */
    private void notCapturing(String what) {
        if (allocator.capturing())
            throw new IllegalStateException(what + " while a CUDA graph is being captured: only device work can be recorded");
    }

    private void upload(Tensor dst, Object host, int count) {
        if (count == 0) return;
        notCapturing("writing " + dst.describe() + " from the host");
        enter();
        driver.copyToDevice(address(dst), host, count);
    }

    private void download(Tensor src, Object host, int count) {
        if (count == 0) return;
        notCapturing("reading " + src.describe() + " to the host");
        enter();
        hostReads.incrementAndGet();
        driver.copyToHost(host, address(src), count);
    }

    private final java.util.concurrent.atomic.AtomicLong hostReads = new java.util.concurrent.atomic.AtomicLong();

    @Override public long hostReads() { return hostReads.get(); }

    private static int count(Tensor t, int have, String op) {
        if (have < t.numel())
            throw new IllegalArgumentException(op + ": " + have + " values for " + t.describe());
        return (int) t.numel();
    }

    @Override public void write(Tensor dst, float[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.BF16) viaFloat32(s -> write(s.out(dst), src), false);
        else if (dst.dtype() == DType.F32) upload(dst, src, n);
        else if (dst.dtype() == DType.I32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = (int) src[i];
            upload(dst, v, n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public void write(Tensor dst, double[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.BF16) viaFloat32(s -> write(s.out(dst), src), false);   // double → float → bfloat16, as on the CPU
        else if (dst.dtype() == DType.F32) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) src[i];
            upload(dst, v, n);
        } else if (dst.dtype() == DType.I32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = (int) src[i];
            upload(dst, v, n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public void write(Tensor dst, int[] src) {
        int n = count(dst, src.length, "write");
        if (dst.dtype() == DType.I32) upload(dst, src, n);
        else if (dst.dtype() == DType.BF16) viaFloat32(s -> write(s.out(dst), src), false);
        else if (dst.dtype() == DType.F32) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = src[i];
            upload(dst, v, n);
        } else throw new IllegalArgumentException("write: unsupported dtype " + dst.describe());
    }

    @Override public float[] readFloats(Tensor src) {
        int n = (int) src.numel();
        if (src.dtype() == DType.F32) {
            float[] v = new float[n];
            download(src, v, n);
            return v;
        }
        if (src.dtype() == DType.BF16) {
            float[][] v = new float[1][];
            viaFloat32(s -> v[0] = readFloats(s.in(src)), false);
            return v[0];
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
            download(src, v, n);
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
        if (src.dtype() == dst.dtype())
            driver.copyDeviceToDevice(address(dst), address(src), src.numel() * src.dtype().bytes,
                    () -> src.describe() + " -> " + dst.describe());
        else if (src.dtype() == DType.F32 || dst.dtype() == DType.F32)
            elementwise.cast(src, dst);
        else   // I32 ↔ BF16: through float32
            viaFloat32(s -> elementwise.cast(s.in(src), s.out(dst)), false);
    }

    @Override public void fill(Tensor dst, double value) {
        enter();
        if (dst.numel() == 0) return;
        if (dst.dtype() == DType.BF16) {
            elementwise.fillBf16(dst, ddpm.engine.BFloat16.bits((float) value));
            return;
        }
        int bits;
        if (dst.dtype() == DType.F32) bits = Float.floatToRawIntBits((float) value);
        else if (dst.dtype() == DType.I32) bits = (int) value;
        else throw new IllegalArgumentException("fill: unsupported dtype " + dst.describe());
        driver.memsetD32(address(dst), bits, dst.numel(), dst::describe);
    }

    // the elementwise, layout and upsampling kernels read and write F32 and BF16 in any mix
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

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        staged(s -> elementwise.where(cond.dtype() == DType.BF16 ? s.in(cond) : cond, a, b, out));
    }

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
        staged(s -> gemm.matmul(s.in(a), s.in(b), beta == 0 ? s.out(out) : s.inOut(out), transA, transB, alpha, beta));
    }

    // convolutions: BF16 activations straight into the tensor-core kernels where ConvKernel.takes them
    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        if (conv.takes(w, new Tensor[]{bias}, x, out)) {
            enter();
            conv.forward(x, w, bias, out, stride, pad);
        } else {
            staged(s -> conv.forward(s.in(x), s.in(w), s.in(bias), s.out(out), stride, pad));
        }
    }

    /**
     * The fused convolution of a residual block: out = conv2d(x, w) + bias[o] + nAdd[n, o] +
     * residual[n, o, h, w] in one pass over the output (the tensor-core kernel's epilogue; on the
     * im2col + GEMM path the output is pre-filled with the sum of the three and the GEMM adds onto
     * it). bias [O], nAdd [N, O] (the timestep-embedding projection) and residual (out's shape) may
     * each be null; residual may be out itself.
     */
    @Override public void conv2dAdd(Tensor x, Tensor w, Tensor bias, Tensor nAdd, Tensor residual, Tensor out, int stride, int pad) {
        if (conv.takes(w, new Tensor[]{bias}, x, nAdd, residual, out)) {
            enter();
            conv.forwardAdd(x, w, bias, nAdd, residual, out, stride, pad);
        } else {
            staged(s -> conv.forwardAdd(s.in(x), s.in(w), s.in(bias), s.in(nAdd), s.in(residual), s.out(out), stride, pad));
        }
    }

    /**
     * conv2dAdd of SiLU(groupNorm(x)), x's statistics into mean and rstd: at TF32/BF16, for the
     * shapes the halo kernels take, the statistics kernel, then the convolution with the norm applied
     * as it loads x (the normalised input is never written); otherwise groupNorm into a scratch, then
     * conv2dAdd.
     */
    @Override public void groupNormSiluConv2dAdd(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, Tensor w,
                                                 Tensor bias, Tensor nAdd, Tensor residual, Tensor out, Tensor mean,
                                                 Tensor rstd, int stride, int pad) {
        if (conv.takes(w, new Tensor[]{gamma, beta, bias, mean, rstd}, x, nAdd, residual, out) && conv.normedFits(x, w, out, stride, pad)) {
            enter();
            normedConv(x, gamma, beta, groups, eps, w, bias, nAdd, residual, out, mean, rstd, stride, pad);
        } else {
            staged(s -> normedConv(s.in(x), s.in(gamma), s.in(beta), groups, eps, s.in(w), s.in(bias), s.in(nAdd), s.in(residual),
                    s.out(out), s.out(mean), s.out(rstd), stride, pad));
        }
    }

    private void normedConv(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, Tensor w, Tensor bias, Tensor nAdd,
                            Tensor residual, Tensor out, Tensor mean, Tensor rstd, int stride, int pad) {
        if (conv.normedFits(x, w, out, stride, pad)) {
            groupNorm.stats(x, groups, eps, mean, rstd);
            conv.forwardNormed(x, mean, rstd, gamma, beta, groups, w, bias, nAdd, residual, out, stride, pad);
        } else {
            FusedOps.super.groupNormSiluConv2dAdd(x, gamma, beta, groups, eps, w, bias, nAdd, residual, out, mean, rstd, stride, pad);
        }
    }

    /** Launches so far of each "family.kernel" (e.g. "conv.conv_fwd_gnsilu_halo_bf16") by any CUDA
     *  backend in this JVM: which kernels a model or benchmark actually ran. */
    public static java.util.Map<String, Long> kernelLaunches() { return KernelModule.launchCounts(); }

    /** The convolutions: their algorithm switch ({@code -Dddpm.cuda.conv}) and measured choices. */
    public ConvKernel conv() { return conv; }

    @Override public void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        if (conv.takes(w, new Tensor[0], gy, gx)) {
            enter();
            conv.backwardInput(gy, w, gx, stride, pad);
        } else {
            staged(s -> conv.backwardInput(s.in(gy), s.in(w), s.out(gx), stride, pad));
        }
    }

    @Override public void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        if (conv.takes(gw, new Tensor[0], x, gy)) {
            enter();
            conv.backwardWeight(x, gy, gw, stride, pad);
        } else {
            staged(s -> conv.backwardWeight(s.in(x), s.in(gy), s.out(gw), stride, pad));
        }
    }

    // group norm reads and writes its activations (x, out, gy, gx) as F32 or BF16; parameters and statistics F32
    @Override public void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                                    Tensor out, Tensor mean, Tensor rstd) {
        staged(s -> groupNorm.forward(x, s.in(gamma), s.in(beta), groups, eps, silu, out, s.out(mean), s.out(rstd)));
    }

    @Override public void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                            boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        staged(s -> groupNorm.backward(x, s.in(gamma), s.in(beta), s.in(mean), s.in(rstd), groups, silu, gy,
                gx, s.out(ggamma), s.out(gbeta)));
    }

    @Override public void softmax(Tensor x, Tensor out) { staged(s -> softmax.forward(s.in(x), s.out(out))); }

    @Override public void softmaxBackward(Tensor y, Tensor gy, Tensor gx) {
        staged(s -> softmax.backward(s.in(y), s.in(gy), s.out(gx)));
    }

    // attention: BF16 activations straight into the tensor-core kernels where AttentionKernel.takes them
    @Override public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        if (attention.takes(q, k, v, lse, out)) {
            enter();
            attention.forward(q, k, v, scale, out, lse);
        } else {
            staged(s -> attention.forward(s.in(q), s.in(k), s.in(v), scale, s.out(out), s.out(lse)));
        }
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout,
                                            double scale, Tensor gq, Tensor gk, Tensor gv) {
        if (attention.takes(q, k, v, lse, out, gout, gq, gk, gv)) {
            enter();
            attention.backward(q, k, v, out, lse, gout, scale, gq, gk, gv);
        } else {
            staged(s -> attention.backward(s.in(q), s.in(k), s.in(v), s.in(out), s.in(lse), s.in(gout), scale,
                    s.out(gq), s.out(gk), s.out(gv)));
        }
    }

    @Override public void upsampleNearest2x(Tensor x, Tensor out) { enter(); upsample.forward(x, out); }

    @Override public void upsampleNearest2xBackward(Tensor gy, Tensor gx) { enter(); upsample.backward(gy, gx); }

    @Override public void gather(Tensor table, Tensor index, Tensor out) {
        staged(s -> gather.gather(s.in(table), index, s.out(out)));
    }

    @Override public void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        staged(s -> gather.scatterAdd(s.in(gout), index, s.inOut(gtable)));
    }

    @Override public void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        staged(st -> diffusion.qSample(st.in(x0), st.in(eps), t, st.in(a), st.in(s), st.out(out)));
    }

    @Override public void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2,
                                        Tensor sigma, Tensor out) {
        staged(s -> diffusion.posteriorStep(s.in(xt), s.in(epsHat), s.in(z), t, s.in(c1), s.in(c2), s.in(sigma), s.out(out)));
    }

    @Override public void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        staged(s -> diffusion.ddimStep(s.in(xt), s.in(epsHat), s.in(z), idx, s.in(coefs), clip, s.out(out)));
    }

    @Override public void randUniform(Tensor out, long seed, long offset) { staged(s -> rng.uniform(s.out(out), seed, offset)); }

    @Override public void randNormal(Tensor out, long seed, long offset) { staged(s -> rng.normal(s.out(out), seed, offset)); }

    @Override public void dropoutMask(Tensor out, double p, long seed, long offset) {
        staged(s -> rng.dropoutMask(s.out(out), p, seed, offset));
    }

    // the optimiser's buffers are float32 by design (F.adamUpdate checks); staging only keeps the contract whole
    @Override public void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        staged(s -> adam.adam(s.inOut(param), s.in(grad), s.inOut(m), s.inOut(v), lr, beta1, beta2, eps, weightDecay, decoupled,
                step, gradScale));
    }

    @Override public void adamClipped(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                                      double eps, double weightDecay, boolean decoupled, long step, Tensor gradSumSquares,
                                      double maxNorm) {
        staged(s -> adam.adamClipped(s.inOut(param), s.in(grad), s.inOut(m), s.inOut(v), lr, beta1, beta2, eps, weightDecay,
                decoupled, step, s.in(gradSumSquares), maxNorm));
    }

    @Override public void adamScheduled(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor hyper, double beta1, double beta2,
                                        double eps, double weightDecay, boolean decoupled, Tensor gradSumSquares, double maxNorm) {
        staged(s -> adam.adamScheduled(s.inOut(param), s.in(grad), s.inOut(m), s.inOut(v), s.in(hyper), beta1, beta2, eps,
                weightDecay, decoupled, s.in(gradSumSquares), maxNorm));
    }

    @Override public void ema(Tensor ema, Tensor param, double decay) { staged(s -> adam.ema(s.inOut(ema), s.in(param), decay)); }

    @Override public String toString() { return "CudaBackend(" + describe() + ")"; }
}
