package ddpm.diffusion;

import ddpm.engine.Grad;
import ddpm.engine.Philox;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.Locale;

/**
 * The variational bound on −log p(x0) of every image, in bits/dim, as the reference's
 * {@code calc_bpd_loop} computes it: for each t = T−1 … 0 draw x_t ~ q(x_t | x0) and take the
 * bound term (KL(q(x_{t−1}|x_t,x0) ‖ p_θ(x_{t−1}|x_t)) for t ≥ 1, the discretized decoder NLL
 * −log p_θ(x0|x_1) at t = 0), add the prior term KL(q(x_T|x0) ‖ N(0, I)); also record per t the
 * MSE of x̂0 against x0 and of ε (derived from the possibly clipped x̂0, as the reference does)
 * against the true noise.
 *
 * <p>Reproducible and batch-size independent: the noise for image number i (counting from the
 * {@code firstIndex} of its batch) at step t is the Philox stream (seed, counter
 * (t·2²⁴ + i)·⌈D/4⌉), so an image gets the same noise, and the same terms, whatever batch it is
 * evaluated in (for D = C·H·W divisible by 4 a whole batch is one draw).
 */
public final class LikelihoodEvaluator {

    /** Progress: {@code done} of {@code total} (batch, step) evaluations finished. */
    @FunctionalInterface
    public interface Progress {
        void onStep(long done, long total);
    }

    /** Images per noise stream block: at most this many images can be evaluated with one seed. */
    public static final long MAX_IMAGES = 1L << 24;

    /**
     * Per-image results of one batch: totals, the prior term, and per (image, t) the bound term
     * {@code vb[b][t]} (vb[b][0] is the decoder NLL), the x̂0 MSE and the ε MSE. bits/dim throughout.
     */
    public record BatchResult(double[] totalBpd, double[] priorBpd, double[][] vb, double[][] x0Mse, double[][] epsMse) {
        public int size() { return totalBpd.length; }

        /** −log p(x0|x1) of image b in bits/dim. */
        public double decoderNll(int b) { return vb[b][0]; }
    }

    /** Averages over all images evaluated so far (bits/dim), with per-t breakdowns (index t, 0-based). */
    public record Result(int images, double bpd, double priorBpd, double decoderNll, double klBpd,
                         double[] vbPerT, double[] x0MsePerT, double[] epsMsePerT, double[] perImageBpd) {
        /** Standard error of the mean bpd over images. */
        public double bpdStdError() {
            if (images < 2) return Double.NaN;
            double s = 0;
            for (double v : perImageBpd) s += (v - bpd) * (v - bpd);
            return Math.sqrt(s / (images - 1) / images);
        }

        public String summary() {
            return String.format(Locale.ROOT,
                    "%d images: %.4f bits/dim (± %.4f) = prior %.6f + sum of KL terms t>=1 %.4f + decoder NLL %.4f",
                    images, bpd, bpdStdError(), priorBpd, klBpd, decoderNll);
        }
    }

    /** Sums {@link BatchResult}s into a {@link Result}. */
    public static final class Accumulator {
        private final int T;
        private int n;
        private double total, prior;
        private final double[] vb, x0, eps;
        private double[] perImage = new double[0];

        public Accumulator(int T) {
            this.T = T;
            vb = new double[T];
            x0 = new double[T];
            eps = new double[T];
        }

        public void add(BatchResult r) {
            int old = n;
            perImage = Arrays.copyOf(perImage, n + r.size());
            for (int b = 0; b < r.size(); b++) {
                total += r.totalBpd()[b];
                prior += r.priorBpd()[b];
                perImage[old + b] = r.totalBpd()[b];
                for (int t = 0; t < T; t++) {
                    vb[t] += r.vb()[b][t];
                    x0[t] += r.x0Mse()[b][t];
                    eps[t] += r.epsMse()[b][t];
                }
            }
            n += r.size();
        }

        public Result result() {
            double k = n == 0 ? Double.NaN : 1.0 / n;
            double[] v = new double[T], a = new double[T], e = new double[T];
            double kl = 0;
            for (int t = 0; t < T; t++) {
                v[t] = vb[t] * k;
                a[t] = x0[t] * k;
                e[t] = eps[t] * k;
                if (t > 0) kl += v[t];
            }
            return new Result(n, total * k, prior * k, v[0], kl, v, a, e, perImage.clone());
        }
    }

    private final GaussianDiffusion diffusion;
    private final long seed;
    private final boolean clipDenoised;

