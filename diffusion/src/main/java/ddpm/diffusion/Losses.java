package ddpm.diffusion;

import ddpm.engine.Tensor;

/**
 * Differentiable building blocks of the variational bound, written in Tensor ops (so they
 * backpropagate and run on any device). All results are elementwise in nats unless a method says
 * otherwise; {@link #meanFlat} then averages over every axis but the batch, and dividing by
 * {@link #LN2} gives bits.
 */
public final class Losses {
    private Losses() {}

    /** ln 2, to turn nats into bits. */
    public static final double LN2 = Math.log(2.0);

    /** Half the width of one 8-bit bin of data scaled to [−1, 1]: 1/255. */
    public static final double HALF_BIN = 1.0 / 255.0;

    /**
     * KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) elementwise, in nats:
     * ½(−1 + logvar2 − logvar1 + e^(logvar1−logvar2) + (mean1 − mean2)²·e^(−logvar2)).
     * Arguments broadcast (variances are typically [B, 1, 1, 1]).
     */
    public static Tensor normalKl(Tensor mean1, Tensor logvar1, Tensor mean2, Tensor logvar2) {
        Tensor dlv = logvar2.sub(logvar1);                      // logvar2 − logvar1
        Tensor ratio = dlv.neg().exp();                         // e^(logvar1 − logvar2)
        Tensor sq = mean1.sub(mean2).square().mul(logvar2.neg().exp());
        return sq.add(dlv.add(ratio)).affine(0.5, -0.5);
    }

    /** The reference's approximate standard normal CDF: ½(1 + tanh(√(2/π)(x + 0.044715x³))). */
    public static Tensor approxStandardNormalCdf(Tensor x) {
        Tensor inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2.0 / Math.PI));
        return inner.tanh().affine(0.5, 0.5);
    }

    /** The same approximation on a double (for tests and host-side checks). */
    public static double approxStandardNormalCdf(double x) {
        return 0.5 * (1.0 + Math.tanh(Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /**
     * log p(x) elementwise under a Gaussian N(means, e^(2·logScales)) discretized to 8-bit bins
     * (paper eq. 13): x is data in [−1, 1] on the grid 2k/255 − 1, bins have width 2/255, and the
     * outermost bins extend to ±∞ (x &lt; −0.999 uses log CDF(upper edge), x &gt; 0.999 uses
     * log(1 − CDF(lower edge))). Every log is of max(·, 1e−12), as in the reference.
     */
    public static Tensor discretizedGaussianLogLikelihood(Tensor x, Tensor means, Tensor logScales) {
        Tensor centered = x.sub(means);
        Tensor invStd = logScales.neg().exp();
        Tensor cdfPlus = approxStandardNormalCdf(centered.add(HALF_BIN).mul(invStd));
        Tensor cdfMin = approxStandardNormalCdf(centered.sub(HALF_BIN).mul(invStd));
        Tensor tiny = cdfPlus.scalarLike(1e-12);
        Tensor logCdfPlus = cdfPlus.maximum(tiny).log();
        Tensor logOneMinusCdfMin = cdfMin.affine(-1, 1).maximum(tiny).log();
        Tensor logCdfDelta = cdfPlus.sub(cdfMin).maximum(tiny).log();
        Tensor upper = Tensor.where(x.gt(0.999), logOneMinusCdfMin, logCdfDelta);
        return Tensor.where(x.lt(-0.999), logCdfPlus, upper);
    }

    /** Mean over every axis but the first: [B, ...] → [B]. */
    public static Tensor meanFlat(Tensor x) {
        if (x.rank() <= 1) return x;
        int[] axes = new int[x.rank() - 1];
        for (int i = 0; i < axes.length; i++) axes[i] = i + 1;
        return x.mean(axes);
    }
}
