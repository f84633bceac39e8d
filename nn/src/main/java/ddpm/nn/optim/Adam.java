package ddpm.nn.optim;

import ddpm.engine.F;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Module;

/**
 * Adam over a model's flat buffers: one {@code F.adamUpdate} (a fused backend pass) per step updates every parameter.
 * The moments m and v are flat buffers like the parameters (same length, same dtype, same device),
 * created outside any scope and released by {@link #close()}. With weight decay, Adam adds
 * wd·p to the gradient (L2, like torch.optim.Adam); {@link AdamW} decays decoupled.
 *
 * <p>Typical step (after {@code loss.backward()}):
 * <pre>
 *   GradClip.Result c = GradClip.compute(model.flatGrads(), 1.0);
 *   opt.step(schedule.lr(opt.stepCount() + 1), c.scale());
 *   ema.update();
 * </pre>
 */
public class Adam implements AutoCloseable {
    public static final double DEFAULT_BETA1 = 0.9, DEFAULT_BETA2 = 0.999, DEFAULT_EPS = 1e-8;

    private final Tensor params, grads, m, v;
    public final double beta1, beta2, eps, weightDecay;
    private final boolean decoupled;
    private long step;
    private boolean closed;

    /** Adam with β 0.9/0.999, eps 1e-8, no weight decay. */
    public Adam(Module model) { this(model, DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPS, 0.0); }

    public Adam(Module model, double beta1, double beta2, double eps, double weightDecay) {
        this(model, beta1, beta2, eps, weightDecay, false);
    }

    protected Adam(Module model, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("betas must be in [0, 1): " + beta1 + ", " + beta2);
        if (!(eps > 0)) throw new IllegalArgumentException("eps must be positive, got " + eps);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        this.params = model.flatParams();
        this.grads = model.flatGrads();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decoupled = decoupled;
        this.m = params.zerosLike();
        this.v = params.zerosLike();
        Scope.disown(m);
        Scope.disown(v);
    }

    public boolean decoupled() { return decoupled; }

    /** Whether this optimizer updates {@code model}'s flat parameter buffer. */
    public boolean isFor(Module model) { return model.flatParams() == params; }

    /** Steps taken so far (Adam's t after the last step; bias corrections use t). */
    public long stepCount() { return step; }

    /** Sets the step count (checkpoint restore). */
    public void setStepCount(long s) {
        if (s < 0) throw new IllegalArgumentException("step must be >= 0, got " + s);
        step = s;
    }

    /** First moments (flat, parameter order). */
    public Tensor m() { return m; }

    /** Second moments (flat, parameter order). */
    public Tensor v() { return v; }

    /** One update with learning rate lr and the gradient multiplied by gradScale (the clip factor, or 1). */
    public void step(double lr, double gradScale) {
        if (closed) throw new IllegalStateException("optimizer was closed");
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
        if (!Double.isFinite(gradScale)) throw new IllegalArgumentException("gradScale must be finite, got " + gradScale);
        step++;
        F.adamUpdate(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
    }

    public void step(double lr) { step(lr, 1.0); }

    /**
     * One update with the gradients clipped at global norm maxNorm, the norm taken from
     * {@code gradSumSquares} (Σg², one element, {@link GradClip#sumSquares}) where the gradients are:
     * on a GPU the host reads nothing. A non-finite norm skips the update (weights and moments
     * untouched); the caller finds out when it reads the norm (see {@code Trainer}).
     */
    public void step(double lr, Tensor gradSumSquares, double maxNorm) {
        if (closed) throw new IllegalStateException("optimizer was closed");
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
        step++;
        F.adamUpdateClipped(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradSumSquares, maxNorm);
    }

    /**
     * Writes step {@code step}'s schedule, [lr, 1−β1^step, 1−β2^step] as floats, into {@code hyper}
     * (F32 [3]) for {@link #stepScheduled}: the values {@link #step(double, Tensor, double)} passes.
     */
    public void writeSchedule(Tensor hyper, double lr, long step) {
        if (step < 1) throw new IllegalArgumentException("step counts from 1, got " + step);
        hyper.copyFrom(new float[]{(float) lr, (float) (1 - Math.pow(beta1, step)), (float) (1 - Math.pow(beta2, step))});
    }

    /**
     * The update of {@link #step(double, Tensor, double)} with lr and the bias corrections read
     * from {@code hyper} on the device ({@link #writeSchedule}), for a recorded training step; it
     * leaves the step count alone (the caller sets it, {@link #setStepCount}, as replays run no Java).
     */
    public void stepScheduled(Tensor hyper, Tensor gradSumSquares, double maxNorm) {
        if (closed) throw new IllegalStateException("optimizer was closed");
        F.adamUpdateScheduled(params, grads, m, v, hyper, beta1, beta2, eps, weightDecay, decoupled, gradSumSquares, maxNorm);
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        m.release();
        v.release();
    }
}
