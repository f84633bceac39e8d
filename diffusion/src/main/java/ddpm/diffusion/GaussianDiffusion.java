package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;

import java.util.Arrays;

/**
 * The Gaussian diffusion of Ho et al. 2020 over a {@link Schedule}: the forward process q, the
 * reverse process p_θ built from an {@link EpsModel}, and the training losses (L_simple, the
 * variational bound, the hybrid). Timesteps are int32 tensors [B], 0-based (t = 0 is the paper's
 * t = 1); images are [B, C, H, W] (any rank ≥ 1 with the batch first works) scaled to [−1, 1].
 *
 * <p>Per-sample coefficients are gathered from the schedule's device tables; every
 * "a[t]·x + b[t]·y" combination (q_sample, x̂0 from ε̂, the posterior mean, ε from x̂0) is one
 * fused {@link F#qSample} call with the two tables, which is differentiable in x and y. All
 * methods are differentiable in the model's output unless they say otherwise.
 */
public final class GaussianDiffusion {

    /** What the network predicts. */
    public enum MeanType {
        /** ε (Ho et al.'s choice): the model's output is ε̂. */
        EPSILON,
        /** x0: the model's output (through {@link EpsModel#predictEps}) is read as x̂0. */
        START_X
    }

    /** The fixed reverse-process variance. */
    public enum VarianceType {
        /** σ² = β_t; log-variance log(append(β̃_1, β_{1:})) as in the reference (Ho's CIFAR-10 choice). */
        FIXED_LARGE,
        /** σ² = β̃_t; log-variance log β̃ with β̃_0 replaced by β̃_1. */
        FIXED_SMALL
    }

    /** Training objectives. */
    public enum LossType {
        /** L_simple: MSE between the target (ε, or x0 for {@link MeanType#START_X}) and the model output. */
        SIMPLE,
        /** The variational-bound term at the sampled t, in bits/dim (KL for t ≥ 1, decoder NLL at t = 0). */
        KL,
        /** L_simple + λ·(the KL term). */
        HYBRID
    }

    /** A diagonal Gaussian; variance and logVariance are [B, 1, …] (they broadcast against the mean). */
    public record Gaussian(Tensor mean, Tensor variance, Tensor logVariance) {}

    /**
     * p_θ(x_{t−1} | x_t): mean, variance and log-variance (both [B, 1, …]), the model's x̂0 (clipped
     * when asked) and the raw model output (ε̂, or x̂0 for START_X).
     */
    public record PMeanVariance(Tensor mean, Tensor variance, Tensor logVariance, Tensor predX0, Tensor modelOutput) {}

    /** A variational-bound term per sample [B] in bits/dim, with the x̂0 and model output it used. */
    public record VbTerm(Tensor bpd, Tensor predX0, Tensor modelOutput) {}

    /**
     * Training terms: {@code loss} is the scalar to backpropagate (mean over the batch), {@code mse}
     * the per-sample L_simple [B] (null for KL), {@code vb} the per-sample bound term [B] in bits/dim
     * (null for SIMPLE).
     */
    public record TrainingTerms(Tensor loss, Tensor mse, Tensor vb) {}

    private final Schedule schedule;
    private final MeanType meanType;
    private final VarianceType varianceType;

    public GaussianDiffusion(Schedule schedule, MeanType meanType, VarianceType varianceType) {
        this.schedule = schedule;
        this.meanType = meanType;
        this.varianceType = varianceType;
    }

    /** ε-prediction with fixed-large variance (Ho et al.'s CIFAR-10 setting). */
    public GaussianDiffusion(Schedule schedule) { this(schedule, MeanType.EPSILON, VarianceType.FIXED_LARGE); }

    public Schedule schedule() { return schedule; }

    public MeanType meanType() { return meanType; }

    public VarianceType varianceType() { return varianceType; }

    /** Number of diffusion steps T. */
    public int steps() { return schedule.steps(); }

    // ---------------------------------------------------------------- coefficients
    /** The device table of {@code c} matching x's dtype and device. */
    public Tensor table(Coef c, Tensor like) { return schedule.table(c, like.dtype(), like.device()); }

    /** c[t[b]] reshaped to [B, 1, …] so that it broadcasts against {@code like} [B, …]. */
    public Tensor coef(Coef c, Tensor t, Tensor like) {
        int[] s = new int[like.rank()];
        Arrays.fill(s, 1);
        s[0] = t.dim(0);
        return F.gather(table(c, like), t).reshape(s);
    }

    /** a[t]·x + b[t]·y per sample, as one fused op (F.qSample with tables a and b). */
    public Tensor combine(Tensor x, Tensor y, Tensor t, Coef a, Coef b) {
        return F.qSample(x, y, t, table(a, x), table(b, x));
    }

