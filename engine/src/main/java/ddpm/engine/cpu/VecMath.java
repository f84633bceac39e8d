package ddpm.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised float exp (Cephes expf: range reduction by ln 2, degree-6 polynomial, exponent by
 * bit arithmetic; about 2 ulp on [−87, 88]) for softmax rows and SiLU. Only used when
 * {@link Sgemm#VECTOR}; {@link FastMath} holds the scalar fallbacks.
 */
final class VecMath {
    private VecMath() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();

    static FloatVector exp(FloatVector x) {
        x = x.max(-87.3f).min(88.7f);
        FloatVector t = x.fma(FloatVector.broadcast(S, 1.44269504088896341f), FloatVector.broadcast(S, 12582912f)); // round via 1.5·2^23
        FloatVector n = t.sub(12582912f);
        FloatVector r = n.fma(FloatVector.broadcast(S, -0.693359375f), x);
        r = n.fma(FloatVector.broadcast(S, 2.12194440e-4f), r);
        FloatVector p = FloatVector.broadcast(S, 1.9875691500e-4f);
        p = p.fma(r, FloatVector.broadcast(S, 1.3981999507e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector bits = (IntVector) t.viewAsIntegralLanes();
        IntVector e = bits.sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23);
        return p.mul((FloatVector) e.viewAsFloatingLanes());
    }

    /** a[o+i] = exp(a[o+i] − m) for i in [0, n); returns the sum of the results. */
    static double expShiftSum(float[] a, int o, int n, float m) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        double sum = 0;
        for (; i + VL <= n; i += VL) {
            FloatVector e = exp(FloatVector.fromArray(S, a, o + i).sub(m));
            e.intoArray(a, o + i);
            acc = acc.add(e);
            if ((i & 1023) == 1024 - VL) { sum += acc.reduceLanes(VectorOperators.ADD); acc = FloatVector.zero(S); }
        }
        sum += acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) { float e = FastMath.exp(a[o + i] - m); a[o + i] = e; sum += e; }
        return sum;
    }

    /** z[zo+i] = exp(x[xo+i] − m) for i in [0, n); returns the sum of the results (x may be z). */
    static double expShiftSum(float[] x, int xo, float[] z, int zo, int n, float m) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        double sum = 0;
        for (; i + VL <= n; i += VL) {
            FloatVector e = exp(FloatVector.fromArray(S, x, xo + i).sub(m));
            e.intoArray(z, zo + i);
            acc = acc.add(e);
            if ((i & 1023) == 1024 - VL) { sum += acc.reduceLanes(VectorOperators.ADD); acc = FloatVector.zero(S); }
        }
        sum += acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) { float e = FastMath.exp(x[xo + i] - m); z[zo + i] = e; sum += e; }
        return sum;
    }

    /** max of a[o .. o+n) as Math.max (NaN wins); −∞ when n = 0. */
    static float max(float[] a, int o, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (n >= VL) {
            FloatVector acc = FloatVector.fromArray(S, a, o);
            for (i = VL; i + VL <= n; i += VL) acc = acc.max(FloatVector.fromArray(S, a, o + i));
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, a[o + i]);
        return m;
    }

    /** y[yo+i] = silu(x[xo+i]·scale + shift). */
    static void siluAffine(float[] x, int xo, float[] y, int yo, int n, float scale, float shift) {
        int i = 0;
        FloatVector sc = FloatVector.broadcast(S, scale), sh = FloatVector.broadcast(S, shift);
        for (; i + VL <= n; i += VL) {
            FloatVector v = FloatVector.fromArray(S, x, xo + i).fma(sc, sh);
            v.div(exp(v.neg()).add(1f)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i] = FastMath.silu(x[xo + i] * scale + shift);
    }

    /** dst[d0 + p·dStride + t] = src[rowOff[r0 + p] + col + t] for t &lt; the SGEMM vector length, p &lt; rows: packing runs. */
    static void copyRuns(float[] src, int[] rowOff, int r0, int rows, int col, float[] dst, int d0, int dStride) {
        for (int p = 0; p < rows; p++)
            FloatVector.fromArray(SgemmVec.S, src, rowOff[r0 + p] + col).intoArray(dst, d0 + p * dStride);
    }
}
