package ddpm.engine.cpu;

/** Float transcendental helpers for the fast kernels: the vectorised versions in {@link VecMath}
 *  when the Vector API is present, scalar ones otherwise. */
final class FastMath {
    private FastMath() {}

    static float exp(float x) { return (float) Math.exp(x); }

    static float silu(float y) { return y / (1f + (float) Math.exp(-y)); }

    /** a[o+i] = exp(a[o+i] − m), returns Σ. */
    static double expShiftSum(float[] a, int o, int n, float m) {
        if (Sgemm.VECTOR) return VecMath.expShiftSum(a, o, n, m);
        double sum = 0;
        for (int i = 0; i < n; i++) { float e = (float) Math.exp(a[o + i] - m); a[o + i] = e; sum += e; }
        return sum;
    }

    /** z[zo+i] = exp(x[xo+i] − m), returns Σ (x may be z). */
    static double expShiftSum(float[] x, int xo, float[] z, int zo, int n, float m) {
        if (Sgemm.VECTOR) return VecMath.expShiftSum(x, xo, z, zo, n, m);
        double sum = 0;
        for (int i = 0; i < n; i++) { float e = (float) Math.exp(x[xo + i] - m); z[zo + i] = e; sum += e; }
        return sum;
    }

    /** max of a[o .. o+n) as Math.max (NaN wins); −∞ when n = 0. */
    static float max(float[] a, int o, int n) {
        if (Sgemm.VECTOR) return VecMath.max(a, o, n);
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, a[o + i]);
        return m;
    }

    /** y = silu(x·scale + shift) over n elements. */
    static void siluAffine(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        if (Sgemm.VECTOR) { VecMath.siluAffine(x, xo, y, yo, n, scale, shift); return; }
        for (int i = 0; i < n; i++) y[yo + i] = silu(x[xo + i] * scale + shift);
    }
}
