package ddpm.engine.cpu;

import ddpm.engine.Broadcast;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.of;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Elementwise primitives: unary ops and their backward, broadcast binary ops, affine, power by a
 * constant, clamp and where. Each has its double-precision reference ({@code …Ref}, F64 tensors:
 * the specification) beside its float32 kernel (F32 tensors), with the arguments of the
 * {@link ddpm.engine.Backend} method it implements.
 *
 * <p>Float kernels: multithreaded over {@link Parallel#range}, counted inner loops the JIT
 * vectorises, transcendental functions through {@link FastMath}. Accuracy: a few roundings per
 * element, well inside 1e-5 relative of the reference; exact where one float operation is the
 * correctly rounded double result (+, −, ·, /, min, max, comparisons, clamp, where).
 *
 * <p>Offsets: C2 (JDK 17) does not vectorise z[zo + k] = f(x[xo + k]) when the offsets differ (it
 * cannot rule out overlap); when they are equal (fresh tensors, in-place ops) the loops index
 * every array with one shared index, which it does vectorise.
 */
final class Elementwise {
    private Elementwise() {}

    /** Elements per parallel chunk. */
    static final int GRAIN = 1 << 15;

    // ================================================================ scalar definitions
    static double unary(Ops.Unary op, double x) {
        return switch (op) {
            case NEG -> -x;
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RSQRT -> 1.0 / Math.sqrt(x);
            case SQUARE -> x * x;
            case ABS -> Math.abs(x);
            case SILU -> x / (1.0 + Math.exp(-x));
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case RELU -> x > 0 ? x : 0.0;
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
        };
    }

    /** dy/dx at x, where y = op(x). */
    static double derivative(Ops.Unary op, double x, double y) {
        return switch (op) {
            case NEG -> -1.0;
            case EXP -> y;
            case LOG -> 1.0 / x;
            case SQRT -> 0.5 / y;
            case RSQRT -> -0.5 * y * y * y;
            case SQUARE -> 2.0 * x;
            case ABS -> Math.signum(x);
            case SILU -> {
                double s = 1.0 / (1.0 + Math.exp(-x));
                yield s * (1.0 + x * (1.0 - s));
            }
            case SIGMOID -> y * (1.0 - y);
            case TANH -> 1.0 - y * y;
            case RELU -> x > 0 ? 1.0 : 0.0;
            case SIN -> Math.cos(x);
            case COS -> -Math.sin(x);
        };
    }

    static double binary(Ops.Binary op, double a, double b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case LT -> a < b ? 1 : 0;
            case LE -> a <= b ? 1 : 0;
            case GT -> a > b ? 1 : 0;
            case GE -> a >= b ? 1 : 0;
            case EQ -> a == b ? 1 : 0;
        };
    }

    static float binary(Ops.Binary op, float a, float b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> (float) Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case LT -> a < b ? 1f : 0f;
            case LE -> a <= b ? 1f : 0f;
            case GT -> a > b ? 1f : 0f;
            case GE -> a >= b ? 1f : 0f;
            case EQ -> a == b ? 1f : 0f;
        };
    }

    // ================================================================ unary
    static void unaryRef(Ops.Unary op, Tensor x, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), n = n(out);
        for (int k = 0; k < n; k++) z[zo + k] = unary(op, a[ao + k]);
    }

    static void unary(Ops.Unary op, Tensor x, Tensor out) {
        float[] a = f(x), z = f(out);
        int ao = off(x), zo = off(out);
        Parallel.range(n(out), GRAIN, (lo, hi) -> {
            switch (op) {
                case SILU -> FastMath.siluAffine(a, ao + lo, z, zo + lo, hi - lo, 1f, 0f);
                case SQUARE -> {
                    if (ao == zo) for (int k = ao + lo; k < ao + hi; k++) { float v = a[k]; z[k] = v * v; }
                    else for (int k = lo; k < hi; k++) { float v = a[ao + k]; z[zo + k] = v * v; }
                }
                case NEG -> {
                    if (ao == zo) for (int k = ao + lo; k < ao + hi; k++) z[k] = -a[k];
                    else for (int k = lo; k < hi; k++) z[zo + k] = -a[ao + k];
                }
                default -> { for (int k = lo; k < hi; k++) z[zo + k] = (float) unary(op, a[ao + k]); }
            }
        });
    }

    /** gx = gy · op'(x); x or y may be null where op's derivative does not read it. */
    static void unaryBackwardRef(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        double[] a = d(x), b = d(y), g = d(gy), z = d(gx);
        int ao = off(x), bo = off(y), go = off(gy), zo = off(gx), n = n(gx);
        for (int k = 0; k < n; k++)
            z[zo + k] = g[go + k] * derivative(op, a == null ? 0 : a[ao + k], b == null ? 0 : b[bo + k]);
    }

    static void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        float[] a = f(x), b = f(y), g = f(gy), z = f(gx);
        int ao = off(x), bo = off(y), go = off(gy), zo = off(gx);
        Parallel.range(n(gx), GRAIN, (lo, hi) -> {
            switch (op) {
                case NEG -> { for (int k = lo; k < hi; k++) z[zo + k] = -g[go + k]; }
                case EXP -> { for (int k = lo; k < hi; k++) z[zo + k] = g[go + k] * b[bo + k]; }
                case LOG -> { for (int k = lo; k < hi; k++) z[zo + k] = g[go + k] / a[ao + k]; }
                case SQRT -> { for (int k = lo; k < hi; k++) z[zo + k] = (0.5f * g[go + k]) / b[bo + k]; }
                case RSQRT -> { for (int k = lo; k < hi; k++) { float v = b[bo + k]; z[zo + k] = g[go + k] * (-0.5f * v * v * v); } }
                case SQUARE -> { for (int k = lo; k < hi; k++) z[zo + k] = g[go + k] * (2f * a[ao + k]); }
                case ABS -> { for (int k = lo; k < hi; k++) z[zo + k] = g[go + k] * Math.signum(a[ao + k]); }
                case SILU -> FastMath.siluBackwardAffine(a, ao + lo, g, go + lo, z, zo + lo, hi - lo, 1f, 0f);
                case SIGMOID -> { for (int k = lo; k < hi; k++) { float v = b[bo + k]; z[zo + k] = g[go + k] * (v * (1f - v)); } }
                // (1 − y)(1 + y): no cancellation near |y| = 1, unlike 1 − y²
                case TANH -> { for (int k = lo; k < hi; k++) { float v = b[bo + k]; z[zo + k] = g[go + k] * ((1f - v) * (1f + v)); } }
                case RELU -> { for (int k = lo; k < hi; k++) z[zo + k] = g[go + k] * (a[ao + k] > 0 ? 1f : 0f); }
                case SIN -> { for (int k = lo; k < hi; k++) z[zo + k] = (float) (g[go + k] * Math.cos(a[ao + k])); }
                case COS -> { for (int k = lo; k < hi; k++) z[zo + k] = (float) (g[go + k] * -Math.sin(a[ao + k])); }
            }
        });
    }

    // ================================================================ affine, power, clamp
    static void affineRef(Tensor x, double scale, double shift, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), n = n(out);
        for (int k = 0; k < n; k++) z[zo + k] = a[ao + k] * scale + shift;
    }

    static void affine(Tensor x, double scale, double shift, Tensor out) {
        float[] a = f(x), z = f(out);
        int ao = off(x), zo = off(out);
        float sc = (float) scale, sh = (float) shift;
        Parallel.range(n(out), GRAIN, (lo, hi) -> affineRun(a, ao + lo, z, zo + lo, hi - lo, sc, sh));
    }

    /** y[yo + k] = x[xo + k]·scale + shift, k < n. */
    static void affineRun(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        if (xo == yo) for (int k = xo; k < xo + n; k++) y[k] = x[k] * scale + shift;
        else for (int k = 0; k < n; k++) y[yo + k] = x[xo + k] * scale + shift;
    }

    static void powScalarRef(Tensor x, double p, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), n = n(out);
        for (int k = 0; k < n; k++) z[zo + k] = Math.pow(a[ao + k], p);
    }

    /** out = x^p: exact fast paths for p = 0, 1, 2, −1, ±0.5 (with Math.pow's signed-zero and −∞ cases). */
    static void powScalar(Tensor x, double p, Tensor out) {
        float[] a = f(x), z = f(out);
        int ao = off(x), zo = off(out);
        Parallel.range(n(out), GRAIN, (lo, hi) -> {
            if (p == 2) {
                for (int k = lo; k < hi; k++) { float v = a[ao + k]; z[zo + k] = v * v; }
            } else if (p == 1) {
                if (a != z || ao != zo) System.arraycopy(a, ao + lo, z, zo + lo, hi - lo);
            } else if (p == 0) {
                for (int k = lo; k < hi; k++) z[zo + k] = 1f;
            } else if (p == -1) {
                for (int k = lo; k < hi; k++) z[zo + k] = 1f / a[ao + k];
            } else if (p == 0.5) {
                for (int k = lo; k < hi; k++) {
                    float v = a[ao + k];
                    // pow(−0, ½) = +0 and pow(−∞, ½) = +∞, where sqrt gives −0 and NaN
                    z[zo + k] = v == Float.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : Math.abs((float) Math.sqrt(v));
                }
            } else if (p == -0.5) {
                for (int k = lo; k < hi; k++) {
                    float v = a[ao + k];
                    z[zo + k] = v == Float.NEGATIVE_INFINITY ? 0f : (float) (1.0 / Math.abs(Math.sqrt(v)));
                }
            } else {
                for (int k = lo; k < hi; k++) z[zo + k] = (float) Math.pow(a[ao + k], p);
            }
        });
    }

    static void clampRef(Tensor x, double lo, double hi, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), n = n(out);
        for (int k = 0; k < n; k++) z[zo + k] = Math.min(Math.max(a[ao + k], lo), hi);
    }

    /** out = min(max(x, lo), hi); float bounds give the same result as the double ones rounded. */
    static void clamp(Tensor x, double lo, double hi, Tensor out) {
        float[] a = f(x), z = f(out);
        int ao = off(x), zo = off(out);
        float l = (float) lo, h = (float) hi;
        if (l != lo || h != hi) {
            // bounds that are not floats: the double comparison, then round (same as the reference)
            Parallel.range(n(out), GRAIN, (s, e) -> {
                for (int k = s; k < e; k++) z[zo + k] = (float) Math.min(Math.max(a[ao + k], lo), hi);
            });
            return;
        }
        Parallel.range(n(out), GRAIN, (s, e) -> {
            for (int k = s; k < e; k++) z[zo + k] = Math.min(Math.max(a[ao + k], l), h);
        });
    }

    // ================================================================ broadcast binary
    static void binaryRef(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        double[] x = d(a), y = d(b), z = d(out);
        int xo = off(a), yo = off(b), zo = off(out);
        Broadcast.plan(out.shape(), a.shape(), b.shape()).forEach((o, p) ->
                z[zo + o] = binary(op, x[xo + p[0]], y[yo + p[1]]));
    }

    static void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        Broadcast plan = Broadcast.plan(out.shape(), a.shape(), b.shape());
        float[] x = f(a), y = f(b), z = f(out);
        int as = plan.innerStride(0), bs = plan.innerStride(1);
        forEachRun(plan, new int[]{off(a), off(b)}, off(out),
                (o, p, len) -> binaryRun(op, x, p[0], as, y, p[1], bs, z, o, len));
    }

    /** z[zo + k] = x[xo + k·xs] op y[yo + k·ys], k < len, strides 0 or 1. */
    static void binaryRun(Ops.Binary op, float[] x, int xo, int xs, float[] y, int yo, int ys, float[] z, int zo, int len) {
        boolean plain = op.ordinal() <= Ops.Binary.DIV.ordinal();   // ADD, SUB, MUL, DIV
        int end = zo + len;
        // same-offset forms first (vectorised; see the class note)
        if (xs == 1 && ys == 1 && xo == zo && yo == zo && plain) {
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = x[k] + y[k]; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = x[k] - y[k]; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = x[k] * y[k]; }
                default -> { for (int k = zo; k < end; k++) z[k] = x[k] / y[k]; }
            }
        } else if (xs == 1 && ys == 0 && xo == zo && plain) {
            float c = y[yo];
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = x[k] + c; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = x[k] - c; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = x[k] * c; }
                default -> { for (int k = zo; k < end; k++) z[k] = x[k] / c; }
            }
        } else if (xs == 0 && ys == 1 && yo == zo && plain) {
            float c = x[xo];
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = c + y[k]; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = c - y[k]; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = c * y[k]; }
                default -> { for (int k = zo; k < end; k++) z[k] = c / y[k]; }
            }
        } else if (xs == 1 && ys == 1) {
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] + y[yo + k]; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] - y[yo + k]; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] * y[yo + k]; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] / y[yo + k]; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(x[xo + k], y[yo + k]); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(x[xo + k], y[yo + k]); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, x[xo + k], y[yo + k]); }
            }
        } else if (xs == 1) {
            float c = y[yo];
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] + c; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] - c; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] * c; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] / c; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(x[xo + k], c); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(x[xo + k], c); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, x[xo + k], c); }
            }
        } else if (ys == 1) {
            float c = x[xo];
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = c + y[yo + k]; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = c - y[yo + k]; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = c * y[yo + k]; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = c / y[yo + k]; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(c, y[yo + k]); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(c, y[yo + k]); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, c, y[yo + k]); }
            }
        } else {
            Arrays.fill(z, zo, end, binary(op, x[xo], y[yo]));
        }
    }

    // ================================================================ where
    static void whereRef(Tensor cond, Tensor a, Tensor b, Tensor out) {
        double[] c = CpuStorage.doubles(cond), x = d(a), y = d(b), z = d(out);
        int xo = off(a), yo = off(b), zo = off(out);
        Broadcast.plan(out.shape(), cond.shape(), a.shape(), b.shape()).forEach((o, p) ->
                z[zo + o] = c[p[0]] != 0 ? x[xo + p[1]] : y[yo + p[2]]);
    }

    /** out = cond ≠ 0 ? a : b with broadcasting; cond F32, I32 or (converted) F64. */
    static void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        Broadcast plan = Broadcast.plan(out.shape(), cond.shape(), a.shape(), b.shape());
        CpuStorage cs = of(cond);
        float[] cf = cs.d != null ? toFloats(cond) : cs.f, x = f(a), y = f(b), z = f(out);
        int[] ci = cs.i;
        int co = cs.d != null ? 0 : off(cond);
        int sc = plan.innerStride(0), sa = plan.innerStride(1), sb = plan.innerStride(2);
        forEachRun(plan, new int[]{co, off(a), off(b)}, off(out), (o, p, len) -> {
            int c0 = p[0], a0 = p[1], b0 = p[2];
            if (sc == 1 && sa == 1 && sb == 1) {
                FastMath.select(cf, ci, c0, x, a0, y, b0, z, o, len);
            } else if (cf != null) {
                for (int k = 0; k < len; k++) z[o + k] = cf[c0 + k * sc] != 0 ? x[a0 + k * sa] : y[b0 + k * sb];
            } else {
                for (int k = 0; k < len; k++) z[o + k] = ci[c0 + k * sc] != 0 ? x[a0 + k * sa] : y[b0 + k * sb];
            }
        });
    }

    /** An F64 condition as floats (its zero/non-zero pattern is all that matters; NaN stays NaN). */
    private static float[] toFloats(Tensor t) {
        double[] v = CpuStorage.doubles(t);
        float[] r = new float[v.length];
        for (int k = 0; k < v.length; k++) r[k] = v[k] != 0 ? 1f : 0f;
        return r;
    }

    // ================================================================ runs of a broadcast plan
    /** One innermost run: output elements [zo, zo + len) with operand i starting at offs[i]. */
    @FunctionalInterface
    interface Run { void run(int zo, int[] offs, int len); }

    /** Calls {@code body} for every innermost run of the plan (operands from {@code base}), in parallel over the output. */
    static void forEachRun(Broadcast plan, int[] base, int zBase, Run body) {
        int r = plan.rank, m = base.length, inner = plan.inner();
        int[][] st = plan.strides;
        Parallel.range((int) plan.numel, GRAIN, (lo, hi) -> {
            int row = lo / inner, col = lo - row * inner;
            int[] idx = new int[r], offs = new int[m];
            int rem = row;   // decode the row into the outer axes
            for (int ax = r - 2; ax >= 0; ax--) {
                idx[ax] = rem % plan.dims[ax];
                rem /= plan.dims[ax];
            }
            for (int i = 0; i < m; i++) {
                int o = base[i] + col * st[i][r - 1];
                for (int ax = 0; ax < r - 1; ax++) o += idx[ax] * st[i][ax];
                offs[i] = o;
            }
            int pos = lo;
            while (pos < hi) {
                int len = Math.min(inner - col, hi - pos);
                body.run(zBase + pos, offs, len);
                pos += len;
                if (pos >= hi) break;
                // next row: rewind the inner axis, then odometer over the outer axes
                for (int i = 0; i < m; i++) offs[i] -= col * st[i][r - 1];
                col = 0;
                for (int ax = r - 2; ax >= 0; ax--) {
                    idx[ax]++;
                    for (int i = 0; i < m; i++) offs[i] += st[i][ax];
                    if (idx[ax] < plan.dims[ax]) break;
                    for (int i = 0; i < m; i++) offs[i] -= st[i][ax] * plan.dims[ax];
                    idx[ax] = 0;
                }
            }
        });
    }
}
