package ddpm.engine.cpu;

import ddpm.engine.Backend;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.MemoryStats;
import ddpm.engine.Ops;
import ddpm.engine.Philox;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The CPU backend. Every primitive has a plain double-precision implementation in
 * {@link CpuReference}, which is the specification of the op for all backends and the path F64
 * tensors take (gradient checks). F32 tensors take fast float kernels where the op is hot
 * (GEMM, convolution, elementwise, group norm, attention: {@link CpuFloatKernels}) and float
 * kernels for the memory-bound rest (layout, broadcasting, reductions, softmax, resampling,
 * indexing, the fused diffusion steps, random numbers: {@link CpuFloatOps}); what neither covers
 * runs the reference on a double copy.
 */
public final class CpuBackend implements Backend {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private final AtomicLong live = new AtomicLong(), peak = new AtomicLong(), storages = new AtomicLong(),
            allocations = new AtomicLong();

    private CpuBackend() {}

    @Override public Device device() { return Device.CPU; }

    @Override public Storage allocate(DType dtype, long length) {
        CpuStorage s = new CpuStorage(this, dtype, length);
        long now = live.addAndGet(s.bytes());
        peak.accumulateAndGet(now, Math::max);
        storages.incrementAndGet();
        allocations.incrementAndGet();
        return s;
    }

    void freed(CpuStorage s) {
        live.addAndGet(-s.bytes());
        storages.decrementAndGet();
    }

    @Override public MemoryStats memoryStats() {
        return new MemoryStats(live.get(), peak.get(), storages.get(), 0, allocations.get(), 0);
    }

    // ---------------------------------------------------------------- views of tensors as arrays
    static CpuStorage st(Tensor t) { return (CpuStorage) t.storage(); }

    static int off(Tensor t) { return (int) t.offset(); }

    static int n(Tensor t) { return (int) t.numel(); }

    static boolean f32(Tensor t) { return t.dtype() == DType.F32; }

    /** Every tensor given is F32 (null ones, optional arguments, are skipped). */
    static boolean f32s(Tensor... ts) {
        for (Tensor t : ts) if (t != null && t.dtype() != DType.F32) return false;
        return true;
    }

    static float[] fl(Tensor t) { return t == null ? null : st(t).f; }

    static int offOrZero(Tensor t) { return t == null ? 0 : off(t); }

    /** A double array holding t's elements: the storage itself for F64 (at offset), else a copy. */
    static Buf in(Tensor t) {
        if (t == null) return null;
        CpuStorage s = st(t);
        if (s.d != null) return new Buf(s.d, off(t));
        int n = n(t), o = off(t);
        double[] a = new double[n];
        if (s.f != null) for (int k = 0; k < n; k++) a[k] = s.f[o + k];
        else for (int k = 0; k < n; k++) a[k] = s.i[o + k];
        return new Buf(a, 0);
    }

    /** Where to write t's elements as doubles; {@link #commit} stores them when t is F32. */
    static Buf out(Tensor t) {
        CpuStorage s = st(t);
        return s.d != null ? new Buf(s.d, off(t)) : new Buf(new double[n(t)], 0);
    }

    static void commit(Tensor t, Buf b) {
        CpuStorage s = st(t);
        if (s.d != null) return;
        int n = n(t), o = off(t);
        if (s.f != null) for (int k = 0; k < n; k++) s.f[o + k] = (float) b.a[k];
        else for (int k = 0; k < n; k++) s.i[o + k] = (int) b.a[k];
    }

    /** Index tensor contents. */
    static int[] ints(Tensor t) {
        if (t.dtype() != DType.I32) throw new IllegalArgumentException("expected an int32 index tensor, got " + t.describe());
        int[] a = new int[n(t)];
        System.arraycopy(st(t).i, off(t), a, 0, a.length);
        return a;
    }

    /** A double array and the offset of element 0. */
    record Buf(double[] a, int o) {}

