package ddpm.diffusion;

import ddpm.engine.Tensor;

/**
 * Spherical interpolation between two latents x_T (DDIM's interpolation experiment): Gaussian
 * latents concentrate on a sphere, and slerp stays on it where a straight line would pass through
 * low-norm (atypical) points.
 */
public final class Interpolation {
    private Interpolation() {}

    /**
     * slerp(a, b; α) = sin((1−α)θ)/sin θ·a + sin(αθ)/sin θ·b with θ the angle between a and b
     * (linear interpolation when they are parallel to rounding).
     */
    public static Tensor slerp(Tensor a, Tensor b, double alpha) {
        double[] w = weights(a.toDoubles(), b.toDoubles(), alpha);
        return a.mul(w[0]).add(b.mul(w[1]));
    }

    /** The two slerp weights of a and b for fraction alpha. */
    static double[] weights(double[] a, double[] b, double alpha) {
        if (a.length != b.length) throw new IllegalArgumentException("slerp: " + a.length + " vs " + b.length + " elements");
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        if (na == 0 || nb == 0) throw new IllegalArgumentException("slerp: a latent is all zeros");
        double theta = Math.acos(Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb))));
        if (Math.sin(theta) < 1e-9) return new double[]{1 - alpha, alpha};
        return new double[]{Math.sin((1 - alpha) * theta) / Math.sin(theta), Math.sin(alpha * theta) / Math.sin(theta)};
    }

    /**
     * {@code frames} latents from a to b (both [1, …]) with α = k/(frames−1), stacked along the batch
     * axis: [frames, …]; the first is a, the last b.
     */
    public static Tensor frames(Tensor a, Tensor b, int frames) {
        if (frames < 2) throw new IllegalArgumentException("interpolation needs at least 2 frames, got " + frames);
        if (a.dim(0) != 1 || b.dim(0) != 1 || !java.util.Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException("interpolate two single latents of one shape, got " + a.describe() + " and " + b.describe());
        Tensor[] f = new Tensor[frames];
        for (int k = 0; k < frames; k++) f[k] = slerp(a, b, k / (double) (frames - 1));
        return Tensor.concat(0, f);
    }
}
