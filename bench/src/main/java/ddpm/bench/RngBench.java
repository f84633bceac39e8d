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
 * Philox normal numbers ({@code Backend.randNormal}): a training batch of noise [B, 3, 32, 32]
 * (B = 128 on CUDA, 8 on the CPU) and a large 64 Mi elements (256 MiB; 4 Mi on the CPU).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class RngBench extends DeviceState {
    @Param({"noise", "large"})
    public String size;

    public static long elements(String backend, String size) {
        if ("large".equals(size)) return "cpu".equals(backend) ? 4L << 20 : 64L << 20;
        return batch(backend, 128) * 3L * 32 * 32;
    }

    private final Tensor[] out = new Tensor[SETS];
    private long offset;

    @Override protected void build() {
        int n = (int) elements(backend, size);
        for (int i = 0; i < SETS; i++) out[i] = empty(n);
    }

    @Benchmark public void randNormal() {
        if (skip) return;
        Tensor o = out[next()];
        b.randNormal(o, 42, offset);
        offset += o.numel();
        sync();
    }
}
