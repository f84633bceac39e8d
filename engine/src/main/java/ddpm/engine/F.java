package ddpm.engine;

import java.util.Arrays;

/** Layer-level ops (like torch.nn.functional): each forward validates its shapes, calls one
 *  backend primitive (or fused extension, {@link FusedOps}), and records a backward written in
 *  primitives beside it. The optimiser updates are here too: in-place updates of flat buffers,
 *  outside autograd. */
public final class F {
    private F() {}

    private static IllegalArgumentException bad(String op, String what) {
        return new IllegalArgumentException(op + ": " + what);
    }

    private static void rank(String op, String arg, Tensor t, int rank) {
        if (t.rank() != rank) throw bad(op, arg + " must have rank " + rank + ", got " + t.describe());
    }

    /**
     * Throws naming the tensors unless the (non-null) floating tensors share one dtype or mix F32
     * and BF16 only: a BF16 activation meets F32 parameters (weights, norms' γ and β, schedule
     * tables) in every layer, and the layer's output takes the activation's dtype.
     */
    private static void sameDType(String op, Tensor... ts) {
        Tensor first = null;
        for (Tensor t : ts) {
            if (t == null) continue;
            if (first == null) first = t;
            else if (t.dtype() != first.dtype() && !(t.dtype().isFloat32Math() && first.dtype().isFloat32Math())) {
                StringBuilder sb = new StringBuilder();
                for (Tensor u : ts) if (u != null) sb.append(' ').append(u.describe()).append(';');
                throw bad(op, "dtypes differ:" + sb + " convert with .to(DType)");
            }
        }
    }

    // ---------------------------------------------------------------- linear and conv
    /** y = x·wᵀ + b with x [N, in], w [out, in] (PyTorch layout), b [out] or null; y has x's dtype. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        rank("linear", "weight", w, 2);
        if (x.dim(-1) != w.dim(1))
            throw bad("linear", "input " + x.describe() + " has " + x.dim(-1) + " features, weight " + w.describe() + " expects " + w.dim(1));
        Tensor y = x.matmul(w, false, true);
        return b == null ? y : y.add(b.to(y.dtype()));
    }

    /** An uninitialised tensor beside x kept at float32 or better (statistics, a dropout mask): float32 for a BF16 x, else x's dtype. */
    private static Tensor wideFor(Tensor x, int... shape) {
        return Tensor.empty(x.backend(), x.dtype().widened(), shape);
    }

    /** 2-D convolution: x [N,C,H,W], w [O,C,k,k], b [O] or null; square kernel, stride, zero padding. */
    public static Tensor conv2d(Tensor x, Tensor w, Tensor b, int stride, int pad) {
        Tensor.sameDevice("conv2d", x, w, b);
        sameDType("conv2d", x, w, b);
        Tensor out = x.emptyLike(convOutShape("conv2d", x, w, b, stride, pad));
        x.backend().conv2d(x, w, b, out, stride, pad);
        return Tensor.record("conv2d", out, g -> {
            Tensor[] gc = convGrads(g, x, w, b, stride, pad);
            return new Tensor[]{gc[0], gc[1], gc[2]};
        }, x, w, b);
    }

    /**
     * conv2d(x, w, b) + nAdd[:, :, None, None] + residual in one op (see {@link FusedOps#conv2dAdd}):
     * nAdd [N, O] and residual (the output's shape) may each be null. Gradients: those of conv2d,
     * Σ over the pixels for nAdd, the output gradient itself for residual.
     */
    public static Tensor conv2dAdd(Tensor x, Tensor w, Tensor b, Tensor nAdd, Tensor residual, int stride, int pad) {
        Tensor.sameDevice("conv2dAdd", x, w, b, nAdd, residual);
        sameDType("conv2dAdd", x, w, b, nAdd, residual);
        int[] os = convOutShape("conv2dAdd", x, w, b, stride, pad);
        checkAdds("conv2dAdd", os, nAdd, residual);
        Tensor out = x.emptyLike(os);
        FusedOps.of(x.backend()).conv2dAdd(x, w, b, nAdd, residual, out, stride, pad);
        return Tensor.record("conv2dAdd", out, g -> {
            Tensor[] gc = convGrads(g, x, w, b, stride, pad);
            Tensor gn = nAdd != null && nAdd.requiresGrad() ? g.sum(2, 3) : null;
            Tensor gr = residual != null && residual.requiresGrad() ? g : null;
            return new Tensor[]{gc[0], gc[1], gc[2], gn, gr};
        }, x, w, b, nAdd, residual);
    }

