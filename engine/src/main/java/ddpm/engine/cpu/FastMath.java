package ddpm.engine.cpu;

/**
 * The float kernels' shared inner loops: the vectorised versions ({@link VecMath}) when the
 * Vector API is present, the scalar ones ({@link Scalar}) otherwise. VecMathTest holds the two
 * to each other.
 */
final class FastMath {
    private FastMath() {}

    /** a[o+i] = exp(a[o+i] − m), returns Σ. */
    static double expShiftSum(float[] a, int o, int n, float m) {
        return Sgemm.VECTOR ? VecMath.expShiftSum(a, o, n, m) : Scalar.expShiftSum(a, o, a, o, n, m);
    }

    /** z[zo+i] = exp(x[xo+i] − m), returns Σ (x may be z). */
    static double expShiftSum(float[] x, int xo, float[] z, int zo, int n, float m) {
        return Sgemm.VECTOR ? VecMath.expShiftSum(x, xo, z, zo, n, m) : Scalar.expShiftSum(x, xo, z, zo, n, m);
    }

    /** max of a[o .. o+n) as Math.max (NaN wins); −∞ when n = 0. */
    static float max(float[] a, int o, int n) { return Sgemm.VECTOR ? VecMath.max(a, o, n) : Scalar.max(a, o, n); }

    /** y = silu(x·scale + shift) over n elements. */
    static void siluAffine(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        if (Sgemm.VECTOR) VecMath.siluAffine(x, xo, y, yo, n, scale, shift);
        else Scalar.siluAffine(x, xo, y, yo, n, scale, shift);
    }

    /** y = g · silu'(x·scale + shift) over n elements. */
    static void siluBackwardAffine(float[] x, int xo, float[] g, int go, float[] y, int yo, int n, float scale, float shift) {
        if (Sgemm.VECTOR) VecMath.siluBackwardAffine(x, xo, g, go, y, yo, n, scale, shift);
        else Scalar.siluBackwardAffine(x, xo, g, go, y, yo, n, scale, shift);
    }

    /** Σ x[o .. o+n): float partial sums over blocks of {@link VecMath#BLOCK}, totalled in double. */
    static double sum(float[] x, int o, int n) { return Sgemm.VECTOR ? VecMath.sum(x, o, n) : Scalar.sum(x, o, n); }

    /** Σ (x − mu)² over x[o .. o+n), as {@link #sum}. */
    static double sumSqDev(float[] x, int o, int n, float mu) {
        return Sgemm.VECTOR ? VecMath.sumSqDev(x, o, n, mu) : Scalar.sumSqDev(x, o, n, mu);
    }

    /** acc[0] += Σ d, acc[1] += Σ d·(x − mu), as {@link #sum}. */
    static void sumAndCentredDot(float[] d, int dOff, float[] x, int xOff, int n, float mu, double[] acc) {
        if (Sgemm.VECTOR) VecMath.sumAndCentredDot(d, dOff, x, xOff, n, mu, acc);
        else Scalar.sumAndCentredDot(d, dOff, x, xOff, n, mu, acc);
    }

    /** y = a·d + b·(x − m) + c over n elements (y may be d). */
    static void combine(float[] d, int dOff, float[] x, int xOff, float m, float[] y, int yo, int n, float a, float b, float c) {
        if (Sgemm.VECTOR) VecMath.combine(d, dOff, x, xOff, m, y, yo, n, a, b, c);
        else Scalar.combine(d, dOff, x, xOff, m, y, yo, n, a, b, c);
    }

    /** z = cond ≠ 0 ? a : b over n elements, the condition float (cf) or int (ci, cf null). */
    static void select(float[] cf, int[] ci, int co, float[] a, int ao, float[] b, int bo, float[] z, int zo, int n) {
        if (Sgemm.VECTOR && cf != null) VecMath.select(cf, co, a, ao, b, bo, z, zo, n);
        else if (Sgemm.VECTOR) VecMath.select(ci, co, a, ao, b, bo, z, zo, n);
        else Scalar.select(cf, ci, co, a, ao, b, bo, z, zo, n);
    }

