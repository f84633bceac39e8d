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
 * η = 0 is deterministic; η = 1 with S = T is DDPM with σ² = β̃. Every step is one fused
 * {@link F#ddimStep} with a per-run coefficient table [S, 5]; no noise is drawn when σ = 0 (η = 0,
 * and always at the last step).
 */
public final class DdimSampler implements Sampler {

    /** How τ is chosen (the DDIM paper's two choices). */
    public enum Spacing {
        /** τ_i = ⌊i·T/S⌋, i = 0…S−1 (for S dividing T: range(0, T, T/S), as the DDIM code). */
        UNIFORM,
        /** τ_i = ⌊(i·√(0.8T)/(S−1))²⌋, duplicates dropped (the DDIM code's "quad", for CIFAR-10). */
        QUADRATIC
    }

    private final GaussianDiffusion diffusion;
    private final int[] tau;
    private final double eta;
    private final boolean clipDenoised;
    private final double[][] rows;

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

    /** The subsequence τ for S of T steps under {@code spacing} (increasing, distinct). */
    public static int[] timesteps(int T, int S, Spacing spacing) {
        if (S < 1 || S > T) throw new IllegalArgumentException("DDIM steps must be in [1, " + T + "], got " + S);
        if (spacing == Spacing.UNIFORM) {
            int[] tau = new int[S];
            for (int i = 0; i < S; i++) tau[i] = (int) ((long) i * T / S);
            return tau;
        }
        TreeSet<Integer> set = new TreeSet<>();
        double top = Math.sqrt(0.8 * T);
        for (int i = 0; i < S; i++) {
            double v = S == 1 ? 0 : i * top / (S - 1);
            set.add((int) Math.min(T - 1, Math.floor(v * v)));
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    public int[] timesteps() { return tau.clone(); }

    public double eta() { return eta; }

    /** Row i of the coefficient table: (√ᾱ_τi, √(1−ᾱ_τi), √ᾱ_prev, √(1−ᾱ_prev−σ²), σ). */
    public double[] coefficients(int i) { return rows[i].clone(); }

    @Override public int steps() { return tau.length; }

    @Override public Tensor sample(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener) {
        int S = tau.length, b = xT.dim(0);
        double[] flat = new double[S * 5];
        for (int i = 0; i < S; i++) System.arraycopy(rows[i], 0, flat, i * 5, 5);
        try (Grad.Guard ignored = Grad.noGrad()) {
            Tensor coefs = Tensor.ofDoubles(xT.dtype(), xT.device(), flat, S, 5);
            Scope.disown(coefs);
            try {
                Tensor x = xT;
                for (int i = S - 1; i >= 0; i--) {
                    Tensor next;
                    try (Scope s = Scope.open()) {
                        int done = S - i;
                        int[] ts = new int[b], is = new int[b];
                        Arrays.fill(ts, tau[i]);
                        Arrays.fill(is, i);
                        Tensor tt = Tensor.ofInts(ts, x.device(), b);
                        Tensor out = model.predictEps(x, tt, labels);
                        Tensor eps = diffusion.epsFromModelOutput(x, tt, out);
                        Tensor z = rows[i][4] > 0 ? Tensor.randn(rng, x.dtype(), x.device(), x.shape()) : null;
                        next = F.ddimStep(x, eps, z, Tensor.ofInts(is, x.device(), b), coefs, clipDenoised ? 1.0 : 0.0);
                        if (listener != null && listener.predX0Every() > 0 && (done % listener.predX0Every() == 0 || i == 0)) {
                            Tensor x0 = diffusion.predictX0FromEps(x, tt, eps);
                            if (clipDenoised) x0 = x0.clamp(-1, 1);
                            listener.onPredX0(done, S, tau[i], x0, next);
                        }
                        s.keep(next);
                    }
                    Scope.disown(next);
                    if (x != xT) x.release();
                    x = next;
                    if (listener != null) listener.onStep(S - i, S);
                }
                Tensor result = x.copy();
                if (x != xT) x.release();
                return result;
            } finally {
                coefs.release();
            }
        }
    }

    @Override public String toString() {
        return "DdimSampler(S=" + tau.length + " of T=" + diffusion.steps() + ", eta=" + eta + ", clip=" + clipDenoised + ")";
    }
}
