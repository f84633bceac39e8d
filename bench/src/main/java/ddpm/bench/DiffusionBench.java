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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The fused diffusion kernels — noise-add q(x_t|x_0), the DDPM posterior step, the DDIM step —
 * against the same maths built from separate engine primitives (gather the per-sample
 * coefficients, then one broadcast multiply/add per term), on images [B, 3, 32, 32]:
 * B = 128 (the training batch) and 1024 (large) on CUDA, 1/16 of that on the CPU.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class DiffusionBench extends DeviceState {
    public static final int T = 1000;

    /** "train": the training batch 128; "large": 1024. */
    @Param({"train", "large"})
    public String size;

    public static int[] shape(String backend, String size) {
        return new int[]{batch(backend, "large".equals(size) ? 1024 : 128), 3, 32, 32};
    }

    private int n;
    private final Tensor[] x = new Tensor[SETS], e = new Tensor[SETS], z = new Tensor[SETS], t = new Tensor[SETS],
            out = new Tensor[SETS];
    private Tensor a, s, c1, c2, sigma, coefs;
    // unfused scratch: per-sample coefficients [B] and their [B,1,1,1] views, full-size temporaries
    private Tensor k1, k2, k3, v1, v2, v3, tmp1, tmp2, tmp3, rows, col[] = new Tensor[5], colv[] = new Tensor[5], x0;

    @Override protected void build() {
        int[] sh = shape(backend, size);
        n = sh[0];
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(sh);
            e[i] = randn(sh);
            z[i] = randn(sh);
            t[i] = ints(timesteps(n, T));
            out[i] = empty(sh);
        }
        float[] fa = new float[T], fs = new float[T], f1 = new float[T], f2 = new float[T], fg = new float[T];
        float[] fc = new float[T * 5];
        double ab = 1;
        for (int i = 0; i < T; i++) {
            double beta = 1e-4 + (0.02 - 1e-4) * i / (T - 1), abPrev = ab;
            ab *= 1 - beta;
            fa[i] = (float) Math.sqrt(ab);
            fs[i] = (float) Math.sqrt(1 - ab);
            f1[i] = (float) (1 / Math.sqrt(1 - beta));
            f2[i] = (float) (beta / Math.sqrt(1 - ab));
            fg[i] = (float) Math.sqrt(beta);
            double sig = 0.5 * Math.sqrt((1 - abPrev) / (1 - ab) * (1 - ab / abPrev));
            fc[5 * i] = fa[i];
            fc[5 * i + 1] = fs[i];
            fc[5 * i + 2] = (float) Math.sqrt(abPrev);
            fc[5 * i + 3] = (float) Math.sqrt(Math.max(0, 1 - abPrev - sig * sig));
            fc[5 * i + 4] = (float) sig;
        }
        a = floats(fa, T);
        s = floats(fs, T);
        c1 = floats(f1, T);
        c2 = floats(f2, T);
        sigma = floats(fg, T);
        coefs = floats(fc, T, 5);
        k1 = empty(n); k2 = empty(n); k3 = empty(n);
        v1 = view(k1, n, 1, 1, 1); v2 = view(k2, n, 1, 1, 1); v3 = view(k3, n, 1, 1, 1);
        tmp1 = empty(sh); tmp2 = empty(sh); tmp3 = empty(sh); x0 = empty(sh);
        rows = empty(n, 5);
        for (int c = 0; c < 5; c++) {
            col[c] = empty(n, 1);
            colv[c] = view(col[c], n, 1, 1, 1);
        }
    }

    // ---------------------------------------------------------------- noise-add
    @Benchmark public void qSampleFused() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).qSample(x[i], e[i], t[i], a, s, out[i]);
        sync();
    }

    /** gather a[t], gather s[t], a·x0, s·ε, add: 5 kernels. */
    @Benchmark public void qSampleUnfused() {
        if (skip) return;
        int i = next();
        b.gather(a, t[i], k1);
        b.gather(s, t[i], k2);
        b.binary(Ops.Binary.MUL, v1, x[i], tmp1);
        b.binary(Ops.Binary.MUL, v2, e[i], tmp2);
        b.binary(Ops.Binary.ADD, tmp1, tmp2, out[i]);
        sync();
    }

    // ---------------------------------------------------------------- DDPM posterior step
    @Benchmark public void ddpmFused() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).posteriorStep(x[i], e[i], z[i], t[i], c1, c2, sigma, out[i]);
        sync();
    }

    /** 3 gathers, c2·ε̂, x − ·, c1·(·), σ·z, add: 8 kernels. */
    @Benchmark public void ddpmUnfused() {
        if (skip) return;
        int i = next();
        b.gather(c1, t[i], k1);
        b.gather(c2, t[i], k2);
        b.gather(sigma, t[i], k3);
        b.binary(Ops.Binary.MUL, v2, e[i], tmp1);
        b.binary(Ops.Binary.SUB, x[i], tmp1, tmp2);
        b.binary(Ops.Binary.MUL, v1, tmp2, tmp3);
        b.binary(Ops.Binary.MUL, v3, z[i], tmp1);
        b.binary(Ops.Binary.ADD, tmp3, tmp1, out[i]);
        sync();
    }

    // ---------------------------------------------------------------- DDIM step (η = 0.5 coefficients, clip 1)
    @Benchmark public void ddimFused() {
        if (skip) return;
        int i = next();
        FusedOps.of(b).ddimStep(x[i], e[i], z[i], t[i], coefs, 1.0, out[i]);
        sync();
    }

    /** gather the coefficient rows, split 5 columns, then x̂0, clip, and the three terms: 15 kernels. */
    @Benchmark public void ddimUnfused() {
        if (skip) return;
        int i = next();
        b.gather(coefs, t[i], rows);
        for (int c = 0; c < 5; c++) b.readSlice(rows, col[c], 1, c);
        b.binary(Ops.Binary.MUL, colv[1], e[i], tmp1);
        b.binary(Ops.Binary.SUB, x[i], tmp1, tmp2);
        b.binary(Ops.Binary.DIV, tmp2, colv[0], tmp3);
        b.clamp(tmp3, -1, 1, x0);
        b.binary(Ops.Binary.MUL, colv[2], x0, tmp1);
        b.binary(Ops.Binary.MUL, colv[3], e[i], tmp2);
        b.binary(Ops.Binary.ADD, tmp1, tmp2, tmp3);
        b.binary(Ops.Binary.MUL, colv[4], z[i], tmp1);
        b.binary(Ops.Binary.ADD, tmp3, tmp1, out[i]);
        sync();
    }
}
