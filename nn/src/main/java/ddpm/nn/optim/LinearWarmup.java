package ddpm.nn.optim;

/**
 * DDPM's learning-rate schedule: lr(t) = base · min(1, t / warmupSteps) for the 1-based step t
 * about to be taken (so step 1 uses base/warmup, step warmup and later use base); no warmup when
 * warmupSteps is 0. The paper: base 2e-4, warmup 5000.
 */
public record LinearWarmup(double base, long warmupSteps) {
    public LinearWarmup {
        if (!(base >= 0) || Double.isInfinite(base)) throw new IllegalArgumentException("base lr must be finite and >= 0, got " + base);
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
    }

    public double lr(long step) {
        if (step < 1) throw new IllegalArgumentException("steps are 1-based, got " + step);
        if (warmupSteps == 0 || step >= warmupSteps) return base;
        return base * step / warmupSteps;
    }
}
