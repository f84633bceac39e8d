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

    /** y = silu(x·scale + shift) over n elements. */
    static void siluAffine(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        if (Sgemm.VECTOR) { VecMath.siluAffine(x, xo, y, yo, n, scale, shift); return; }
        for (int i = 0; i < n; i++) y[yo + i] = silu(x[xo + i] * scale + shift);
    }
}
