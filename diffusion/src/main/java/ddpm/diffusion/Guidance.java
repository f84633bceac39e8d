package ddpm.diffusion;

import ddpm.engine.Tensor;

import java.util.Arrays;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2022) as an {@link EpsModel}:
 * ε̃(x, t, c) = (1 + w)·ε(x, t, c) − w·ε(x, t, ∅). Wrap a conditional model with it and hand it
 * to any sampler.
 *
 * <p>The unconditional prediction ε(x, t, ∅) is the model called with {@code labels = null}
 * (two calls per step), or — when a null-label id is given — the model called with that id, and
 * then the conditional and unconditional halves go through the model in one call of batch 2B
 * ([x; x], [t; t], [c; ∅]). With w = 0 the wrapper returns the conditional prediction itself
 * (one call of batch B). With labels = null the model's unconditional prediction is returned.
 * For a model with the learned variance (2·C output channels) only the mean part is combined;
 * the variance channels are the conditional prediction's.
 */
public final class Guidance implements EpsModel {
    private final EpsModel model;
    private final double w;
    private final Integer nullLabel;

    /** Guidance weight w ≥ 0; ∅ is {@code labels = null} (two model calls per step). */
    public Guidance(EpsModel model, double w) {
        this(model, w, null);
    }

    /** Guidance weight w ≥ 0; ∅ is the class id {@code nullLabel} (one batched call per step). */
    public Guidance(EpsModel model, double w, int nullLabel) {
        this(model, w, Integer.valueOf(nullLabel));
    }

    private Guidance(EpsModel model, double w, Integer nullLabel) {
        if (!(w >= 0) || Double.isInfinite(w)) throw new IllegalArgumentException("guidance weight must be >= 0, got " + w);
        this.model = model;
        this.w = w;
        this.nullLabel = nullLabel;
    }

    public double weight() { return w; }

    public EpsModel model() { return model; }

    /** True when cond and uncond are batched into one model call. */
    public boolean batched() { return nullLabel != null; }

    @Override public Tensor predictEps(Tensor x, Tensor t, Tensor labels) {
        if (labels == null) return model.predictEps(x, t, nullLabels(x, t));
        if (w == 0) return model.predictEps(x, t, labels);
        Tensor cond, uncond;
        if (nullLabel == null) {
            cond = model.predictEps(x, t, labels);
            uncond = model.predictEps(x, t, null);
        } else {
            int b = x.dim(0);
            int[] nl = new int[b];
            Arrays.fill(nl, nullLabel);
            Tensor both = model.predictEps(Tensor.concat(0, x, x), Tensor.concat(0, t, t),
                    Tensor.concat(0, labels, Tensor.ofInts(nl, labels.device(), b)));
            cond = both.slice(0, 0, b);
            uncond = both.slice(0, b, 2 * b);
        }
        if (cond.rank() > 1 && cond.dim(1) == 2 * x.dim(1)) {
            // a learned variance: guide the mean output, keep the conditional variance channels
            int c = x.dim(1);
            return Tensor.concat(1, combine(cond.slice(1, 0, c), uncond.slice(1, 0, c), w), cond.slice(1, c, 2 * c));
        }
        return combine(cond, uncond, w);
    }

    /** (1 + w)·cond − w·uncond. */
    public static Tensor combine(Tensor cond, Tensor uncond, double w) {
        return cond.mul(1 + w).sub(uncond.mul(w));
    }

    private Tensor nullLabels(Tensor x, Tensor t) {
        if (nullLabel == null) return null;
        int[] nl = new int[x.dim(0)];
        Arrays.fill(nl, nullLabel);
        return Tensor.ofInts(nl, t.device(), x.dim(0));
    }

    @Override public String toString() {
        return "Guidance(w=" + w + (nullLabel == null ? ", uncond=null labels" : ", null label " + nullLabel) + ")";
    }

}