    /**
     * conv2d(SiLU(groupNorm(x, γ, β)), w, b) + nAdd + residual: the group norm + SiLU in front of a
     * ResBlock's convolution. Where no gradient is recorded (sampling, evaluation) it is one op,
     * {@link FusedOps#groupNormSiluConv2dAdd}, which may apply the norm as the convolution loads its
     * input so that the normalised activation is never written (CUDA at TF32/BF16, on the shapes its
     * halo kernels take). Where a gradient is recorded it composes {@code conv2dAdd(groupNorm(…))}:
     * a backward needs the normalised input for the weight gradient, and recomputing it would cost
     * more passes over x than the fused forward saves. Same values either way.
     */
    public static Tensor groupNormSiluConv2dAdd(Tensor x, Tensor gamma, Tensor beta, int groups, double eps,
                                                Tensor w, Tensor b, Tensor nAdd, Tensor residual, int stride, int pad) {
        String op = "groupNormSiluConv2dAdd";
        Tensor.sameDevice(op, x, gamma, beta, w, b, nAdd, residual);
        sameDType(op, x, gamma, beta, w, b, nAdd, residual);
        checkGroupNorm(op, x, gamma, beta, groups, eps);
        int[] os = convOutShape(op, x, w, b, stride, pad);
        checkAdds(op, os, nAdd, residual);
        if (Grad.enabled()) {
            for (Tensor t : new Tensor[]{x, gamma, beta, w, b, nAdd, residual})
                if (t != null && t.requiresGrad()) return conv2dAdd(groupNorm(x, gamma, beta, groups, eps, true), w, b, nAdd, residual, stride, pad);
        }
        Tensor out = x.emptyLike(os);
        try (Scope scope = Scope.open()) {   // the statistics are not kept: no backward will read them
            Tensor mean = wideFor(x, x.dim(0), groups), rstd = wideFor(x, x.dim(0), groups);
            FusedOps.of(x.backend()).groupNormSiluConv2dAdd(x, gamma, beta, groups, eps, w, b, nAdd, residual, out, mean, rstd, stride, pad);
        }
        return out;
    }

    /** conv2dAdd's addends against the output shape os: nAdd [N, O], residual os. */
    private static void checkAdds(String op, int[] os, Tensor nAdd, Tensor residual) {
        if (nAdd != null && (nAdd.rank() != 2 || nAdd.dim(0) != os[0] || nAdd.dim(1) != os[1]))
            throw bad(op, "nAdd " + nAdd.describe() + " must be [" + os[0] + ", " + os[1] + "]: one value per image and output channel");
        if (residual != null && !Arrays.equals(residual.shape(), os))
            throw bad(op, "residual " + residual.describe() + " must be the output's shape " + Arrays.toString(os));
    }

