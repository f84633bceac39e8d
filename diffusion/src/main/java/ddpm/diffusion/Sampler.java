package ddpm.diffusion;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;

/**
 * Draws samples x_0 from a model by running a reverse process from x_T ~ N(0, I). Implementations
 * ({@link DdpmSampler}, {@link DdimSampler}) run under {@code Grad.noGrad()} with one
 * {@code Scope} per step, so memory stays flat however many steps there are, and draw all their
 * randomness from the given {@link Rng}: the same seed gives the same images.
 */
public interface Sampler {

    /**
     * Observes a sampling run. {@link #onStep} is called after every step (for a progress bar);
     * when {@link #predX0Every()} is k &gt; 0, {@link #onPredX0} is also called every k steps and
     * after the last one with the current x̂0 (progressive generation, paper Fig. 6). The tensors
     * passed belong to the step's scope and are released when the call returns: copy what you keep
     * (e.g. {@code toFloats()}).
     */
    interface Listener {
        /** Step {@code done} of {@code total} finished (1-based). */
        default void onStep(int done, int total) {}

        /** 0: never call {@link #onPredX0}. */
        default int predX0Every() { return 0; }

        /** x̂0 predicted at step {@code done} of {@code total} (model timestep t), and the new x_{t−1}. */
        default void onPredX0(int done, int total, int t, Tensor predX0, Tensor x) {}

        /** A listener for a progress bar only. */
        static Listener progress(java.util.function.BiConsumer<Integer, Integer> onStep) {
            return new Listener() {
                @Override public void onStep(int done, int total) { onStep.accept(done, total); }
            };
        }

        /** A listener receiving x̂0 every {@code every} steps (and at the end). */
        static Listener progressive(int every, PredX0Consumer consumer) {
            if (every < 1) throw new IllegalArgumentException("every must be >= 1, got " + every);
            return new Listener() {
                @Override public int predX0Every() { return every; }

                @Override public void onPredX0(int done, int total, int t, Tensor predX0, Tensor x) {
                    consumer.accept(done, total, t, predX0, x);
                }
            };
        }
    }

    /** Receives progressive x̂0 (see {@link Listener#onPredX0}). */
    @FunctionalInterface
    interface PredX0Consumer {
        void accept(int done, int total, int t, Tensor predX0, Tensor x);
    }

    /** Number of model evaluations (reverse steps) per sample. */
    int steps();

    /**
     * Runs the reverse process from {@code xT} (not modified, not released) with class labels
     * (int32 [B], or null) and per-step noise from {@code rng}; listener may be null. The result is
     * a new tensor owned by the caller's current scope (or by the caller when none is open).
     * The final x̂0 is clipped to [−1, 1] when the sampler clips; the returned x_0 itself is not
     * clamped (clamp before quantising to 8 bits).
     */
    Tensor sample(EpsModel model, Tensor xT, Tensor labels, Rng rng, Listener listener);

    /** Draws x_T ~ N(0, I) of {@code shape} (float32 on {@code device}) from rng, then samples. */
    default Tensor sample(EpsModel model, int[] shape, Device device, Tensor labels, Rng rng, Listener listener) {
        Tensor xT = Tensor.randn(rng, DType.F32, device, shape);
        try {
            return sample(model, xT, labels, rng, listener);
        } finally {
            xT.release();
        }
    }
}
