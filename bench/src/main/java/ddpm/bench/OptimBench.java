package ddpm.bench;

import ddpm.engine.FusedOps;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Adam and the EMA update over one flat parameter buffer: the U-Net's 35,746,307 parameters on
 * CUDA, 1/16 of them (2,234,144) on the CPU. The fused kernels against the same update from
 * elementwise primitives (14 kernels for Adam, as a per-tensor, non-foreach optimiser does; 3 for
 * the EMA), which write new buffers that are then swapped in.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class OptimBench extends DeviceState {
    public static final long UNET_PARAMS = 35_746_307L;
    static final double LR = 2e-4, B1 = 0.9, B2 = 0.999, EPS = 1e-8, DECAY = 0.9999;

    public static int params(String backend) {
        return (int) ("cpu".equals(backend) ? UNET_PARAMS / 16 : UNET_PARAMS);
    }

    private final Tensor[] p = new Tensor[SETS], g = new Tensor[SETS], m = new Tensor[SETS], v = new Tensor[SETS],
            e = new Tensor[SETS];
    private Tensor pN, mN, vN, eN, s1, s2, s3;
    private long step = 1;

    @Override protected void build() {
        int n = params(backend);
        for (int i = 0; i < SETS; i++) {
            p[i] = randn(n);
            g[i] = randn(n);
            m[i] = full(0, n);
            v[i] = full(0, n);
            e[i] = randn(n);
        }
        pN = empty(n); mN = empty(n); vN = empty(n); eN = empty(n);
        s1 = empty(n); s2 = empty(n); s3 = empty(n);
        sumSq = floats(new float[]{(float) n}, 1);   // norm √n: clipping at 1 bites
        schedule = floats(new float[]{(float) LR, (float) (1 - B1), (float) (1 - B2)}, 3);
    }

    private Tensor sumSq, schedule;

    @Benchmark public void adamFused() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).adam(p[i], g[i], m[i], v[i], LR, B1, B2, EPS, 0, false, step++, 1);
        sync();
    }

    /** The trainer's form: the clip factor taken from Σg² on the device (adam_step_clipped); Σg² itself is the reduction's, not timed here. */
    @Benchmark public void adamClipped() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).adamClipped(p[i], g[i], m[i], v[i], LR, B1, B2, EPS, 0, false, step++, sumSq, 1.0);
        sync();
    }

    /** The recorded training step's form: lr and the bias corrections read from the device too (CUDA only). */
    @Benchmark public void adamScheduled() {
        if (skip || !b.canCapture()) return;
        int i = next();
        FusedOps.of(b).adamScheduled(p[i], g[i], m[i], v[i], schedule, B1, B2, EPS, 0, false, sumSq, 1.0);
        sync();
    }

    @Benchmark public void adamUnfused() {
        if (skip) return;
        int i = next();
        long t = step++;
        double bc1 = 1 - Math.pow(B1, t), bc2 = 1 - Math.pow(B2, t);
        b.affine(g[i], 1 - B1, 0, s1);
        b.affine(m[i], B1, 0, s2);
        b.binary(Ops.Binary.ADD, s1, s2, mN);
        b.unary(Ops.Unary.SQUARE, g[i], s1);
        b.affine(s1, 1 - B2, 0, s3);
        b.affine(v[i], B2, 0, s2);
        b.binary(Ops.Binary.ADD, s3, s2, vN);
        b.affine(mN, 1 / bc1, 0, s1);
        b.affine(vN, 1 / bc2, 0, s2);
        b.unary(Ops.Unary.SQRT, s2, s3);
        b.affine(s3, 1, EPS, s2);
        b.binary(Ops.Binary.DIV, s1, s2, s3);
        b.affine(s3, -LR, 0, s1);
        b.binary(Ops.Binary.ADD, p[i], s1, pN);
        Tensor x = m[i]; m[i] = mN; mN = x;
        x = v[i]; v[i] = vN; vN = x;
        x = p[i]; p[i] = pN; pN = x;
        sync();
    }

    @Benchmark public void emaFused() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).ema(e[i], p[i], DECAY);
        sync();
    }

    @Benchmark public void emaUnfused() {
        if (skip) return;
        int i = next();
        b.affine(e[i], DECAY, 0, s1);
        b.affine(p[i], 1 - DECAY, 0, s2);
        b.binary(Ops.Binary.ADD, s1, s2, eN);
        Tensor x = e[i]; e[i] = eN; eN = x;
        sync();
    }
}
