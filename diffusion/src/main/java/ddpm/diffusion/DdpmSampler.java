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
 * the diffusion's fixed variance (σ² = β or β̃).
 *
 * <p>Which ops each path uses:
 * <ul>
 * <li>ε-prediction without clipping: one fused {@link F#posteriorStep} per step,
 *     x_{t−1} = (1/√α_t)·(x_t − β_t/√(1−ᾱ_t)·ε̂) + σ_t·z (exactly Algorithm 2; equal to the posterior
 *     mean at the unclipped x̂0).</li>
 * <li>with x̂0 clipping (the reference's default), or x0-prediction: x̂0 = x_t/√ᾱ − √(1/ᾱ−1)·ε̂
 *     ({@link F#qSample} with those two tables), clamp to [−1, 1], posterior mean
 *     coef1·x̂0 + coef2·x_t (F.qSample with the posterior-mean tables), then + σ_t·z
 *     (F.qSample with tables (1, σ)).</li>
 * </ul>
 */
public final class DdpmSampler implements Sampler {
    private final GaussianDiffusion diffusion;
    private final boolean clipDenoised;

    /** @param clipDenoised clip x̂0 to [−1, 1] at every step (the reference samples with true). */
    public DdpmSampler(GaussianDiffusion diffusion, boolean clipDenoised) {
        this.diffusion = diffusion;
        this.clipDenoised = clipDenoised;
    }

    /** Clipping x̂0, as the reference samples. */
    public DdpmSampler(GaussianDiffusion diffusion) { this(diffusion, true); }

    public GaussianDiffusion diffusion() { return diffusion; }

    public boolean clipDenoised() { return clipDenoised; }

    @Override public int steps() { return diffusion.steps(); }

    @Override public Tensor sample(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener) {
        int T = diffusion.steps();
        int b = xT.dim(0);
        try (Grad.Guard ignored = Grad.noGrad()) {
            Tensor x = xT;
            for (int t = T - 1; t >= 0; t--) {
                Tensor next;
                try (Scope s = Scope.open()) {
                    int done = T - t;
                    boolean report = listener != null && listener.predX0Every() > 0
                            && (done % listener.predX0Every() == 0 || t == 0);
                    int[] ts = new int[b];
                    Arrays.fill(ts, t);
                    Tensor tt = Tensor.ofInts(ts, x.device(), b);
                    Tensor z = t > 0 ? Tensor.randn(rng, x.dtype(), x.device(), x.shape()) : null;
                    Tensor predX0 = null;
                    next = null;
                    if (!clipDenoised && diffusion.meanType() == GaussianDiffusion.MeanType.EPSILON) {
                        Tensor eps = model.predictEps(x, tt, labels);
                        next = step(x, eps, z, tt);
                        if (report) predX0 = diffusion.predictX0FromEps(x, tt, eps);
                    } else {
                        GaussianDiffusion.PMeanVariance p = diffusion.pMeanVariance(model, x, tt, labels, clipDenoised);
                        next = z == null ? p.mean() : addNoise(p.mean(), z, tt);
                        predX0 = p.predX0();
                    }
                    if (report) listener.onPredX0(done, T, t, predX0, next);
                    s.keep(next);
                }
                Scope.disown(next);
                if (x != xT) x.release();
                x = next;
                if (listener != null) listener.onStep(T - t, T);
            }
            Tensor out = x.copy();
            if (x != xT) x.release();
            return out;
        }
    }

    /**
     * One unclipped ε-prediction step through the fused op:
     * (1/√α_t)(x_t − β_t/√(1−ᾱ_t)·ε̂) + σ_t·z (z null: no noise).
     */
    public Tensor step(Tensor xt, Tensor eps, Tensor z, Tensor t) {
        return F.posteriorStep(xt, eps, z, t, diffusion.table(Coef.RECIP_SQRT_ALPHA, xt),
                diffusion.table(Coef.EPS_COEF, xt), diffusion.table(diffusion.sigmaCoef(), xt));
    }

    /** mean + σ_t·z (fused). */
    public Tensor addNoise(Tensor mean, Tensor z, Tensor t) {
        return diffusion.combine(mean, z, t, Coef.ONE, diffusion.sigmaCoef());
    }

    @Override public String toString() {
        return "DdpmSampler(T=" + steps() + ", clip=" + clipDenoised + ", " + diffusion.varianceType() + ")";
    }
}