    /** @param clipDenoised clip x̂0 to [−1, 1] in p_θ (the reference evaluates with true) */
    public LikelihoodEvaluator(GaussianDiffusion diffusion, long seed, boolean clipDenoised) {
        this.diffusion = diffusion;
        this.seed = seed;
        this.clipDenoised = clipDenoised;
    }

    /** Clipping x̂0, as the reference evaluates. */
    public LikelihoodEvaluator(GaussianDiffusion diffusion, long seed) { this(diffusion, seed, true); }

    public GaussianDiffusion diffusion() { return diffusion; }

    /**
     * Evaluates a whole data set {@code images} [N, C, H, W] in [−1, 1] (8-bit grid) with labels
     * int32 [N] or null, {@code batchSize} images per model call; progress (may be null) counts
     * ⌈N/batchSize⌉·T steps.
     */
    public Result evaluate(EpsModel model, Tensor images, Tensor labels, int batchSize, Progress progress) {
        int n = images.dim(0), T = diffusion.steps();
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        long batches = (n + batchSize - 1) / batchSize, total = batches * T;
        Accumulator acc = new Accumulator(T);
        for (int start = 0, k = 0; start < n; start += batchSize, k++) {
            int end = Math.min(n, start + batchSize);
            long base = (long) k * T;
            try (Scope s = Scope.open()) {
                Tensor x = images.slice(0, start, end);
                Tensor y = labels == null ? null : labels.slice(0, start, end);
                acc.add(evaluateBatch(model, x, y, start,
                        progress == null ? null : (d, tot) -> progress.onStep(base + d, total)));
            }
        }
        return acc.result();
    }

    /**
     * The bound of each image of one batch x0 [B, …] (labels int32 [B] or null); {@code firstIndex}
     * is the data-set index of image 0 (it picks the noise); progress counts T steps.
     */
    public BatchResult evaluateBatch(EpsModel model, Tensor x0, Tensor labels, long firstIndex, Progress progress) {
        int T = diffusion.steps(), B = x0.dim(0);
        if (firstIndex < 0 || firstIndex + B > MAX_IMAGES)
            throw new IllegalArgumentException("image indices [" + firstIndex + ", " + (firstIndex + B) + ") exceed " + MAX_IMAGES);
        double[][] vb = new double[B][T], x0Mse = new double[B][T], epsMse = new double[B][T];
        double[] prior, totals = new double[B];
        try (Grad.Guard ignored = Grad.noGrad()) {
            for (int t = T - 1; t >= 0; t--) {
                try (Scope s = Scope.open()) {
                    int[] ts = new int[B];
                    Arrays.fill(ts, t);
                    Tensor tt = Tensor.ofInts(ts, x0.device(), B);
                    Tensor noise = noise(x0, t, firstIndex);
                    Tensor xt = diffusion.qSample(x0, tt, noise);
                    GaussianDiffusion.VbTerm term = diffusion.vbTermBpd(model, x0, xt, tt, labels, clipDenoised);
                    Tensor a = Losses.meanFlat(term.predX0().sub(x0).square());
                    Tensor eps = diffusion.predictEpsFromX0(xt, tt, term.predX0());
                    Tensor e = Losses.meanFlat(eps.sub(noise).square());
                    double[] v = term.bpd().toDoubles(), av = a.toDoubles(), ev = e.toDoubles();
                    for (int b = 0; b < B; b++) {
                        vb[b][t] = v[b];
                        x0Mse[b][t] = av[b];
                        epsMse[b][t] = ev[b];
                    }
                }
                if (progress != null) progress.onStep(T - t, T);
            }
            try (Scope s = Scope.open()) {
                prior = diffusion.priorBpd(x0).toDoubles();
            }
        }
        for (int b = 0; b < B; b++) {
            double sum = prior[b];
            for (int t = 0; t < T; t++) sum += vb[b][t];
            totals[b] = sum;
        }
        return new BatchResult(totals, prior, vb, x0Mse, epsMse);
    }

    /** The noise of images firstIndex… at step t (see the class comment). */
    Tensor noise(Tensor x0, int t, long firstIndex) {
        int B = x0.dim(0);
        long d = x0.numel() / B, per = Philox.countersFor(d);
        int[] one = x0.shape();
        if (d % 4 == 0) return Tensor.randn(new Rng(seed, (t * MAX_IMAGES + firstIndex) * per), x0.dtype(), x0.device(), one);
        one[0] = 1;
        Tensor[] parts = new Tensor[B];
        for (int b = 0; b < B; b++)
            parts[b] = Tensor.randn(new Rng(seed, (t * MAX_IMAGES + firstIndex + b) * per), x0.dtype(), x0.device(), one);
        return B == 1 ? parts[0] : Tensor.concat(0, parts);
    }
}
