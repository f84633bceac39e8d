package ddpm.engine;

/**
 * The core primitives a device implements. The CPU backend's implementation of each primitive is
 * its specification; other backends must match it (parity tests). Autograd sits above: every op's
 * backward is written in these primitives, so a backend gets gradients for free. The fused
 * diffusion steps and optimiser updates are a separate, optional extension ({@link FusedOps}),
 * with a fallback composed of these primitives.
 *
 * <p>Conventions: every tensor argument lives on this backend's device, is contiguous row-major
 * starting at {@link Tensor#offset()} of its storage, and outputs are allocated by the caller
 * (never aliased with inputs, except that the elementwise primitives — unary, unaryBackward,
 * binary, affine, powScalar, clamp — may write in place: out the very same tensor as an input). Floating tensors share one dtype per call
 * (F32, or F64 on the CPU); index tensors are I32. Shapes have been validated by the caller.
 */
public interface Backend {
    Device device();

    /** Uninitialised storage of {@code length} elements. */
    Storage allocate(DType dtype, long length);

    /** Bytes currently allocated to live storages, and other counters. */
    MemoryStats memoryStats();

    /** Waits until all queued work is done (a no-op on the CPU). */
    default void synchronize() {}

    // ---------------------------------------------------------------- recorded work (CUDA graphs)
    /** Recorded device work, replayed with the same tensors (see {@link #capture}). */
    interface Graph extends AutoCloseable {
        /** Queues the recorded work again; new inputs go into the same tensors beforehand. */
        void replay();

        @Override void close();
    }

    /** Whether {@link #capture} records work (the CUDA backend); callers run the work directly elsewhere. */
    default boolean canCapture() { return false; }

    /**
     * Records the device work {@code work} queues into a {@link Graph} instead of running it. Inside,
     * only device work: host transfers and reads fail. Tensors made inside keep their memory for
     * the graph until it is closed.
     */
    default Graph capture(Runnable work) {
        throw new UnsupportedOperationException(device() + " does not record work; check canCapture() first");
    }

    /**
     * For replays of recorded work: shifts the Philox offset of every later draw of stream
     * {@code seed} by this backend's device kernels by {@code delta} blocks (0 restores). Only
     * backends that record work have it; elsewhere only 0 is accepted.
     */
    default void setRandomOffsetShift(long seed, long delta) {
        if (delta != 0) throw new UnsupportedOperationException(device() + " does not record work, so it shifts no random offsets");
    }

    /**
     * Reads of tensor data to the host so far (each waits for the work queued before it): what a
     * loop that must not stall a GPU counts. 0 where the data is on the host already (the CPU).
     */
    default long hostReads() { return 0; }

    // ---------------------------------------------------------------- math precision
    /** Whether matmul, convolution and attention can compute at {@code p} here (FP32 always can). */
    default boolean supports(MathPrecision p) { return p == MathPrecision.FP32; }

    /** The math precision of matmul, convolution and attention (FP32 unless set). */
    default MathPrecision precision() { return MathPrecision.FP32; }

    /** Sets the math precision of matmul, convolution and attention; throws naming the backend when it lacks it. */
    default void setPrecision(MathPrecision p) {
        if (!supports(p)) throw new IllegalArgumentException(device() + " computes in fp32 only, not " + p);
    }

    // ---------------------------------------------------------------- transfers and fills
    /** dst[i] = src[i] for i in [0, numel(dst)), converting to dst's dtype. */
    void write(Tensor dst, float[] src);

    void write(Tensor dst, double[] src);

    void write(Tensor dst, int[] src);

    /** Host copies of the elements, converted. */
    float[] readFloats(Tensor src);

    double[] readDoubles(Tensor src);

    int[] readInts(Tensor src);

    /** dst = src elementwise (same numel), converting dtype where they differ. */
    void copy(Tensor src, Tensor dst);

    void fill(Tensor dst, double value);

    // ---------------------------------------------------------------- elementwise
    void unary(Ops.Unary op, Tensor x, Tensor out);

