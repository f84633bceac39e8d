package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Arrays;

/**
 * Ancestral sampling, Algorithm 2 of Ho et al.: for t = T−1 … 0 (0-based),
 * x_{t−1} = μ_θ(x_t, t) + σ_t·z with z ~ N(0, I), and no noise at the last step (t = 0). σ_t is
 * the diffusion's variance (fixed σ² = β or β̃, or the model's learned-range variance).
 *
 * <p>Which ops each path uses:
 * <ul>
 * <li>ε-prediction with a fixed variance, without clipping or guidance: one fused
 *     {@link F#posteriorStep} per step, x_{t−1} = (1/√α_t)·(x_t − β_t/√(1−ᾱ_t)·ε̂) + σ_t·z
 *     (exactly Algorithm 2; equal to the posterior mean at the unclipped x̂0).</li>
 * <li>otherwise: x̂0 from the model's output, clamped to [−1, 1] when clipping, posterior mean
 *     coef1·x̂0 + coef2·x_t (F.qSample with the posterior-mean tables), shifted by s·Σ·∇log p(y|x_t)
 *     under classifier guidance, then + σ_t·z.</li>
 * </ul>
 * Over a respaced diffusion ({@link #respaced}) the same runs over S &lt; T steps with the betas of
 * the subsequence, calling the model at the original timesteps.
 */
public final class DdpmSampler implements Sampler {
    private final GaussianDiffusion diffusion;
    private final boolean clipDenoised;
    private final ClassifierGuidance guidance;

    /** @param clipDenoised clip x̂0 to [−1, 1] at every step (the reference samples with true). */
    public DdpmSampler(GaussianDiffusion diffusion, boolean clipDenoised) { this(diffusion, clipDenoised, null); }

    /** Clipping x̂0, as the reference samples. */
    public DdpmSampler(GaussianDiffusion diffusion) { this(diffusion, true); }

    private DdpmSampler(GaussianDiffusion diffusion, boolean clipDenoised, ClassifierGuidance guidance) {
        this.diffusion = diffusion;
        this.clipDenoised = clipDenoised;
        this.guidance = guidance;
    }

    /**
     * Ancestral sampling over {@code steps} of the diffusion's T steps (uniformly spaced, as
     * improved DDPM respaces: the subsequence's betas recomputed); steps = T is the plain sampler.
     */
    public static DdpmSampler respaced(GaussianDiffusion diffusion, int steps, boolean clipDenoised) {
        int T = diffusion.steps();
        if (steps == T) return new DdpmSampler(diffusion, clipDenoised);
        if (steps < 2 || steps > T) throw new IllegalArgumentException("respaced DDPM steps must be in [2, " + T + "], got " + steps);
        return new DdpmSampler(diffusion.respaced(DdimSampler.timesteps(T, steps, DdimSampler.Spacing.UNIFORM)), clipDenoised);
    }

    /** The same sampler steered by a classifier (labels passed to {@link #sample} are the target classes). */
    public DdpmSampler withGuidance(ClassifierGuidance g) { return new DdpmSampler(diffusion, clipDenoised, g); }

    public GaussianDiffusion diffusion() { return diffusion; }

    public boolean clipDenoised() { return clipDenoised; }

    @Override public int steps() { return diffusion.steps(); }

    /** One reverse step's result: x_{t−1} and the x̂0 it came from (null when not asked for; owned by the current scope). */
    public record Step(Tensor next, Tensor predX0) {}

    /**
     * Whether {@link #sample} replays its steps as one recorded graph (see {@link CudaGraphs}):
     * a backend that records work, no classifier guidance, no listener wanting x̂0, at least 4
     * steps. The first step runs directly (it makes the schedule tables and measures the conv
     * algorithms), the second is recorded, replayed for the steps down to t = 1 with each step's
     * timestep written first and the noise's Philox offsets shifted to where the step-by-step loop
     * draws them ({@code Backend.setRandomOffsetShift}); t = 0 (no noise) runs directly.
     */
    public boolean graphs(Tensor xT, Listener listener) {
        return CudaGraphs.enabled && xT.backend().canCapture() && guidance == null && diffusion.steps() >= 4
                && (listener == null || listener.predX0Every() == 0);
    }

    @Override public Tensor sample(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener) {
        try (Grad.Guard ignored = Grad.noGrad()) {
            if (graphs(xT, listener)) return sampleRecorded(model, xT, labels, rng, listener);
            return runSteps(model, xT, diffusion.steps() - 1, labels, rng, listener);
        }
    }

    /** Steps {@code from} … 0 from x_from ({@code start}, not released); returns x_0 as a new tensor of the caller's scope. */
    private Tensor runSteps(EpsModel model, Tensor start, int from, Tensor labels, Rng rng, Listener listener) {
        int T = diffusion.steps();
        Tensor x = start;
        for (int t = from; t >= 0; t--) {
            Tensor next;
            try (Scope s = Scope.open()) {
                int done = T - t;
                Tensor z = t > 0 ? Tensor.randn(rng, x.dtype(), x.device(), x.shape()) : null;
                boolean report = listener != null && listener.predX0Every() > 0 && (done % listener.predX0Every() == 0 || t == 0);
                Step st = step(model, x, t, labels, z, report);
                next = st.next();
                if (report) listener.onPredX0(done, T, diffusion.modelTimestep(t), st.predX0(), next);
                s.keep(next);
            }
            Scope.disown(next);
            if (x != start) x.release();
            x = next;
            if (listener != null) listener.onStep(T - t, T);
        }
        Tensor out = x.copy();
        if (x != start) x.release();
        return out;
    }