    // ---------------------------------------------------------------- transfers and fills
    @Override public void write(Tensor dst, float[] src) {
        CpuStorage s = st(dst);
        int n = n(dst), o = off(dst);
        if (s.f != null) System.arraycopy(src, 0, s.f, o, n);
        else if (s.d != null) for (int k = 0; k < n; k++) s.d[o + k] = src[k];
        else for (int k = 0; k < n; k++) s.i[o + k] = (int) src[k];
    }

    @Override public void write(Tensor dst, double[] src) {
        CpuStorage s = st(dst);
        int n = n(dst), o = off(dst);
        if (s.d != null) System.arraycopy(src, 0, s.d, o, n);
        else if (s.f != null) for (int k = 0; k < n; k++) s.f[o + k] = (float) src[k];
        else for (int k = 0; k < n; k++) s.i[o + k] = (int) src[k];
    }

    @Override public void write(Tensor dst, int[] src) {
        CpuStorage s = st(dst);
        int n = n(dst), o = off(dst);
        if (s.i != null) System.arraycopy(src, 0, s.i, o, n);
        else if (s.f != null) for (int k = 0; k < n; k++) s.f[o + k] = src[k];
        else for (int k = 0; k < n; k++) s.d[o + k] = src[k];
    }

    @Override public float[] readFloats(Tensor src) {
        CpuStorage s = st(src);
        int n = n(src), o = off(src);
        float[] r = new float[n];
        if (s.f != null) System.arraycopy(s.f, o, r, 0, n);
        else if (s.d != null) for (int k = 0; k < n; k++) r[k] = (float) s.d[o + k];
        else for (int k = 0; k < n; k++) r[k] = s.i[o + k];
        return r;
    }

    @Override public double[] readDoubles(Tensor src) {
        Buf b = in(src);
        if (b.a != st(src).d) return b.a;
        double[] r = new double[n(src)];
        System.arraycopy(b.a, b.o, r, 0, r.length);
        return r;
    }

    @Override public int[] readInts(Tensor src) {
        CpuStorage s = st(src);
        if (s.i != null) return ints(src);
        double[] d = readDoubles(src);
        int[] r = new int[d.length];
        for (int k = 0; k < d.length; k++) r[k] = (int) d[k];
        return r;
    }

    @Override public void copy(Tensor src, Tensor dst) {
        CpuStorage a = st(src), b = st(dst);
        int n = n(dst);
        if (a.f != null && b.f != null) System.arraycopy(a.f, off(src), b.f, off(dst), n);
        else if (a.d != null && b.d != null) System.arraycopy(a.d, off(src), b.d, off(dst), n);
        else if (a.i != null && b.i != null) System.arraycopy(a.i, off(src), b.i, off(dst), n);
        else write(dst, readDoubles(src));
    }

    @Override public void fill(Tensor dst, double value) {
        CpuStorage s = st(dst);
        int n = n(dst), o = off(dst);
        if (s.f != null) java.util.Arrays.fill(s.f, o, o + n, (float) value);
        else if (s.d != null) java.util.Arrays.fill(s.d, o, o + n, value);
        else java.util.Arrays.fill(s.i, o, o + n, (int) value);
    }

    // ---------------------------------------------------------------- elementwise
    @Override public void unary(Ops.Unary op, Tensor x, Tensor out) {
        if (f32(x) && f32(out)) { CpuFloatKernels.unary(op, st(x).f, off(x), st(out).f, off(out), n(x)); return; }
        Buf o = out(out);
        CpuReference.unary(op, in(x), o, n(x));
        commit(out, o);
    }

