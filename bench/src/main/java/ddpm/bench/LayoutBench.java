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
 * The layout primitives at the U-Net's activations x [B, C, R, R] (128×32², 256×16², 256×8²;
 * B = 128 on CUDA, 8 on the CPU):
 * <ul>
 *   <li>{@code reduce} SUM of the [outer, n, inner] view: {@code reduceRows} (B·C, HW, 1) — the first
 *       pass of Tensor.sum(0,2,3), the per-channel bias gradient; {@code reduceMiddle} (B, C, HW) —
 *       a strided middle-axis sum; {@code reduceBatch} (1, B, C·HW) — the sum over the batch;</li>
 *   <li>{@code permute} [B, C, HW] → [B, HW, C], attention's layout change;</li>
 *   <li>{@code concat}: two {@code writeSlice} of [B, C, R, R] into [B, 2C, R, R] along channels, the
 *       decoder's skip concatenation;</li>
 *   <li>{@code gather}: {@code gatherT} per-sample lookups of a [1000] schedule table by t [B], and
 *       {@code gatherEmbed} rows of an [11, 512] class embedding by labels [B] (both independent of
 *       {@code shape}: launch-bound, they are there to show the per-kernel overhead).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class LayoutBench extends DeviceState {
    /** C x R of the activation. */
    @Param({"128x32", "256x16", "256x8"})
    public String shape;

    /** Schedule length of the t lookups, and the class embedding [classes, dim]. */
    public static final int T = 1000, CLASSES = 11, EMBED = 512;

    /** [B, C, R, R]. */
    public static int[] shape(String backend, String shape) {
        int[] cr = dims(shape);
        return new int[]{batch(backend, 128), cr[0], cr[1], cr[1]};
    }

    private static final int[] PERM = {0, 2, 1};

    private final Tensor[] x = new Tensor[SETS], x2 = new Tensor[SETS], x3 = new Tensor[SETS],
            t = new Tensor[SETS], labels = new Tensor[SETS], table = new Tensor[SETS], embed = new Tensor[SETS];
    private Tensor rows, middle, batchSum, perm, cat, gt, ge;
    private int B, C, HW;

    @Override protected void build() {
        int[] sh = shape(backend, shape);
        B = sh[0];
        C = sh[1];
        HW = sh[2] * sh[3];
        for (int i = 0; i < SETS; i++) {
            x[i] = randn(sh);
            x2[i] = randn(sh);
            x3[i] = view(x[i], B, C, HW);
            table[i] = randn(T);
            embed[i] = randn(CLASSES, EMBED);
            t[i] = ints(timesteps(B, T));
            labels[i] = ints(timesteps(B, CLASSES));
        }
        rows = empty(B, C, 1, 1);
        middle = empty(B, 1, sh[2], sh[3]);
        batchSum = empty(1, C, sh[2], sh[3]);
        perm = empty(B, HW, C);
        cat = empty(B, 2 * C, sh[2], sh[3]);
        gt = empty(B);
        ge = empty(B, EMBED);
    }

    @Benchmark public void reduceRows() {
        if (skip) return;
        b.reduce(Ops.Reduce.SUM, x[next()], B * C, HW, 1, rows);
        sync();
    }

    @Benchmark public void reduceMiddle() {
        if (skip) return;
        b.reduce(Ops.Reduce.SUM, x[next()], B, C, HW, middle);
        sync();
    }

    @Benchmark public void reduceBatch() {
        if (skip) return;
        b.reduce(Ops.Reduce.SUM, x[next()], 1, B, C * HW, batchSum);
        sync();
    }

    @Benchmark public void permute() {
        if (skip) return;
        b.permute(x3[next()], PERM, perm);
        sync();
    }

    @Benchmark public void concat() {
        if (skip) return;
        int s = next();
        b.writeSlice(x[s], cat, 1, 0);
        b.writeSlice(x2[s], cat, 1, C);
        sync();
    }

    @Benchmark public void gatherT() {
        if (skip) return;
        int s = next();
        b.gather(table[s], t[s], gt);
        sync();
    }

    @Benchmark public void gatherEmbed() {
        if (skip) return;
        int s = next();
        b.gather(embed[s], labels[s], ge);
        sync();
    }
}