    /**
     * The loop of {@link #sample} with steps T−2 … 1 replayed from one recording (see {@link
     * #graphs}); when the step cannot be recorded (it needs a host transfer, e.g. a model that makes
     * its labels on the host), the loop goes on step by step with the same values.
     */
    private Tensor sampleRecorded(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener) {
        int T = diffusion.steps(), b = xT.dim(0);
        ddpm.engine.Backend backend = xT.backend();
        Tensor x, t;
        try (Scope s = Scope.open()) {
            Tensor z = Tensor.randn(rng, xT.dtype(), xT.device(), xT.shape());
            x = s.keep(step(model, xT, T - 1, labels, z, false).next());
            t = s.keep(filled(T - 2, b, xT));
        }
        Scope.disown(x);
        Scope.disown(t);
        try {
            if (listener != null) listener.onStep(1, T);
            long before = rng.offset();
            ddpm.engine.Backend.Graph g;
            try {
                g = backend.capture(() -> {
                    try (Scope s = Scope.open()) {
                        Tensor z = Tensor.randn(rng, x.dtype(), x.device(), x.shape());
                        x.copyFrom(step(model, x, t, T - 2, labels, z, false).next());
                    }
                });
            } catch (IllegalStateException notRecordable) {
                rng.setOffset(before);
                return runSteps(model, x, T - 2, labels, rng, listener);
            }
            long perStep = rng.offset() - before;   // what one step draws; the recording draws at `before`
            int[] ti = new int[b];
            try (g) {
                for (int k = 0, step = T - 2; step >= 1; k++, step--) {
                    Arrays.fill(ti, step);
                    t.copyFrom(ti);
                    backend.setRandomOffsetShift(rng.seed(), k * perStep);
                    g.replay();
                    rng.setOffset(before + (k + 1) * perStep);
                    if (listener != null) listener.onStep(T - step, T);
                }
            } finally {
                backend.setRandomOffsetShift(rng.seed(), 0);
            }
            return runSteps(model, x, 0, labels, rng, listener);   // t = 0: no noise
        } finally {
            x.release();
            t.release();
        }
    }

    /**
     * One reverse step from x_t at step t of this sampler's (possibly respaced) process with noise z
     * (null: none, as at t = 0); labels go to the model and, under classifier guidance, to the
     * classifier. x̂0 is returned when {@code wantPredX0}.
     */
    public Step step(EpsModel model, Tensor x, int t, Tensor labels, Tensor z, boolean wantPredX0) {
        return step(model, x, filled(t, x.dim(0), x), t, labels, z, wantPredX0);
    }

    /** {@link #step(EpsModel, Tensor, int, Tensor, Tensor, boolean)} with the step's timesteps already on the device. */
    private Step step(EpsModel model, Tensor x, Tensor tt, int t, Tensor labels, Tensor z, boolean wantPredX0) {
        if (!clipDenoised && diffusion.meanType() == GaussianDiffusion.MeanType.EPSILON
                && !diffusion.varianceType().learned() && guidance == null) {
            Tensor eps = diffusion.modelOutput(model, x, tt, labels);
            return new Step(step(x, eps, z, tt), wantPredX0 ? diffusion.predictX0FromEps(x, tt, eps) : null);
        }
        GaussianDiffusion.PMeanVariance p = diffusion.pMeanVariance(model, x, tt, labels, clipDenoised);
        Tensor mean = p.mean();
        if (guidance != null && guidance.scale() > 0) {
            Tensor g = guidance.gradLogProb(x, filled(diffusion.modelTimestep(t), x.dim(0), x), labels);
            mean = mean.add(g.mul(p.variance()).mul(guidance.scale()));
        }
        Tensor next;
        if (z == null) next = mean;
        else if (diffusion.varianceType().learned()) next = mean.add(p.logVariance().mul(0.5).exp().mul(z));
        else next = addNoise(mean, z, tt);
        return new Step(next, p.predX0());
    }

    static Tensor filled(int t, int b, Tensor like) {
        int[] ts = new int[b];
        Arrays.fill(ts, t);
        return Tensor.ofInts(ts, like.device(), b);
    }

    /**
     * One unclipped ε-prediction step through the fused op:
     * (1/√α_t)(x_t − β_t/√(1−ᾱ_t)·ε̂) + σ_t·z (z null: no noise).
     */
    public Tensor step(Tensor xt, Tensor eps, Tensor z, Tensor t) {
        return F.posteriorStep(xt, eps, z, t, diffusion.table(Coef.RECIP_SQRT_ALPHA, xt),
                diffusion.table(Coef.EPS_COEF, xt), diffusion.table(diffusion.sigmaCoef(), xt));
    }

    /** mean + σ_t·z (fused; fixed variances). */
    public Tensor addNoise(Tensor mean, Tensor z, Tensor t) {
        return diffusion.combine(mean, z, t, Coef.ONE, diffusion.sigmaCoef());
    }

    @Override public String toString() {
        return "DdpmSampler(T=" + steps() + ", clip=" + clipDenoised + ", " + diffusion.varianceType()
                + (guidance != null ? ", classifier scale " + guidance.scale() : "") + ")";
    }
}
