package ddpm.bench;

import ddpm.engine.FusedOps;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.CudaBackend;
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
 * The U-Net's convolutions, B = 128 on CUDA (8 on the CPU): 3×3 128→128 at 32², 256→256 at 16²
 * and 8², the stride-2 downsample 128→128 at 32² → 16², and the decoder's largest 1×1 skip
 * 384→128 at 32². Forward (with bias), data gradient, weight gradient, and the residual block's
 * output conv with its adds: {@code conv2dAdd} (bias, timestep projection [B, O], residual in one
 * epilogue) against conv2d then two broadcast adds; and the group norm + SiLU before that conv
 * applied as it loads its input ({@code normFused}) against written out ({@code normUnfused}).
 *
 * <p>On CUDA, {@code precision} is the backend's math precision and {@code algo} the convolution
 * algorithm: igemm (implicit GEMM on the tensor cores; its halo-tile kernels where the shape fits),
 * gather (igemm without the halo kernels), gemm (im2col + cuBLAS), auto (the faster of igemm and
 * gemm, measured on the first call of each shape; FP32 always runs gemm). The CPU backend has
 * one precision and one algorithm: other values skip, saying so.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class ConvBench extends MathState {
    /** Cin x R x Cout x k x stride (padding k / 2). */
    @Param({"128x32x128x3x1", "256x16x256x3x1", "256x8x256x3x1", "128x32x128x3x2", "384x32x128x1x1"})
    public String shape;

    /** {B, Cin, R, Cout, k, stride, Ro}. */
    public static int[] shape(String backend, String shape) {
        int[] d = dims(shape);
        int k = d[3], s = d[4], ro = (d[1] + 2 * (k / 2) - k) / s + 1;
        return new int[]{batch(backend, 128), d[0], d[1], d[2], k, s, ro};
    }

    /** 2·B·Cout·Cin·k²·Ro² per pass. */
    public static double flops(int[] s) { return 2.0 * s[0] * s[3] * s[1] * s[4] * s[4] * s[6] * (double) s[6]; }

    /** Float32 elements of x, w, y (B·Cin·R², Cout·Cin·k², B·Cout·Ro²). */
    public static double[] elems(int[] s) {
        return new double[]{(double) s[0] * s[1] * s[2] * s[2], (double) s[3] * s[1] * s[4] * s[4], (double) s[0] * s[3] * s[6] * s[6]};
    }

    private final Tensor[] x = new Tensor[SETS], gy = new Tensor[SETS], res = new Tensor[SETS];
    private Tensor w, bias, nAdd, nAdd4, y, gx, gw, gamma, beta, mean, rstd, h;
    private FusedOps fused;
    private int stride, pad;
    private CudaBackend cuda;

    @Override protected void buildInputs() {
        if (b instanceof CudaBackend c) cuda = c;
        int[] s = shape(backend, shape);
        int n = s[0], c = s[1], r = s[2], o = s[3], k = s[4], ro = s[6];
        stride = s[5];
        pad = k / 2;
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(n, c, r, r);
            gy[i] = randn(n, o, ro, ro);
            res[i] = randn(n, o, ro, ro);
        }
        w = randn(o, c, k, k);
        bias = randn(o);
        nAdd = randn(n, o);
        nAdd4 = view(nAdd, n, o, 1, 1);
        y = empty(n, o, ro, ro);
        gx = empty(n, c, r, r);
        gw = empty(o, c, k, k);
        gamma = randn(c);
        beta = randn(c);
        mean = empty(n, GROUPS);
        rstd = empty(n, GROUPS);
        h = empty(n, c, r, r);
        fused = FusedOps.of(b);
    }

    private static final int GROUPS = 32;
    private static final double EPS = 1e-6;

    @Benchmark public void forward() {
        if (skip) return;
        b.conv2d(x[next()], w, bias, y, stride, pad);
        sync();
    }

    @Benchmark public void backwardInput() {
        if (skip) return;
        b.conv2dBackwardInput(gy[next()], w, gx, stride, pad);
        sync();
    }

    @Benchmark public void backwardWeight() {
        if (skip) return;
        int i = next();
        b.conv2dBackwardWeight(x[i], gy[i], gw, stride, pad);
        sync();
    }

    /** conv2d + bias + timestep projection + residual in one kernel (CUDA only: the CPU has no such op and returns at once; the report skips it). */
    @Benchmark public void addFused() {
        if (skip || cuda == null) return;
        int i = next();
        cuda.conv2dAdd(x[i], w, bias, nAdd, res[i], y, stride, pad);
        sync();
    }

    /** The same as conv2d (with bias), then + nAdd[:, :, None, None], then + residual: 3 kernels. */
    @Benchmark public void addUnfused() {
        if (skip) return;
        int i = next();
        b.conv2d(x[i], w, bias, y, stride, pad);
        b.binary(Ops.Binary.ADD, y, nAdd4, y);
        b.binary(Ops.Binary.ADD, y, res[i], y);
        sync();
    }

    /**
     * conv2dAdd(SiLU(groupNorm(x))) with the norm applied as the convolution loads x (CUDA's halo
     * kernel at TF32/BF16 where the shape fits; elsewhere the composed ops): group-norm statistics,
     * then one convolution.
     */
    @Benchmark public void normFused() {
        if (skip) return;
        int i = next();
        fused.groupNormSiluConv2dAdd(x[i], gamma, beta, GROUPS, EPS, w, bias, nAdd, res[i], y, mean, rstd, stride, pad);
        sync();
    }

    /** The same with the normalised input written and read back: group norm + SiLU, then conv2dAdd. */
    @Benchmark public void normUnfused() {
        if (skip) return;
        int i = next();
        b.groupNorm(x[i], gamma, beta, GROUPS, EPS, true, h, mean, rstd);
        fused.conv2dAdd(h, w, bias, nAdd, res[i], y, stride, pad);
        sync();
    }
}
