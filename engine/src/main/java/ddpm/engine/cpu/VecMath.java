package ddpm.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vectorised inner loops the float kernels share: float exp (Cephes expf: range reduction by
 * ln 2, degree-6 polynomial, exponent by bit arithmetic; about 2 ulp on [−87, 88]) for softmax
 * and SiLU, SiLU and its derivative of an affine input, sums and centred dot products (float
 * lanes over blocks of {@link #BLOCK}, totalled in double), a two-input affine combination, a
 * select, and the packing copies. Only used when {@link Sgemm#VECTOR}; {@link FastMath} holds
 * the scalar fallbacks and chooses.
 */
final class VecMath {
    private VecMath() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();

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
        for (; i < n; i++) { float e = (float) Math.exp(a[o + i] - m); a[o + i] = e; sum += e; }
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
        for (; i < n; i++) { float e = (float) Math.exp(x[xo + i] - m); z[zo + i] = e; sum += e; }
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
        for (; i < n; i++) y[yo + i] = FastMath.Scalar.silu(x[xo + i] * scale + shift);
    }

    /** dst[d0 + p·dStride + t] = src[rowOff[r0 + p] + col + t] for t &lt; the SGEMM vector length, p &lt; rows: packing runs. */
    static void copyRuns(float[] src, int[] rowOff, int r0, int rows, int col, float[] dst, int d0, int dStride) {
        for (int p = 0; p < rows; p++) FloatVector.fromArray(SgemmVec.S, src, rowOff[r0 + p] + col).intoArray(dst, d0 + p * dStride);
    }

    /** dst[d0 + p·dStride + t] = src[rowOff[r0 + p] + col + rel[t]] for t &lt; the SGEMM vector length: gathered packing runs. */
    static void gatherRuns(float[] src, int[] rowOff, int r0, int rows, int col, int[] rel, float[] dst, int d0, int dStride) {
        for (int p = 0; p < rows; p++) FloatVector.fromArray(SgemmVec.S, src, rowOff[r0 + p] + col, rel, 0).intoArray(dst, d0 + p * dStride);
    }

    /** Elements per float-lane partial sum before it is added to a double total. */
    static final int BLOCK = 1024;

    /** y[yo+i] = g[go+i] · silu'(x[xo+i]·scale + shift), silu'(v) = s·(1 + v·(1 − s)), s = σ(v). */
    static void siluBackwardAffine(float[] x, int xo, float[] g, int go, float[] y, int yo, int n, float scale, float shift) {
        int i = 0;
        FloatVector sc = FloatVector.broadcast(S, scale), sh = FloatVector.broadcast(S, shift), one = FloatVector.broadcast(S, 1f);
        for (; i + VL <= n; i += VL) {
            FloatVector v = FloatVector.fromArray(S, x, xo + i).fma(sc, sh);
            FloatVector sg = one.div(exp(v.neg()).add(one));
            FloatVector d = sg.mul(v.mul(one.sub(sg)).add(one));
            FloatVector.fromArray(S, g, go + i).mul(d).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i] = g[go + i] * FastMath.Scalar.siluDerivative(x[xo + i] * scale + shift);
    }

    /** Σ x[o .. o+n). */
    static double sum(float[] x, int o, int n) {
        double total = 0;
        for (int s = 0; s < n; s += BLOCK) {
            int e = Math.min(n, s + BLOCK), i = s;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S);
            for (; i + 2 * VL <= e; i += 2 * VL) {
                a0 = a0.add(FloatVector.fromArray(S, x, o + i));
                a1 = a1.add(FloatVector.fromArray(S, x, o + i + VL));
            }
            float t = a0.add(a1).reduceLanes(VectorOperators.ADD);
            for (; i < e; i++) t += x[o + i];
            total += t;
        }
        return total;
    }

    /** Σ (x − mu)² over x[o .. o+n). */
    static double sumSqDev(float[] x, int o, int n, float mu) {
        double total = 0;
        FloatVector m = FloatVector.broadcast(S, mu);
        for (int s = 0; s < n; s += BLOCK) {
            int e = Math.min(n, s + BLOCK), i = s;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S);
            for (; i + 2 * VL <= e; i += 2 * VL) {
                FloatVector d0 = FloatVector.fromArray(S, x, o + i).sub(m), d1 = FloatVector.fromArray(S, x, o + i + VL).sub(m);
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
            }
            float t = a0.add(a1).reduceLanes(VectorOperators.ADD);
            for (; i < e; i++) { float d = x[o + i] - mu; t += d * d; }
            total += t;
        }
        return total;
    }

    /** acc[0] += Σ d, acc[1] += Σ d·(x − mu) over n elements. */
    static void sumAndCentredDot(float[] d, int dOff, float[] x, int xOff, int n, float mu, double[] acc) {
        FloatVector m = FloatVector.broadcast(S, mu);
        for (int s = 0; s < n; s += BLOCK) {
            int e = Math.min(n, s + BLOCK), i = s;
            FloatVector sd = FloatVector.zero(S), sx = FloatVector.zero(S);
            for (; i + VL <= e; i += VL) {
                FloatVector dv = FloatVector.fromArray(S, d, dOff + i);
                sd = sd.add(dv);
                sx = dv.fma(FloatVector.fromArray(S, x, xOff + i).sub(m), sx);
            }
            float td = sd.reduceLanes(VectorOperators.ADD), tx = sx.reduceLanes(VectorOperators.ADD);
            for (; i < e; i++) { td += d[dOff + i]; tx += d[dOff + i] * (x[xOff + i] - mu); }
            acc[0] += td;
            acc[1] += tx;
        }
    }

    /** y[yo+i] = a·d[dOff+i] + b·(x[xOff+i] − m) + c (y may be d). */
    static void combine(float[] d, int dOff, float[] x, int xOff, float m, float[] y, int yo, int n, float a, float b, float c) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), vc = FloatVector.broadcast(S, c),
                vm = FloatVector.broadcast(S, m);
        for (; i + VL <= n; i += VL)
            FloatVector.fromArray(S, d, dOff + i).fma(va, FloatVector.fromArray(S, x, xOff + i).sub(vm).fma(vb, vc)).intoArray(y, yo + i);
        for (; i < n; i++) y[yo + i] = Math.fma(d[dOff + i], a, Math.fma(x[xOff + i] - m, b, c));
    }

    /** z[zo+i] = c[co+i] ≠ 0 ? a[ao+i] : b[bo+i] (a float condition; NaN counts as true). */
    static void select(float[] c, int co, float[] a, int ao, float[] b, int bo, float[] z, int zo, int n) {
        int i = 0;
        for (; i + VL <= n; i += VL) {
            VectorMask<Float> m = FloatVector.fromArray(S, c, co + i).compare(VectorOperators.NE, 0f);
            FloatVector.fromArray(S, b, bo + i).blend(FloatVector.fromArray(S, a, ao + i), m).intoArray(z, zo + i);
        }
        for (; i < n; i++) z[zo + i] = c[co + i] != 0 ? a[ao + i] : b[bo + i];
    }

    /** z[zo+i] = c[co+i] ≠ 0 ? a[ao+i] : b[bo+i] (an int condition). */
    static void select(int[] c, int co, float[] a, int ao, float[] b, int bo, float[] z, int zo, int n) {
        int i = 0;
        VectorSpecies<Integer> is = IntVector.SPECIES_PREFERRED;
        if (is.length() == VL)
            for (; i + VL <= n; i += VL) {
                VectorMask<Float> m = IntVector.fromArray(is, c, co + i).compare(VectorOperators.NE, 0).cast(S);
                FloatVector.fromArray(S, b, bo + i).blend(FloatVector.fromArray(S, a, ao + i), m).intoArray(z, zo + i);
            }
        for (; i < n; i++) z[zo + i] = c[co + i] != 0 ? a[ao + i] : b[bo + i];
    }

    /** z[zo .. zo+VL) = x[xo + index[i]]: one gathered vector (a strided column of a transpose). */
    static void gather(float[] x, int xo, int[] index, float[] z, int zo) {
        FloatVector.fromArray(S, x, xo, index, 0).intoArray(z, zo);
    }

    private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;
    /** Philox blocks per vector step (one per 64-bit lane). */
    static final int PHILOX_LANES = L.length();
    private static final long M0 = 0xD2511F53L, M1 = 0xCD9E8D57L, W0 = 0x9E3779B9L, W1 = 0xBB67AE85L, LOW = 0xFFFFFFFFL;

    /**
     * Philox 4x32-10 ({@link ddpm.engine.Philox}) for PHILOX_LANES consecutive blocks from
     * {@code counter}: each 32-bit word in a 64-bit lane, so the 32×32 → 64-bit products are plain
     * 64-bit multiplies. words[w·lanes + b] receives word w of block b.
     */
    static void philoxBlocks(long seed, long counter, long[] words) {
        LongVector lane = LongVector.zero(L).addIndex(1).add(counter);
        LongVector c0 = lane.and(LOW), c1 = lane.lanewise(VectorOperators.LSHR, 32), c2 = LongVector.zero(L), c3 = c2;
        long k0 = seed & LOW, k1 = (seed >>> 32) & LOW;
        for (int round = 0; round < 10; round++) {
            if (round > 0) { k0 = (k0 + W0) & LOW; k1 = (k1 + W1) & LOW; }
            LongVector p0 = c0.mul(M0), p1 = c2.mul(M1);
            LongVector n0 = p1.lanewise(VectorOperators.LSHR, 32).lanewise(VectorOperators.XOR, c1).lanewise(VectorOperators.XOR, k0);
            LongVector n2 = p0.lanewise(VectorOperators.LSHR, 32).lanewise(VectorOperators.XOR, c3).lanewise(VectorOperators.XOR, k1);
            c1 = p1.and(LOW);
            c3 = p0.and(LOW);
            c0 = n0;
            c2 = n2;
        }
        int n = PHILOX_LANES;
        c0.intoArray(words, 0);
        c1.intoArray(words, n);
        c2.intoArray(words, 2 * n);
        c3.intoArray(words, 3 * n);
    }
}
