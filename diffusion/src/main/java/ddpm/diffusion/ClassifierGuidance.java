package ddpm.diffusion;

import ddpm.engine.Grad;
import ddpm.engine.Tensor;
import ddpm.nn.Classification;

/**
 * Classifier guidance (Dhariwal &amp; Nichol 2021): a classifier p_φ(y | x_t, t) of noisy images
 * steers sampling towards class y with scale s. Ancestral sampling shifts the mean of
 * p_θ(x_{t−1} | x_t) by s·Σ_t·∇_{x_t} log p_φ(y | x_t, t); DDIM replaces ε̂ by
 * ε̂ − s·√(1−ᾱ_t)·∇_{x_t} log p_φ(y | x_t, t). The gradient is the engine's autograd through the
 * classifier, taken even while the sampler runs without gradients.
 */
public final class ClassifierGuidance {

    /** A classifier of noisy images: logits [B, K] of x_t [B, …] at int32 model timesteps t [B]. */
    @FunctionalInterface
    public interface NoisyClassifier {
        Tensor logits(Tensor x, Tensor t);
    }

    private final NoisyClassifier classifier;
    private final double scale;

    /** @param scale s ≥ 0 (0: no guidance, the gradient is still computed) */
    public ClassifierGuidance(NoisyClassifier classifier, double scale) {
        if (!(scale >= 0) || Double.isInfinite(scale)) throw new IllegalArgumentException("classifier scale must be >= 0, got " + scale);
        this.classifier = classifier;
        this.scale = scale;
    }

    public double scale() { return scale; }

    /**
     * ∇_x log p_φ(y_b | x_b, t_b) for each sample b (the samples are independent, so this is the
     * gradient of Σ_b log p), shaped like x, with no graph attached; labels are int32 [B].
     */
    public Tensor gradLogProb(Tensor x, Tensor t, Tensor labels) {
        if (labels == null) throw new IllegalArgumentException("classifier guidance needs the class labels to steer towards");
        try (Grad.Guard on = Grad.enableGrad()) {
            Tensor xin = x.detach().requiresGrad(true);
            Tensor logp = Classification.logProbOf(classifier.logits(xin, t), labels);
            logp.sum().backward();
            Tensor g = xin.grad();
            if (g == null) throw new IllegalStateException("the classifier's output does not depend on its input");
            return g;
        }
    }

    @Override public String toString() { return "ClassifierGuidance(s=" + scale + ")"; }
}
