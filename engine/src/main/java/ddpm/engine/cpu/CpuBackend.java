package ddpm.engine.cpu;

import ddpm.engine.BFloat16;
import ddpm.engine.Backend;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.MemoryStats;
import ddpm.engine.Ops;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.of;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * The CPU backend: heap storage, transfers, and the dtype dispatch of every primitive to its op
 * family, each of which holds the primitive's double-precision reference (the specification of
 * the op for all backends; F64 tensors run it, which is what the gradient checks use) beside its
 * float32 kernel (F32 tensors), with the same arguments:
 * {@link Elementwise}, {@link Reduce}, {@link Layout}, {@link Gemm}, {@link Conv},
 * {@link GroupNorm}, {@link Softmax}, {@link Attention}, {@link Resample}, {@link Gather},
 * {@link RandomOps}, and the fused extensions {@link DiffusionOps} and {@link Optim}.
 *
 * <p>The dispatch rule, in {@link #exact}: the floating tensors of a call are all F64 (the
 * reference runs) or F32 and BF16 in any mix (the fast kernel runs). Index tensors (I32) and
 * where's condition may be of another dtype. A BF16 tensor is a float[] of bfloat16 values: the
 * kernel reads it as floats, and {@link #rounded} rounds the BF16 outputs it wrote, so a BF16
 * result is exactly the float32 result rounded to bfloat16 (what a CUDA kernel that computes in
 * float32 and stores bfloat16 produces).
 */
public final class CpuBackend implements Backend, FusedOps {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private final AtomicLong live = new AtomicLong(), peak = new AtomicLong(), storages = new AtomicLong(),
            allocations = new AtomicLong();
    private final ArrayPool pool = new ArrayPool();

    private CpuBackend() {}

    @Override public Device device() { return Device.CPU; }

    /** Storage from the array pool: uninitialised, as the contract says. */
    @Override public Storage allocate(DType dtype, long length) {
        if (length < 0 || length > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("a CPU tensor holds at most 2^31 elements, asked for " + length);
        if (dtype == DType.F16)
            throw new IllegalArgumentException("the CPU backend stores F32, BF16, F64 and I32, not " + dtype);
        CpuStorage s = new CpuStorage(this, dtype, length, pool.take(dtype, (int) length));
        long now = live.addAndGet(s.bytes());
        peak.accumulateAndGet(now, Math::max);
        storages.incrementAndGet();
        allocations.incrementAndGet();
        return s;
    }

    void freed(CpuStorage s) {
        live.addAndGet(-s.bytes());
        storages.decrementAndGet();
        pool.give(s.dtype, s.array(), s.capacity());
    }

    /** Live and peak bytes of storages (as requested), cached bytes of the array pool, reuses from it. */
    @Override public MemoryStats memoryStats() {
        return new MemoryStats(live.get(), peak.get(), storages.get(), pool.cachedBytes(), allocations.get(), pool.reuses());
    }

    /** Lets the garbage collector have every array the pool caches. */
    public void emptyCache() { pool.clear(); }

    // ---------------------------------------------------------------- the dtype dispatch
    /**
     * True when the call's floating tensors (nulls and I32 index tensors skipped) are F64 — run
     * the reference — false when F32 or BF16 — run the float kernel; throws naming the tensors when
     * they mix F64 with the others or there is none.
     */
    static boolean exact(Tensor... ts) {
        DType dtype = common(false, ts);
        if (dtype == null) throw new IllegalArgumentException("CPU backend: expected F32 or F64 tensors, got" + list(ts));
        return dtype == DType.F64;
    }

    /** As {@link #exact} for the pure copies (permute, slices), which also move I32 tensors (on the float path). */
    static boolean exactCopy(Tensor... ts) { return common(true, ts) == DType.F64; }

    /** The one array dtype of the tensors (BF16 counted as F32, I32 only when {@code withInts}), or null if none. */
    private static DType common(boolean withInts, Tensor... ts) {
        DType seen = null;
        for (Tensor t : ts) {
            if (t == null || (t.dtype() == DType.I32 && !withInts)) continue;
            DType d = t.dtype().widened();
            if (seen == null) seen = d;
            else if (d != seen)
                throw new IllegalArgumentException("CPU backend: the tensors of one call must be all F64, all I32, or F32 and BF16:" + list(ts));
        }
        return seen;
    }

    /** Rounds the BF16 ones among a float kernel's outputs to bfloat16 (the kernel wrote floats). */
    private static void rounded(Tensor... outs) {
        for (Tensor t : outs)
            if (t != null && t.dtype() == DType.BF16) BFloat16.round(of(t).f, off(t), off(t) + n(t));
    }

    private static String list(Tensor... ts) {
        StringBuilder sb = new StringBuilder();
        for (Tensor u : ts) if (u != null) sb.append(' ').append(u.describe()).append(';');
        return sb.toString();
    }

    // ---------------------------------------------------------------- transfers and fills
    @Override public void write(Tensor dst, float[] src) {
        CpuStorage s = of(dst);
        int n = n(dst), o = off(dst);
        if (s.f != null) System.arraycopy(src, 0, s.f, o, n);
        else if (s.d != null) for (int k = 0; k < n; k++) s.d[o + k] = src[k];
        else for (int k = 0; k < n; k++) s.i[o + k] = (int) src[k];
        rounded(dst);
    }

    @Override public void write(Tensor dst, double[] src) {
        CpuStorage s = of(dst);
        int n = n(dst), o = off(dst);
        if (s.d != null) System.arraycopy(src, 0, s.d, o, n);
        else if (s.f != null) for (int k = 0; k < n; k++) s.f[o + k] = (float) src[k];
        else for (int k = 0; k < n; k++) s.i[o + k] = (int) src[k];
        rounded(dst);   // double → float → bfloat16, as the CUDA backend converts on the host
    }

    @Override public void write(Tensor dst, int[] src) {
        CpuStorage s = of(dst);
        int n = n(dst), o = off(dst);
        if (s.i != null) System.arraycopy(src, 0, s.i, o, n);
        else if (s.f != null) for (int k = 0; k < n; k++) s.f[o + k] = src[k];
        else for (int k = 0; k < n; k++) s.d[o + k] = src[k];
        rounded(dst);
    }

    @Override public float[] readFloats(Tensor src) {
        CpuStorage s = of(src);
        int n = n(src), o = off(src);
        float[] r = new float[n];
        if (s.f != null) System.arraycopy(s.f, o, r, 0, n);
        else if (s.d != null) for (int k = 0; k < n; k++) r[k] = (float) s.d[o + k];
        else for (int k = 0; k < n; k++) r[k] = s.i[o + k];
        return r;
    }

    @Override public double[] readDoubles(Tensor src) { return CpuStorage.doubles(src); }

    @Override public int[] readInts(Tensor src) {
        CpuStorage s = of(src);
        if (s.i != null) return CpuStorage.ints(src);
        double[] d = readDoubles(src);
        int[] r = new int[d.length];
        for (int k = 0; k < d.length; k++) r[k] = (int) d[k];
        return r;
    }

    @Override public void copy(Tensor src, Tensor dst) {
        CpuStorage a = of(src), b = of(dst);
        int n = n(dst);
        if (a.f != null && b.f != null) {
            System.arraycopy(a.f, off(src), b.f, off(dst), n);
            if (src.dtype() != dst.dtype()) rounded(dst);
        } else if (a.d != null && b.d != null) System.arraycopy(a.d, off(src), b.d, off(dst), n);
        else if (a.i != null && b.i != null) System.arraycopy(a.i, off(src), b.i, off(dst), n);
        else write(dst, readDoubles(src));
    }

    @Override public void fill(Tensor dst, double value) {
        CpuStorage s = of(dst);
        int n = n(dst), o = off(dst);
        if (s.f != null) Arrays.fill(s.f, o, o + n, dst.dtype() == DType.BF16 ? BFloat16.round((float) value) : (float) value);
        else if (s.d != null) Arrays.fill(s.d, o, o + n, value);
        else Arrays.fill(s.i, o, o + n, (int) value);
    }

    // ---------------------------------------------------------------- elementwise
    @Override public void unary(Ops.Unary op, Tensor x, Tensor out) {
        if (exact(x, out)) Elementwise.unaryRef(op, x, out);
        else {
            Elementwise.unary(op, x, out);
            rounded(out);
        }
    }

    @Override public void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        if (exact(x, y, gy, gx)) Elementwise.unaryBackwardRef(op, x, y, gy, gx);
        else {
            Elementwise.unaryBackward(op, x, y, gy, gx);
            rounded(gx);
        }
    }

    @Override public void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        if (exact(a, b, out)) Elementwise.binaryRef(op, a, b, out);
        else {
            Elementwise.binary(op, a, b, out);
            rounded(out);
        }
    }

    @Override public void affine(Tensor x, double scale, double shift, Tensor out) {
        if (exact(x, out)) Elementwise.affineRef(x, scale, shift, out);
        else {
            Elementwise.affine(x, scale, shift, out);
            rounded(out);
        }
    }

    @Override public void powScalar(Tensor x, double p, Tensor out) {
        if (exact(x, out)) Elementwise.powScalarRef(x, p, out);
        else {
            Elementwise.powScalar(x, p, out);
            rounded(out);
        }
    }

    @Override public void clamp(Tensor x, double lo, double hi, Tensor out) {
        if (exact(x, out)) Elementwise.clampRef(x, lo, hi, out);
        else {
            Elementwise.clamp(x, lo, hi, out);
            rounded(out);
        }
    }

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        if (exact(a, b, out)) Elementwise.whereRef(cond, a, b, out);
        else {
            Elementwise.where(cond, a, b, out);
            rounded(out);
        }
    }

    // ---------------------------------------------------------------- layout
    @Override public void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        if (exact(x, out)) Reduce.reduceRef(op, x, outer, n, inner, out);
        else {
            Reduce.reduce(op, x, outer, n, inner, out);
            rounded(out);
        }
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        if (exactCopy(x, out)) Layout.permuteRef(x, perm, out);
        else {
            Layout.permute(x, perm, out);
            rounded(out);
        }
    }

    @Override public void writeSlice(Tensor src, Tensor dst, int axis, int start) {
        if (exactCopy(src, dst)) Layout.writeSliceRef(src, dst, axis, start);
        else {
            Layout.writeSlice(src, dst, axis, start);
            rounded(dst);
        }
    }

    @Override public void readSlice(Tensor src, Tensor dst, int axis, int start) {
        if (exactCopy(src, dst)) Layout.readSliceRef(src, dst, axis, start);
        else {
            Layout.readSlice(src, dst, axis, start);
            rounded(dst);
        }
    }

    // ---------------------------------------------------------------- dense algebra
    @Override public void matmul(Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta) {
        if (exact(a, b, out)) Gemm.matmulRef(a, b, out, transA, transB, alpha, beta);
        else {
            Gemm.matmul(a, b, out, transA, transB, alpha, beta);
            rounded(out);
        }
    }

    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        if (exact(x, w, bias, out)) Conv.conv2dRef(x, w, bias, out, stride, pad);
        else {
            Conv.conv2d(x, w, bias, out, stride, pad);
            rounded(out);
        }
    }

    @Override public void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        if (exact(gy, w, gx)) Conv.conv2dBackwardInputRef(gy, w, gx, stride, pad);
        else {
            Conv.conv2dBackwardInput(gy, w, gx, stride, pad);
            rounded(gx);
        }
    }

    @Override public void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        if (exact(x, gy, gw)) Conv.conv2dBackwardWeightRef(x, gy, gw, stride, pad);
        else {
            Conv.conv2dBackwardWeight(x, gy, gw, stride, pad);
            rounded(gw);
        }
    }

    // ---------------------------------------------------------------- normalisation, attention
    @Override public void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                                    Tensor out, Tensor mean, Tensor rstd) {
        if (exact(x, gamma, beta, out, mean, rstd)) GroupNorm.groupNormRef(x, gamma, beta, groups, eps, silu, out, mean, rstd);
        else {
            GroupNorm.groupNorm(x, gamma, beta, groups, eps, silu, out, mean, rstd);
            rounded(out, mean, rstd);
        }
    }

    @Override public void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                            boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        if (exact(x, gamma, beta, mean, rstd, gy, gx, ggamma, gbeta))
            GroupNorm.groupNormBackwardRef(x, gamma, beta, mean, rstd, groups, silu, gy, gx, ggamma, gbeta);
        else {
            GroupNorm.groupNormBackward(x, gamma, beta, mean, rstd, groups, silu, gy, gx, ggamma, gbeta);
            rounded(gx, ggamma, gbeta);
        }
    }

    @Override public void softmax(Tensor x, Tensor out) {
        if (exact(x, out)) Softmax.softmaxRef(x, out);
        else {
            Softmax.softmax(x, out);
            rounded(out);
        }
    }

    @Override public void softmaxBackward(Tensor y, Tensor gy, Tensor gx) {
        if (exact(y, gy, gx)) Softmax.softmaxBackwardRef(y, gy, gx);
        else {
            Softmax.softmaxBackward(y, gy, gx);
            rounded(gx);
        }
    }

    @Override public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        if (exact(q, k, v, out, lse)) Attention.attentionRef(q, k, v, scale, out, lse);
        else {
            Attention.attention(q, k, v, scale, out, lse);
            rounded(out, lse);
        }
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout,
                                            double scale, Tensor gq, Tensor gk, Tensor gv) {
        if (exact(q, k, v, out, lse, gout, gq, gk, gv)) Attention.attentionBackwardRef(q, k, v, out, lse, gout, scale, gq, gk, gv);
        else {
            Attention.attentionBackward(q, k, v, out, lse, gout, scale, gq, gk, gv);
            rounded(gq, gk, gv);
        }
    }

    // ---------------------------------------------------------------- resampling, indexing
    @Override public void upsampleNearest2x(Tensor x, Tensor out) {
        if (exact(x, out)) Resample.upsampleNearest2xRef(x, out);
        else {
            Resample.upsampleNearest2x(x, out);
            rounded(out);
        }
    }

    @Override public void upsampleNearest2xBackward(Tensor gy, Tensor gx) {
        if (exact(gy, gx)) Resample.upsampleNearest2xBackwardRef(gy, gx);
        else {
            Resample.upsampleNearest2xBackward(gy, gx);
            rounded(gx);
        }
    }

    @Override public void gather(Tensor table, Tensor index, Tensor out) {
        if (exact(table, out)) Gather.gatherRef(table, index, out);
        else {
            Gather.gather(table, index, out);
            rounded(out);
        }
    }

    @Override public void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        if (exact(gout, gtable)) Gather.scatterAddRef(gout, index, gtable);
        else {
            Gather.scatterAdd(gout, index, gtable);
            rounded(gtable);
        }
    }

    // ---------------------------------------------------------------- randomness
    @Override public void randUniform(Tensor out, long seed, long offset) {
        if (exact(out)) RandomOps.randUniformRef(out, seed, offset);
        else {
            RandomOps.randUniform(out, seed, offset);
            rounded(out);
        }
    }

    @Override public void randNormal(Tensor out, long seed, long offset) {
        if (exact(out)) RandomOps.randNormalRef(out, seed, offset);
        else {
            RandomOps.randNormal(out, seed, offset);
            rounded(out);
        }
    }

    @Override public void dropoutMask(Tensor out, double p, long seed, long offset) {
        if (exact(out)) RandomOps.dropoutMaskRef(out, p, seed, offset);
        else {
            RandomOps.dropoutMask(out, p, seed, offset);
            rounded(out);
        }
    }

    // ---------------------------------------------------------------- fused extensions
    @Override public void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        if (exact(x0, eps, a, s, out)) DiffusionOps.qSampleRef(x0, eps, t, a, s, out);
        else {
            DiffusionOps.qSample(x0, eps, t, a, s, out);
            rounded(out);
        }
    }

    @Override public void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2,
                                        Tensor sigma, Tensor out) {
        if (exact(xt, epsHat, z, c1, c2, sigma, out)) DiffusionOps.posteriorStepRef(xt, epsHat, z, t, c1, c2, sigma, out);
        else {
            DiffusionOps.posteriorStep(xt, epsHat, z, t, c1, c2, sigma, out);
            rounded(out);
        }
    }

    @Override public void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        if (exact(xt, epsHat, z, coefs, out)) DiffusionOps.ddimStepRef(xt, epsHat, z, idx, coefs, clip, out);
        else {
            DiffusionOps.ddimStep(xt, epsHat, z, idx, coefs, clip, out);
            rounded(out);
        }
    }

    @Override public void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        if (exact(param, grad, m, v)) Optim.adamRef(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
        else {
            Optim.adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
            rounded(param, m, v);
        }
    }

    @Override public void ema(Tensor ema, Tensor param, double decay) {
        if (exact(ema, param)) Optim.emaRef(ema, param, decay);
        else {
            Optim.ema(ema, param, decay);
            rounded(ema);
        }
    }
}