    /** The log-variance coefficient of the configured reverse variance. */
    public Coef logVarianceCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.LOG_VARIANCE_LARGE : Coef.POSTERIOR_LOG_VARIANCE_CLIPPED;
    }

    /** The variance coefficient of the configured reverse variance. */
    public Coef varianceCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.VARIANCE_LARGE : Coef.POSTERIOR_VARIANCE;
    }

    /** The noise scale σ_t the ancestral sampler uses (exp(½·log-variance)). */
    public Coef sigmaCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.SIGMA_LARGE : Coef.SIGMA_SMALL;
    }

    // ---------------------------------------------------------------- forward process
    /** x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε (F.qSample). */
    public Tensor qSample(Tensor x0, Tensor t, Tensor noise) {
        return F.qSample(x0, noise, t, table(Coef.SQRT_ALPHA_BAR, x0), table(Coef.SQRT_ONE_MINUS_ALPHA_BAR, x0));
    }

    /** x_t with fresh noise from {@code rng}. */
    public Tensor qSample(Tensor x0, Tensor t, Rng rng) {
        return qSample(x0, t, Tensor.randn(rng, x0.dtype(), x0.device(), x0.shape()));
    }

    /** q(x_t | x0) = N(√ᾱ_t·x0, (1−ᾱ_t)I). */
    public Gaussian qMeanVariance(Tensor x0, Tensor t) {
        return new Gaussian(x0.mul(coef(Coef.SQRT_ALPHA_BAR, t, x0)), coef(Coef.ONE_MINUS_ALPHA_BAR, t, x0),
                coef(Coef.LOG_ONE_MINUS_ALPHA_BAR, t, x0));
    }

    /** q(x_{t−1} | x_t, x0) = N(coef1·x0 + coef2·x_t, β̃_t); log-variance clipped (β̃_0 → β̃_1). */
    public Gaussian qPosterior(Tensor x0, Tensor xt, Tensor t) {
        Tensor mean = combine(x0, xt, t, Coef.POSTERIOR_MEAN_COEF1, Coef.POSTERIOR_MEAN_COEF2);
        return new Gaussian(mean, coef(Coef.POSTERIOR_VARIANCE, t, xt), coef(Coef.POSTERIOR_LOG_VARIANCE_CLIPPED, t, xt));
    }

    /** x̂0 = x_t/√ᾱ_t − √(1/ᾱ_t − 1)·ε̂. */
    public Tensor predictX0FromEps(Tensor xt, Tensor t, Tensor eps) {
        return combine(xt, eps, t, Coef.SQRT_RECIP_ALPHA_BAR, Coef.NEG_SQRT_RECIPM1_ALPHA_BAR);
    }

    /** ε = (x_t/√ᾱ_t − x̂0)/√(1/ᾱ_t − 1). */
    public Tensor predictEpsFromX0(Tensor xt, Tensor t, Tensor x0) {
        return combine(xt, x0, t, Coef.EPS_FROM_X0_XT, Coef.EPS_FROM_X0_X0);
    }

    // ---------------------------------------------------------------- reverse process
    /**
     * p_θ(x_{t−1} | x_t): calls the model once, forms x̂0 (from ε̂, or directly for START_X),
     * clips it to [−1, 1] when {@code clip}, and returns the posterior mean at that x̂0 with the
     * configured fixed variance.
     */
    public PMeanVariance pMeanVariance(EpsModel model, Tensor xt, Tensor t, Tensor labels, boolean clip) {
        checkT(xt, t);
        Tensor out = model.predictEps(xt, t, labels);
        if (!Arrays.equals(out.shape(), xt.shape()))
            throw new IllegalArgumentException("model output " + out.describe() + " does not match x_t " + xt.describe());
        Tensor x0 = meanType == MeanType.EPSILON ? predictX0FromEps(xt, t, out) : out;
        if (clip) x0 = x0.clamp(-1, 1);
        Tensor mean = combine(x0, xt, t, Coef.POSTERIOR_MEAN_COEF1, Coef.POSTERIOR_MEAN_COEF2);
        return new PMeanVariance(mean, coef(varianceCoef(), t, xt), coef(logVarianceCoef(), t, xt), x0, out);
    }

    /** The model's ε̂ (converted from x̂0 for START_X) — the ε a sampler such as DDIM needs. */
    public Tensor epsFromModelOutput(Tensor xt, Tensor t, Tensor out) {
        return meanType == MeanType.EPSILON ? out : predictEpsFromX0(xt, t, out);
    }

    // ---------------------------------------------------------------- bound terms
    /**
     * The bound term at t per sample, in bits/dim: KL(q(x_{t−1}|x_t,x0) ‖ p_θ(x_{t−1}|x_t)) where
     * t ≥ 1 and the discretized-Gaussian decoder NLL −log p_θ(x0|x_1) where t = 0 (both computed
     * for the whole batch, then selected per sample by a device-side mask).
     */
    public VbTerm vbTermBpd(EpsModel model, Tensor x0, Tensor xt, Tensor t, Tensor labels, boolean clip) {
        Gaussian q = qPosterior(x0, xt, t);
        PMeanVariance p = pMeanVariance(model, xt, t, labels, clip);
        Tensor kl = Losses.meanFlat(Losses.normalKl(q.mean(), q.logVariance(), p.mean(), p.logVariance())).mul(1 / Losses.LN2);
        Tensor nll = Losses.meanFlat(Losses.discretizedGaussianLogLikelihood(x0, p.mean(), p.logVariance().mul(0.5)))
                .mul(-1 / Losses.LN2);
        Tensor first = F.gather(table(Coef.IS_FIRST, x0), t);
        return new VbTerm(Tensor.where(first, nll, kl), p.predX0(), p.modelOutput());
    }

    /** The prior term L_T = KL(q(x_T | x0) ‖ N(0, I)) per sample [B] in bits/dim. */
    public Tensor priorBpd(Tensor x0) {
        int b = x0.dim(0), last = steps() - 1;
        int[] ts = new int[b];
        Arrays.fill(ts, last);
        Tensor t = Tensor.ofInts(ts, x0.device(), b);
        Gaussian q = qMeanVariance(x0, t);
        Tensor zero = x0.scalarLike(0);
        return Losses.meanFlat(Losses.normalKl(q.mean(), q.logVariance(), zero, zero)).mul(1 / Losses.LN2);
    }

    // ---------------------------------------------------------------- training
    /** t uniform over {0, …, T−1} for each of {@code batch} samples, drawn on the host from rng. */
    public Tensor sampleTimesteps(Rng rng, int batch, Device device) {
        int[] t = new int[batch];
        for (int i = 0; i < batch; i++) t[i] = rng.nextInt(steps());
        return Tensor.ofInts(t, device, batch);
    }

    /**
     * Algorithm 1's loss for one batch: t ~ U{0..T−1}, ε ~ N(0, I) from {@code rng},
     * L_simple = mean over all elements of (ε − ε̂(√ᾱ x0 + √(1−ᾱ) ε, t))² (for START_X: of x0 − x̂0).
     * Differentiable in the model's parameters.
     */
    public Tensor lossSimple(EpsModel model, Tensor x0, Tensor labels, Rng rng) {
        return trainingTerms(model, x0, labels, rng, LossType.SIMPLE, 0).loss();
    }

    /** {@link #trainingTerms(EpsModel, Tensor, Tensor, Tensor, Tensor, LossType, double)} with t and ε drawn from rng (t first). */
    public TrainingTerms trainingTerms(EpsModel model, Tensor x0, Tensor labels, Rng rng, LossType type, double lambda) {
        Tensor t = sampleTimesteps(rng, x0.dim(0), x0.device());
        Tensor noise = Tensor.randn(rng, x0.dtype(), x0.device(), x0.shape());
        return trainingTerms(model, x0, t, labels, noise, type, lambda);
    }

    /**
     * The training loss at given t [B] and noise (shape of x0). SIMPLE: mean over all elements of the
     * squared error (= mean of the per-sample mse). KL: mean over the batch of the bound term in
     * bits/dim, x̂0 not clipped (as the reference trains). HYBRID: SIMPLE + λ·KL. With fixed
     * variances the KL's gradient reaches the model through the posterior mean.
     */
    public TrainingTerms trainingTerms(EpsModel model, Tensor x0, Tensor t, Tensor labels, Tensor noise,
                                       LossType type, double lambda) {
        checkT(x0, t);
        Tensor xt = qSample(x0, t, noise);
        if (type == LossType.SIMPLE) {
            Tensor out = model.predictEps(xt, t, labels);
            Tensor target = meanType == MeanType.EPSILON ? noise : x0;
            Tensor mse = Losses.meanFlat(out.sub(target).square());
            return new TrainingTerms(mse.mean(), mse, null);
        }
        VbTerm vb = vbTermBpd(model, x0, xt, t, labels, false);
        if (type == LossType.KL) return new TrainingTerms(vb.bpd().mean(), null, vb.bpd());
        Tensor target = meanType == MeanType.EPSILON ? noise : x0;
        Tensor mse = Losses.meanFlat(vb.modelOutput().sub(target).square());
        return new TrainingTerms(mse.add(vb.bpd().mul(lambda)).mean(), mse, vb.bpd());
    }

    private void checkT(Tensor x, Tensor t) {
        if (t.dtype() != DType.I32 || t.rank() != 1 || t.dim(0) != x.dim(0))
            throw new IllegalArgumentException("timesteps must be int32 [" + x.dim(0) + "], got " + t.describe());
    }

    @Override public String toString() {
        return "GaussianDiffusion(" + schedule + ", " + meanType + ", " + varianceType + ")";
    }
}
