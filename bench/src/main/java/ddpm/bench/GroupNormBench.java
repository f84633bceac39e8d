package ddpm.bench;

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
 * Group norm (32 groups, eps 1e-6, as in the U-Net) forward, forward + backward, and fused with
 * SiLU — against group norm then a separate SiLU kernel, and against the whole thing composed
 * from 13 elementwise/reduction primitives. Shapes C×R are the U-Net's activations
 * [B, C, R, R] (128×32², 256×16², 256×8², 256×4²) plus a large 512×16²; B = 128 on CUDA, 8 on the CPU.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class GroupNormBench extends DeviceState {
    public static final int GROUPS = 32;
    public static final double EPS = 1e-6;

    /** C x R: channels and spatial side. */
    @Param({"128x32", "256x16", "256x8", "256x4", "512x16"})
    public String shape;

    public static int[] shape(String backend, String shape) {
        int[] cr = dims(shape);
        return new int[]{batch(backend, 128), cr[0], cr[1], cr[1]};
    }

    private final Tensor[] x = new Tensor[SETS], gy = new Tensor[SETS], out = new Tensor[SETS];
    private Tensor gamma, beta, mean, rstd, gx, gg, gb, tmp;
    // composed: x viewed [N·G, M]; statistics [N·G] and their [N·G, 1] views; γ, β viewed [C, 1]
    private final Tensor[] xg = new Tensor[SETS], x3 = new Tensor[SETS];
    private Tensor sum, sumsq, mu, ex2, m2, var, vare, rs, muV, rsV, xc, xn, xn3, t3, y3, y, gammaV, betaV;

    @Override protected void build() {
        int[] sh = shape(backend, shape);
        int n = sh[0], c = sh[1], hw = sh[2] * sh[3], ng = n * GROUPS, m = c / GROUPS * hw;
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(sh);
            gy[i] = randn(sh);
            out[i] = empty(sh);
            xg[i] = view(x[i], ng, m);
            x3[i] = view(x[i], n, c, hw);
        }
        gamma = rand(0.5, 1.5, c);
        beta = randn(c);
        mean = empty(n, GROUPS);
        rstd = empty(n, GROUPS);
        gx = empty(sh);
        gg = empty(c);
        gb = empty(c);
        tmp = empty(sh);
        sum = empty(ng); sumsq = empty(ng); mu = empty(ng); ex2 = empty(ng); m2 = empty(ng);
        var = empty(ng); vare = empty(ng); rs = empty(ng);
        muV = view(mu, ng, 1);
        rsV = view(rs, ng, 1);
        xc = empty(ng, m);
        xn = empty(ng, m);
        xn3 = view(xn, n, c, hw);
        t3 = empty(n, c, hw);
        y3 = empty(n, c, hw);
        y = view(y3, sh);
        gammaV = view(gamma, c, 1);
        betaV = view(beta, c, 1);
    }

    @Benchmark public void fwd() {
        if (skip) return;
        int i = next();
        b.groupNorm(x[i], gamma, beta, GROUPS, EPS, false, out[i], mean, rstd);
        sync();
    }

    @Benchmark public void fwdBwd() {
        if (skip) return;
        int i = next();
        b.groupNorm(x[i], gamma, beta, GROUPS, EPS, false, out[i], mean, rstd);
        b.groupNormBackward(x[i], gamma, beta, mean, rstd, GROUPS, false, gy[i], gx, gg, gb);
        sync();
    }

    /** Group norm with SiLU fused into its epilogue: one kernel. */
    @Benchmark public void siluFused() {
        if (skip) return;
        int i = next();
        b.groupNorm(x[i], gamma, beta, GROUPS, EPS, true, out[i], mean, rstd);
        sync();
    }

    /** Group norm, then SiLU as a second kernel (one more read and write of the activation). */
    @Benchmark public void siluTwoKernels() {
        if (skip) return;
        int i = next();
        b.groupNorm(x[i], gamma, beta, GROUPS, EPS, false, tmp, mean, rstd);
        b.unary(Ops.Unary.SILU, tmp, out[i]);
        sync();
    }

    /** Group norm + SiLU from primitives: Σx, Σx², mean, E[x²], var, rstd, centre, scale, γ, β, SiLU (13 kernels). */
    @Benchmark public void siluComposed() {
        if (skip) return;
        int i = next();
        int m = (int) xg[i].dim(1);
        int ng = (int) xg[i].dim(0);
        b.reduce(Ops.Reduce.SUM, xg[i], ng, m, 1, sum);
        b.reduce(Ops.Reduce.SUMSQ, xg[i], ng, m, 1, sumsq);
        b.affine(sum, 1.0 / m, 0, mu);
        b.affine(sumsq, 1.0 / m, 0, ex2);
        b.unary(Ops.Unary.SQUARE, mu, m2);
        b.binary(Ops.Binary.SUB, ex2, m2, var);
        b.affine(var, 1, EPS, vare);
        b.unary(Ops.Unary.RSQRT, vare, rs);
        b.binary(Ops.Binary.SUB, xg[i], muV, xc);
        b.binary(Ops.Binary.MUL, xc, rsV, xn);
        b.binary(Ops.Binary.MUL, xn3, gammaV, t3);
        b.binary(Ops.Binary.ADD, t3, betaV, y3);
        b.unary(Ops.Unary.SILU, y, out[i]);
        sync();
    }
}
