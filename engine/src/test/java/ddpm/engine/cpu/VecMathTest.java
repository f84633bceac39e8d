package ddpm.engine.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vectorised inner loops ({@link VecMath}) against their scalar fallbacks ({@link
 * FastMath.Scalar}, what runs without the Vector API), at lengths with ragged tails, across
 * block boundaries and at unequal offsets. Elementwise results agree to a few ulp (the vector
 * exp is ~2 ulp, FMAs round once), sums to float rounding of the block partials, selects exactly.
 */
class VecMathTest {
    private final Random r = new Random(12);

    private float[] randoms(int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    /** |got − want| ≤ rtol·|want| + 1e-7 (silu' crosses zero: there only the absolute error is small). */
    private static void near(String what, float[] want, float[] got, double rtol) {
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(want[i] - got[i]), lim = rtol * Math.abs(want[i]) + 1e-7;
            assertTrue(err <= lim, what + " element " + i + ": " + got[i] + " vs scalar " + want[i]);
        }
    }

    @Test void elementwiseLoopsMatchTheScalarOnes() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Sgemm.VECTOR, "the Vector API is not present: only the scalar loops run");
        for (int n : new int[]{1, 15, 16, 17, 1000, 2049}) {
            float[] x = randoms(n + 3, 4), g = randoms(n + 5, 1), d = randoms(n + 2, 1);
            float[] a = new float[n + 7], b = new float[n + 7];
            VecMath.siluAffine(x, 3, a, 7, n, 0.7f, -0.2f);
            FastMath.Scalar.siluAffine(x, 3, b, 7, n, 0.7f, -0.2f);
            near("siluAffine n=" + n, b, a, 3e-6);
            VecMath.siluBackwardAffine(x, 3, g, 5, a, 7, n, 0.7f, -0.2f);
            FastMath.Scalar.siluBackwardAffine(x, 3, g, 5, b, 7, n, 0.7f, -0.2f);
            near("siluBackwardAffine n=" + n, b, a, 3e-6);
            VecMath.combine(d, 2, x, 3, 0.5f, a, 7, n, 1.5f, -0.25f, 0.125f);
            FastMath.Scalar.combine(d, 2, x, 3, 0.5f, b, 7, n, 1.5f, -0.25f, 0.125f);
            near("combine n=" + n, b, a, 1e-6);
            float[] e1 = x.clone(), e2 = x.clone();
            double s1 = VecMath.expShiftSum(e1, 3, n, 5f), s2 = FastMath.Scalar.expShiftSum(e2, 3, e2, 3, n, 5f);
            near("expShiftSum n=" + n, e2, e1, 3e-6);
            assertEquals(s2, s1, 3e-6 * s2, "expShiftSum's sum n=" + n);
            assertEquals(FastMath.Scalar.max(x, 3, n), VecMath.max(x, 3, n), "max n=" + n);
        }
    }

    @Test void sumsMatchTheScalarOnes() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Sgemm.VECTOR, "the Vector API is not present: only the scalar loops run");
        for (int n : new int[]{1, 31, 33, 1024, 1025, 5000}) {
            float[] x = randoms(n + 3, 2), d = randoms(n + 1, 1);
            for (int i = 0; i < x.length; i++) x[i] += 50;   // a large mean: the centred sums must not cancel
            double tol = 1e-6 * n;
            assertEquals(FastMath.Scalar.sum(x, 3, n), VecMath.sum(x, 3, n), tol * 50, "sum n=" + n);
            assertEquals(FastMath.Scalar.sumSqDev(x, 3, n, 50f), VecMath.sumSqDev(x, 3, n, 50f), tol * 4, "sumSqDev n=" + n);
            double[] a1 = new double[2], a2 = new double[2];
            VecMath.sumAndCentredDot(d, 1, x, 3, n, 50f, a1);
            FastMath.Scalar.sumAndCentredDot(d, 1, x, 3, n, 50f, a2);
            assertArrayEquals(a2, a1, tol * 2, "sumAndCentredDot n=" + n);
        }
    }

    @Test void selectsAreExact() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Sgemm.VECTOR, "the Vector API is not present: only the scalar loops run");
        int n = 67;
        float[] cf = new float[n + 1], a = randoms(n + 2, 1), b = randoms(n + 3, 1);
        int[] ci = new int[n + 1];
        for (int i = 0; i < cf.length; i++) { int k = r.nextInt(4); cf[i] = k == 0 ? 0 : k == 1 ? Float.NaN : k == 2 ? -0f : 2; ci[i] = k == 0 ? 0 : k; }
        float[] z1 = new float[n + 4], z2 = new float[n + 4];
        VecMath.select(cf, 1, a, 2, b, 3, z1, 4, n);
        FastMath.Scalar.select(cf, null, 1, a, 2, b, 3, z2, 4, n);
        assertArrayEquals(z2, z1, "select, float condition (0, −0, NaN, 2)");
        VecMath.select(ci, 1, a, 2, b, 3, z1, 4, n);
        FastMath.Scalar.select(null, ci, 1, a, 2, b, 3, z2, 4, n);
        assertArrayEquals(z2, z1, "select, int condition");
    }
}
