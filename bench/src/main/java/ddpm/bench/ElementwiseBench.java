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
 * The elementwise primitives at the U-Net's activations [B, C, R, R] (128×32², 256×16², 256×8²;
 * B = 128 on CUDA, 8 on the CPU): SiLU forward ({@code unary}) and backward ({@code unaryBackward}),
 * {@code binary} with the bias/scale broadcast [B,C,H,W] op [1,C,1,1] and the same-shape add
 * (residual), {@code where} and {@code clamp}; with {@code -p activations=bf16} the activations are
 * BF16 (the kernels read and write bfloat16; the bias and where's condition stay F32). {@code castBf16}
 * converts an F32 activation to BF16 ({@code Tensor.to(BF16)}, the U-Net's input cast).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class ElementwiseBench extends DeviceState {
    /** C x R of the activation. */
    @Param({"128x32", "256x16", "256x8"})
    public String shape;

    /** The activations' dtype: f32 or bf16. */
    @Param({"f32"})
    public String activations;

    /** [B, C, R, R]. */
    public static int[] shape(String backend, String shape) {
        int[] cr = dims(shape);
        return new int[]{batch(backend, 128), cr[0], cr[1], cr[1]};
    }

    private final Tensor[] x = new Tensor[SETS], x2 = new Tensor[SETS], y = new Tensor[SETS],
            gy = new Tensor[SETS], cond = new Tensor[SETS], bias = new Tensor[SETS];
    private Tensor out, gx, x32, half;

    /** An activation: t itself at f32, a BF16 copy of it at bf16. */
    private Tensor act(Tensor t) {
        if (activations.equals("f32")) return t;
        if (!activations.equals("bf16")) throw new IllegalArgumentException("activations must be f32 or bf16, got " + activations);
        return track(t.to(ddpm.engine.DType.BF16));
    }

    @Override protected void build() {
        int[] sh = shape(backend, shape);
        Tensor zero = full(0, 1);
        for (int i = 0; i < SETS; i++) {
            x[i] = act(randn(sh));
            x2[i] = act(randn(sh));
            gy[i] = act(randn(sh));
            y[i] = act(empty(sh));
            b.unary(Ops.Unary.SILU, x[i], y[i]);
            cond[i] = empty(sh);
            Tensor r = randn(sh);
            b.binary(Ops.Binary.GT, r, zero, cond[i]); // 0/1, about half each
            bias[i] = randn(1, sh[1], 1, 1);
        }
        out = act(empty(sh));
        gx = act(empty(sh));
        x32 = randn(sh);
        half = track(Tensor.empty(ddpm.engine.DType.BF16, dev, sh));
    }

    @Benchmark public void castBf16() {
        if (skip) return;
        b.copy(x32, half);
        sync();
    }

    @Benchmark public void silu() {
        if (skip) return;
        b.unary(Ops.Unary.SILU, x[next()], out);
        sync();
    }

    @Benchmark public void siluBwd() {
        if (skip) return;
        int s = next();
        b.unaryBackward(Ops.Unary.SILU, x[s], y[s], gy[s], gx);
        sync();
    }

    @Benchmark public void addBias() {
        if (skip) return;
        int s = next();
        b.binary(Ops.Binary.ADD, x[s], bias[s], out);
        sync();
    }

    @Benchmark public void mulScale() {
        if (skip) return;
        int s = next();
        b.binary(Ops.Binary.MUL, x[s], bias[s], out);
        sync();
    }

    @Benchmark public void add() {
        if (skip) return;
        int s = next();
        b.binary(Ops.Binary.ADD, x[s], x2[s], out);
        sync();
    }

    @Benchmark public void where() {
        if (skip) return;
        int s = next();
        b.where(cond[s], x[s], x2[s], out);
        sync();
    }

    @Benchmark public void clamp() {
        if (skip) return;
        b.clamp(x[next()], -1, 1, out);
        sync();
    }
}
