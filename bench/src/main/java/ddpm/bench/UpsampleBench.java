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
 * Nearest-neighbour 2× upsampling, forward and backward (2×2 block sums), at the U-Net's
 * decoder inputs [B, 256, R, R] for R = 4, 8, 16, plus a large [B, 128, 32, 32] → 64²;
 * B = 128 on CUDA, 8 on the CPU.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class UpsampleBench extends DeviceState {
    /** C x R of the input. */
    @Param({"256x4", "256x8", "256x16", "128x32"})
    public String shape;

    public static int[] shape(String backend, String shape) {
        int[] cr = dims(shape);
        return new int[]{batch(backend, 128), cr[0], cr[1], cr[1]};
    }

    private final Tensor[] x = new Tensor[SETS], gy = new Tensor[SETS];
    private Tensor y, gx;

    @Override protected void build() {
        int[] sh = shape(backend, shape);
        int[] big = {sh[0], sh[1], 2 * sh[2], 2 * sh[3]};
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(sh);
            gy[i] = randn(big);
        }
        y = empty(big);
        gx = empty(sh);
    }

    @Benchmark public void fwd() {
        if (skip) return;
        b.upsampleNearest2x(x[next()], y);
        sync();
    }

    @Benchmark public void bwd() {
        if (skip) return;
        b.upsampleNearest2xBackward(gy[next()], gx);
        sync();
    }
}
