package ddpm.diffusion;

import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.TreeSet;

/**
 * DDIM (Song et al. 2021, eq. 12) over a subsequence τ_1 &lt; … &lt; τ_S of the T steps: from
 * x_{τ_i}, with x̂0 = (x − √(1−ᾱ_τi)·ε̂)/√ᾱ_τi (clipped to [−1, 1] when asked),
 * x_{τ_{i−1}} = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z where
 * σ = η·√((1−ᾱ_prev)/(1−ᾱ_τi))·√(1 − ᾱ_τi/ᾱ_prev) and ᾱ_prev = ᾱ_{τ_{i−1}} (1 after τ_1).
 * η = 0 is deterministic; η = 1 with S = T is DDPM with σ² = β̃. With clipping, ε̂ is re-derived
 * from the clipped x̂0 before x_{τ_{i−1}} is formed, as the reference samplers do. Every step is one
 * fused {@link F#ddimStep} with a per-run coefficient table [S, 5]; no noise is drawn when σ = 0
 * (η = 0, and always at the last step). A model with the learned-range variance sets σ² = η²·Σ_θ
 * per element when η &gt; 0 (see {@link #sample}); classifier guidance replaces ε̂ by
 * ε̂ − s·√(1−ᾱ_τi)·∇ log p(y | x, τ_i). {@link #encode} runs the deterministic update backwards
 * (DDIM inversion).
 */
public final class DdimSampler implements Sampler {

    /** How τ is chosen (the DDIM paper's two choices). */
    public enum Spacing {
        /** τ_i = ⌊i·T/S⌋, i = 0…S−1 (for S dividing T: range(0, T, T/S), as the DDIM code). */
        UNIFORM,
        /**
         * The DDIM code's "quad" (used for CIFAR-10): int(v²) for v in numpy.linspace(0, √(0.8T), S),
         * duplicates dropped (they would be steps that change nothing).
         */
        QUADRATIC
    }

    private final GaussianDiffusion diffusion;
    private final int[] tau;
    private final double eta;
    private final boolean clipDenoised;
    private final double[][] rows;
    private final ClassifierGuidance guidance;

    /**
     * @param steps S, 1 ≤ S ≤ T
     * @param eta   η in [0, 1] (0: deterministic DDIM, 1: DDPM-like)
     * @param clipDenoised clip x̂0 to [−1, 1] at every step
     */
    public DdimSampler(GaussianDiffusion diffusion, int steps, double eta, Spacing spacing, boolean clipDenoised) {
        this(diffusion, timesteps(diffusion.steps(), steps, spacing), eta, clipDenoised);
    }

    /** Deterministic (η = 0), uniform spacing, clipping. */
    public DdimSampler(GaussianDiffusion diffusion, int steps) {
        this(diffusion, steps, 0.0, Spacing.UNIFORM, true);
    }

