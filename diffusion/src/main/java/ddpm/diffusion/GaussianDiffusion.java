package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The Gaussian diffusion of Ho et al. 2020 over a {@link Schedule}: the forward process q, the
 * reverse process p_θ built from an {@link EpsModel}, and the training losses (L_simple, the
 * variational bound, the hybrid). Timesteps are int32 tensors [B], 0-based (t = 0 is the paper's
 * t = 1); images are [B, C, H, W] (any rank ≥ 1 with the batch first works) scaled to [−1, 1].
 *
 * <p>The network predicts ε, x0 or v = √ᾱ·ε − √(1−ᾱ)·x0 ({@link MeanType}); with the learned-range
 * variance (Nichol &amp; Dhariwal 2021) it has 2·C output channels, the second C being v_σ that
 * interpolates log β_t and log β̃_t. A respaced diffusion ({@link #respaced}) runs over a
 * subsequence of the timesteps with recomputed betas and calls the model at the original ones.
 *
 * <p>Per-sample coefficients are gathered from the schedule's device tables; every
 * "a[t]·x + b[t]·y" combination (q_sample, x̂0 from ε̂, the posterior mean, ε from x̂0) is one
 * fused {@link F#qSample} call with the two tables, which is differentiable in x and y. All
 * methods are differentiable in the model's output unless they say otherwise.
 */
public final class GaussianDiffusion {

    /** What the network predicts (its first C output channels). */
    public enum MeanType {
        /** ε (Ho et al.'s choice): the model's output is ε̂. */
        EPSILON("eps"),
        /** x0: the model's output (through {@link EpsModel#predictEps}) is read as x̂0. */
        START_X("x0"),
        /** v = √ᾱ_t·ε − √(1−ᾱ_t)·x0 (Salimans &amp; Ho 2022): x̂0 = √ᾱ·x_t − √(1−ᾱ)·v, ε̂ = √(1−ᾱ)·x_t + √ᾱ·v. */
        V("v");

        /** The command-line name: eps, x0 or v. */
        public final String cliName;

        MeanType(String cliName) { this.cliName = cliName; }

        /** eps | x0 | v. */
        public static MeanType named(String name) {
            for (MeanType m : values()) if (m.cliName.equalsIgnoreCase(name.trim())) return m;
            throw new IllegalArgumentException("unknown parameterisation '" + name + "': expected eps, x0 or v");
        }
    }

    /** The reverse-process variance. */
    public enum VarianceType {
        /** σ² = β_t; log-variance log(append(β̃_1, β_{1:})) as in the reference (Ho's CIFAR-10 choice). */
        FIXED_LARGE("fixed-large"),
        /** σ² = β̃_t; log-variance log β̃ with β̃_0 replaced by β̃_1. */
        FIXED_SMALL("fixed-small"),
        /**
         * Learned (Nichol &amp; Dhariwal 2021): the model outputs v_σ per element and
         * log σ² = ((v_σ+1)/2)·log β_t + (1 − (v_σ+1)/2)·log β̃_t (β̃_0 replaced by β̃_1).
         */
        LEARNED_RANGE("learned-range");

        /** The command-line name. */
        public final String cliName;

        VarianceType(String cliName) { this.cliName = cliName; }

        /** fixed-large | fixed-small | learned-range. */
        public static VarianceType named(String name) {
            for (VarianceType v : values()) if (v.cliName.equalsIgnoreCase(name.trim())) return v;
            throw new IllegalArgumentException("unknown variance '" + name + "': expected fixed-large, fixed-small or learned-range");
        }

        /** Whether the model outputs the variance (2·C channels). */
        public boolean learned() { return this == LEARNED_RANGE; }
    }

    /** Training objectives. */
    public enum LossType {
        /** L_simple: MSE between the target (ε, or x0 for {@link MeanType#START_X}) and the model output. */
        SIMPLE,
        /** The variational-bound term at the sampled t, in bits/dim (KL for t ≥ 1, decoder NLL at t = 0). */
        KL,
        /**
         * L_hybrid = L_simple + λ·L_vlb with L_vlb = Σ_t L_t estimated as T·L_t at the sampled t
         * (Nichol &amp; Dhariwal; λ = 0.001 makes the weight of L_t 1 at T = 1000). With the learned
         * variance the bound term sees the mean output through a stop-gradient, so it trains only
         * the variance.
         */
        HYBRID
    }

    /** A diagonal Gaussian; variance and logVariance are [B, 1, …] (they broadcast against the mean). */
    public record Gaussian(Tensor mean, Tensor variance, Tensor logVariance) {}

    /**
     * p_θ(x_{t−1} | x_t): mean, variance and log-variance ([B, 1, …] when fixed, the shape of x_t when
     * learned), the model's x̂0 (clipped when asked) and its mean output (ε̂, x̂0 or v̂: the first C
     * channels).
     */
    public record PMeanVariance(Tensor mean, Tensor variance, Tensor logVariance, Tensor predX0, Tensor modelOutput) {}

    /** A model output split into its mean part (ε̂, x̂0 or v̂) and, for the learned variance, v_σ (else null). */
    public record Output(Tensor mean, Tensor varValues) {}

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
    /** The model's timestep of each of this schedule's steps (respaced), or null for the identity. */
    private final int[] timestepMap;

    public GaussianDiffusion(Schedule schedule, MeanType meanType, VarianceType varianceType) {
        this(schedule, meanType, varianceType, null);
    }

    private GaussianDiffusion(Schedule schedule, MeanType meanType, VarianceType varianceType, int[] timestepMap) {
        this.schedule = schedule;
        this.meanType = meanType;
        this.varianceType = varianceType;
        this.timestepMap = timestepMap;
    }

    /**
     * The diffusion over the subsequence {@code timesteps} of this one's steps (improved DDPM's
     * respacing): its schedule has the recomputed betas ({@link Schedule#respaced}), its step i
     * calls the model at the original timestep {@code timesteps[i]}.
     */
    public GaussianDiffusion respaced(int[] timesteps) {
        if (timestepMap != null) throw new IllegalStateException("respace the original diffusion, not a respaced one");
        return new GaussianDiffusion(schedule.respaced(timesteps), meanType, varianceType, timesteps.clone());
    }

    /** The model timestep of step t (the identity unless respaced). */
    public int modelTimestep(int t) { return timestepMap == null ? t : timestepMap[t]; }

    /**
     * Calls the model at the original timesteps of steps t (int32 [B]), mapped where t is (a gather
     * from a cached table: no read of t, so a recorded sampling step can do it too).
     */
    public Tensor modelOutput(EpsModel model, Tensor x, Tensor t, Tensor labels) {
        if (timestepMap == null) return model.predictEps(x, t, labels);
        Tensor original = F.gather(timestepTable(t.device()), t).reshape(t.dim(0)).to(DType.I32);
        return model.predictEps(x, original, labels);
    }

    private final Map<Device, Tensor> timestepTables = new HashMap<>();

    /** Frees the device tables this process made (the schedule's and the timestep map's); they are remade on next use. */
    public void releaseTables() {
        schedule.releaseTables();
        synchronized (timestepTables) {
            for (Tensor t : timestepTables.values()) if (!t.isReleased()) t.release();
            timestepTables.clear();
        }
    }

    /** The original timesteps as a float column [steps, 1] on {@code device} (exact: T < 2^24), made once per device. */
    private Tensor timestepTable(Device device) {
        synchronized (timestepTables) {
            Tensor table = timestepTables.get(device);
            if (table == null || table.isReleased()) {
                double[] v = new double[timestepMap.length];
                for (int i = 0; i < v.length; i++) v[i] = timestepMap[i];
                table = Tensor.ofDoubles(DType.F32, device, v, v.length, 1);
                Scope.disown(table);
                timestepTables.put(device, table);
            }
            return table;
        }
    }

    /**
     * Splits a model output: [B, C, …] (fixed variance) or [B, 2C, …] (learned: the second half is
     * v_σ); throws naming the shapes when it does not fit x.
     */
    public Output split(Tensor out, Tensor x) {
        int[] want = x.shape();
        if (varianceType.learned()) want[1] *= 2;
        if (!Arrays.equals(out.shape(), want))
            throw new IllegalArgumentException("model output " + out.describe() + " does not match x_t " + x.describe()
                    + (varianceType.learned() ? " (the learned variance needs 2×" + x.dim(1) + " output channels)" : ""));
        if (!varianceType.learned()) return new Output(out, null);
        int c = x.dim(1);
        return new Output(out.slice(1, 0, c), out.slice(1, c, 2 * c));
    }

    /** Output channels the model needs for images of {@code channels} channels. */
    public int outChannels(int channels) { return varianceType.learned() ? 2 * channels : channels; }

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

    /** The log-variance coefficient of the configured fixed reverse variance. */
    public Coef logVarianceCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.LOG_VARIANCE_LARGE : Coef.POSTERIOR_LOG_VARIANCE_CLIPPED;
    }

    /** The variance coefficient of the configured fixed reverse variance. */
    public Coef varianceCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.VARIANCE_LARGE : Coef.POSTERIOR_VARIANCE;
    }

    /** The noise scale σ_t the ancestral sampler uses with a fixed variance (exp(½·log-variance)). */
    public Coef sigmaCoef() {
        return varianceType == VarianceType.FIXED_LARGE ? Coef.SIGMA_LARGE : Coef.SIGMA_SMALL;
    }

    /**
     * The learned-range log-variance of v_σ at steps t: frac·log β_t + (1 − frac)·log β̃_t with
     * frac = (v_σ + 1)/2 and log β̃_0 replaced by log β̃_1 (improved DDPM). Differentiable in v_σ.
     */
    public Tensor learnedLogVariance(Tensor varValues, Tensor t) {
        Tensor minLog = coef(Coef.POSTERIOR_LOG_VARIANCE_CLIPPED, t, varValues), maxLog = coef(Coef.LOG_BETA, t, varValues);
        return varValues.affine(0.5, 0.5).mul(maxLog.sub(minLog)).add(minLog);
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

    /** x̂0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂. */
    public Tensor predictX0FromV(Tensor xt, Tensor t, Tensor v) {
        return combine(xt, v, t, Coef.SQRT_ALPHA_BAR, Coef.NEG_SQRT_ONE_MINUS_ALPHA_BAR);
    }

    /** ε̂ = √(1−ᾱ_t)·x_t + √ᾱ_t·v̂. */
    public Tensor predictEpsFromV(Tensor xt, Tensor t, Tensor v) {
        return combine(xt, v, t, Coef.SQRT_ONE_MINUS_ALPHA_BAR, Coef.SQRT_ALPHA_BAR);
    }

    /** v = √ᾱ_t·ε − √(1−ᾱ_t)·x0. */
    public Tensor velocity(Tensor x0, Tensor t, Tensor eps) {
        return combine(eps, x0, t, Coef.SQRT_ALPHA_BAR, Coef.NEG_SQRT_ONE_MINUS_ALPHA_BAR);
    }

    /** x̂0 from the model's mean output (ε̂, x̂0 or v̂). */
    public Tensor predictX0(Tensor xt, Tensor t, Tensor out) {
        return switch (meanType) {
            case EPSILON -> predictX0FromEps(xt, t, out);
            case START_X -> out;
            case V -> predictX0FromV(xt, t, out);
        };
    }

    /** What the model's mean output is trained towards: ε, x0 or v. */
    public Tensor target(Tensor x0, Tensor t, Tensor noise) {
        return switch (meanType) {
            case EPSILON -> noise;
            case START_X -> x0;
            case V -> velocity(x0, t, noise);
        };
    }

    // ---------------------------------------------------------------- reverse process
    /**
     * p_θ(x_{t−1} | x_t): calls the model once (at the model timesteps of t), forms x̂0 from its
     * mean output, clips it to [−1, 1] when {@code clip}, and returns the posterior mean at that x̂0
     * with the configured variance.
     */
    public PMeanVariance pMeanVariance(EpsModel model, Tensor xt, Tensor t, Tensor labels, boolean clip) {
        checkT(xt, t);
        return pMeanVariance(split(modelOutput(model, xt, t, labels), xt), xt, t, clip);
    }

    /** p_θ(x_{t−1} | x_t) from a model output already split. */
    public PMeanVariance pMeanVariance(Output out, Tensor xt, Tensor t, boolean clip) {
        Tensor x0 = predictX0(xt, t, out.mean());
        if (clip) x0 = x0.clamp(-1, 1);
        Tensor mean = combine(x0, xt, t, Coef.POSTERIOR_MEAN_COEF1, Coef.POSTERIOR_MEAN_COEF2);
        if (varianceType.learned()) {
            Tensor logVar = learnedLogVariance(out.varValues(), t);
            return new PMeanVariance(mean, logVar.exp(), logVar, x0, out.mean());
        }
        return new PMeanVariance(mean, coef(varianceCoef(), t, xt), coef(logVarianceCoef(), t, xt), x0, out.mean());
    }

    /** The model's ε̂ from its mean output (converted from x̂0 or v̂) — the ε a sampler such as DDIM needs. */
    public Tensor epsFromModelOutput(Tensor xt, Tensor t, Tensor out) {
        return switch (meanType) {
            case EPSILON -> out;
            case START_X -> predictEpsFromX0(xt, t, out);
            case V -> predictEpsFromV(xt, t, out);
        };
    }

    // ---------------------------------------------------------------- bound terms
    /**
     * The bound term at t per sample, in bits/dim: KL(q(x_{t−1}|x_t,x0) ‖ p_θ(x_{t−1}|x_t)) where
     * t ≥ 1 and the discretized-Gaussian decoder NLL −log p_θ(x0|x_1) where t = 0 (both computed
     * for the whole batch, then selected per sample by a device-side mask).
     */
    public VbTerm vbTermBpd(EpsModel model, Tensor x0, Tensor xt, Tensor t, Tensor labels, boolean clip) {
        checkT(xt, t);
        return vbTermBpd(split(modelOutput(model, xt, t, labels), xt), x0, xt, t, clip);
    }

    /** The bound term of a model output already split. */
    public VbTerm vbTermBpd(Output out, Tensor x0, Tensor xt, Tensor t, boolean clip) {
        Gaussian q = qPosterior(x0, xt, t);
        PMeanVariance p = pMeanVariance(out, xt, t, clip);
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
     * L_simple = mean over all elements of (ε − ε̂(√ᾱ x0 + √(1−ᾱ) ε, t))² (for x0 or v prediction:
     * of their targets). Differentiable in the model's parameters.
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
     * squared error of the mean output against its target (= mean of the per-sample mse). KL: mean
     * over the batch of the bound term in bits/dim, x̂0 not clipped (as the reference trains).
     * HYBRID: mse + λ·T·(bound term), averaged over the batch. With fixed variances the bound's
     * gradient reaches the model through the posterior mean; with the learned variance HYBRID
     * stops that gradient (the mean output is detached in the bound term), as improved DDPM does.
     * The learned variance gets no gradient from SIMPLE, so that pairing is refused.
     */
    public TrainingTerms trainingTerms(EpsModel model, Tensor x0, Tensor t, Tensor labels, Tensor noise,
                                       LossType type, double lambda) {
        checkT(x0, t);
        if (type == LossType.SIMPLE && varianceType.learned())
            throw new IllegalArgumentException("the learned-range variance is trained by the bound: use the hybrid or KL loss");
        Tensor xt = qSample(x0, t, noise);
        Output out = split(modelOutput(model, xt, t, labels), xt);
        if (type == LossType.KL) {
            Tensor vb = vbTermBpd(out, x0, xt, t, false).bpd();
            return new TrainingTerms(vb.mean(), null, vb);
        }
        Tensor mse = Losses.meanFlat(out.mean().sub(target(x0, t, noise)).square());
        if (type == LossType.SIMPLE) return new TrainingTerms(mse.mean(), mse, null);
        Output frozen = varianceType.learned() ? new Output(out.mean().detach(), out.varValues()) : out;
        Tensor vb = vbTermBpd(frozen, x0, xt, t, false).bpd();
        return new TrainingTerms(mse.add(vb.mul(lambda * steps())).mean(), mse, vb);
    }

    private void checkT(Tensor x, Tensor t) {
        if (t.dtype() != DType.I32 || t.rank() != 1 || t.dim(0) != x.dim(0))
            throw new IllegalArgumentException("timesteps must be int32 [" + x.dim(0) + "], got " + t.describe());
    }

    @Override public String toString() {
        return "GaussianDiffusion(" + schedule + ", " + meanType + ", " + varianceType
                + (timestepMap == null ? "" : ", respaced to " + timestepMap.length + " steps") + ")";
    }
}