    /** gx = gy · dy/dx for y = op(x); y is the forward output (some ops use it). */
    void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx);

    /** out = a op b, where a and b broadcast (numpy rules, right-aligned) to out's shape. */
    void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out);

    /** out = x · scale + shift. */
    void affine(Tensor x, double scale, double shift, Tensor out);

    /** out = x ^ p (elementwise power by a constant). */
    void powScalar(Tensor x, double p, Tensor out);

    /** out = min(max(x, lo), hi). */
    void clamp(Tensor x, double lo, double hi, Tensor out);

    /** out = cond != 0 ? a : b, all three broadcasting to out's shape. */
    void where(Tensor cond, Tensor a, Tensor b, Tensor out);

    // ---------------------------------------------------------------- layout
    /** Reduces the middle axis of x viewed as [outer, n, inner]; out holds outer·inner values. */
    void reduce(Ops.Reduce op, Tensor x, int outer, int n, int inner, Tensor out);

    /** out = x with axes permuted: out.shape[i] = x.shape[perm[i]]. */
    void permute(Tensor x, int[] perm, Tensor out);

    /** dst[..., start : start + src.shape[axis], ...] = src along {@code axis}; other axes equal. */
    void writeSlice(Tensor src, Tensor dst, int axis, int start);

    /** dst = src[..., start : start + dst.shape[axis], ...] along {@code axis}. */
    void readSlice(Tensor src, Tensor dst, int axis, int start);

    // ---------------------------------------------------------------- dense algebra
    /**
     * out[b] = alpha · op(a[b]) · op(b[b]) + beta · out[b], with op = transpose where asked.
     * a is [Ba, M, K] ([Ba, K, M] if transA), b is [Bb, K, N] ([Bb, N, K] if transB), out is
     * [B, M, N]; Ba and Bb are B or 1 (broadcast). Rank-2 operands mean a batch of 1.
     */
    void matmul(Tensor a, Tensor b, Tensor out, boolean transA, boolean transB, double alpha, double beta);

    /** x [N,C,H,W], w [O,C,k,k], bias [O] or null, out [N,O,Ho,Wo]; Ho = (H + 2·pad − k)/stride + 1. */
    void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad);

    /** gx = ∂L/∂x (overwritten) from gy for the conv above. */
    void conv2dBackwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad);

    /** gw = ∂L/∂w (overwritten) from x and gy for the conv above. */
    void conv2dBackwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad);

    // ---------------------------------------------------------------- normalisation, attention
    /**
     * Group norm over x [N, C, *] with C split into {@code groups}: out = (x − μ)·rstd·γ + β, then
     * SiLU when {@code silu}. mean and rstd [N, groups] receive the statistics (float32 or
     * better accumulation, two-pass or Welford).
     */
    void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu,
                   Tensor out, Tensor mean, Tensor rstd);

    /** Backward of {@link #groupNorm}: gx overwritten; ggamma and gbeta [C] overwritten. */
    void groupNormBackward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd, int groups,
                           boolean silu, Tensor gy, Tensor gx, Tensor ggamma, Tensor gbeta);

    /** Softmax over the last axis. */
    void softmax(Tensor x, Tensor out);

    /** gx = y ⊙ (gy − Σ(gy ⊙ y)) over the last axis. */
    void softmaxBackward(Tensor y, Tensor gy, Tensor gx);

    /**
     * Fused attention: out = softmax(q kᵀ · scale) v with q [B, L, D], k [B, S, D], v [B, S, Dv],
     * out [B, L, Dv]; lse [B, L] receives the log-sum-exp of each scaled score row.
     */
    void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor out, Tensor lse);

    /** Backward of {@link #attention}; gq, gk, gv overwritten. */
    void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout,
                           double scale, Tensor gq, Tensor gk, Tensor gv);

    // ---------------------------------------------------------------- resampling, indexing
    /** Nearest-neighbour 2× upsample of [N, C, H, W] to [N, C, 2H, 2W]. */
    void upsampleNearest2x(Tensor x, Tensor out);

    /** gx[n,c,i,j] = Σ of the 2×2 block of gy it was copied to. */
    void upsampleNearest2xBackward(Tensor gy, Tensor gx);

    /** out[b, ...] = table[index[b], ...]: table [T, *], index I32 [B], out [B, *]. */
    void gather(Tensor table, Tensor index, Tensor out);

    /** Backward of gather: gtable (zeroed by the caller) [index[b], ...] += gout[b, ...]. */
    void scatterAdd(Tensor gout, Tensor index, Tensor gtable);

    // ---------------------------------------------------------------- randomness (Philox 4x32-10)
    /** Uniform (0, 1) numbers of stream (seed, offset); see {@link Philox}. */
    void randUniform(Tensor out, long seed, long offset);

    /** Standard normal numbers of stream (seed, offset); see {@link Philox}. */
    void randNormal(Tensor out, long seed, long offset);

    /** out = (u ≥ p) / (1 − p) with u uniform from (seed, offset): a scaled dropout mask. */
    void dropoutMask(Tensor out, double p, long seed, long offset);
}
