package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.MathPrecision;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * conv2d, its two backward passes and the fused {@code conv2dAdd}, NCHW, in two implementations
 * (conv.cu holds the kernels). With K = C·k·k, P = Ho·Wo:
 * <ul>
 * <li><b>igemm</b>: implicit GEMM on the tensor cores (WMMA; TF32 or BF16 inputs as the backend's
 *     {@link MathPrecision} rounds them, fp32 accumulation), k ∈ {1, 3}, any stride and padding,
 *     one kernel per pass, no column buffer. Forward: O × N·P by K, with the epilogue (bias, the
 *     per-(n, o) add, the residual) applied as the tile is written. Data gradient: C × N·H·W by
 *     O·k·k (a stride-2 convolution's taps that hit no output pixel are multiplied by zero: correct,
 *     4× the useful work). Weight gradient: O × K by N·P, split over blocks along N·P (fp32 partials,
 *     then {@code conv_splitk_sum} adds them in a fixed order: deterministic).</li>
 * <li><b>gemm</b>: im2col + cuBLAS GEMM at the backend's precision (cublasGemmEx's compute type):
 *     <ul>
 *     <li>forward: out[n] (O×P) = W (O×K) · col[n] (K×P), strided-batched over a chunk of images
 *         (W broadcast with stride 0) onto out pre-filled with the epilogue ({@code conv_prefill},
 *         beta = 1);</li>
 *     <li>backward input: gcol[n] (K×P) = Wᵀ · gy[n], then col2im (a gather per input pixel, no atomics);</li>
 *     <li>backward weight: gw (O×K) = gy' (O × nb·P) · col'ᵀ (nb·P × K), one GEMM per chunk with
 *         the long nb·P reduction, accumulating over chunks (beta = 1 after the first).</li>
 *     </ul>
 *     1×1, stride 1, pad 0 convolutions skip im2col/col2im in forward and backward-input; the column
 *     buffers are chunked by images to stay ≤ 256 MiB (pooled allocator).</li>
 * <li><b>halo</b> (an igemm variant): 3×3, stride-1, pad-1 passes whose rows tile the 128-pixel
 *     block (16 ≤ W ≤ 128) and whose input channels are a multiple of 32 (forward, data gradient)
 *     or of 16 (weight gradient) — the U-Net's 3×3 convolutions at 16² and 32² — read the image
 *     operand from a halo tile in shared memory instead of gathering it per tap; auto times them
 *     against the gathering kernel as well as against gemm;
 *     the forward optionally with the group norm + SiLU before the convolution applied as the halo
 *     loads ({@link #forwardNormed}). {@code -Dddpm.cuda.conv.halo=false} or {@link #setHalo} turns
 *     it off.</li>
 * </ul>
 * Which one runs: at FP32 (and for other kernel sizes) gemm, the exact float32 path. At TF32 and
 * BF16, {@code -Dddpm.cuda.conv=igemm|gemm|auto} or {@link #setAlgorithm}; auto (the default)
 * times them with CUDA events the first time a (pass, shape, precision) is seen, on scratch outputs
 * — igemm on its halo kernel where the shape has one and on its gathering kernel, and gemm — and
 * keeps the fastest ({@link #choices()} lists them); while a CUDA graph is being captured an
 * unseen shape runs igemm unmeasured. On the host driver auto means igemm, so the tests run it.
 * Flops: 2·N·O·K·P per pass.
 */
public final class ConvKernel {
    /** The implementation of TF32 / BF16 convolutions: measured per shape, or forced. */
    public enum Algorithm {
        AUTO, IGEMM, GEMM;

        /** "auto" / "igemm" / "gemm" (as -Dddpm.cuda.conv takes it). */
        public static Algorithm parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "auto" -> AUTO;
                case "igemm" -> IGEMM;
                case "gemm" -> GEMM;
                default -> throw new IllegalArgumentException("conv algorithm '" + s + "': expected auto, igemm or gemm");
            };
        }

        @Override public String toString() { return name().toLowerCase(Locale.ROOT); }
    }

    /**
     * A measured choice: the pass, the convolution, the precision, the timings (ms per call: igemm's
     * gathering kernel, its halo kernel — NaN where the shape has none — and gemm) and the winner
     * ({@code halo}: igemm won on its halo kernel).
     */
    public record Choice(String pass, String shape, MathPrecision precision, double igemmMs, double haloMs, double gemmMs,
                         Algorithm chosen, boolean halo) {
        @Override public String toString() {
            return String.format(Locale.ROOT, "%s %s %s: igemm %.4f ms, %s, gemm %.4f ms -> %s", pass, shape, precision, igemmMs,
                    Double.isNaN(haloMs) ? "no halo kernel" : String.format(Locale.ROOT, "halo %.4f ms", haloMs), gemmMs,
                    chosen == Algorithm.IGEMM && halo ? "halo" : chosen);
        }
    }

    /** Column-buffer budget per conv call; tests lower it to exercise chunking. */
    static volatile long workspaceBytes = 256L << 20;
    /** Lets tests run the measuring of {@link Algorithm#AUTO} on the host driver too. */
    static volatile boolean measureOnHost;
    /** Timed calls per algorithm when measuring (after one untimed call: module load, JIT, cuBLAS set-up). */
    private static final int TIMED_CALLS = 3;
    /** The implicit GEMM's block tile (conv.cu) and its weight-gradient split bound. */
    private static final int TILE = 128, BK = 32, THREADS = 256, MAX_SPLITS = 64;

    private final CudaBackend be;
    private final KernelModule mod;
    private volatile Algorithm algorithm = fromProperty();
    private final Map<Key, Choice> choices = new ConcurrentHashMap<>();

    private static Algorithm fromProperty() {
        String v = System.getProperty("ddpm.cuda.conv", "auto");
        try {
            return Algorithm.parse(v);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-Dddpm.cuda.conv=" + v + ": expected auto, igemm or gemm", e);
        }
    }

    ConvKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "conv");
    }

    /** Sets how TF32 / BF16 convolutions are computed (FP32 always takes the exact gemm path). */
    public void setAlgorithm(Algorithm a) { algorithm = java.util.Objects.requireNonNull(a); }

    public Algorithm algorithm() { return algorithm; }

    /** The choices {@link Algorithm#AUTO} has measured so far, in no particular order. */
    public List<Choice> choices() { return new ArrayList<>(choices.values()); }

    private enum Pass { FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT }

    private record Key(Pass pass, Geo geo, MathPrecision precision) {}

    private record Geo(int n, int c, int h, int w, int o, int k, int ho, int wo, int stride, int pad) {
        int kk() { return c * k * k; }
        int p() { return ho * wo; }
        boolean pointwise() { return k == 1 && stride == 1 && pad == 0; }
        @Override public String toString() {
            return "x [" + n + "," + c + "," + h + "," + w + "] w [" + o + "," + c + "," + k + "," + k + "] -> ["
                    + n + "," + o + "," + ho + "," + wo + "] stride " + stride + " pad " + pad;
        }
    }

    private static Geo geo(Tensor x, Tensor w, Tensor y, int stride, int pad) {
        return new Geo(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), y.dim(2), y.dim(3), stride, pad);
    }

    /** Images per chunk so that the per-image workspace times the chunk stays within the budget. */
    private static int chunk(int n, long bytesPerImage) {
        long nb = Math.max(1, workspaceBytes / Math.max(1, bytesPerImage));
        nb = Math.min(nb, Math.max(1, (Integer.MAX_VALUE / 2) / Math.max(1, bytesPerImage / 4)));
        return (int) Math.min(n, nb);
    }

    private static long addr(Tensor t) { return t == null ? 0 : ((CudaStorage) t.storage()).address(t.offset()); }

    private static int cdiv(long a, int b) { return Math.toIntExact((a + b - 1) / b); }

    // ---------------------------------------------------------------- choosing the algorithm
    /** True when igemm runs this pass. {@code igemm} / {@code gemm} compute the pass into the
     *  given output address (used to time both on scratch memory of {@code outFloats}). */
    private boolean useIgemm(Pass pass, Geo g, MathPrecision p, long outFloats, LongConsumer igemm, LongConsumer gemm) {
        if (p == MathPrecision.FP32 || (g.k() != 1 && g.k() != 3) || g.kk() == 0) return false;
        switch (algorithm) {
            case IGEMM: return true;
            case GEMM: return false;
            default: break;
        }
        if (be.driverKind().equals("host") && !measureOnHost) return true;
        Key key = new Key(pass, g, p);
        Choice c = choices.get(key);
        if (c != null) return c.chosen() == Algorithm.IGEMM;
        if (be.allocator().capturing()) return true;   // nothing can be timed while recording
        CudaAllocator.Block scratch = be.allocator().allocate(outFloats * 4);
        try {
            // igemm on its halo kernel where the shape has one, then on the gathering kernel, then gemm
            double th = Double.NaN;
            if (haloFits(pass, g, p)) th = time(igemm, scratch.address());
            double ti;
            timingGather = true;
            try {
                ti = time(igemm, scratch.address());
            } finally {
                timingGather = false;
            }
            double tg = time(gemm, scratch.address());
            boolean halo = th <= ti;   // false when NaN
            c = new Choice(pass.name().toLowerCase(Locale.ROOT).replace('_', ' '), g.toString(), p, ti, th, tg,
                    Math.min(ti, halo ? th : ti) <= tg ? Algorithm.IGEMM : Algorithm.GEMM, halo);
        } finally {
            be.allocator().release(scratch);
        }
        choices.put(key, c);
        return c.chosen() == Algorithm.IGEMM;
    }

    /** Set while auto times igemm's gathering kernel on a shape that also has a halo kernel. */
    private volatile boolean timingGather;

    /** Whether igemm runs this pass on its halo kernel: the shape fits, and auto (if it measured the
     *  shape) found the halo kernel the faster igemm. */
    private boolean useHalo(Pass pass, Geo g, MathPrecision p) {
        if (timingGather || !haloFits(pass, g, p)) return false;
        Choice c = algorithm == Algorithm.AUTO ? choices.get(new Key(pass, g, p)) : null;
        return c == null || c.halo();
    }

    /** The halo kernels' shape rule per pass: forward and data gradient take the operand's channels
     *  in multiples of 32 (x's, gy's), the weight gradient x's in multiples of 16. */
    private boolean haloFits(Pass pass, Geo g, MathPrecision p) {
        return switch (pass) {
            case FORWARD -> haloFits(g, g.c(), 32, p);
            case BACKWARD_INPUT -> haloFits(g, g.o(), 32, p);
            case BACKWARD_WEIGHT -> haloFits(g, g.c(), 16, p);
        };
    }

    /** A pass without epilogue: {@code igemm} or {@code gemm} (as {@link #useIgemm} picks) computes it into out. */
    private void run(Pass pass, Geo g, MathPrecision p, Tensor out, LongConsumer igemm, LongConsumer gemm) {
        (useIgemm(pass, g, p, out.numel(), igemm, gemm) ? igemm : gemm).accept(addr(out));
    }

    private double time(LongConsumer run, long out) {
        run.accept(out);
        CudaDriver d = be.driver();
        long start = d.recordEvent();
        for (int i = 0; i < TIMED_CALLS; i++) run.accept(out);
        long end = d.recordEvent();
        try {
            return d.elapsedMs(start, end) / TIMED_CALLS;
        } finally {
            d.destroyEvent(start);
            d.destroyEvent(end);
        }
    }

    /** One launch of conv.cu's conv_{pass}_{bf16|tf32}_k{k}: C[m, ng] over blocks of 128 × 128; dt: which
     *  of src0, src1, out, res, nadd (bits 0 to 4) are BF16. */
    private void igemm(String pass, Geo g, MathPrecision p, long src0, long src1, long out, long bias, long nadd, long res,
                       int m, long ng, int splits, int kPerSplit, int dt, Supplier<String> what) {
        mod.launch("conv_" + pass + "_" + p + "_k" + g.k(), cdiv(ng, TILE), cdiv(m, TILE), splits, THREADS, 1, 1, 0,
                new Args().addr(src0).addr(src1).addr(out).addr(bias).addr(nadd).addr(res).i(g.n()).i(g.c()).i(g.h()).i(g.w())
                        .i(g.o()).i(g.ho()).i(g.wo()).i(g.stride()).i(g.pad()).i(kPerSplit).i(dt),
                () -> "igemm " + p + " " + what.get());
    }

    /**
     * Whether the kernels take these tensors as they are: every activation F32 (any algorithm), or
     * BF16 activations on a tensor-core path (TF32/BF16 precision, gemm not forced, a 1×1 or 3×3
     * kernel) with the parameters (weight, bias, a weight gradient; also a fused norm's statistics
     * and affine) F32. Otherwise the backend stages the BF16 tensors through float32.
     */
    boolean takes(Tensor w, Tensor[] params, Tensor... activations) {
        boolean bf16 = false;
        for (Tensor a : activations) bf16 |= a != null && a.dtype() == DType.BF16;
        if (!CudaBackend.allF32(w) || !CudaBackend.allF32(params)) return false;
        if (!bf16) return true;
        int k = w.rank() == 4 ? w.dim(2) : 0;
        return be.precision() != MathPrecision.FP32 && algorithm != Algorithm.GEMM && (k == 1 || k == 3) && w.numel() > 0;
    }

    /** BF16 operands (dt ≠ 0) have only the tensor-core kernels ({@link #takes} said so to the backend). */
    private static void tensorCoresFor(int dt, Geo g, MathPrecision p, String op) {
        if (dt != 0 && (p == MathPrecision.FP32 || (g.k() != 1 && g.k() != 3)))
            throw new IllegalStateException("CUDA " + op + " " + g + " at " + p + ": BF16 operands need the tensor-core kernels (see takes)");
    }

    // ---------------------------------------------------------------- forward
    void forward(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        forward("conv2d", x, w, bias, null, null, out, stride, pad);
    }

    /** out = conv2d(x, w) + bias[o] + nAdd[n, o] + residual[n, o, ·, ·]; bias, nAdd and residual may
     *  each be null, and residual may be out itself. Shapes are checked here (a new entry point). */
    void forwardAdd(Tensor x, Tensor w, Tensor bias, Tensor nAdd, Tensor residual, Tensor out, int stride, int pad) {
        checkAddShapes("conv2dAdd", x, w, bias, nAdd, residual, out, stride, pad);
        forward("conv2dAdd", x, w, bias, nAdd, residual, out, stride, pad);
    }

    /** x, out, residual and nAdd F32 or BF16 (BF16 on the tensor-core kernels only: {@link #takes}); w and bias F32. */
    private void forward(String op, Tensor x, Tensor w, Tensor bias, Tensor nAdd, Tensor residual, Tensor out, int stride, int pad) {
        int dt = CudaBackend.dtypes(op, x, w, out, residual, nAdd);
        CudaBackend.f32(op, w);
        if (bias != null) CudaBackend.f32(op, bias);
        Geo g = geo(x, w, out, stride, pad);
        Supplier<String> what = () -> op + " " + g;
        CudaBackend.checkIndexable(out.numel(), op, what);
        CudaBackend.checkIndexable(x.numel(), op, what);
        if (out.numel() == 0) return;
        MathPrecision p = be.precision();
        long xa = addr(x), wa = addr(w);
        tensorCoresFor(dt, g, p, op);
        if (dt != 0 || useIgemm(Pass.FORWARD, g, p, out.numel(), o -> igemmForward(g, p, xa, wa, 0, 0, 0, o, 0, what),
                o -> gemmForward(g, xa, wa, 0, 0, 0, o, what)))
            igemmForward(g, p, xa, wa, addr(bias), addr(nAdd), addr(residual), addr(out), dt, what);
        else
            gemmForward(g, xa, wa, addr(bias), addr(nAdd), addr(residual), addr(out), what);
    }

    private void igemmForward(Geo g, MathPrecision p, long x, long w, long bias, long nadd, long res, long out, int dt,
                              Supplier<String> what) {
        if (useHalo(Pass.FORWARD, g, p)) halo("conv_fwd", g, p, x, w, out, bias, nadd, res, null, g.c(), g.o(), dt, what);
        else igemm("fwd", g, p, x, w, out, bias, nadd, res, g.o(), (long) g.n() * g.p(), 1, 0, dt, what);
    }

    // ---------------------------------------------------------------- halo tiles
    /** Whether the 3×3 stride-1 convolutions that fit run the halo kernels ({@code -Dddpm.cuda.conv.halo=false}: never). */
    private volatile boolean haloOn = !"false".equalsIgnoreCase(System.getProperty("ddpm.cuda.conv.halo"));

    /** Lets a benchmark or test compare the halo kernels with the gathering ones on the same shapes. */
    public void setHalo(boolean on) { haloOn = on; }

    /** conv.cu's HaloLayout: the A tile (128 × (32 + pad)), then the (128/W + 2) × (W + 2) halo of 32 channels. */
    static int haloSharedBytes(MathPrecision p, int w) {
        boolean bf = p == MathPrecision.BF16;
        int elem = bf ? 2 : 4, lda = BK + (bf ? 8 : 4), ldh = bf ? 48 : 40;
        return TILE * lda * elem + (TILE / w + 2) * (w + 2) * ldh * elem;
    }

    /**
     * The shapes the halo kernels take: 3×3, stride 1, pad 1, tensor-core precision, the operand's
     * channels cin a multiple of {@code multiple}, rows W of 16 to 128 pixels that tile the 128-pixel
     * block (W | 128, 16 | W), whole blocks per image (128 | H·W), and the shared memory on this device.
     */
    private boolean haloFits(Geo g, int cin, int multiple, MathPrecision p) {
        if (!haloOn || p == MathPrecision.FP32 || g.k() != 3 || g.stride() != 1 || g.pad() != 1 || cin % multiple != 0) return false;
        int w = g.w();
        if (w < 16 || w > TILE || w % 16 != 0 || TILE % w != 0 || ((long) g.h() * w) % TILE != 0) return false;
        return haloSharedBytes(p, w) <= be.maxSharedOptin();
    }

    /**
     * One launch of conv_{fwd|fwd_gnsilu|dgrad}_halo_{bf16|tf32}: out [N, m, H, W] over blocks of 128
     * channels × 128 pixels, reading src [N, cin, H, W]; norm = {mean, rstd, gamma, beta, groups} for
     * the group norm + SiLU applied on load (fwd_gnsilu), else null; dt: which of src, out, res, nadd
     * (bits 0, 2, 3, 4) are BF16.
     */
    private void halo(String entry, Geo g, MathPrecision p, long src, long w, long out, long bias, long nadd, long res,
                      long[] norm, int cin, int m, int dt, Supplier<String> what) {
        String name = entry + "_halo_" + p;
        int bytes = haloSharedBytes(p, g.w());
        long[] nm = norm == null ? new long[5] : norm;
        mod.launch(name, cdiv((long) g.n() * g.h() * g.w(), TILE), cdiv(m, TILE), 1, THREADS, 1, 1, bytes,
                new Args().addr(src).addr(w).addr(out).addr(bias).addr(nadd).addr(res).addr(nm[0]).addr(nm[1]).addr(nm[2])
                        .addr(nm[3]).i((int) nm[4]).i(g.n()).i(cin).i(m).i(g.h()).i(g.w()).i(dt),
                () -> "halo " + p + " " + what.get());
    }

    /** Whether {@link #forwardNormed} has a kernel for this convolution at the backend's precision
     *  (TF32/BF16, {@code gemm} not forced, a shape the halo kernels take). */
    boolean normedFits(Tensor x, Tensor w, Tensor out, int stride, int pad) {
        if (x.rank() != 4 || w.rank() != 4 || out.rank() != 4) return false;
        Geo g = geo(x, w, out, stride, pad);
        return algorithm != Algorithm.GEMM && useHalo(Pass.FORWARD, g, be.precision());
    }

    /**
     * out = conv2d(SiLU(groupNorm(x)), w) + bias + nAdd + residual with x's statistics (mean, rstd
     * [N, groups]) given, the norm applied as the halo kernel loads x; only where {@link #normedFits}.
     */
    void forwardNormed(Tensor x, Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups, Tensor w, Tensor bias,
                       Tensor nAdd, Tensor residual, Tensor out, int stride, int pad) {
        String op = "groupNormSiluConv2dAdd";
        checkAddShapes(op, x, w, bias, nAdd, residual, out, stride, pad);
        int dt = CudaBackend.dtypes(op, x, w, out, residual, nAdd);
        CudaBackend.f32(op, w, mean, rstd, gamma, beta);
        if (bias != null) CudaBackend.f32(op, bias);
        Geo g = geo(x, w, out, stride, pad);
        MathPrecision p = be.precision();
        if (!normedFits(x, w, out, stride, pad))
            throw new IllegalStateException("CUDA " + op + ": no fused kernel for " + g + " at " + p + " (see normedFits)");
        if (groups < 1 || g.c() % groups != 0 || mean.numel() != (long) g.n() * groups || rstd.numel() != mean.numel()
                || gamma.numel() != g.c() || beta.numel() != g.c())
            throw new IllegalArgumentException("CUDA " + op + ": " + g + " with " + groups + " groups: mean " + Shapes.str(mean.shape())
                    + " and rstd " + Shapes.str(rstd.shape()) + " must be [" + g.n() + ", " + groups + "], gamma "
                    + Shapes.str(gamma.shape()) + " and beta " + Shapes.str(beta.shape()) + " [" + g.c() + "]");
        Supplier<String> what = () -> op + " " + g + " groups " + groups;
        CudaBackend.checkIndexable(out.numel(), op, what);
        CudaBackend.checkIndexable(x.numel(), op, what);
        halo("conv_fwd_gnsilu", g, p, addr(x), addr(w), addr(out), addr(bias), addr(nAdd), addr(residual),
                new long[]{addr(mean), addr(rstd), addr(gamma), addr(beta), groups}, g.c(), g.o(), dt, what);
    }

    private void gemmForward(Geo g, long x, long w, long bias, long nadd, long res, long out, Supplier<String> what) {
        long count = (long) g.n() * g.o() * g.p();
        float beta = 0f;
        if (bias != 0 || nadd != 0 || res != 0) {
            mod.launch1d("conv_prefill", count, new Args().addr(out).addr(bias).addr(nadd).addr(res).i((int) count).i(g.o()).i(g.p()), what);
            beta = 1f;
        }
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        if (g.pointwise()) {
            be.gemm().gemm(false, false, g.o(), p, kk, 1f, w, kk, 0, x, p, xImg, beta, out, p, yImg, g.n(), what);
            return;
        }
        int nb = chunk(g.n(), colImg * 4);
        CudaAllocator.Block ws = be.allocator().allocate((long) nb * colImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                im2col(x + n0 * xImg * 4, ws.address(), g, cnt, colImg, p, what);
                be.gemm().gemm(false, false, g.o(), p, kk, 1f, w, kk, 0, ws.address(), p, colImg,
                        beta, out + n0 * yImg * 4, p, yImg, cnt, what);
            }
        } finally {
            be.allocator().release(ws);
        }
    }

    private void im2col(long xAddr, long colAddr, Geo g, int nb, long sN, long sK, Supplier<String> what) {
        long count = (long) nb * g.kk() * g.p();
        mod.launch1d("im2col", count, new Args().addr(xAddr).addr(colAddr).i(nb).i(g.c()).i(g.h()).i(g.w()).i(g.k())
                .i(g.stride()).i(g.pad()).i(g.ho()).i(g.wo()).l(sN).l(sK), what);
    }

    /** conv2dAdd's operands: x [N, C, H, W], w [O, C, k, k], out [N, O, Ho, Wo], bias [O], nAdd [N, O], residual like out. */
    private static void checkAddShapes(String op, Tensor x, Tensor w, Tensor bias, Tensor nAdd, Tensor residual, Tensor out,
                                       int stride, int pad) {
        if (x.rank() != 4 || w.rank() != 4 || out.rank() != 4 || w.dim(1) != x.dim(1) || w.dim(2) != w.dim(3) || stride < 1 || pad < 0)
            throw new IllegalArgumentException("CUDA " + op + ": x " + Shapes.str(x.shape()) + ", w " + Shapes.str(w.shape())
                    + ", stride " + stride + ", pad " + pad + ": expected x [N, C, H, W], w [O, C, k, k], stride ≥ 1, pad ≥ 0");
        int n = x.dim(0), o = w.dim(0), k = w.dim(2);
        int[] want = {n, o, (x.dim(2) + 2 * pad - k) / stride + 1, (x.dim(3) + 2 * pad - k) / stride + 1};
        if (!java.util.Arrays.equals(out.shape(), want))
            throw new IllegalArgumentException("CUDA " + op + ": out " + Shapes.str(out.shape()) + " must be " + Shapes.str(want));
        if (bias != null && bias.numel() != o)
            throw new IllegalArgumentException("CUDA " + op + ": bias " + Shapes.str(bias.shape()) + " must have " + o + " elements");
        if (nAdd != null && !java.util.Arrays.equals(nAdd.shape(), new int[]{n, o}))
            throw new IllegalArgumentException("CUDA " + op + ": nAdd " + Shapes.str(nAdd.shape()) + " must be [" + n + ", " + o
                    + "]: one value per image and output channel");
        if (residual != null && !java.util.Arrays.equals(residual.shape(), out.shape()))
            throw new IllegalArgumentException("CUDA " + op + ": residual " + Shapes.str(residual.shape()) + " must have out's shape "
                    + Shapes.str(out.shape()));
    }

    // ---------------------------------------------------------------- backward input
    /** gy and gx F32 or BF16 (BF16 on the tensor-core kernels only: {@link #takes}); w F32. */
    void backwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        int dt = CudaBackend.dtypes("conv2dBackwardInput", gy, w, gx);
        Geo g = geo(gx, w, gy, stride, pad);
        Supplier<String> what = () -> "conv2dBackwardInput " + g;
        CudaBackend.checkIndexable(gx.numel(), "conv2dBackwardInput", what);
        CudaBackend.checkIndexable(gy.numel(), "conv2dBackwardInput", what);
        if (gx.numel() == 0) return;
        if (gy.numel() == 0) { be.fill(gx, 0); return; }
        MathPrecision p = be.precision();
        long gya = addr(gy), wa = addr(w);
        tensorCoresFor(dt, g, p, "conv2dBackwardInput");
        if (dt != 0) igemmBackwardInput(g, p, gya, wa, addr(gx), dt, what);
        else run(Pass.BACKWARD_INPUT, g, p, gx, o -> igemmBackwardInput(g, p, gya, wa, o, 0, what), o -> gemmBackwardInput(g, gya, wa, o, what));
    }

    private void igemmBackwardInput(Geo g, MathPrecision p, long gy, long w, long gx, int dt, Supplier<String> what) {
        if (useHalo(Pass.BACKWARD_INPUT, g, p)) halo("conv_dgrad", g, p, gy, w, gx, 0, 0, 0, null, g.o(), g.c(), dt, what);
        else igemm("dgrad", g, p, gy, w, gx, 0, 0, 0, g.c(), (long) g.n() * g.h() * g.w(), 1, 0, dt, what);
    }

    private void gemmBackwardInput(Geo g, long gy, long w, long gx, Supplier<String> what) {
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        if (g.pointwise()) {
            be.gemm().gemm(true, false, kk, p, g.o(), 1f, w, kk, 0, gy, p, yImg, 0f, gx, p, xImg, g.n(), what);
            return;
        }
        int nb = chunk(g.n(), colImg * 4);
        CudaAllocator.Block ws = be.allocator().allocate((long) nb * colImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                be.gemm().gemm(true, false, kk, p, g.o(), 1f, w, kk, 0, gy + n0 * yImg * 4, p, yImg,
                        0f, ws.address(), p, colImg, cnt, what);
                mod.launch1d("col2im", (long) cnt * xImg, new Args().addr(ws.address()).addr(gx + n0 * xImg * 4)
                        .i(cnt).i(g.c()).i(g.h()).i(g.w()).i(g.k()).i(g.stride()).i(g.pad()).i(g.ho()).i(g.wo()), what);
            }
        } finally {
            be.allocator().release(ws);
        }
    }

    // ---------------------------------------------------------------- backward weight
    /** x and gy F32 or BF16 (BF16 on the tensor-core kernels only: {@link #takes}); gw F32. */
    void backwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        int dt = CudaBackend.dtypes("conv2dBackwardWeight", x, gy);
        CudaBackend.f32("conv2dBackwardWeight", gw);
        Geo g = geo(x, gw, gy, stride, pad);
        Supplier<String> what = () -> "conv2dBackwardWeight " + g;
        CudaBackend.checkIndexable(x.numel(), "conv2dBackwardWeight", what);
        CudaBackend.checkIndexable(gy.numel(), "conv2dBackwardWeight", what);
        if (gw.numel() == 0) return;
        if (gy.numel() == 0) { be.fill(gw, 0); return; }
        MathPrecision p = be.precision();
        long xa = addr(x), gya = addr(gy);
        tensorCoresFor(dt, g, p, "conv2dBackwardWeight");
        if (dt != 0) igemmBackwardWeight(g, p, xa, gya, addr(gw), dt, what);
        else run(Pass.BACKWARD_WEIGHT, g, p, gw, o -> igemmBackwardWeight(g, p, xa, gya, o, 0, what), o -> gemmBackwardWeight(g, xa, gya, o, what));
    }

    /** Split-K over the N·P reduction: about two blocks per SM in all, each with ≥ 4 k-steps of 32. dt: x, gy BF16 (bits 0, 1). */
    private void igemmBackwardWeight(Geo g, MathPrecision p, long x, long gy, long gw, int dt, Supplier<String> what) {
        if (useHalo(Pass.BACKWARD_WEIGHT, g, p)) {
            haloBackwardWeight(g, p, x, gy, gw, dt, what);
            return;
        }
        int m = g.o(), ng = g.kk();
        long kg = (long) g.n() * g.p();
        int tiles = cdiv(ng, TILE) * cdiv(m, TILE), steps = cdiv(kg, BK);
        int splits = Math.max(1, Math.min(MAX_SPLITS, Math.min(2 * be.smCount() / tiles, steps / 4)));
        int kPerSplit = cdiv(steps, splits) * BK, s = cdiv(kg, kPerSplit);
        splitK(s, (long) m * ng, gw, what, out -> igemm("wgrad", g, p, x, gy, out, 0, 0, 0, m, ng, s, kPerSplit, dt, what));
    }

    /**
     * A weight gradient of {@code n} floats computed by {@code kernel} over {@code splits} blocks along
     * its reduction: straight into gw when there is one, else into fp32 partials [splits][n] that
     * {@code conv_splitk_sum} adds in a fixed order (deterministic).
     */
    private void splitK(int splits, long n, long gw, Supplier<String> what, LongConsumer kernel) {
        if (splits == 1) {
            kernel.accept(gw);
            return;
        }
        CudaBackend.checkIndexable(splits * n, "conv2dBackwardWeight", what);
        CudaAllocator.Block part = be.allocator().allocate(splits * n * 4);
        try {
            kernel.accept(part.address());
            mod.launch1d("conv_splitk_sum", n, new Args().addr(part.address()).addr(gw).i(splits).i((int) n), what);
        } finally {
            be.allocator().release(part);
        }
    }

    /**
     * conv_wgrad_halo: blocks of 8 (16-channel group, tap) fragments × 128 output channels, the
     * N·H·W/128 pixel chunks split over blockIdx.z (about two blocks per SM in all) into fp32
     * partials that conv_splitk_sum adds in a fixed order.
     */
    private void haloBackwardWeight(Geo g, MathPrecision p, long x, long gy, long gw, int dt, Supplier<String> what) {
        String name = "conv_wgrad_halo_" + p;
        int bytes = haloSharedBytes(p, g.w());
        int nx = cdiv((long) (g.c() / 16) * 9, 8), ny = cdiv(g.o(), TILE);
        int chunks = Math.toIntExact((long) g.n() * g.h() * g.w() / TILE);
        int splits = Math.max(1, Math.min(MAX_SPLITS, Math.min(2 * be.smCount() / (nx * ny), chunks)));
        int perSplit = cdiv(chunks, splits);
        int s = cdiv(chunks, perSplit);
        splitK(s, (long) g.o() * g.kk(), gw, what, out -> mod.launch(name, nx, ny, s, THREADS, 1, 1, bytes,
                new Args().addr(x).addr(gy).addr(out).i(g.n()).i(g.c()).i(g.o()).i(g.h()).i(g.w()).i(perSplit).i(dt),
                () -> "halo " + p + " " + what.get()));
    }

    private void gemmBackwardWeight(Geo g, long x, long gy, long gw, Supplier<String> what) {
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        int nb = chunk(g.n(), (colImg + yImg) * 4);
        CudaAllocator.Block col = be.allocator().allocate((long) nb * colImg * 4);
        CudaAllocator.Block gyt = be.allocator().allocate((long) nb * yImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                long np = (long) cnt * p;
                CudaBackend.checkIndexable(np, "conv2dBackwardWeight", what);
                im2col(x + n0 * xImg * 4, col.address(), g, cnt, p, np, what);   // [K, cnt·P]
                mod.launch1d("nop_to_onp", cnt * yImg, new Args().addr(gy + n0 * yImg * 4).addr(gyt.address())
                        .i(cnt).i(g.o()).i(p), what);                              // [O, cnt·P]
                be.gemm().gemm(false, true, g.o(), kk, (int) np, 1f, gyt.address(), (int) np, 0, col.address(), (int) np, 0,
                        n0 == 0 ? 0f : 1f, gw, kk, 0, 1, what);
            }
        } finally {
            be.allocator().release(col);
            be.allocator().release(gyt);
        }
    }
}
