package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Reduction of the middle axis of x viewed as [outer, n, inner] (SUM, SUMSQ, MAX, MIN): the
 * double-precision reference beside the float32 kernel. The float kernel sums in double (four
 * lanes per row, or per column block), so its result is the reference's rounded within 1e-6;
 * max and min are exact. Few long rows or columns split the axis into fixed chunks whose partial
 * results combine in order, so the result does not depend on the thread count.
 */
final class Reduce {
    private Reduce() {}

    private static final int GRAIN = Elementwise.GRAIN;

    static void reduceRef(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out);
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++) {
                double acc = switch (op) {
                    case SUM, SUMSQ -> 0.0;
                    case MAX -> Double.NEGATIVE_INFINITY;
                    case MIN -> Double.POSITIVE_INFINITY;
                };
                for (int k = 0; k < n; k++) {
                    double v = a[ao + (p * n + k) * inner + q];
                    acc = switch (op) {
                        case SUM -> acc + v;
                        case SUMSQ -> acc + v * v;
                        case MAX -> Math.max(acc, v);
                        case MIN -> Math.min(acc, v);
                    };
                }
                z[zo + p * inner + q] = acc;
            }
    }

    static void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out) {
        reduce(op, f(x), off(x), outer, n, inner, f(out), off(out));
    }

    /** Elements per partial sum when a few long rows are split across threads. */
    private static final int CHUNK = 1 << 14;

    /** Reduces the middle axis of x viewed as [outer, n, inner] into z [outer, inner]. */
    private static void reduce(Ops.Reduce op, float[] x, int xo, int outer, int n, int inner, float[] z, int zo) {
        if (outer == 0 || inner == 0) return;
        if (n == 0) {
            float init = switch (op) {
                case SUM, SUMSQ -> 0f;
                case MAX -> Float.NEGATIVE_INFINITY;
                case MIN -> Float.POSITIVE_INFINITY;
            };
            Arrays.fill(z, zo, zo + outer * inner, init);
            return;
        }
        if (inner == 1) reduceRows(op, x, xo, outer, n, z, zo);
        else reduceColumns(op, x, xo, outer, n, inner, z, zo);
    }

    private static void reduceRows(Ops.Reduce op, float[] x, int xo, int outer, int n, float[] z, int zo) {
        long total = (long) outer * n;
        if (outer >= 2 * Parallel.threads() || total <= GRAIN || n <= CHUNK) {
            Parallel.range(outer, Math.max(1, GRAIN / n), (lo, hi) -> {
                for (int p = lo; p < hi; p++) z[zo + p] = (float) rowReduce(op, x, xo + p * n, n);
            });
            return;
        }
        // few long rows: partial results over fixed chunks (deterministic whatever the thread count)
        int chunks = (n + CHUNK - 1) / CHUNK;
        double[] part = new double[outer * chunks];
        Parallel.range(outer * chunks, 1, (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int p = t / chunks, c = t - p * chunks, from = c * CHUNK, len = Math.min(CHUNK, n - from);
                part[t] = rowReduce(op, x, xo + p * n + from, len);
            }
        });
        for (int p = 0; p < outer; p++) {
            double acc = part[p * chunks];
            for (int c = 1; c < chunks; c++) acc = combine(op, acc, part[p * chunks + c]);
            z[zo + p] = (float) acc;
        }
    }

    private static double combine(Ops.Reduce op, double a, double b) {
        return switch (op) {
            case SUM, SUMSQ -> a + b;
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
        };
    }

    /** The reduction of x[o, o + n), n ≥ 1: sums in double over four lanes, max/min in float. */
    static double rowReduce(Ops.Reduce op, float[] x, int o, int n) {
        int k = 0;
        switch (op) {
            case SUM -> {
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (; k + 3 < n; k += 4) { s0 += x[o + k]; s1 += x[o + k + 1]; s2 += x[o + k + 2]; s3 += x[o + k + 3]; }
                for (; k < n; k++) s0 += x[o + k];
                return (s0 + s1) + (s2 + s3);
            }
            case SUMSQ -> {
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (; k + 3 < n; k += 4) {
                    double a = x[o + k], b = x[o + k + 1], c = x[o + k + 2], d = x[o + k + 3];
                    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
                }
                for (; k < n; k++) { double a = x[o + k]; s0 += a * a; }
                return (s0 + s1) + (s2 + s3);
            }
            case MAX -> {
                float m0 = Float.NEGATIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;
                for (; k + 3 < n; k += 4) {
                    m0 = Math.max(m0, x[o + k]); m1 = Math.max(m1, x[o + k + 1]);
                    m2 = Math.max(m2, x[o + k + 2]); m3 = Math.max(m3, x[o + k + 3]);
                }
                for (; k < n; k++) m0 = Math.max(m0, x[o + k]);
                return Math.max(Math.max(m0, m1), Math.max(m2, m3));
            }
            case MIN -> {
                float m0 = Float.POSITIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;
                for (; k + 3 < n; k += 4) {
                    m0 = Math.min(m0, x[o + k]); m1 = Math.min(m1, x[o + k + 1]);
                    m2 = Math.min(m2, x[o + k + 2]); m3 = Math.min(m3, x[o + k + 3]);
                }
                for (; k < n; k++) m0 = Math.min(m0, x[o + k]);
                return Math.min(Math.min(m0, m1), Math.min(m2, m3));
            }
        }
        throw new AssertionError(op);
    }

    /** Columns per task of an inner > 1 reduction. */
    private static final int COLS = 1024;

    private static void reduceColumns(Ops.Reduce op, float[] x, int xo, int outer, int n, int inner, float[] z, int zo) {
        int blocks = (inner + COLS - 1) / COLS, tiles = outer * blocks;
        // few output tiles over a long axis: split the axis too, into partials combined in order
        int chunks = 1;
        long work = (long) outer * n * inner;
        if (tiles < 2 * Parallel.threads() && work > GRAIN)
            chunks = (int) Math.max(1, Math.min(Math.min(n, 4L * Parallel.threads()), work / GRAIN));
        int nc = chunks, step = (n + nc - 1) / nc;
        double[] part = nc == 1 ? null : new double[nc * outer * inner];
        Parallel.range(tiles * nc, Math.max(1, (int) (GRAIN / Math.max(1L, (long) Math.min(inner, COLS) * step))), (lo, hi) -> {
            double[] acc = new double[Math.min(inner, COLS)];
            float[] facc = new float[Math.min(inner, COLS)];
            for (int t = lo; t < hi; t++) {
                int c = t % nc, tile = t / nc, p = tile / blocks, q0 = (tile - p * blocks) * COLS;
                int w = Math.min(COLS, inner - q0), k0 = c * step, k1 = Math.min(n, k0 + step);
                double r;
                int base = xo + p * n * inner + q0;
                switch (op) {
                    case SUM -> {
                        Arrays.fill(acc, 0, w, 0.0);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) acc[q] += x[row + q];
                        }
                    }
                    case SUMSQ -> {
                        Arrays.fill(acc, 0, w, 0.0);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) { double v = x[row + q]; acc[q] += v * v; }
                        }
                    }
                    case MAX -> {
                        Arrays.fill(facc, 0, w, Float.NEGATIVE_INFINITY);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) facc[q] = Math.max(facc[q], x[row + q]);
                        }
                        for (int q = 0; q < w; q++) acc[q] = facc[q];
                    }
                    case MIN -> {
                        Arrays.fill(facc, 0, w, Float.POSITIVE_INFINITY);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) facc[q] = Math.min(facc[q], x[row + q]);
                        }
                        for (int q = 0; q < w; q++) acc[q] = facc[q];
                    }
                }
                if (part == null) for (int q = 0; q < w; q++) z[zo + p * inner + q0 + q] = (float) acc[q];
                else System.arraycopy(acc, 0, part, (c * outer + p) * inner + q0, w);
            }
        });
        if (part == null) return;
        int m = outer * inner;
        Parallel.range(m, GRAIN, (lo, hi) -> {
            for (int e = lo; e < hi; e++) {
                double acc = part[e];
                for (int c = 1; c < nc; c++) acc = combine(op, acc, part[c * m + e]);
                z[zo + e] = (float) acc;
            }
        });
    }
}
