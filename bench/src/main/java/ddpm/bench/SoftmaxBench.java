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
 * Row softmax over the attention score matrix [B, L, L]: L = 256 (the U-Net's 16×16 attention)
 * and a large L = 1024; B = 128 on CUDA, 8 on the CPU. Forward, and forward + backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class SoftmaxBench extends DeviceState {
    /** L: the rows' length (and count per batch entry). */
    @Param({"256", "1024"})
    public String rows;

    public static int[] shape(String backend, String rows) {
        int l = Integer.parseInt(rows);
        return new int[]{batch(backend, 128), l, l};
    }

    private final Tensor[] x = new Tensor[SETS], gy = new Tensor[SETS];
    private Tensor y, gx;

    @Override protected void build() {
        int[] sh = shape(backend, rows);
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(sh);
            gy[i] = randn(sh);
        }
        y = empty(sh);
        gx = empty(sh);
    }

    @Benchmark public void fwd() {
        if (skip) return;
        b.softmax(x[next()], y);
        sync();
    }

    @Benchmark public void fwdBwd() {
        if (skip) return;
        int i = next();
        b.softmax(x[i], y);
        b.softmaxBackward(y, gy[i], gx);
        sync();
    }
}
