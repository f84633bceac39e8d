package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;

/**
 * Inverted dropout, active only in training mode. Masks come from the Philox stream set with
 * {@link Module#setDropoutRng} (the UNet sets one at construction and checkpoints its state), so a
 * run is reproducible and resumable bit for bit.
 */
public class Dropout extends Module {
    public final double p;
    Rng rng;

    public Dropout(double p) {
        if (p < 0 || p >= 1) throw new IllegalArgumentException("Dropout: probability must be in [0, 1), got " + p);
        this.p = p;
    }

    public Rng rng() { return rng; }

    /** Whether forward changes anything: training with p > 0. */
    public boolean active() { return isTraining() && p > 0; }

    public Tensor forward(Tensor x) {
        if (!isTraining() || p == 0) return x;
        if (rng == null) throw new IllegalStateException("Dropout(" + p + ") in training mode has no RNG: call setDropoutRng on the root module");
        return F.dropout(x, p, rng, true);
    }
}