    @Override public void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        if (x != null && y != null && f32s(x, y, gy, gx)) {
            CpuFloatOps.unaryBackward(op, fl(x), off(x), fl(y), off(y), fl(gy), off(gy), fl(gx), off(gx), n(gx));
            return;
        }
        Buf o = out(gx);
        CpuReference.unaryBackward(op, in(x), in(y), in(gy), o, n(gx));
        commit(gx, o);
    }

    @Override public void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        if (f32(a) && f32(b) && f32(out)) {
            if (CpuFloatKernels.binary(op, a, b, out)) return;
            CpuFloatOps.binary(op, fl(a), off(a), a.shape(), fl(b), off(b), b.shape(), fl(out), off(out), out.shape());
            return;
        }
        Buf o = out(out);
        CpuReference.binary(op, in(a), a.shape(), in(b), b.shape(), o, out.shape());
        commit(out, o);
    }

    @Override public void affine(Tensor x, double scale, double shift, Tensor out) {
        if (f32(x) && f32(out)) { CpuFloatKernels.affine(st(x).f, off(x), (float) scale, (float) shift, st(out).f, off(out), n(x)); return; }
        Buf a = in(x), o = out(out);
        for (int k = 0; k < n(x); k++) o.a()[o.o() + k] = a.a()[a.o() + k] * scale + shift;
        commit(out, o);
    }

    @Override public void powScalar(Tensor x, double p, Tensor out) {
        if (f32s(x, out)) { CpuFloatOps.powScalar(fl(x), off(x), p, fl(out), off(out), n(x)); return; }
        Buf a = in(x), o = out(out);
        for (int k = 0; k < n(x); k++) o.a()[o.o() + k] = Math.pow(a.a()[a.o() + k], p);
        commit(out, o);
    }

    @Override public void clamp(Tensor x, double lo, double hi, Tensor out) {
        if (f32s(x, out)) { CpuFloatOps.clamp(fl(x), off(x), lo, hi, fl(out), off(out), n(x)); return; }
        Buf a = in(x), o = out(out);
        for (int k = 0; k < n(x); k++) o.a()[o.o() + k] = Math.min(Math.max(a.a()[a.o() + k], lo), hi);
        commit(out, o);
    }

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        if (f32s(a, b, out) && cond.dtype() != DType.F64) {
            CpuStorage c = st(cond);
            CpuFloatOps.where(c.f, c.i, off(cond), cond.shape(), fl(a), off(a), a.shape(), fl(b), off(b), b.shape(),
                    fl(out), off(out), out.shape());
            return;
        }
        Buf o = out(out);
        CpuReference.where(in(cond), cond.shape(), in(a), a.shape(), in(b), b.shape(), o, out.shape());
        commit(out, o);
    }

    // ---------------------------------------------------------------- layout
    @Override public void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        if (f32s(x, out)) { CpuFloatOps.reduce(op, fl(x), off(x), outer, n, inner, fl(out), off(out)); return; }
        Buf o = out(out);
        CpuReference.reduce(op, in(x), outer, n, inner, o);
        commit(out, o);
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        if (f32s(x, out)) { CpuFloatOps.permute(fl(x), off(x), x.shape(), perm, fl(out), off(out)); return; }
        Buf o = out(out);
        CpuReference.permute(in(x), x.shape(), perm, o);
        commit(out, o);
    }

    @Override public void writeSlice(Tensor src, Tensor dst, int axis, int start) {
        if (f32s(src, dst)) {
            CpuFloatOps.slice(fl(src), off(src), src.shape(), fl(dst), off(dst), dst.shape(), axis, start, true);
            return;
        }
        Buf d = in(dst);
        CpuReference.slice(in(src), src.shape(), d, dst.shape(), axis, start, true);
        commit(dst, d);
    }

    @Override public void readSlice(Tensor src, Tensor dst, int axis, int start) {
        if (f32s(src, dst)) {
            CpuFloatOps.slice(fl(dst), off(dst), dst.shape(), fl(src), off(src), src.shape(), axis, start, false);
            return;
        }
        Buf d = out(dst);
        CpuReference.slice(d, dst.shape(), in(src), src.shape(), axis, start, false);
        commit(dst, d);
    }

    // ---------------------------------------------------------------- dense algebra
    @Override public void matmul(Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta) {
        if (f32(a) && f32(b) && f32(out)) { CpuFloatKernels.matmul(a, b, out, transA, transB, (float) alpha, (float) beta); return; }
        Buf o = beta == 0 ? out(out) : in(out);
        CpuReference.matmul(in(a), a.shape(), in(b), b.shape(), o, out.shape(), transA, transB, alpha, beta);
        commit(out, o);
    }

    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        if (f32(x) && f32(w) && f32(out)) { CpuFloatKernels.conv2d(x, w, bias, out, stride, pad); return; }
        Buf o = out(out);
        CpuReference.conv2d(in(x), x.shape(), in(w), w.shape(), in(bias), o, out.shape(), stride, pad);
        commit(out, o);
    }

    @Override public void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        if (f32(gy) && f32(w) && f32(gx)) { CpuFloatKernels.conv2dBackwardInput(gy, w, gx, stride, pad); return; }
        Buf o = out(gx);
        CpuReference.conv2dBackwardInput(in(gy), gy.shape(), in(w), w.shape(), o, gx.shape(), stride, pad);
        commit(gx, o);
    }

    @Override public void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        if (f32(x) && f32(gy) && f32(gw)) { CpuFloatKernels.conv2dBackwardWeight(x, gy, gw, stride, pad); return; }
        Buf o = out(gw);
        CpuReference.conv2dBackwardWeight(in(x), x.shape(), in(gy), gy.shape(), o, gw.shape(), stride, pad);
        commit(gw, o);
    }

    // ---------------------------------------------------------------- normalisation, attention
    @Override public void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                                    Tensor out, Tensor mean, Tensor rstd) {
        if (f32(x)) { CpuFloatKernels.groupNorm(x, gamma, beta, groups, (float) eps, silu, out, mean, rstd); return; }
        Buf o = out(out), m = out(mean), r = out(rstd);
        CpuReference.groupNorm(in(x), x.shape(), in(gamma), in(beta), groups, eps, silu, o, m, r);
        commit(out, o);
        commit(mean, m);
        commit(rstd, r);
    }

    @Override public void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                                            boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta) {
        if (f32(x)) { CpuFloatKernels.groupNormBackward(x, gamma, beta, mean, rstd, groups, silu, gy, gx, ggamma, gbeta); return; }
        Buf o = out(gx), gg = out(ggamma), gb = out(gbeta);
        CpuReference.groupNormBackward(in(x), x.shape(), in(gamma), in(beta), in(mean), in(rstd), groups, silu,
                in(gy), o, gg, gb);
        commit(gx, o);
        commit(ggamma, gg);
        commit(gbeta, gb);
    }

    @Override public void softmax(Tensor x, Tensor out) {
        if (f32s(x, out)) {
            CpuFloatOps.softmax(fl(x), off(x), fl(out), off(out), n(x) / Math.max(1, x.dim(-1)), x.dim(-1));
            return;
        }
        Buf o = out(out);
        CpuReference.softmax(in(x), o, n(x) / Math.max(1, x.dim(-1)), x.dim(-1));
        commit(out, o);
    }

    @Override public void softmaxBackward(Tensor y, Tensor gy, Tensor gx) {
        if (f32s(y, gy, gx)) {
            CpuFloatOps.softmaxBackward(fl(y), off(y), fl(gy), off(gy), fl(gx), off(gx), n(y) / Math.max(1, y.dim(-1)), y.dim(-1));
            return;
        }
        Buf o = out(gx);
        CpuReference.softmaxBackward(in(y), in(gy), o, n(y) / Math.max(1, y.dim(-1)), y.dim(-1));
        commit(gx, o);
    }

    @Override public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse) {
        if (f32(q)) { CpuFloatKernels.attention(q, k, v, (float) scale, out, lse); return; }
        Buf o = out(out), l = out(lse);
        CpuReference.attention(in(q), in(k), in(v), q.dim(0), q.dim(1), k.dim(1), q.dim(2), v.dim(2), scale, o, l);
        commit(out, o);
        commit(lse, l);
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout,
                                            double scale, Tensor gq, Tensor gk, Tensor gv) {
        if (f32(q)) { CpuFloatKernels.attentionBackward(q, k, v, out, lse, gout, (float) scale, gq, gk, gv); return; }
        Buf a = out(gq), b = out(gk), c = out(gv);
        CpuReference.attentionBackward(in(q), in(k), in(v), in(out), in(lse), in(gout), q.dim(0), q.dim(1), k.dim(1),
                q.dim(2), v.dim(2), scale, a, b, c);
        commit(gq, a);
        commit(gk, b);
        commit(gv, c);
    }

    // ---------------------------------------------------------------- resampling, indexing
    @Override public void upsampleNearest2x(Tensor x, Tensor out) {
        if (f32s(x, out)) {
            CpuFloatOps.upsample2x(fl(x), off(x), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), fl(out), off(out));
            return;
        }
        Buf o = out(out);
        CpuReference.upsample2x(in(x), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), o);
        commit(out, o);
    }

    @Override public void upsampleNearest2xBackward(Tensor gy, Tensor gx) {
        if (f32s(gy, gx)) {
            CpuFloatOps.upsample2xBackward(fl(gy), off(gy), gx.dim(0) * gx.dim(1), gx.dim(2), gx.dim(3), fl(gx), off(gx));
            return;
        }
        Buf o = out(gx);
        CpuReference.upsample2xBackward(in(gy), gx.dim(0) * gx.dim(1), gx.dim(2), gx.dim(3), o);
        commit(gx, o);
    }

    @Override public void gather(Tensor table, Tensor index, Tensor out) {
        if (f32s(table, out)) {
            int rows = table.dim(0);
            CpuFloatOps.gather(fl(table), off(table), rows, n(table) / Math.max(1, rows), ints(index), fl(out), off(out));
            return;
        }
        Buf o = out(out);
        int rows = table.dim(0);
        CpuReference.gather(in(table), rows, n(table) / Math.max(1, rows), ints(index), o);
        commit(out, o);
    }

    @Override public void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        if (f32s(gout, gtable)) {
            int rows = gtable.dim(0);
            CpuFloatOps.scatterAdd(fl(gout), off(gout), ints(index), rows, n(gtable) / Math.max(1, rows), fl(gtable), off(gtable));
            return;
        }
        Buf o = in(gtable);
        int rows = gtable.dim(0);
        CpuReference.scatterAdd(in(gout), ints(index), rows, n(gtable) / Math.max(1, rows), o);
        commit(gtable, o);
    }

    // ---------------------------------------------------------------- diffusion, fused
    /** Every step must index every table: checked against the tables' own lengths, because an F64
     *  table's buffer is its whole storage (a view into a larger buffer would read past its end). */
    private static void checkSteps(String op, int[] t, int rowLength, Tensor... tables) {
        for (Tensor table : tables) {
            if (table == null) continue;
            long rows = table.numel() / rowLength;
            for (int b = 0; b < t.length; b++)
                if (t[b] < 0 || t[b] >= rows)
                    throw new IndexOutOfBoundsException(op + ": timestep " + t[b] + " of sample " + b
                            + " is out of range [0, " + rows + ") of table " + table.describe());
        }
    }

    @Override public void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        int[] steps = ints(t);
        checkSteps("qSample", steps, 1, a, s);
        if (f32s(x0, eps, a, s, out)) {
            CpuFloatOps.qSample(fl(x0), off(x0), fl(eps), off(eps), steps, fl(a), off(a), fl(s), off(s), n(x0) / x0.dim(0),
                    fl(out), off(out));
            return;
        }
        Buf o = out(out);
        CpuReference.qSample(in(x0), in(eps), steps, in(a), in(s), n(x0) / x0.dim(0), o);
        commit(out, o);
    }

    @Override public void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2,
                                        Tensor sigma, Tensor out) {
        int[] steps = ints(t);
        checkSteps("posteriorStep", steps, 1, c1, c2, sigma);
        if (f32s(xt, epsHat, z, c1, c2, sigma, out)) {
            CpuFloatOps.posteriorStep(fl(xt), off(xt), fl(epsHat), off(epsHat), fl(z), offOrZero(z), steps, fl(c1), off(c1),
                    fl(c2), off(c2), fl(sigma), off(sigma), n(xt) / xt.dim(0), fl(out), off(out));
            return;
        }
        Buf o = out(out);
        CpuReference.posteriorStep(in(xt), in(epsHat), in(z), steps, in(c1), in(c2), in(sigma), n(xt) / xt.dim(0), o);
        commit(out, o);
    }

    @Override public void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        int[] rows = ints(idx);
        checkSteps("ddimStep", rows, 5, coefs);
        if (f32s(xt, epsHat, z, coefs, out)) {
            CpuFloatOps.ddimStep(fl(xt), off(xt), fl(epsHat), off(epsHat), fl(z), offOrZero(z), rows, fl(coefs), off(coefs),
                    clip, n(xt) / xt.dim(0), fl(out), off(out));
            return;
        }
        Buf o = out(out);
        CpuReference.ddimStep(in(xt), in(epsHat), in(z), rows, in(coefs), clip, n(xt) / xt.dim(0), o);
        commit(out, o);
    }

    // ---------------------------------------------------------------- randomness
    @Override public void randUniform(Tensor out, long seed, long offset) {
        if (f32(out)) { CpuFloatOps.randUniform(fl(out), off(out), n(out), seed, offset); return; }
        double[] u = new double[n(out)];
        Philox.fillUniform(seed, offset, u, u.length);
        write(out, u);
    }

    @Override public void randNormal(Tensor out, long seed, long offset) {
        if (f32(out)) { CpuFloatOps.randNormal(fl(out), off(out), n(out), seed, offset); return; }
        double[] z = new double[n(out)];
        Philox.fillNormal(seed, offset, z, z.length);
        write(out, z);
    }

    @Override public void dropoutMask(Tensor out, double p, long seed, long offset) {
        if (f32(out)) { CpuFloatOps.dropoutMask(fl(out), off(out), n(out), p, seed, offset); return; }
        double[] u = new double[n(out)];
        Philox.fillUniform(seed, offset, u, u.length);
        double keep = 1.0 / (1.0 - p);
        for (int k = 0; k < u.length; k++) u[k] = u[k] >= p ? keep : 0.0;
        write(out, u);
    }

    // ---------------------------------------------------------------- optimisers
    @Override public void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        if (f32(param)) {
            CpuFloatKernels.adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
            return;
        }
        Buf p = in(param), g = in(grad), mm = in(m), vv = in(v);
        CpuReference.adam(p, g, mm, vv, n(param), lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
        commit(param, p);
        commit(m, mm);
        commit(v, vv);
    }

    @Override public void ema(Tensor ema, Tensor param, double decay) {
        if (f32(ema) && f32(param)) {
            float[] e = st(ema).f, p = st(param).f;
            int eo = off(ema), po = off(param);
            float d = (float) decay, c = (float) (1 - decay);
            Parallel.range(n(ema), 1 << 16, (lo, hi) -> { for (int k = lo; k < hi; k++) e[eo + k] = d * e[eo + k] + c * p[po + k]; });
            return;
        }
        Buf e = in(ema), p = in(param);
        for (int k = 0; k < n(ema); k++) e.a()[e.o() + k] = decay * e.a()[e.o() + k] + (1 - decay) * p.a()[p.o() + k];
        commit(ema, e);
    }
}
