package ddpm.diffusion;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * A noise schedule β_0..β_{T−1} (0-based: index t is the paper's step t+1) and every coefficient
 * derived from it, computed once in double precision. {@link #table} hands out device tensors
 * [T] of any coefficient, made lazily once per (coefficient, dtype, device) and cached; they live
 * outside every {@link Scope} until {@link #releaseTables()}.
 *
 * <p>Schedules: {@link #linear(int)} (Ho et al.: β from 1e-4 to 0.02 over T = 1000; for other T
 * both ends are scaled by 1000/T as improved-DDPM does) and {@link #cosine(int)} (Nichol &amp;
 * Dhariwal, s = 0.008, β clipped at 0.999).
 */
public final class Schedule {

    /** The per-timestep coefficients; each is an array of length T indexed by the 0-based t. */
    public enum Coef {
        /** β_t. */
        BETA,
        /** α_t = 1 − β_t. */
        ALPHA,
        /** ᾱ_t = Π_{s≤t} α_s. */
        ALPHA_BAR,
        /** ᾱ_{t−1}, with ᾱ_{−1} = 1. */
        ALPHA_BAR_PREV,
        /** √ᾱ_t. */
        SQRT_ALPHA_BAR,
        /** √(1 − ᾱ_t). */
        SQRT_ONE_MINUS_ALPHA_BAR,
        /** −√(1 − ᾱ_t) (x̂0 = √ᾱ·x_t − √(1−ᾱ)·v and the v target √ᾱ·ε − √(1−ᾱ)·x0 are fused combinations). */
        NEG_SQRT_ONE_MINUS_ALPHA_BAR,
        /** 1 − ᾱ_t. */
        ONE_MINUS_ALPHA_BAR,
        /** log(1 − ᾱ_t). */
        LOG_ONE_MINUS_ALPHA_BAR,
        /** 1/√ᾱ_t. */
        SQRT_RECIP_ALPHA_BAR,
        /** √(1/ᾱ_t − 1). */
        SQRT_RECIPM1_ALPHA_BAR,
        /** −√(1/ᾱ_t − 1) (so x̂0 = SQRT_RECIP_ALPHA_BAR·x_t + NEG_SQRT_RECIPM1_ALPHA_BAR·ε̂ is one fused op). */
        NEG_SQRT_RECIPM1_ALPHA_BAR,
        /** 1/√α_t. */
        RECIP_SQRT_ALPHA,
        /** β_t/√(1 − ᾱ_t): Algorithm 2's coefficient of ε̂. */
        EPS_COEF,
        /** ε from x̂0: ε = EPS_FROM_X0_XT·x_t + EPS_FROM_X0_X0·x̂0, i.e. (x_t/√ᾱ − x̂0)/√(1/ᾱ − 1). */
        EPS_FROM_X0_XT,
        /** See {@link #EPS_FROM_X0_XT}: −1/√(1/ᾱ_t − 1). */
        EPS_FROM_X0_X0,
        /** Posterior variance β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t) (β̃_0 = 0). */
        POSTERIOR_VARIANCE,
        /** log β̃_t with β̃_0 replaced by β̃_1 (the reference's posterior_log_variance_clipped). */
        POSTERIOR_LOG_VARIANCE_CLIPPED,
        /** Posterior-mean coefficient of x0: β_t√ᾱ_{t−1}/(1 − ᾱ_t). */
        POSTERIOR_MEAN_COEF1,
        /** Posterior-mean coefficient of x_t: (1 − ᾱ_{t−1})√α_t/(1 − ᾱ_t). */
        POSTERIOR_MEAN_COEF2,
        /** log β_t: the upper end of the learned-range log-variance (improved DDPM's max_log). */
        LOG_BETA,
        /** Fixed-large variance σ² = β_t (the reference uses β_t itself as the variance). */
        VARIANCE_LARGE,
        /** Fixed-large log-variance: log(append(β̃_1, β_{1:})) as in the reference. */
        LOG_VARIANCE_LARGE,
        /** Fixed-large σ = exp(½·LOG_VARIANCE_LARGE) (the noise scale the reference's sampler uses). */
        SIGMA_LARGE,
        /** Fixed-small σ = exp(½·POSTERIOR_LOG_VARIANCE_CLIPPED) (= √β̃_t for t ≥ 1). */
        SIGMA_SMALL,
        /** All ones (for fused a[t]·x + 1·y combinations). */
        ONE,
        /** 1 at t = 0, else 0 (a device-side mask selecting the decoder term). */
        IS_FIRST
    }

    /** Which closed-form family a schedule came from. */
    public enum Kind { LINEAR, COSINE, CUSTOM }

    private final Kind kind;
    private final int T;
    private final EnumMap<Coef, double[]> coefs = new EnumMap<>(Coef.class);
    private final Map<String, Tensor> tables = new HashMap<>();

    private Schedule(Kind kind, double[] betas) {
        this.kind = kind;
        this.T = betas.length;
        if (T < 2) throw new IllegalArgumentException("a schedule needs at least 2 steps, got " + T);
        for (int t = 0; t < T; t++)
            if (!(betas[t] > 0 && betas[t] < 1))
                throw new IllegalArgumentException("beta[" + t + "] = " + betas[t] + " is not in (0, 1)");
        double[] b = betas.clone(), a = new double[T], ab = new double[T], abp = new double[T];
        double prod = 1;
        for (int t = 0; t < T; t++) {
            a[t] = 1 - b[t];
            abp[t] = prod;
            prod *= a[t];
            ab[t] = prod;
        }
        put(Coef.BETA, b);
        put(Coef.ALPHA, a);
        put(Coef.ALPHA_BAR, ab);
        put(Coef.ALPHA_BAR_PREV, abp);
        double[] pv = new double[T];
        for (int t = 0; t < T; t++) pv[t] = b[t] * (1 - abp[t]) / (1 - ab[t]);
        put(Coef.POSTERIOR_VARIANCE, pv);
        double[] pvc = pv.clone();
        pvc[0] = pv[1];
        double[] large = b.clone();
        large[0] = pv[1];
        for (int t = 0; t < T; t++) {
            set(Coef.SQRT_ALPHA_BAR, t, Math.sqrt(ab[t]));
            set(Coef.SQRT_ONE_MINUS_ALPHA_BAR, t, Math.sqrt(1 - ab[t]));
            set(Coef.NEG_SQRT_ONE_MINUS_ALPHA_BAR, t, -Math.sqrt(1 - ab[t]));
            set(Coef.ONE_MINUS_ALPHA_BAR, t, 1 - ab[t]);
            set(Coef.LOG_ONE_MINUS_ALPHA_BAR, t, Math.log(1 - ab[t]));
            set(Coef.SQRT_RECIP_ALPHA_BAR, t, Math.sqrt(1 / ab[t]));
            double rm1 = Math.sqrt(1 / ab[t] - 1);
            set(Coef.SQRT_RECIPM1_ALPHA_BAR, t, rm1);
            set(Coef.NEG_SQRT_RECIPM1_ALPHA_BAR, t, -rm1);
            set(Coef.RECIP_SQRT_ALPHA, t, 1 / Math.sqrt(a[t]));
            set(Coef.EPS_COEF, t, b[t] / Math.sqrt(1 - ab[t]));
            set(Coef.EPS_FROM_X0_XT, t, Math.sqrt(1 / ab[t]) / rm1);
            set(Coef.EPS_FROM_X0_X0, t, -1 / rm1);
            set(Coef.POSTERIOR_LOG_VARIANCE_CLIPPED, t, Math.log(pvc[t]));
            set(Coef.POSTERIOR_MEAN_COEF1, t, b[t] * Math.sqrt(abp[t]) / (1 - ab[t]));
            set(Coef.POSTERIOR_MEAN_COEF2, t, (1 - abp[t]) * Math.sqrt(a[t]) / (1 - ab[t]));
            set(Coef.LOG_BETA, t, Math.log(b[t]));
            set(Coef.VARIANCE_LARGE, t, b[t]);
            set(Coef.LOG_VARIANCE_LARGE, t, Math.log(large[t]));
            set(Coef.SIGMA_LARGE, t, Math.exp(0.5 * Math.log(large[t])));
            set(Coef.SIGMA_SMALL, t, Math.exp(0.5 * Math.log(pvc[t])));
            set(Coef.ONE, t, 1);
            set(Coef.IS_FIRST, t, t == 0 ? 1 : 0);
        }
    }

    private void put(Coef c, double[] v) { coefs.put(c, v); }

    private void set(Coef c, int t, double v) { coefs.computeIfAbsent(c, k -> new double[T])[t] = v; }

    // ---------------------------------------------------------------- factories
    /** Ho et al.'s linear schedule for T steps: β linear from (1000/T)·1e-4 to (1000/T)·0.02. */
    public static Schedule linear(int T) {
        double scale = 1000.0 / T;
        return linear(T, scale * 1e-4, scale * 0.02);
    }

    /** β linear from {@code betaStart} to {@code betaEnd} inclusive (numpy linspace, in double). */
    public static Schedule linear(int T, double betaStart, double betaEnd) {
        if (T < 2) throw new IllegalArgumentException("T must be >= 2, got " + T);
        double[] b = new double[T];
        for (int t = 0; t < T; t++) b[t] = betaStart + (betaEnd - betaStart) * t / (T - 1);
        return new Schedule(Kind.LINEAR, b);
    }

    /** The cosine schedule with s = 0.008 and β ≤ 0.999. */
    public static Schedule cosine(int T) { return cosine(T, 0.008, 0.999); }

    /** β_t = min(1 − ᾱ(t+1)/ᾱ(t), maxBeta) with ᾱ(u) = cos²(((u/T) + s)/(1 + s)·π/2). */
    public static Schedule cosine(int T, double s, double maxBeta) {
        if (T < 2) throw new IllegalArgumentException("T must be >= 2, got " + T);
        double[] b = new double[T];
        for (int t = 0; t < T; t++) {
            double a1 = cosAlphaBar((double) t / T, s), a2 = cosAlphaBar((double) (t + 1) / T, s);
            b[t] = Math.min(1 - a2 / a1, maxBeta);
        }
        return new Schedule(Kind.COSINE, b);
    }

    private static double cosAlphaBar(double u, double s) {
        double c = Math.cos((u + s) / (1 + s) * Math.PI / 2);
        return c * c;
    }

    /** A schedule from explicit betas (each in (0, 1)). */
    public static Schedule fromBetas(double[] betas) { return new Schedule(Kind.CUSTOM, betas); }

    /**
     * The schedule of the subsequence {@code timesteps} (increasing, within [0, T)) of this one, as
     * improved DDPM respaces: ᾱ'_i = ᾱ_{τ_i}, so β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}} (with ᾱ_{τ_{−1}} = 1);
     * every derived coefficient (posterior variance, fixed and learned variances) follows from these
     * betas. Needs at least 2 timesteps.
     */
    public Schedule respaced(int[] timesteps) {
        for (int i = 0; i < timesteps.length; i++)
            if (timesteps[i] < 0 || timesteps[i] >= T || (i > 0 && timesteps[i] <= timesteps[i - 1]))
                throw new IllegalArgumentException("respacing needs increasing timesteps within [0, " + T + "), got "
                        + Arrays.toString(timesteps));
        double[] ab = coefs.get(Coef.ALPHA_BAR), b = new double[timesteps.length];
        double last = 1;
        for (int i = 0; i < timesteps.length; i++) {
            b[i] = 1 - ab[timesteps[i]] / last;
            last = ab[timesteps[i]];
        }
        return new Schedule(Kind.CUSTOM, b);
    }

    /** "linear" or "cosine" with T steps (for command lines). */
    public static Schedule named(String name, int T) {
        return switch (name.trim().toLowerCase()) {
            case "linear" -> linear(T);
            case "cosine" -> cosine(T);
            default -> throw new IllegalArgumentException("unknown schedule '" + name + "': expected linear or cosine");
        };
    }

    // ---------------------------------------------------------------- accessors
    /** Number of diffusion steps T. */
    public int steps() { return T; }

    public Kind kind() { return kind; }

    /** A copy of coefficient {@code c} for t = 0..T−1. */
    public double[] get(Coef c) { return coefs.get(c).clone(); }

    /** Coefficient {@code c} at 0-based step t. */
    public double at(Coef c, int t) { return coefs.get(c)[t]; }

    public double[] betas() { return get(Coef.BETA); }

    public double[] alphasCumprod() { return get(Coef.ALPHA_BAR); }

    /**
     * Coefficient {@code c} as a tensor [T] of {@code dtype} on {@code device}, made on first use
     * and cached (thread-safe). It belongs to this schedule, not to any scope: do not close it.
     */
    public Tensor table(Coef c, DType dtype, Device device) {
        if (!dtype.isFloating()) throw new IllegalArgumentException("coefficient tables are floating, not " + dtype);
        String key = c + "/" + dtype + "/" + device;
        synchronized (tables) {
            Tensor t = tables.get(key);
            if (t == null || t.isReleased()) {
                t = Tensor.ofDoubles(dtype, device, coefs.get(c), T);
                Scope.disown(t);
                t.named(c.name().toLowerCase());
                tables.put(key, t);
            }
            return t;
        }
    }

    /** Float32 table of {@code c} on {@code device}. */
    public Tensor table(Coef c, Device device) { return table(c, DType.F32, device); }

    /** Frees every cached device table (they are remade on next use). */
    public void releaseTables() {
        synchronized (tables) {
            for (Tensor t : tables.values()) t.release();
            tables.clear();
        }
    }

    @Override public String toString() {
        return "Schedule(" + kind.name().toLowerCase() + ", T=" + T + ", beta " + coefs.get(Coef.BETA)[0] + ".."
                + coefs.get(Coef.BETA)[T - 1] + ")";
    }

    @Override public boolean equals(Object o) {
        return o instanceof Schedule s && Arrays.equals(s.coefs.get(Coef.BETA), coefs.get(Coef.BETA));
    }

    @Override public int hashCode() { return Arrays.hashCode(coefs.get(Coef.BETA)); }
}
