package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Tensor;

/** Log-probabilities, cross-entropy and accuracy of class logits [B, K], in Tensor ops (differentiable). */
public final class Classification {
    private Classification() {}

    /**
     * log softmax over the last axis: logits − max − log Σ exp(logits − max). The max is a constant
     * of the graph (its gradient cancels), so the gradient is exact and no probability underflows.
     */
    public static Tensor logSoftmax(Tensor logits) {
        int last = logits.rank() - 1;
        Tensor shifted = logits.sub(logits.max(true, last).detach());
        return shifted.sub(shifted.exp().sum(true, last).log());
    }

    /** One-hot rows [B, K] of int labels, in the dtype and on the device of {@code like}. */
    public static Tensor oneHot(int[] labels, int classes, Tensor like) {
        double[] v = new double[labels.length * classes];
        for (int b = 0; b < labels.length; b++) {
            if (labels[b] < 0 || labels[b] >= classes)
                throw new IllegalArgumentException("label " + labels[b] + " of sample " + b + " is not in [0, " + classes + ")");
            v[b * classes + labels[b]] = 1;
        }
        return Tensor.ofDoubles(like.dtype(), like.device(), v, labels.length, classes);
    }

    /** log p(y_b | x_b) [B] from logits [B, K] and int32 labels [B]. */
    public static Tensor logProbOf(Tensor logits, Tensor labels) {
        if (logits.rank() != 2) throw new IllegalArgumentException("logits must be [B, K], got " + logits.describe());
        if (labels.dtype() != DType.I32 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
            throw new IllegalArgumentException("labels must be int32 [" + logits.dim(0) + "], got " + labels.describe());
        return logSoftmax(logits).mul(oneHot(labels.toInts(), logits.dim(1), logits)).sum(1);
    }

    /** Mean cross-entropy −log p(y|x) over the batch, in nats. */
    public static Tensor crossEntropy(Tensor logits, Tensor labels) { return logProbOf(logits, labels).mean().neg(); }

    /** The predicted class (argmax of each row) of logits [B, K] read to the host. */
    public static int[] argmax(Tensor logits) {
        int b = logits.dim(0), k = logits.dim(1);
        float[] v = logits.toFloats();
        int[] out = new int[b];
        for (int i = 0; i < b; i++) {
            int best = 0;
            for (int j = 1; j < k; j++) if (v[i * k + j] > v[i * k + best]) best = j;
            out[i] = best;
        }
        return out;
    }
}
