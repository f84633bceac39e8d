package ddpm.bench;

import ddpm.engine.MathPrecision;
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
 * Single-head self-attention as in the U-Net's attention blocks: q, k, v [B, L, D] with
 * L = 256 (16×16) or 64 (8×8) tokens and D = 256 channels, plus a large L = 1024, D = 128;
 * B = 128 on CUDA, 8 on the CPU. The fused kernel ({@code Backend.attention}, with the
 * log-sum-exp kept for backward) against matmul → softmax → matmul with the L×L score matrix in
 * memory, forward and forward + backward (5 matmuls and a softmax backward).
 *
 * <p>{@code precision} is the CUDA backend's math precision ({@link CudaBackend#setPrecision}):
 * fp32 runs the float32 SIMT attention kernels, tf32 and bf16 the tensor-core ones (and cuBLAS's
 * TF32 / bf16 GEMMs in the unfused variants). The CPU computes float32 only: there, tf32 and bf16
 * skip, saying so.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class AttentionBench extends DeviceState {
    /** L x D: tokens and channels. */
    @Param({"256x256", "64x256", "1024x128"})
    public String shape;

    /** The CUDA backend's math precision: fp32, tf32, bf16. */
    @Param({"fp32", "tf32", "bf16"})
    public String precision;

    /** {B, L, D}. */
    public static int[] shape(String backend, String shape) {
        int[] ld = dims(shape);
        return new int[]{batch(backend, 128), ld[0], ld[1]};
    }

    private final Tensor[] q = new Tensor[SETS], k = new Tensor[SETS], v = new Tensor[SETS], go = new Tensor[SETS];
    private Tensor out, lse, gq, gk, gv, scores, probs, gp, gs;
    private double scale;

    @Override protected void build() {
        MathPrecision p = MathPrecision.parse(precision);
        if (b instanceof CudaBackend cb) cb.setPrecision(p);
        else if (p != MathPrecision.FP32) {
            System.out.println("skipped: precision " + p + " is a CUDA backend setting; the " + backend + " backend computes fp32");
            skip = true;
            return;
        }
        int[] sh = shape(backend, shape);
        int bb = sh[0], l = sh[1];
        for (int i = 0; i < SETS; i++) {
            q[i] = randn(sh);
            k[i] = randn(sh);
            v[i] = randn(sh);
            go[i] = randn(sh);
        }
        out = empty(sh);
        lse = empty(bb, l);
        gq = empty(sh);
        gk = empty(sh);
        gv = empty(sh);
        scores = empty(bb, l, l);
        probs = empty(bb, l, l);
        gp = empty(bb, l, l);
        gs = empty(bb, l, l);
        scale = 1 / Math.sqrt(sh[2]);
    }

    @Override protected void release() {
        if (b instanceof CudaBackend cb) cb.setPrecision(MathPrecision.FP32);
    }

    @Benchmark public void fwdFused() {
        if (skip) return;
        int i = next();
        b.attention(q[i], k[i], v[i], scale, out, lse);
        sync();
    }

    /** S = q·kᵀ·scale, P = softmax(S), O = P·v: 3 kernels, S and P round-trip through memory. */
    @Benchmark public void fwdUnfused() {
        if (skip) return;
        int i = next();
        forwardUnfused(i);
        sync();
    }

    private void forwardUnfused(int i) {
        b.matmul(q[i], k[i], scores, false, true, scale, 0);
        b.softmax(scores, probs);
        b.matmul(probs, v[i], out, false, false, 1, 0);
    }

    @Benchmark public void fwdBwdFused() {
        if (skip) return;
        int i = next();
        b.attention(q[i], k[i], v[i], scale, out, lse);
        b.attentionBackward(q[i], k[i], v[i], out, lse, go[i], scale, gq, gk, gv);
        sync();
    }

    /** The unfused forward, then gv = Pᵀ·gO, gP = gO·vᵀ, gS = softmax′, gq = gS·k·scale, gk = gSᵀ·q·scale. */
    @Benchmark public void fwdBwdUnfused() {
        if (skip) return;
        int i = next();
        forwardUnfused(i);
        b.matmul(probs, go[i], gv, true, false, 1, 0);
        b.matmul(go[i], v[i], gp, false, true, 1, 0);
        b.softmaxBackward(probs, gp, gs);
        b.matmul(gs, k[i], gq, false, false, scale, 0);
        b.matmul(gs, q[i], gk, true, false, scale, 0);
        sync();
    }
}