    /** [N, O, Ho, Wo] of a convolution, after checking the operands (op names them in the message). */
    private static int[] convOutShape(String op, Tensor x, Tensor w, Tensor b, int stride, int pad) {
        rank(op, "input", x, 4);
        rank(op, "weight", w, 4);
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), o = w.dim(0), k = w.dim(2);
        if (w.dim(1) != c) throw bad(op, "input " + x.describe() + " has " + c + " channels, weight " + w.describe() + " expects " + w.dim(1));
        if (w.dim(3) != k) throw bad(op, "kernel must be square, weight is " + w.describe());
        if (b != null && (b.rank() != 1 || b.dim(0) != o)) throw bad(op, "bias " + b.describe() + " must be [" + o + "]");
        if (stride < 1 || pad < 0) throw bad(op, "stride " + stride + " must be >= 1 and padding " + pad + " >= 0");
        int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
        if (ho < 1 || wo < 1) throw bad(op, "input " + x.describe() + " is smaller than kernel " + k + " with padding " + pad);
        return new int[]{n, o, ho, wo};
    }

    /** {gx, gw, gb} of a convolution for output gradient g (null where no gradient is wanted). */
    private static Tensor[] convGrads(Tensor g, Tensor x, Tensor w, Tensor b, int stride, int pad) {
        Tensor gx = null, gw = null, gb = null;
        if (x.requiresGrad()) {
            gx = x.emptyLike(x.shape());
            g.backend().conv2dBackwardInput(g, w, gx, stride, pad);
        }
        if (w.requiresGrad()) {
            gw = w.emptyLike(w.shape());
            g.backend().conv2dBackwardWeight(x, g, gw, stride, pad);
        }
        if (b != null && b.requiresGrad()) gb = g.sum(0, 2, 3);
        return new Tensor[]{gx, gw, gb};
    }

    // ---------------------------------------------------------------- normalisation
    /** Group norm over x [N, C, *], γ and β [C]; optionally fused with SiLU. */
    public static Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, double eps, boolean silu) {
        Tensor.sameDevice("groupNorm", x, gamma, beta);
        sameDType("groupNorm", x, gamma, beta);
        checkGroupNorm("groupNorm", x, gamma, beta, groups, eps);
        int c = x.dim(1);
        Tensor out = x.emptyLike(x.shape());
        Tensor mean = wideFor(x, x.dim(0), groups), rstd = wideFor(x, x.dim(0), groups);
        x.backend().groupNorm(x, gamma, beta, groups, eps, silu, out, mean, rstd);
        return Tensor.record(silu ? "groupNormSilu" : "groupNorm", out, g -> {
            Tensor gx = x.emptyLike(x.shape()), gg = gamma.emptyLike(c), gb = beta.emptyLike(c);
            g.backend().groupNormBackward(x, gamma, beta, mean, rstd, groups, silu, g, gx, gg, gb);
            return new Tensor[]{gx, gg, gb};
        }, x, gamma, beta);
    }

    private static void checkGroupNorm(String op, Tensor x, Tensor gamma, Tensor beta, int groups, double eps) {
        if (!(eps >= 0) || Double.isInfinite(eps)) throw bad(op, "eps must be finite and >= 0, got " + eps);
        if (x.rank() < 2) throw bad(op, "input must be [N, C, ...], got " + x.describe());
        int c = x.dim(1);
        if (groups < 1 || c % groups != 0) throw bad(op, c + " channels of " + x.describe() + " do not split into " + groups + " groups");
        if (gamma.rank() != 1 || gamma.dim(0) != c || beta.rank() != 1 || beta.dim(0) != c)
            throw bad(op, "gamma " + gamma.describe() + " and beta " + beta.describe() + " must be [" + c + "]");
    }

    // ---------------------------------------------------------------- softmax, attention
    /** Softmax over the last axis. */
    public static Tensor softmax(Tensor x) {
        if (x.rank() < 1) throw bad("softmax", "needs at least one axis, got " + x.describe());
        Tensor y = x.emptyLike(x.shape());
        x.backend().softmax(x, y);
        return Tensor.record("softmax", y, g -> {
            Tensor gx = g.emptyLike(g.shape());
            g.backend().softmaxBackward(y, g, gx);
            return new Tensor[]{gx};
        }, x);
    }

    /** Fused attention softmax(q kᵀ·scale) v: q [B, L, D], k [B, S, D], v [B, S, Dv] → [B, L, Dv]. */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, double scale) {
        rank("attention", "q", q, 3);
        rank("attention", "k", k, 3);
        rank("attention", "v", v, 3);
        Tensor.sameDevice("attention", q, k, v);
        sameDType("attention", q, k, v);
        if (k.dim(0) != q.dim(0) || v.dim(0) != q.dim(0) || k.dim(2) != q.dim(2) || v.dim(1) != k.dim(1))
            throw bad("attention", "q " + q.describe() + ", k " + k.describe() + ", v " + v.describe()
                    + " must be [B, L, D], [B, S, D], [B, S, Dv]");
        Tensor out = q.emptyLike(q.dim(0), q.dim(1), v.dim(2));
        Tensor lse = wideFor(q, q.dim(0), q.dim(1));
        q.backend().attention(q, k, v, scale, out, lse);
        return Tensor.record("attention", out, g -> {
            Tensor gq = q.emptyLike(q.shape()), gk = k.emptyLike(k.shape()), gv = v.emptyLike(v.shape());
            g.backend().attentionBackward(q, k, v, out, lse, g, scale, gq, gk, gv);
            return new Tensor[]{gq, gk, gv};
        }, q, k, v);
    }

    // ---------------------------------------------------------------- resampling, dropout, indexing
    /** Nearest-neighbour 2× upsample of [N, C, H, W]. */
    public static Tensor upsampleNearest2x(Tensor x) {
        rank("upsample", "input", x, 4);
        Tensor out = x.emptyLike(x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3));
        x.backend().upsampleNearest2x(x, out);
        return Tensor.record("upsample2x", out, g -> {
            Tensor gx = x.emptyLike(x.shape());
            g.backend().upsampleNearest2xBackward(g, gx);
            return new Tensor[]{gx};
        }, x);
    }

    /** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p) (in
     *  float32 for a BF16 x, rounded once). */
    public static Tensor dropout(Tensor x, double p, Rng rng, boolean training) {
        if (!(p >= 0 && p < 1)) throw bad("dropout", "probability must be in [0, 1), got " + p);
        if (!training || p == 0) return x;
        Tensor mask = wideFor(x, x.shape());   // 1/(1−p) exactly, not rounded to bfloat16
        x.backend().dropoutMask(mask, p, rng.seed(), rng.next(x.numel()));
        Tensor out = x.emptyLike(x.shape());   // x's dtype: the float32 product rounded once, in one pass
        x.backend().binary(Ops.Binary.MUL, x, mask, out);
        return Tensor.record("dropout", out, g -> {
            Tensor gx = g.emptyLike(g.shape());
            g.backend().binary(Ops.Binary.MUL, g, mask, gx);
            return new Tensor[]{gx};
        }, x);
    }

    /** Rows of {@code table} [T, *] picked by I32 {@code index} [B]: [B, *]. Differentiable in table. */
    public static Tensor gather(Tensor table, Tensor index) {
        Tensor.sameDevice("gather", table, index);
        if (index.dtype() != DType.I32 || index.rank() != 1)
            throw bad("gather", "index must be an int32 vector, got " + index.describe());
        if (table.rank() < 1) throw bad("gather", "table must have at least one axis (its rows), got " + table.describe());
        int[] s = table.shape();
        s[0] = index.dim(0);
        Tensor out = table.emptyLike(s);
        table.backend().gather(table, index, out);
        return Tensor.record("gather", out, g -> {
            Tensor gt = table.zerosLike();
            g.backend().scatterAdd(g, index, gt);
            return new Tensor[]{gt, null};
        }, table, index);
    }

    /** Mean squared error over all elements. */
    public static Tensor mseLoss(Tensor prediction, Tensor target) {
        if (!Arrays.equals(prediction.shape(), target.shape()))
            throw bad("mseLoss", "prediction " + prediction.describe() + " and target " + target.describe() + " differ in shape");
        return prediction.sub(target).square().mean();
    }

    // ---------------------------------------------------------------- diffusion, fused
    private static void perSample(String op, Tensor x, Tensor t, Tensor... tables) {
        if (t.dtype() != DType.I32 || t.rank() != 1 || t.dim(0) != x.dim(0))
            throw bad(op, "timesteps must be an int32 vector of " + x.dim(0) + " (the batch), got " + t.describe());
        for (Tensor tb : tables)
            if (tb != null && tb.rank() != 1) throw bad(op, "coefficient tables must be vectors, got " + tb.describe());
    }

    private static void sameShape(String op, Tensor a, Tensor b) {
        if (b != null && !Arrays.equals(a.shape(), b.shape()))
            throw bad(op, a.describe() + " and " + b.describe() + " must have the same shape");
    }

    /** x_t = a[t]·x0 + s[t]·ε in one pass (a = √ᾱ, s = √(1−ᾱ)); differentiable in x0 and ε. */
    public static Tensor qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s) {
        Tensor.sameDevice("qSample", x0, eps, t, a, s);
        sameDType("qSample", x0, eps, a, s);
        sameShape("qSample", x0, eps);
        perSample("qSample", x0, t, a, s);
        Tensor out = x0.emptyLike(x0.shape());
        FusedOps.of(x0.backend()).qSample(x0, eps, t, a, s, out);
        return Tensor.record("qSample", out, g -> {
            int[] bshape = new int[x0.rank()];
            Arrays.fill(bshape, 1);
            bshape[0] = x0.dim(0);
            return new Tensor[]{
                    x0.requiresGrad() ? g.mul(gather(a, t).reshape(bshape)) : null,
                    eps.requiresGrad() ? g.mul(gather(s, t).reshape(bshape)) : null, null, null, null};
        }, x0, eps, t, a, s);
    }

    /** The DDPM step x_{t−1} = c1[t]·(x_t − c2[t]·ε̂) + σ[t]·z (z null: no noise). Not differentiable. */
    public static Tensor posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma) {
        Tensor.sameDevice("posteriorStep", xt, epsHat, z, t, c1, c2, sigma);
        sameDType("posteriorStep", xt, epsHat, z, c1, c2, sigma);
        sameShape("posteriorStep", xt, epsHat);
        sameShape("posteriorStep", xt, z);
        perSample("posteriorStep", xt, t, c1, c2, sigma);
        Tensor out = xt.emptyLike(xt.shape());
        FusedOps.of(xt.backend()).posteriorStep(xt, epsHat, z, t, c1, c2, sigma, out);
        return out;
    }

    /** The DDIM step with coefficient rows coefs[idx[b]] (see {@link FusedOps#ddimStep}). Not differentiable. */
    public static Tensor ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip) {
        Tensor.sameDevice("ddimStep", xt, epsHat, z, idx, coefs);
        sameDType("ddimStep", xt, epsHat, z, coefs);
        sameShape("ddimStep", xt, epsHat);
        sameShape("ddimStep", xt, z);
        perSample("ddimStep", xt, idx);
        if (coefs.rank() != 2 || coefs.dim(1) != 5) throw bad("ddimStep", "coefs must be [S, 5], got " + coefs.describe());
        Tensor out = xt.emptyLike(xt.shape());
        FusedOps.of(xt.backend()).ddimStep(xt, epsHat, z, idx, coefs, clip, out);
        return out;
    }

    // ---------------------------------------------------------------- optimiser updates, in place
    private static void flatBuffers(String op, Tensor... ts) {
        Tensor.sameDevice(op, ts);
        for (Tensor t : ts)
            if (t.numel() != ts[0].numel() || t.dtype() != ts[0].dtype())
                throw bad(op, "buffers must match in size and dtype: " + ts[0].describe() + " and " + t.describe());
    }

    /**
     * One Adam/AdamW step over flat buffers, in place (see {@link FusedOps#adam}): param, its
     * gradient and the two moments, all of one size, dtype and device.
     */
    public static void adamUpdate(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                                  double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        flatBuffers("adamUpdate", param, grad, m, v);
        if (step < 1) throw bad("adamUpdate", "step counts from 1, got " + step);
        FusedOps.of(param.backend()).adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale);
    }

    /**
     * {@link #adamUpdate} with the gradient-norm clip read where the gradients are (see
     * {@link FusedOps#adamClipped}): gradSumSquares is Σg² as a one-element tensor on the same
     * device ({@code flatGrads.sumSquares()}); a non-finite norm skips the update. No host read on a GPU.
     */
    public static void adamUpdateClipped(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                                         double eps, double weightDecay, boolean decoupled, long step, Tensor gradSumSquares,
                                         double maxNorm) {
        flatBuffers("adamUpdateClipped", param, grad, m, v);
        if (step < 1) throw bad("adamUpdateClipped", "step counts from 1, got " + step);
        if (gradSumSquares.numel() != 1 || gradSumSquares.dtype() != param.dtype() || !gradSumSquares.device().equals(param.device()))
            throw bad("adamUpdateClipped", "the gradient's sum of squares must be one " + param.dtype() + " element on "
                    + param.device() + ", got " + gradSumSquares.describe());
        FusedOps.of(param.backend()).adamClipped(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step,
                gradSumSquares, maxNorm);
    }

    /** {@link #adamUpdateClipped} with lr and the bias corrections read from hyper [3] on the device (see {@link FusedOps#adamScheduled}). */
    public static void adamUpdateScheduled(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor hyper, double beta1, double beta2,
                                           double eps, double weightDecay, boolean decoupled, Tensor gradSumSquares, double maxNorm) {
        flatBuffers("adamUpdateScheduled", param, grad, m, v);
        if (hyper.numel() != 3 || gradSumSquares.numel() != 1 || !hyper.device().equals(param.device())
                || !gradSumSquares.device().equals(param.device()))
            throw bad("adamUpdateScheduled", "hyper must be [lr, bc1, bc2] and the sum of squares one element, on " + param.device()
                    + ", got " + hyper.describe() + " and " + gradSumSquares.describe());
        FusedOps.of(param.backend()).adamScheduled(param, grad, m, v, hyper, beta1, beta2, eps, weightDecay, decoupled,
                gradSumSquares, maxNorm);
    }

    /** ema = decay·ema + (1 − decay)·param, in place, over buffers of one size, dtype and device. */
    public static void emaUpdate(Tensor ema, Tensor param, double decay) {
        flatBuffers("emaUpdate", ema, param);
        FusedOps.of(ema.backend()).ema(ema, param, decay);
    }
}
