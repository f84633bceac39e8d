package ddpm.diffusion.eval;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The Fréchet distance against its closed forms. */
class FrechetDistanceTest {
    static FrechetDistance.Stats gaussian(double[] mean, double[][] cov) { return new FrechetDistance.Stats(100, mean, cov); }

    static double[][] diag(double... v) {
        double[][] m = new double[v.length][v.length];
        for (int i = 0; i < v.length; i++) m[i][i] = v[i];
        return m;
    }

    @Test void diagonalCovariancesGiveTheSumOfPerAxisDistances() {
        // commuting covariances: d² = ‖μ₁ − μ₂‖² + Σ (√a_i − √b_i)²
        double[] a = {1, 4, 0.25, 9}, b = {2, 1, 0.25, 16};
        double[] m1 = {0, 1, 2, 3}, m2 = {1, 1, 0, 3};
        double want = 1 + 0 + 4 + 0;
        for (int i = 0; i < 4; i++) want += Math.pow(Math.sqrt(a[i]) - Math.sqrt(b[i]), 2);
        assertEquals(want, FrechetDistance.distance(gaussian(m1, diag(a)), gaussian(m2, diag(b))), 1e-12);
        assertEquals(0, FrechetDistance.distance(gaussian(m1, diag(a)), gaussian(m1, diag(a))), 1e-12);
    }

    @Test void rotatingBothGaussiansTogetherChangesNothingAndTheDistanceIsSymmetric() {
        // non-commuting case: Σ₁ = diag(4, 1), Σ₂ = R diag(4, 1) Rᵀ (rotation by 90°: diag(1, 4));
        // (Σ₁^½ Σ₂ Σ₁^½) = diag(4, 4) → tr sqrt = 4; d² = 5 + 5 − 8 = 2
        assertEquals(2, FrechetDistance.distance(gaussian(new double[2], diag(4, 1)), gaussian(new double[2], diag(1, 4))), 1e-12);
        Random r = new Random(5);
        int d = 6;
        double[][] s1 = randomSpd(r, d), s2 = randomSpd(r, d), q = randomRotation(r, d);
        double[] m1 = new double[d], m2 = new double[d];
        for (int i = 0; i < d; i++) { m1[i] = r.nextGaussian(); m2[i] = r.nextGaussian(); }
        double base = FrechetDistance.distance(gaussian(m1, s1), gaussian(m2, s2));
        assertEquals(base, FrechetDistance.distance(gaussian(m2, s2), gaussian(m1, s1)), 1e-9);
        double rotated = FrechetDistance.distance(gaussian(mul(q, m1), mul(mul(q, s1), transpose(q))),
                gaussian(mul(q, m2), mul(mul(q, s2), transpose(q))));
        assertEquals(base, rotated, 1e-9);
        assertTrue(base > 0);
    }

    @Test void statsAreTheSampleMeanAndCovariance() {
        double[] f = {1, 2, 3, 6, 5, 10};   // 3 rows of dimension 2
        FrechetDistance.Stats s = FrechetDistance.stats(f, 3, 2);
        assertArrayEquals(new double[]{3, 6}, s.mean(), 1e-15);
        assertArrayEquals(new double[]{4, 8}, s.cov()[0], 1e-15);   // numpy.cov(rowvar=False): divisor n − 1
        assertArrayEquals(new double[]{8, 16}, s.cov()[1], 1e-15);
        // a sample of N(0, I) against N(0, I): small, falling with n
        Random r = new Random(1);
        int d = 4;
        double prev = Double.POSITIVE_INFINITY;
        for (int n : new int[]{100, 10_000}) {
            double[] x = new double[n * d];
            for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
            double fd = FrechetDistance.distance(FrechetDistance.stats(x, n, d), gaussian(new double[d], diag(1, 1, 1, 1)));
            assertTrue(fd < prev && fd < 20.0 * d / n, "n = " + n + ": " + fd);
            prev = fd;
        }
    }

    static double[][] randomSpd(Random r, int d) {
        double[][] a = new double[d][d];
        for (double[] row : a) for (int j = 0; j < d; j++) row[j] = r.nextGaussian();
        double[][] s = mul(a, transpose(a));
        for (int i = 0; i < d; i++) s[i][i] += 0.1;
        return s;
    }

    static double[][] randomRotation(Random r, int d) {   // Gram–Schmidt of a random matrix
        double[][] q = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) q[i][j] = r.nextGaussian();
            for (int k = 0; k < i; k++) {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += q[i][j] * q[k][j];
                for (int j = 0; j < d; j++) q[i][j] -= dot * q[k][j];
            }
            double n = 0;
            for (int j = 0; j < d; j++) n += q[i][j] * q[i][j];
            for (int j = 0; j < d; j++) q[i][j] /= Math.sqrt(n);
        }
        return q;
    }

    static double[][] transpose(double[][] a) {
        double[][] t = new double[a[0].length][a.length];
        for (int i = 0; i < a.length; i++) for (int j = 0; j < a[0].length; j++) t[j][i] = a[i][j];
        return t;
    }

    static double[][] mul(double[][] a, double[][] b) {
        double[][] c = new double[a.length][b[0].length];
        for (int i = 0; i < a.length; i++) for (int k = 0; k < b.length; k++) for (int j = 0; j < b[0].length; j++) c[i][j] += a[i][k] * b[k][j];
        return c;
    }

    static double[] mul(double[][] a, double[] v) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) for (int j = 0; j < v.length; j++) c[i] += a[i][j] * v[j];
        return c;
    }
}
