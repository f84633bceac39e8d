package ddpm.diffusion.eval;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * The Fréchet distance between two Gaussians fitted to feature vectors (the statistic of FID):
 * d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2·tr (Σ₁Σ₂)^½. The trace of the square root is computed
 * through symmetric eigendecompositions, tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½ (the two matrices are
 * similar), with eigenvalues below zero (rounding) taken as zero.
 */
public final class FrechetDistance {
    private FrechetDistance() {}

    /** Mean and covariance (divisor n − 1, as numpy.cov) of n feature vectors of dimension d. */
    public record Stats(int n, double[] mean, double[][] cov) {
        public int dim() { return mean.length; }
    }

    /** Statistics of the rows of {@code features} (n × d, row-major). */
    public static Stats stats(double[] features, int n, int d) {
        if (n < 2) throw new IllegalArgumentException("need at least 2 feature vectors for a covariance, got " + n);
        if (features.length != (long) n * d) throw new IllegalArgumentException(features.length + " values for " + n + " × " + d);
        double[] mu = new double[d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mu[j] += features[i * d + j];
        for (int j = 0; j < d; j++) mu[j] /= n;
        double[][] cov = new double[d][d];
        double[] c = new double[d];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) c[j] = features[i * d + j] - mu[j];
            for (int j = 0; j < d; j++) {
                double cj = c[j];
                double[] row = cov[j];
                for (int k = j; k < d; k++) row[k] += cj * c[k];
            }
        }
        for (int j = 0; j < d; j++)
            for (int k = j; k < d; k++) {
                cov[j][k] /= n - 1;
                cov[k][j] = cov[j][k];
            }
        return new Stats(n, mu, cov);
    }

    /** d² between two fitted Gaussians of the same dimension. */
    public static double distance(Stats a, Stats b) {
        if (a.dim() != b.dim()) throw new IllegalArgumentException("feature dimensions differ: " + a.dim() + " vs " + b.dim());
        int d = a.dim();
        double diff = 0, tr = 0;
        for (int j = 0; j < d; j++) {
            double m = a.mean()[j] - b.mean()[j];
            diff += m * m;
            tr += a.cov()[j][j] + b.cov()[j][j];
        }
        RealMatrix sqrtA = sqrtPsd(new Array2DRowRealMatrix(a.cov(), false));
        RealMatrix inner = sqrtA.multiply(new Array2DRowRealMatrix(b.cov(), false)).multiply(sqrtA);
        return diff + tr - 2 * traceSqrtPsd(symmetrize(inner));
    }

    /** The symmetric square root of a symmetric positive semi-definite matrix. */
    static RealMatrix sqrtPsd(RealMatrix m) {
        EigenDecomposition e = new EigenDecomposition(symmetrize(m));
        double[] ev = e.getRealEigenvalues();
        double[][] vt = e.getVT().getData();   // row k: eigenvector k
        int d = ev.length;
        double[][] out = new double[d][d];
        for (int k = 0; k < d; k++) {
            double s = Math.sqrt(Math.max(0, ev[k]));
            if (s == 0) continue;
            double[] vk = vt[k];
            for (int i = 0; i < d; i++) {
                double vik = vk[i] * s;
                double[] row = out[i];
                for (int j = 0; j < d; j++) row[j] += vik * vk[j];
            }
        }
        return new Array2DRowRealMatrix(out, false);
    }

    static double traceSqrtPsd(RealMatrix m) {
        double s = 0;
        for (double ev : new EigenDecomposition(m).getRealEigenvalues()) s += Math.sqrt(Math.max(0, ev));
        return s;
    }

    private static RealMatrix symmetrize(RealMatrix m) {
        int d = m.getRowDimension();
        double[][] out = new double[d][d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) out[i][j] = 0.5 * (m.getEntry(i, j) + m.getEntry(j, i));
        return new Array2DRowRealMatrix(out, false);
    }
}
