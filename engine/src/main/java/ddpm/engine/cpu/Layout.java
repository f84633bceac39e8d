package ddpm.engine.cpu;

import ddpm.engine.DType;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Layout primitives: permute and the slice copies along one axis (concat and slicing), the
 * double-precision reference beside the float32 kernel (which also moves I32 index tensors).
 * Both are pure copies, so the float kernels match the reference exactly.
 */
final class Layout {
    private Layout() {}

    private static final int GRAIN = Elementwise.GRAIN;

    static void permuteRef(Tensor x, int[] perm, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out);
        walk(x.shape(), perm, (o, at) -> z[zo + o] = a[ao + at]);
    }

    private interface Step { void at(int out, int in); }

    /** Visits every output position of a permute with its source position, in output order. */
    private static void walk(int[] shape, int[] perm, Step step) {
        int r = shape.length;
        long[] st = Shapes.strides(shape);
        int[] os = new int[r];
        long[] src = new long[r];
        for (int i = 0; i < r; i++) { os[i] = shape[perm[i]]; src[i] = st[perm[i]]; }
        int n = (int) Shapes.numel(os);
        int[] idx = new int[r];
        long at = 0;
        for (int o = 0; o < n; o++) {
            step.at(o, (int) at);
            for (int dd = r - 1; dd >= 0; dd--) {
                idx[dd]++;
                at += src[dd];
                if (idx[dd] < os[dd]) break;
                at -= src[dd] * os[dd];
                idx[dd] = 0;
            }
        }
    }

    /** F32 (or I32: {@link #permuteInts}). */
    static void permute(Tensor x, int[] perm, Tensor out) {
        if (x.dtype() == DType.I32) permuteInts(x, perm, out);
        else permute(f(x), off(x), x.shape(), perm, f(out), off(out));
    }

    /** An I32 permute (index tensors are small): the reference's walk. */
    private static void permuteInts(Tensor x, int[] perm, Tensor out) {
        int[] a = CpuStorage.of(x).i, z = CpuStorage.of(out).i;
        int ao = off(x), zo = off(out);
        walk(x.shape(), perm, (o, at) -> z[zo + o] = a[ao + at]);
    }

    /** dst[..., start : start + src.shape[axis], ...] = src. */
    static void writeSliceRef(Tensor src, Tensor dst, int axis, int start) {
        sliceRef(d(src), off(src), src.shape(), d(dst), off(dst), dst.shape(), axis, start, true);
    }

    /** dst = src[..., start : start + dst.shape[axis], ...]. */
    static void readSliceRef(Tensor src, Tensor dst, int axis, int start) {
        sliceRef(d(dst), off(dst), dst.shape(), d(src), off(src), src.shape(), axis, start, false);
    }

    /** F32 or I32. */
    static void writeSlice(Tensor src, Tensor dst, int axis, int start) {
        slice(array(src), off(src), src.shape(), array(dst), off(dst), dst.shape(), axis, start, true);
    }

    /** F32 or I32. */
    static void readSlice(Tensor src, Tensor dst, int axis, int start) {
        slice(array(dst), off(dst), dst.shape(), array(src), off(src), src.shape(), axis, start, false);
    }

    private static Object array(Tensor t) { return t.dtype() == DType.I32 ? CpuStorage.of(t).i : f(t); }

    /** Copies between the part [start, start+len) along axis of {@code big} and all of {@code part}. */
    private static void sliceRef(double[] part, int po, int[] ps, double[] big, int bo, int[] bs, int axis, int start,
                                 boolean intoBig) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= bs[i];
        for (int i = axis + 1; i < bs.length; i++) inner *= bs[i];
        int len = ps[axis], full = bs[axis];
        for (int p = 0; p < outer; p++)
            for (int k = 0; k < len; k++)
                for (int q = 0; q < inner; q++) {
                    int pi = po + (p * len + k) * inner + q, bi = bo + (p * full + start + k) * inner + q;
                    if (intoBig) big[bi] = part[pi];
                    else part[pi] = big[bi];
                }
    }

    /** Tile edge of the blocked transpose. */
    private static final int TILE = 32;

    /** out = x with axes permuted (out.shape[i] = shape[perm[i]]). */
    private static void permute(float[] x, int xo, int[] shape, int[] perm, float[] z, int zo) {
        int r = shape.length;
        long[] st = Shapes.strides(shape);
        int n = (int) Shapes.numel(shape);
        if (n == 0) return;
        // out axes with their source strides; drop size-1 axes, merge runs contiguous in the source
        int[] d = new int[r], s = new int[r];
        int c = 0;
        for (int i = 0; i < r; i++) {
            int len = shape[perm[i]], str = (int) st[perm[i]];
            if (len == 1) continue;
            if (c > 0 && s[c - 1] == (long) str * len) { d[c - 1] *= len; s[c - 1] = str; }
            else { d[c] = len; s[c] = str; c++; }
        }
        if (c <= 1) {   // the identity up to size-1 axes
            System.arraycopy(x, xo, z, zo, n);
            return;
        }
        int m = c;
        int[] os = new int[m];   // output strides
        os[m - 1] = 1;
        for (int i = m - 2; i >= 0; i--) os[i] = os[i + 1] * d[i + 1];
        if (s[m - 1] == 1) {   // contiguous runs of the innermost axis: copy them
            int run = d[m - 1], rows = n / run;
            Parallel.range(rows, Math.max(1, GRAIN / run), (lo, hi) -> {
                for (int row = lo; row < hi; row++) {
                    int src = xo, rem = row;
                    for (int ax = m - 2; ax >= 0; ax--) { src += (rem % d[ax]) * s[ax]; rem /= d[ax]; }
                    System.arraycopy(x, src, z, zo + row * run, run);
                }
            });
            return;
        }
        // a 2-D transpose between out axis j (source-contiguous) and the last out axis, for every
        // index of the other axes: tiles of TILE × TILE
        int j = -1;
        for (int i = 0; i < m; i++) if (s[i] == 1) j = i;
        if (j < 0) throw new AssertionError("permute: no unit stride in " + Arrays.toString(s));
        int jl = d[j], il = d[m - 1], is = s[m - 1], jos = os[j];
        int others = n / (jl * il), jTiles = (jl + TILE - 1) / TILE;
        int[] gather = FastMath.gatherIndex(is);   // vector gathers of a strided column, where available
        int[] od = new int[m - 2], ods = new int[m - 2], oos = new int[m - 2];
        for (int i = 0, q = 0; i < m - 1; i++) if (i != j) { od[q] = d[i]; ods[q] = s[i]; oos[q] = os[i]; q++; }
        Parallel.range(others * jTiles, Math.max(1, GRAIN / (TILE * il)), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int o = t / jTiles, j0 = (t - o * jTiles) * TILE, j1 = Math.min(jl, j0 + TILE);
                int src = xo, dst = zo, rem = o;
                for (int ax = od.length - 1; ax >= 0; ax--) {
                    int v = rem % od[ax];
                    rem /= od[ax];
                    src += v * ods[ax];
                    dst += v * oos[ax];
                }
                for (int i0 = 0; i0 < il; i0 += TILE) {
                    int i1 = Math.min(il, i0 + TILE);
                    for (int jj = j0; jj < j1; jj++) {
                        int so = src + jj + i0 * is, zz = dst + jj * jos, ii = i0;
                        if (gather != null) for (; ii + FastMath.GATHER <= i1; ii += FastMath.GATHER) VecMath.gather(x, so + (ii - i0) * is, gather, z, zz + ii);
                        for (; ii < i1; ii++) z[zz + ii] = x[so + (ii - i0) * is];
                    }
                }
            }
        });
    }

    /** Copies between part (shape ps) and [start, start + ps[axis]) along axis of big (shape bs). */
    private static void slice(Object part, int po, int[] ps, Object big, int bo, int[] bs, int axis, int start, boolean intoBig) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= bs[i];
        for (int i = axis + 1; i < bs.length; i++) inner *= bs[i];
        int run = ps[axis] * inner, full = bs[axis] * inner, skip = start * inner;
        if (run == 0) return;
        Parallel.range(outer, Math.max(1, GRAIN / run), (lo, hi) -> {
            for (int p = lo; p < hi; p++) {
                if (intoBig) System.arraycopy(part, po + p * run, big, bo + p * full + skip, run);
                else System.arraycopy(big, bo + p * full + skip, part, po + p * run, run);
            }
        });
    }
}
