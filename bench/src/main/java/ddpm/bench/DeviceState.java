package ddpm.bench;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.ArrayList;
import java.util.List;

/**
 * The base of every kernel benchmark's state: the backend parameter, the inputs (created once per
 * trial, in {@link #SETS} rotating sets so that one invocation does not find the previous one's
 * data in cache), and their deterministic release at tear-down.
 *
 * <p>Timing contract: each {@code @Benchmark} method enqueues its work and ends with
 * {@link #sync()}, so the time JMH measures is the device's time, not the launch time. Outputs
 * are preallocated here; nothing is allocated per invocation (the end-to-end benchmarks open a
 * engine {@code Scope} per invocation instead).
 *
 * <p>Skipping: when {@code backend=cuda} and no CUDA backend can be opened, {@link #open} prints
 * one line {@code skipped: no CUDA device (reason)}, and every benchmark method returns at once.
 * JMH still records a (meaningless, nanosecond) score, which {@link Report} shows as "skipped"
 * ({@link #SKIP_THRESHOLD_NS}). {@link Bench}, the launcher, leaves {@code cuda} out in the
 * first place when no device is there, so a CPU-only run prints the message once and measures
 * nothing it cannot.
 */
@State(Scope.Benchmark)
public abstract class DeviceState {
    /** Input sets each benchmark rotates through. */
    public static final int SETS = 2;
    /** Scores below this (ns/op) of a cuda benchmark are skip markers: a launch plus a device synchronise takes several µs, a skipped call (an untaken branch) well under one, even unwarmed. */
    public static final double SKIP_THRESHOLD_NS = 1000;

    @Param({"cpu", "cuda"})
    public String backend;

    /** The backend under test (null when skipped). */
    protected Backend b;
    protected Device dev;
    /** True when the device is missing: benchmark methods return at once. */
    public boolean skip;
    private final List<Tensor> owned = new ArrayList<>();
    private int turn;
    protected final Rng rng = new Rng(1234);

    @Setup(Level.Trial)
    public final void open() {
        dev = Device.parse(backend);
        String why = unavailable(dev);
        if (why != null) {
            System.out.println("skipped: no CUDA device (" + why + ")");
            skip = true;
            return;
        }
        b = Backends.get(dev);
        build();
        b.synchronize();
    }

    @TearDown(Level.Trial)
    public final void close() {
        if (b != null) b.synchronize();
        release();
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).release();
        owned.clear();
    }

    /** Creates the inputs and outputs of every set (called once per trial, device present). */
    protected abstract void build();

    /** Releases what {@link #build} made besides tracked tensors (models, optimisers). */
    protected void release() {}

    /** The set to use now: 0, 1, 0, 1, ... */
    protected final int next() {
        turn = (turn + 1) % SETS;
        return turn;
    }

    /** Waits for the device: every benchmark method ends with this. */
    protected final void sync() { b.synchronize(); }

    /** Null when {@code device}'s backend opens here, else why not. */
    public static String unavailable(Device device) {
        if (device.isCpu()) return null;
        try {
            Backends.get(device);
            return null;
        } catch (RuntimeException | LinkageError e) {
            String m = e.getMessage();
            return m == null ? e.getClass().getSimpleName() : m;
        }
    }

    /** The batch at which a layer-shaped kernel runs: the U-Net's on CUDA, 1/16 of it on the CPU. */
    public static int batch(String backend, int gpuBatch) {
        return "cpu".equals(backend) ? Math.max(1, gpuBatch / 16) : gpuBatch;
    }

    // ---------------------------------------------------------------- tracked tensors
    protected final <T extends Tensor> T track(T t) {
        owned.add(t);
        return t;
    }

    protected final Tensor empty(int... shape) { return track(Tensor.empty(DType.F32, dev, shape)); }

    protected final Tensor randn(int... shape) { return track(Tensor.randn(rng, DType.F32, dev, shape)); }

    protected final Tensor rand(double lo, double hi, int... shape) {
        Tensor u = Tensor.rand(rng, DType.F32, dev, shape);
        Tensor t = empty(shape);
        b.affine(u, hi - lo, lo, t);
        u.release();
        return t;
    }

    protected final Tensor full(double v, int... shape) { return track(Tensor.full(DType.F32, dev, v, shape)); }

    protected final Tensor ints(int[] data) { return track(Tensor.ofInts(data, dev, data.length)); }

    protected final Tensor floats(float[] data, int... shape) { return track(Tensor.of(data, dev, shape)); }

    /** A view of t's first elements with another shape (for broadcasting per-sample scalars). */
    protected final Tensor view(Tensor t, int... shape) { return track(t.flatView(0, shape)); }

    /** Random timesteps in [0, T). */
    protected final int[] timesteps(int n, int T) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.nextInt(T);
        return t;
    }

    protected static int[] dims(String s) {
        String[] p = s.split("x");
        int[] d = new int[p.length];
        for (int i = 0; i < p.length; i++) d[i] = Integer.parseInt(p[i]);
        return d;
    }
}
