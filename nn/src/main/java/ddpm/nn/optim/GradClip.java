package ddpm.nn.optim;

import ddpm.engine.Tensor;

/**
 * Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_: norm = ‖g‖₂ over the flat
 * gradient buffer (one SUMSQ reduction), scale = min(1, maxNorm / (norm + 1e-6)). The scale is
 * meant to be passed to {@link Adam#step(double, double)} as gradScale, so clipping costs no extra
 * pass over the gradients ({@link #apply} exists for when the scaled gradients themselves are wanted);
 * {@link #sumSquares} with {@link Adam#step(double, Tensor, double)} does the same without the host
 * reading the norm.
 */
public final class GradClip {
    private GradClip() {}

    public record Result(double norm, double scale) {
        public boolean clipped() { return scale < 1; }
    }

    /** The global norm of {@code flatGrads} and the clip factor for maxNorm (maxNorm ≤ 0 or ∞: no clipping). */
    public static Result compute(Tensor flatGrads, double maxNorm) {
        double norm = norm(flatGrads);
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) return new Result(norm, 1.0);
        return new Result(norm, Math.min(1.0, maxNorm / (norm + 1e-6)));
    }

    /**
     * Σg² of a flat buffer as a one-element tensor where the buffer is (no host read): what
     * {@link Adam#step(double, Tensor, double)} clips with; its square root is the norm to log.
     */
    public static Tensor sumSquares(Tensor flatGrads) { return flatGrads.sumSquares(); }

    /** ‖g‖₂ of a flat buffer (accumulated in double on the CPU). */
    public static double norm(Tensor flat) {
        Tensor s = flat.sumSquares();
        double v = s.item();
        s.release();
        return Math.sqrt(v);
    }

    /** Multiplies the gradients in place by the clip factor (an extra pass; usually unnecessary). */
    public static Result apply(Tensor flatGrads, double maxNorm) {
        Result r = compute(flatGrads, maxNorm);
        if (r.scale() != 1.0) {
            Tensor scaled = flatGrads.mul(r.scale());
            flatGrads.copyFrom(scaled);
            scaled.release();
        }
        return r;
    }
}