    /** An explicit increasing subsequence τ of {0, …, T−1}. */
    public DdimSampler(GaussianDiffusion diffusion, int[] tau, double eta, boolean clipDenoised) {
        if (!(eta >= 0 && eta <= 1)) throw new IllegalArgumentException("eta must be in [0, 1], got " + eta);
        int T = diffusion.steps();
        if (tau.length < 1) throw new IllegalArgumentException("DDIM needs at least one step");
        for (int i = 0; i < tau.length; i++)
            if (tau[i] < 0 || tau[i] >= T || (i > 0 && tau[i] <= tau[i - 1]))
                throw new IllegalArgumentException("timesteps must increase within [0, " + T + "): " + Arrays.toString(tau));
        this.diffusion = diffusion;
        this.tau = tau.clone();
        this.eta = eta;
        this.clipDenoised = clipDenoised;
        this.guidance = null;
        Schedule s = diffusion.schedule();
        rows = new double[tau.length][];
        for (int i = 0; i < tau.length; i++) {
            double ab = s.at(Coef.ALPHA_BAR, tau[i]);
            double abPrev = i == 0 ? 1.0 : s.at(Coef.ALPHA_BAR, tau[i - 1]);
            double sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
            rows[i] = new double[]{Math.sqrt(ab), Math.sqrt(1 - ab), Math.sqrt(abPrev),
                    Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma)), sigma};
        }
    }

    private DdimSampler(DdimSampler o, ClassifierGuidance guidance) {
        this.diffusion = o.diffusion;
        this.tau = o.tau;
        this.eta = o.eta;
        this.clipDenoised = o.clipDenoised;
        this.rows = o.rows;
        this.guidance = guidance;
    }

    /** The subsequence τ for S of T steps under {@code spacing} (increasing, distinct). */
    public static int[] timesteps(int T, int S, Spacing spacing) {
        if (S < 1 || S > T) throw new IllegalArgumentException("DDIM steps must be in [1, " + T + "], got " + S);
        if (spacing == Spacing.UNIFORM) {
            int[] tau = new int[S];
            for (int i = 0; i < S; i++) tau[i] = (int) ((long) i * T / S);
            return tau;
        }
        TreeSet<Integer> set = new TreeSet<>();
        for (double v : linspace(0, Math.sqrt(T * 0.8), S)) set.add((int) (v * v));   // < 0.8·T, so within range
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * numpy.linspace(start, stop, num) (endpoint included) value for value: start + i·step with
     * step = (stop − start)/(num − 1), and the last value set to stop exactly.
     */
    static double[] linspace(double start, double stop, int num) {
        double[] y = new double[num];
        if (num == 1) {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        y[num - 1] = stop;
        return y;
    }

    public int[] timesteps() { return tau.clone(); }

    public double eta() { return eta; }

    /** Row i of the coefficient table: (√ᾱ_τi, √(1−ᾱ_τi), √ᾱ_prev, √(1−ᾱ_prev−σ²), σ). */
    public double[] coefficients(int i) { return rows[i].clone(); }

    @Override public int steps() { return tau.length; }

    /** The same sampler steered by a classifier (labels passed to {@link #sample} are the target classes). */
    public DdimSampler withGuidance(ClassifierGuidance g) { return new DdimSampler(this, g); }

    /** The coefficient table [S, 5] as a tensor of x's dtype on x's device (owned by the current scope). */
    private Tensor table(Tensor like) {
        double[] flat = new double[tau.length * 5];
        for (int i = 0; i < tau.length; i++) System.arraycopy(rows[i], 0, flat, i * 5, 5);
        return Tensor.ofDoubles(like.dtype(), like.device(), flat, tau.length, 5);
    }

    /**
     * One DDIM step from x_{τ_i} with ε̂ (and noise z, or null) through the fused op: x̂0 clipped
     * when the sampler clips (and ε̂ then re-derived from it), x_{τ_{i−1}} = √ᾱ_prev·x̂0 +
     * √(1−ᾱ_prev−σ²)·ε̂ + σ·z.
     */
    public Tensor step(Tensor x, Tensor eps, Tensor z, int i) {
        double[] flat = rows[i].clone();
        return F.ddimStep(x, eps, z, DdpmSampler.filled(0, x.dim(0), x), Tensor.ofDoubles(x.dtype(), x.device(), flat, 1, 5),
                clipDenoised ? 1.0 : 0.0);
    }

    /**
     * Whether {@link #sample} replays its steps as one recorded graph: a backend that records
     * ({@code Backend.canCapture}), no classifier guidance, ε-prediction with a fixed variance (with
     * η &gt; 0 the learned one takes another path), no listener wanting x̂0, at least 3 steps (the
     * first runs directly: it also picks the convolution algorithms by measuring them), and either
     * no noise at all (η = 0) or noise at every step but the last (η &gt; 0: replays draw it with
     * their offsets shifted, as the ancestral sampler's do).
     */
    public boolean graphs(Tensor xT, Listener listener) {
        return CudaGraphs.enabled && xT.backend().canCapture() && (noiseless() || noisyBetween()) && guidance == null
                && tau.length >= 3 && diffusion.meanType() == GaussianDiffusion.MeanType.EPSILON
                && !(diffusion.varianceType().learned() && eta > 0) && (listener == null || listener.predX0Every() == 0);
    }

    private boolean noiseless() {
        for (double[] r : rows) if (r[4] != 0) return false;
        return true;
    }

    /** σ > 0 at every step from S−2 down to 1 (the recorded step draws noise, and so does every replay). */
    private boolean noisyBetween() {
        for (int i = 1; i <= tau.length - 2; i++) if (!(rows[i][4] > 0)) return false;
        return true;
    }

    @Override public Tensor sample(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener) {
        int S = tau.length;
        GaussianDiffusion spaced = diffusion.varianceType().learned() && eta > 0 && S >= 2 ? diffusion.respaced(tau) : null;
        try (Grad.Guard ignored = Grad.noGrad()) {
            Tensor coefs;
            try (Scope s = Scope.open()) {
                coefs = s.keep(table(xT));
            }
            Scope.disown(coefs);
            try {
                if (graphs(xT, listener)) return sampleRecorded(model, xT, labels, rng, listener, coefs);
                return runSteps(model, xT, S - 1, labels, rng, listener, coefs, spaced);
            } finally {
                coefs.release();
            }
        }
    }

    /** Steps {@code from} … 0 from x ({@code start}, not released); returns x_0 as a new tensor of the caller's scope. */
    private Tensor runSteps(EpsModel model, Tensor start, int from, Tensor labels, Rng rng, Listener listener, Tensor coefs,
                         GaussianDiffusion spaced) {
        int S = tau.length;
        Tensor x = start;
        for (int i = from; i >= 0; i--) {
            Tensor next;
            try (Scope s = Scope.open()) {
                int done = S - i;
                Tensor z = rows[i][4] > 0 ? Tensor.randn(rng, x.dtype(), x.device(), x.shape()) : null;
                boolean report = listener != null && listener.predX0Every() > 0 && (done % listener.predX0Every() == 0 || i == 0);
                DdpmSampler.Step st = step(model, x, i, labels, z, coefs, spaced, report);
                next = st.next();
                if (report) listener.onPredX0(done, S, tau[i], st.predX0(), next);
                s.keep(next);
            }
            Scope.disown(next);
            if (x != start) x.release();
            x = next;
            if (listener != null) listener.onStep(S - i, S);
        }
        Tensor result = x.copy();
        if (x != start) x.release();
        return result;
    }

    /**
     * The loop as a graph: step S−1 runs directly; the step is then recorded once on fixed tensors
     * (x, the timesteps, the coefficient row index) and replayed for the other steps, with each
     * step's timestep and row written into those tensors first and, with η &gt; 0, the noise's Philox
     * offsets shifted to where the step-by-step loop draws them (its last step, σ = 0, then runs
     * directly). Launch cost drops from one per kernel to one per step; the values are those of
     * the step-by-step loop (the same kernels).
     */
    private Tensor sampleRecorded(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener, Tensor coefs) {
        int S = tau.length, b = xT.dim(0);
        Tensor x, t, row;
        try (Scope s = Scope.open()) {
            Tensor z = rows[S - 1][4] > 0 ? Tensor.randn(rng, xT.dtype(), xT.device(), xT.shape()) : null;
            x = s.keep(step(model, xT, S - 1, labels, z, coefs, null, false).next());
            t = s.keep(DdpmSampler.filled(tau[S - 2], b, xT));
            row = s.keep(DdpmSampler.filled(S - 2, b, xT));
        }
        Scope.disown(x);
        Scope.disown(t);
        Scope.disown(row);
        boolean noisy = !noiseless();
        ddpm.engine.Backend backend = xT.backend();
        try {
            if (listener != null) listener.onStep(1, S);
            long before = rng.offset();
            ddpm.engine.Backend.Graph g;
            try {
                g = backend.capture(() -> {
                    try (Scope s = Scope.open()) {
                        Tensor z = noisy ? Tensor.randn(rng, x.dtype(), x.device(), x.shape()) : null;
                        Tensor eps = diffusion.split(diffusion.modelOutput(model, x, t, labels), x).mean();
                        x.copyFrom(F.ddimStep(x, eps, z, row, coefs, clipDenoised ? 1.0 : 0.0));
                    }
                });
            } catch (IllegalStateException notRecordable) {   // the step needs a host transfer: go on step by step
                rng.setOffset(before);
                return runSteps(model, x, S - 2, labels, rng, listener, coefs, null);
            }
            long perStep = rng.offset() - before;   // what one step draws; the recording draws at `before`
            rng.setOffset(before);
            int last = noisy ? 1 : 0;               // with noise, the last step (σ = 0) runs directly
            int[] ti = new int[b], ri = new int[b];
            try (g) {
                for (int k = 0, i = S - 2; i >= last; k++, i--) {
                    Arrays.fill(ti, tau[i]);
                    Arrays.fill(ri, i);
                    t.copyFrom(ti);
                    row.copyFrom(ri);
                    if (noisy) backend.setRandomOffsetShift(rng.seed(), k * perStep);
                    g.replay();
                    rng.setOffset(before + (k + 1) * perStep);
                    if (listener != null) listener.onStep(S - i, S);
                }
            } finally {
                if (noisy) backend.setRandomOffsetShift(rng.seed(), 0);
            }
            return last == 0 ? x.copy() : runSteps(model, x, 0, labels, rng, listener, coefs, null);
        } finally {
            x.release();
            t.release();
            row.release();
        }
    }

    /**
     * Step i (from x_{τ_i}) with noise z (null when σ_i = 0): the model's ε̂ (guided when a classifier
     * steers), then the fused DDIM update, or the per-element one of the learned variance.
     */
    public DdpmSampler.Step step(EpsModel model, Tensor x, int i, Tensor labels, Tensor z) {
        GaussianDiffusion spaced = diffusion.varianceType().learned() && eta > 0 && tau.length >= 2 ? diffusion.respaced(tau) : null;
        return step(model, x, i, labels, z, null, spaced, true);
    }

    private DdpmSampler.Step step(EpsModel model, Tensor x, int i, Tensor labels, Tensor z, Tensor coefs, GaussianDiffusion spaced,
                                  boolean wantPredX0) {
        int b = x.dim(0);
        Tensor tt = DdpmSampler.filled(tau[i], b, x);
        GaussianDiffusion.Output out = diffusion.split(diffusion.modelOutput(model, x, tt, labels), x);
        Tensor eps = diffusion.epsFromModelOutput(x, tt, out.mean());
        if (guidance != null && guidance.scale() > 0)
            eps = eps.sub(guidance.gradLogProb(x, tt, labels).mul(guidance.scale() * rows[i][1]));
        Tensor next;
        if (spaced != null && z != null) next = learnedStep(spaced, x, eps, out.varValues(), z, i);
        else if (coefs != null) next = F.ddimStep(x, eps, z, DdpmSampler.filled(i, b, x), coefs, clipDenoised ? 1.0 : 0.0);
        else next = step(x, eps, z, i);
        if (!wantPredX0) return new DdpmSampler.Step(next, null);
        Tensor x0 = diffusion.predictX0FromEps(x, tt, eps);
        return new DdpmSampler.Step(next, clipDenoised ? x0.clamp(-1, 1) : x0);
    }

    /**
     * A step with the learned variance: σ² = η²·Σ_θ per element, Σ_θ the learned-range variance of
     * the respaced process at step i (which interpolates its β'_i and β̃'_i; with a fixed variance
     * DDIM's σ² is η²·β̃'_i), then the DDIM update with the per-element σ.
     */
    private Tensor learnedStep(GaussianDiffusion spaced, Tensor x, Tensor eps, Tensor varValues, Tensor z, int i) {
        double sa = rows[i][0], s1a = rows[i][1], sap = rows[i][2], abPrev = sap * sap;
        Tensor x0 = x.sub(eps.mul(s1a)).mul(1 / sa);
        if (clipDenoised) {
            x0 = x0.clamp(-1, 1);
            eps = x.sub(x0.mul(sa)).mul(1 / s1a);
        }
        Tensor sigma2 = spaced.learnedLogVariance(varValues, DdpmSampler.filled(i, x.dim(0), x)).exp().mul(eta * eta);
        Tensor dir = sigma2.affine(-1, 1 - abPrev).maximum(x.scalarLike(0)).sqrt();
        return x0.mul(sap).add(dir.mul(eps)).add(sigma2.sqrt().mul(z));
    }

    /**
     * DDIM's deterministic encoder: runs the η = 0 update backwards from images x0 (taken as
     * x_{τ_0}) up the subsequence, x_{τ_{i+1}} = √ᾱ_{τ_{i+1}}·x̂0 + √(1−ᾱ_{τ_{i+1}})·ε̂ with ε̂ and x̂0
     * (unclipped) at x_{τ_i}, and returns x_{τ_{S−1}}: the latent from which {@link #sample} (η = 0)
     * decodes the images again. S − 1 model evaluations.
     */
    public Tensor encode(EpsModel model, Tensor x0, Tensor labels, Listener listener) {
        int S = tau.length, b = x0.dim(0);
        Schedule sch = diffusion.schedule();
        try (Grad.Guard ignored = Grad.noGrad()) {
            Tensor x = x0;
            for (int i = 0; i + 1 < S; i++) {
                Tensor next;
                try (Scope s = Scope.open()) {
                    Tensor tt = DdpmSampler.filled(tau[i], b, x);
                    Tensor eps = diffusion.epsFromModelOutput(x, tt, diffusion.split(diffusion.modelOutput(model, x, tt, labels), x).mean());
                    double abNext = sch.at(Coef.ALPHA_BAR, tau[i + 1]);
                    double[] row = {rows[i][0], rows[i][1], Math.sqrt(abNext), Math.sqrt(1 - abNext), 0};
                    next = s.keep(F.ddimStep(x, eps, null, DdpmSampler.filled(0, b, x), Tensor.ofDoubles(x.dtype(), x.device(), row, 1, 5), 0));
                }
                Scope.disown(next);
                if (x != x0) x.release();
                x = next;
                if (listener != null) listener.onStep(i + 1, S - 1);
            }
            Tensor out = x.copy();
            if (x != x0) x.release();
            return out;
        }
    }

    @Override public String toString() {
        return "DdimSampler(S=" + tau.length + " of T=" + diffusion.steps() + ", eta=" + eta + ", clip=" + clipDenoised
                + (guidance != null ? ", classifier scale " + guidance.scale() : "") + ")";
    }
}
