package ddpm.bench;

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
 * 1×1 convolutions of the U-Net — the attention block's qkv (256 → 768 at 16²) and output
 * projection (256 → 256 at 16²), the decoder's skip projections (512 → 256 at 8², 384 → 128 at
 * 32²) — plus a large 512 → 512 at 32²; B = 128 on CUDA, 8 on the CPU. {@code conv2d} with
 * k = 1 against the same product written as a broadcast batched matmul w[1, O, C]·x[B, C, HW], at
 * the CUDA backend's {@code precision} with the convolution {@code algo} (the CPU runs fp32 / auto only).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class Conv1x1Bench extends MathState {
    /** Cin x R x Cout. */
    @Param({"256x16x768", "256x16x256", "512x8x256", "384x32x128", "512x32x512"})
    public String shape;

    /** {B, Cin, R, Cout}. */
    public static int[] shape(String backend, String shape) {
        int[] d = dims(shape);
        return new int[]{batch(backend, 128), d[0], d[1], d[2]};
    }

    private final Tensor[] x = new Tensor[SETS], x3 = new Tensor[SETS];
    private Tensor w, w3, bias, out, out3;

    @Override protected void buildInputs() {
        int[] s = shape(backend, shape);
        int n = s[0], c = s[1], r = s[2], o = s[3];
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(n, c, r, r);
            x3[i] = view(x[i], n, c, r * r);
        }
        w = randn(o, c, 1, 1);
        w3 = view(w, 1, o, c);
        bias = randn(o);
        out = empty(n, o, r, r);
        out3 = view(out, n, o, r * r);
    }

    @Benchmark public void conv() {
        if (skip) return;
        b.conv2d(x[next()], w, bias, out, 1, 0);
        sync();
    }

    @Benchmark public void asMatmul() {
        if (skip) return;
        b.matmul(w3, x3[next()], out3, false, false, 1, 0);
        sync();
    }
}
