package ddpm.engine;

/**
 * The fused extensions of the {@link Backend} contract: the diffusion steps and the optimiser
 * updates, each one pass over its tensors where the core primitives would take several. A
 * backend may implement them (the CPU and CUDA backends do); {@link #of} gives a backend's own
 * implementation, or else the composed fallback, written in core primitives, which computes
 * the same values ({@link ComposedFusedOps}). Same conventions as {@link Backend}: caller-
 * allocated outputs, one floating dtype per call, I32 index tensors.
 */
public interface FusedOps {
    /** The fused ops of {@code backend}: its own when it implements them, else the composed fallback. */
    static FusedOps of(Backend backend) {
        return backend instanceof FusedOps f ? f : ComposedFusedOps.INSTANCE;
    }

    // ---------------------------------------------------------------- diffusion steps
    /** out[b,…] = a[t[b]]·x0[b,…] + s[t[b]]·eps[b,…]: the forward noising q(x_t | x_0). */
    void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out);

    /** out[b,…] = c1[t[b]]·(xt − c2[t[b]]·epsHat) + sigma[t[b]]·z; z may be null (no noise). */
    void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma, Tensor out);

    /**
     * DDIM update. coefs [S, 5] holds per step (√ᾱ_t, √(1−ᾱ_t), √ᾱ_prev, √(1−ᾱ_prev−σ²), σ);
     * x̂0 = (xt − √(1−ᾱ_t)·ε̂)/√ᾱ_t; when clip &gt; 0, x̂0 is clipped to [−clip, clip] and ε̂ re-derived
     * from it, ε̂ = (xt − √ᾱ_t·x̂0)/√(1−ᾱ_t) (as the reference DDIM samplers do);
     * out = √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·z, with row idx[b] for sample b; z may be null.
     */
    void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out);

    // ---------------------------------------------------------------- convolution with its adds
    /**
     * out = conv2d(x, w, bias) + nAdd[n, o] (broadcast over the pixels) + residual: a ResBlock's
     * convolution with the timestep-embedding add (conv1) or the shortcut add (conv2) in its
     * epilogue. bias [O], nAdd [N, O] and residual (out's shape) may each be null. This default
     * composes the backend's conv2d with two adds, in that order (the CUDA backend fuses them); a
     * BF16 out gets the float32 sum rounded once, as a fused epilogue stores it.
     */
    default void conv2dAdd(Tensor x, Tensor w, Tensor bias, Tensor nAdd, Tensor residual, Tensor out, int stride, int pad) {
        Backend b = x.backend();
        if (out.dtype() == DType.BF16) {
            try (Scope scope = Scope.open()) {
                Tensor sum = Tensor.empty(b, DType.F32, out.shape());
                conv2dAdd(x, w, bias, nAdd, residual, sum, stride, pad);
                b.copy(sum, out);
            }
            return;
        }
        b.conv2d(x, w, bias, out, stride, pad);
        // in place (the elementwise primitives allow out to be an input): one pass per addend
        if (nAdd != null) {
            try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
                b.binary(Ops.Binary.ADD, out, nAdd.reshape(nAdd.dim(0), nAdd.dim(1), 1, 1), out);
            }
        }
        if (residual != null) b.binary(Ops.Binary.ADD, out, residual, out);
    }

    // ---------------------------------------------------------------- group norm + SiLU into the next convolution
    /**
     * out = conv2d(SiLU(groupNorm(x, γ, β)), w, bias) + nAdd + residual (as {@link #conv2dAdd});
     * mean and rstd [N, groups] receive x's statistics, as {@link Backend#groupNorm}'s do. A backend
     * may apply the norm as the convolution loads its input, so that the normalised input is never
     * stored (CUDA at TF32/BF16, for the shapes its halo kernels take). This default writes it:
     * groupNorm into a scratch (float32 for a BF16 x: a fused kernel does not round it), then conv2dAdd.
     */
    default void groupNormSiluConv2dAdd(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, Tensor w, Tensor bias,
                                        Tensor nAdd, Tensor residual, Tensor out, Tensor mean, Tensor rstd, int stride, int pad) {
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            Tensor h = Tensor.empty(x.backend(), x.dtype().widened(), x.shape());
            x.backend().groupNorm(x, gamma, beta, groups, eps, true, h, mean, rstd);
            conv2dAdd(h, w, bias, nAdd, residual, out, stride, pad);
        }
    }

    // ---------------------------------------------------------------- optimiser updates over flat buffers
    /**
     * One Adam/AdamW step over flat buffers, in place: g = grad·gradScale (+ wd·p when !decoupled);
     * m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/(1−β1^step)) / (√(v/(1−β2^step)) + eps)
     * (+ lr·wd·p when decoupled).
     */
    void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
              double eps, double weightDecay, boolean decoupled, long step, double gradScale);

    /**
     * Adam with the global-norm clip taken where the gradients are: gradScale = {@link #clipScale}
     * of ‖g‖ = √gradSumSquares[0] (a one-element tensor, so a GPU backend never has the host read
     * it); when ‖g‖ is not finite nothing is written (the step is skipped, for the caller to report).
     * This default reads the sum on the host (free on the CPU); the CUDA backend does it in the kernel.
     */
    default void adamClipped(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                             double eps, double weightDecay, boolean decoupled, long step, Tensor gradSumSquares,
                             double maxNorm) {
        double scale = clipScale(gradSumSquares.item(), maxNorm);
        if (!Double.isNaN(scale)) adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, scale);
    }

    /**
     * {@link #adamClipped} with the learning rate and the bias corrections read from {@code hyper}
     * = [lr, 1−β1^step, 1−β2^step] (F32 [3] on the device, as {@code float}s of those doubles): a
     * recorded training step replays with each step's schedule written there first. Only backends
     * that record work ({@code Backend.canCapture}) have it.
     */
    default void adamScheduled(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor hyper, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, Tensor gradSumSquares, double maxNorm) {
        throw new UnsupportedOperationException("adamScheduled is for recorded steps, on a backend that records work");
    }

    /**
     * The clip factor of torch.nn.utils.clip_grad_norm_ for a gradient with Σg² = sumSquares:
     * min(1, maxNorm / (‖g‖ + 1e-6)), 1 when maxNorm ≤ 0 or ∞ (no clipping), NaN when ‖g‖ is not finite.
     */
    static double clipScale(double sumSquares, double maxNorm) {
        double norm = Math.sqrt(sumSquares);
        if (!Double.isFinite(norm)) return Double.NaN;
        return maxNorm > 0 && Double.isFinite(maxNorm) ? Math.min(1.0, maxNorm / (norm + 1e-6)) : 1.0;
    }

    /** ema = decay·ema + (1 − decay)·param, in place. */
    void ema(Tensor ema, Tensor param, double decay);

    // ---------------------------------------------------------------- shared checks
    /**
     * Throws naming the op, the sample and the table when a timestep (row) {@code steps[b]} does
     * not index every table of rows of {@code rowLength} elements; returns steps.
     */
    static int[] checkSteps(String op, int[] steps, int rowLength, Tensor... tables) {
        for (Tensor table : tables) {
            if (table == null) continue;
            long rows = table.numel() / rowLength;
            for (int b = 0; b < steps.length; b++)
                if (steps[b] < 0 || steps[b] >= rows)
                    throw new IndexOutOfBoundsException(op + ": timestep " + steps[b] + " of sample " + b
                            + " is out of range [0, " + rows + ") of table " + table.describe());
        }
        return steps;
    }
}
