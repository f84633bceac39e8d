package ddpm.bench;

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
 * The two limits every other kernel is compared with: the copy bandwidth ({@code Backend.copy}
 * of 256 MiB, read + write = 512 MiB moved) and the GEMM rate ({@code Backend.matmul}, square,
 * fp32: 4096 on CUDA, 512 on the CPU, whose GEMM is still the double-precision reference).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class PeakBench extends DeviceState {
    /** Elements copied: 256 MiB of float32. */
    public static final int COPY_ELEMS = 64 << 20;

    public static int gemmSize(String backend) { return "cpu".equals(backend) ? 512 : 4096; }

    private final Tensor[] src = new Tensor[SETS], dst = new Tensor[SETS], a = new Tensor[SETS],
            bm = new Tensor[SETS], c = new Tensor[SETS];

    @Override protected void build() {
        int n = gemmSize(backend);
        for (int s = 0; s < SETS; s++) {
            src[s] = randn(COPY_ELEMS);
            dst[s] = empty(COPY_ELEMS);
            a[s] = randn(n, n);
            bm[s] = randn(n, n);
            c[s] = empty(n, n);
        }
    }

    @Benchmark public void copy() {
        if (skip) return;
        int s = next();
        b.copy(src[s], dst[s]);
        sync();
    }

    @Benchmark public void gemm() {
        if (skip) return;
        int s = next();
        b.matmul(a[s], bm[s], c[s], false, false, 1, 0);
        sync();
    }
}
