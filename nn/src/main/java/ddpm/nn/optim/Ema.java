package ddpm.nn.optim;

import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Module;

/**
 * An exponential moving average of a model's parameters, ema = decay·ema + (1−decay)·p, as a
 * second flat buffer (one {@code F.emaUpdate} per update). Starts as a copy of the current
 * parameters. For sampling, {@link #swap()} exchanges the model's parameters with the EMA weights
 * in place (call again, or close the returned handle, to swap back); {@link #copyTo} writes the
 * EMA weights into another model of the same architecture.
 */
public class Ema implements AutoCloseable {
    public static final double DEFAULT_DECAY = 0.9999;

    private final Module model;
    private final Tensor params, shadow;
    public final double decay;
    private boolean swapped, closed;

    public Ema(Module model) { this(model, DEFAULT_DECAY); }

    public Ema(Module model, double decay) {
        if (!(decay >= 0 && decay <= 1)) throw new IllegalArgumentException("EMA decay must be in [0, 1], got " + decay);
        this.model = model;
        this.params = model.flatParams();
        this.decay = decay;
        this.shadow = params.copy();
        Scope.disown(shadow);
    }

    /** The EMA weights (flat, parameter order). */
    public Tensor flat() { return shadow; }

    /** ema ← decay·ema + (1−decay)·params; call after each optimizer step. */
    public void update() {
        check();
        if (swapped) throw new IllegalStateException("EMA update while the EMA weights are swapped into the model");
        F.emaUpdate(shadow, params, decay);
    }

    /** Resets the average to the current parameters. */
    public void reset() { check(); shadow.copyFrom(params); }

    /** Whether the model currently holds the EMA weights. */
    public boolean isSwapped() { return swapped; }

    /**
     * Exchanges the model's parameters and the EMA weights (three copies through a temporary).
     * The returned handle swaps back when closed: {@code try (var s = ema.swap()) { sample(model); }}.
     */
    public Swap swap() {
        check();
        try (Grad.Guard g = Grad.noGrad(); Scope scope = Scope.open()) {
            Tensor tmp = params.copy();
            params.copyFrom(shadow);
            shadow.copyFrom(tmp);
        }
        swapped = !swapped;
        return new Swap();
    }

    /** Swaps back on close (once). */
    public final class Swap implements AutoCloseable {
        private boolean done;

        @Override public void close() {
            if (done) return;
            done = true;
            swap();
        }
    }

    /** Writes the EMA weights into another module with the same flat layout (e.g. a sampling copy). */
    public void copyTo(Module other) {
        check();
        Tensor dst = other.flatParams();
        if (dst.numel() != shadow.numel() || dst.dtype() != shadow.dtype())
            throw new IllegalArgumentException("EMA of " + shadow.describe() + " does not fit model buffer " + dst.describe());
        dst.copyFrom(swapped ? params : shadow);
    }

    public Module model() { return model; }

    private void check() { if (closed) throw new IllegalStateException("EMA was closed"); }

    @Override public void close() {
        if (closed) return;
        closed = true;
        shadow.release();
    }
}