    /** Elements of one strided gather ({@link VecMath#gather}). */
    static final int GATHER = Sgemm.VECTOR ? VecMath.VL : 1;

    /** The index map of a gather of {@link #GATHER} elements {@code stride} apart, or null without the Vector API. */
    static int[] gatherIndex(int stride) {
        if (!Sgemm.VECTOR) return null;
        int[] idx = new int[GATHER];
        for (int i = 0; i < idx.length; i++) idx[i] = i * stride;
        return idx;
    }

    /** The scalar versions: plain loops in the same float arithmetic. */
    static final class Scalar {
        private Scalar() {}

        static float silu(float v) { return v / (1f + (float) Math.exp(-v)); }

        /** silu'(v) = s·(1 + v·(1 − s)), s = σ(v). */
        static float siluDerivative(float v) {
            float s = 1f / (1f + (float) Math.exp(-v));
            return s * (1f + v * (1f - s));
        }

        static double expShiftSum(float[] x, int xo, float[] z, int zo, int n, float m) {
            double sum = 0;
            for (int i = 0; i < n; i++) { float e = (float) Math.exp(x[xo + i] - m); z[zo + i] = e; sum += e; }
            return sum;
        }

        static float max(float[] a, int o, int n) {
            float m = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) m = Math.max(m, a[o + i]);
            return m;
        }

        static void siluAffine(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
            for (int i = 0; i < n; i++) y[yo + i] = silu(x[xo + i] * scale + shift);
        }

        static void siluBackwardAffine(float[] x, int xo, float[] g, int go, float[] y, int yo, int n, float scale, float shift) {
            for (int i = 0; i < n; i++) y[yo + i] = g[go + i] * siluDerivative(x[xo + i] * scale + shift);
        }

        static double sum(float[] x, int o, int n) {
            double total = 0;
            for (int s = 0; s < n; s += VecMath.BLOCK) {
                float t = 0;
                for (int i = s, e = Math.min(n, s + VecMath.BLOCK); i < e; i++) t += x[o + i];
                total += t;
            }
            return total;
        }

        static double sumSqDev(float[] x, int o, int n, float mu) {
            double total = 0;
            for (int s = 0; s < n; s += VecMath.BLOCK) {
                float t = 0;
                for (int i = s, e = Math.min(n, s + VecMath.BLOCK); i < e; i++) { float d = x[o + i] - mu; t += d * d; }
                total += t;
            }
            return total;
        }

        static void sumAndCentredDot(float[] d, int dOff, float[] x, int xOff, int n, float mu, double[] acc) {
            for (int s = 0; s < n; s += VecMath.BLOCK) {
                float td = 0, tx = 0;
                for (int i = s, e = Math.min(n, s + VecMath.BLOCK); i < e; i++) {
                    td += d[dOff + i];
                    tx += d[dOff + i] * (x[xOff + i] - mu);
                }
                acc[0] += td;
                acc[1] += tx;
            }
        }

        static void combine(float[] d, int dOff, float[] x, int xOff, float m, float[] y, int yo, int n, float a, float b, float c) {
            for (int i = 0; i < n; i++) y[yo + i] = Math.fma(d[dOff + i], a, Math.fma(x[xOff + i] - m, b, c));
        }

        static void select(float[] cf, int[] ci, int co, float[] a, int ao, float[] b, int bo, float[] z, int zo, int n) {
            if (cf != null) for (int i = 0; i < n; i++) z[zo + i] = cf[co + i] != 0 ? a[ao + i] : b[bo + i];
            else for (int i = 0; i < n; i++) z[zo + i] = ci[co + i] != 0 ? a[ao + i] : b[bo + i];
        }
    }
}
