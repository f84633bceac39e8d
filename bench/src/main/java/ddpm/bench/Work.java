package ddpm.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * What each benchmark does, for the report: its kernel and variant, the bytes it must move and
 * the flops it must do (as functions of the JMH parameters, through the same shape functions the
 * benchmarks use), which limit it is measured against, and the PyTorch op of torch_ddpm.py it
 * matches.
 *
 * <p>Bytes are the computation's essential traffic — every input read once, every output written
 * once — and are the same for the fused and the unfused variants of one computation, so GB/s is
 * the effective bandwidth and the unfused variants show lower GB/s for the same work.
 */
public final class Work {
    private Work() {}

    /** MEMORY: compared with the copy bandwidth; COMPUTE: with the GEMM rate; STEP: end to end (img/s). */
    public enum Kind { MEMORY, COMPUTE, STEP }

    /**
     * @param kernel  the kernel family shown in the report
     * @param variant "fused", "unfused (N kernels)", ... ; the fused one of a group is {@code fused = true}
     * @param group   computations compared fused vs unfused share a group (null: no comparison)
     * @param fused   true for the reference variant of the group
     * @param items   for STEP: images per invocation
     * @param torch   the op name in torch_ddpm.py's JSON (null: none), from the params
     */
    public record Entry(String kernel, String variant, String group, boolean fused, Kind kind,
                        ToDoubleFunction<Map<String, String>> bytes, ToDoubleFunction<Map<String, String>> flops,
                        Function<Map<String, String>, String> shape, Function<Map<String, String>, String> torch,
                        ToDoubleFunction<Map<String, String>> items) {
        public double bytes(Map<String, String> p) { return bytes == null ? 0 : bytes.applyAsDouble(p); }

        public double flops(Map<String, String> p) { return flops == null ? 0 : flops.applyAsDouble(p); }

        public String shape(Map<String, String> p) { return shape == null ? "" : shape.apply(p); }

        public String torch(Map<String, String> p) { return torch == null ? null : torch.apply(p); }

        public double items(Map<String, String> p) { return items == null ? 0 : items.applyAsDouble(p); }
    }

    private static final Map<String, Entry> ENTRIES = new LinkedHashMap<>();

    /** The entry of benchmark {@code Class.method} (package dropped), or null. */
    public static Entry get(String benchmark) {
        String k = benchmark.startsWith("ddpm.bench.") ? benchmark.substring("ddpm.bench.".length()) : benchmark;
        return ENTRIES.get(k);
    }

    public static Map<String, Entry> all() { return java.util.Collections.unmodifiableMap(ENTRIES); }

    private static void mem(String key, String kernel, String variant, String group, boolean fused,
                            ToDoubleFunction<Map<String, String>> bytes, Function<Map<String, String>, String> shape,
                            Function<Map<String, String>, String> torch) {
        ENTRIES.put(key, new Entry(kernel, variant, group, fused, Kind.MEMORY, bytes, null, shape, torch, null));
    }

    private static void comp(String key, String kernel, String variant, String group, boolean fused,
                             ToDoubleFunction<Map<String, String>> flops, Function<Map<String, String>, String> shape,
                             Function<Map<String, String>, String> torch) {
        ENTRIES.put(key, new Entry(kernel, variant, group, fused, Kind.COMPUTE, null, flops, shape, torch, null));
    }

    private static void comp(String key, String kernel, String variant, String group, boolean fused,
                             ToDoubleFunction<Map<String, String>> bytes, ToDoubleFunction<Map<String, String>> flops,
                             Function<Map<String, String>, String> shape, Function<Map<String, String>, String> torch) {
        ENTRIES.put(key, new Entry(kernel, variant, group, fused, Kind.COMPUTE, bytes, flops, shape, torch, null));
    }

    static String be(Map<String, String> p) { return p.getOrDefault("backend", "cpu"); }

    /** " bf16 igemm" etc. for benchmarks with precision / algo parameters. */
    static String math(Map<String, String> p) {
        return p.containsKey("precision") ? " " + p.get("precision") + " " + p.getOrDefault("algo", "auto") : "";
    }

    /** The CPU backend's only math: fp32, one convolution algorithm. */
    static boolean cpuMath(String precision, String algo) {
        return (precision == null || precision.equals("fp32")) && (algo == null || algo.equals("auto"));
    }

    /** False for results that measured nothing because the parameters do not apply to the backend
     *  (the CPU at another precision or algorithm, the CUDA-only conv2dAdd on the CPU). */
    public static boolean applies(String benchmark, Map<String, String> p) {
        if (cuda(p)) return true;
        String k = benchmark.startsWith("ddpm.bench.") ? benchmark.substring("ddpm.bench.".length()) : benchmark;
        return cpuMath(p.get("precision"), p.get("algo")) && !k.equals("ConvBench.addFused");
    }

    static boolean cuda(Map<String, String> p) { return be(p).startsWith("cuda"); }

    static long numel(int[] s) {
        long n = 1;
        for (int d : s) n *= d;
        return n;
    }

    static String str(int[] s) {
        StringBuilder b = new StringBuilder();
        for (int d : s) b.append(b.length() == 0 ? "" : "x").append(d);
        return b.toString();
    }

    static final double F = 4; // bytes per float32

    static {
        // ---------------------------------------------------------------- limits
        mem("PeakBench.copy", "copy", "Backend.copy", null, false,
                p -> 2.0 * PeakBench.COPY_ELEMS * F, p -> "256 MiB", p -> "copy[256MiB]");
        comp("PeakBench.gemm", "gemm fp32", "Backend.matmul", null, false,
                p -> 2.0 * Math.pow(PeakBench.gemmSize(be(p)), 3),
                p -> { int n = PeakBench.gemmSize(be(p)); return n + "x" + n + "x" + n; },
                p -> "sgemm_fp32[" + PeakBench.gemmSize(be(p)) + "]");

        // ---------------------------------------------------------------- diffusion
        Function<Map<String, String>, int[]> img = p -> DiffusionBench.shape(be(p), p.getOrDefault("size", "train"));
        Function<Map<String, String>, String> imgS = p -> str(img.apply(p));
        mem("DiffusionBench.qSampleFused", "noise-add (qSample)", "fused", "qSample", true,
                p -> 3 * numel(img.apply(p)) * F, imgS, p -> "q_sample[" + str(img.apply(p)) + "]");
        mem("DiffusionBench.qSampleUnfused", "noise-add (qSample)", "unfused (5 kernels)", "qSample", false,
                p -> 3 * numel(img.apply(p)) * F, imgS, null);
        mem("DiffusionBench.ddpmFused", "posterior step (DDPM)", "fused", "ddpm", true,
                p -> 4 * numel(img.apply(p)) * F, imgS, p -> "ddpm_step[" + str(img.apply(p)) + "]");
        mem("DiffusionBench.ddpmUnfused", "posterior step (DDPM)", "unfused (8 kernels)", "ddpm", false,
                p -> 4 * numel(img.apply(p)) * F, imgS, null);
        mem("DiffusionBench.ddimFused", "DDIM step", "fused", "ddim", true,
                p -> 4 * numel(img.apply(p)) * F, imgS, null);
        mem("DiffusionBench.ddimUnfused", "DDIM step", "unfused (15 kernels)", "ddim", false,
                p -> 4 * numel(img.apply(p)) * F, imgS, null);

        // ---------------------------------------------------------------- group norm
        Function<Map<String, String>, int[]> gn = p -> GroupNormBench.shape(be(p), p.getOrDefault("shape", "128x32"));
        Function<Map<String, String>, String> gnS = p -> str(gn.apply(p));
        mem("GroupNormBench.fwd", "group norm fwd", "fused", null, false,
                p -> 2 * numel(gn.apply(p)) * F, gnS, p -> "group_norm_fwd[" + str(gn.apply(p)) + "]");
        mem("GroupNormBench.fwdBwd", "group norm fwd+bwd", "fused", null, false,
                p -> 5 * numel(gn.apply(p)) * F, gnS, p -> "group_norm_fwd_bwd[" + str(gn.apply(p)) + "]");
        mem("GroupNormBench.siluFused", "group norm + SiLU", "fused", "gnSilu", true,
                p -> 2 * numel(gn.apply(p)) * F, gnS, p -> "group_norm_silu_fwd[" + str(gn.apply(p)) + "]");
        mem("GroupNormBench.siluTwoKernels", "group norm + SiLU", "GN, then SiLU (2 kernels)", "gnSilu", false,
                p -> 2 * numel(gn.apply(p)) * F, gnS, null);
        mem("GroupNormBench.siluComposed", "group norm + SiLU", "composed (13 kernels)", "gnSilu", false,
                p -> 2 * numel(gn.apply(p)) * F, gnS, null);

        // ---------------------------------------------------------------- attention, softmax
        Function<Map<String, String>, int[]> at = p -> AttentionBench.shape(be(p), p.getOrDefault("shape", "256x256"));
        // the shape, with the math precision where a CUDA result names one (the CPU computes fp32)
        Function<Map<String, String>, String> atS = p -> str(at.apply(p)) + (cuda(p) && p.containsKey("precision") ? " " + p.get("precision") : "");
        // forward: q·kᵀ and P·v; forward + backward: the essential 3.5× (dV, dP, dQ, dK and the scores once more)
        ToDoubleFunction<Map<String, String>> atF = p -> { int[] s = at.apply(p); return 4.0 * s[0] * s[1] * (double) s[1] * s[2]; };
        // bytes: forward reads q, k, v and writes out, lse; backward reads q, k, v, out, gout, lse and writes gq, gk, gv
        ToDoubleFunction<Map<String, String>> atB = p -> { int[] s = at.apply(p); return (4.0 * s[0] * s[1] * s[2] + s[0] * s[1]) * F; };
        ToDoubleFunction<Map<String, String>> atBB = p -> { int[] s = at.apply(p); return (12.0 * s[0] * s[1] * s[2] + 2.0 * s[0] * s[1]) * F; };
        comp("AttentionBench.fwdFused", "attention fwd", "fused", "attnFwd", true, atB, atF, atS,
                p -> "attention_sdpa_fwd[" + str(at.apply(p)) + "]");
        comp("AttentionBench.fwdUnfused", "attention fwd", "matmul→softmax→matmul", "attnFwd", false, atB, atF, atS,
                p -> "attention_naive_fwd[" + str(at.apply(p)) + "]");
        comp("AttentionBench.fwdBwdFused", "attention fwd+bwd", "fused", "attnFwdBwd", true, atBB,
                p -> 3.5 * atF.applyAsDouble(p), atS, p -> "attention_sdpa_fwd_bwd[" + str(at.apply(p)) + "]");
        comp("AttentionBench.fwdBwdUnfused", "attention fwd+bwd", "matmuls + softmax (9 kernels)", "attnFwdBwd", false, atBB,
                p -> 3.5 * atF.applyAsDouble(p), atS, null);
        Function<Map<String, String>, int[]> sm = p -> SoftmaxBench.shape(be(p), p.getOrDefault("rows", "256"));
        mem("SoftmaxBench.fwd", "softmax fwd", "fused", null, false, p -> 2 * numel(sm.apply(p)) * F, p -> str(sm.apply(p)), null);
        mem("SoftmaxBench.fwdBwd", "softmax fwd+bwd", "fused", null, false, p -> 5 * numel(sm.apply(p)) * F, p -> str(sm.apply(p)), null);

        // ---------------------------------------------------------------- upsample, conv1x1
        Function<Map<String, String>, int[]> up = p -> UpsampleBench.shape(be(p), p.getOrDefault("shape", "256x8"));
        mem("UpsampleBench.fwd", "upsample 2x fwd", "-", null, false, p -> 5 * numel(up.apply(p)) * F, p -> str(up.apply(p)), null);
        mem("UpsampleBench.bwd", "upsample 2x bwd", "-", null, false, p -> 5 * numel(up.apply(p)) * F, p -> str(up.apply(p)), null);
        Function<Map<String, String>, int[]> cv = p -> Conv1x1Bench.shape(be(p), p.getOrDefault("shape", "256x16x256"));
        ToDoubleFunction<Map<String, String>> cvF = p -> { int[] s = cv.apply(p); return 2.0 * s[0] * s[2] * s[2] * (double) s[1] * s[3]; };
        Function<Map<String, String>, String> cvS = p -> { int[] s = cv.apply(p); return s[0] + "x" + s[1] + "x" + s[2] + "x" + s[2] + "->" + s[3]; };
        Function<Map<String, String>, String> cvSP = p -> cvS.apply(p) + math(p);
        ToDoubleFunction<Map<String, String>> cvB = p -> { int[] s = cv.apply(p); return F * ((double) s[0] * s[2] * s[2] * (s[1] + s[3]) + (double) s[1] * s[3]); };
        comp("Conv1x1Bench.conv", "conv1x1", "conv2d k=1", null, false, cvB, cvF, cvSP, null);
        comp("Conv1x1Bench.asMatmul", "conv1x1", "batched matmul", null, false, cvB, cvF, cvSP, null);

        // ---------------------------------------------------------------- convolutions (3×3, stride 2, 1×1)
        // bytes: each pass's operands once (x, w, y; gy, w, gx; x, gy, gw); conv2dAdd adds bias, nAdd, residual
        Function<Map<String, String>, int[]> cs = p -> ConvBench.shape(be(p), p.getOrDefault("shape", "128x32x128x3x1"));
        ToDoubleFunction<Map<String, String>> csF = p -> ConvBench.flops(cs.apply(p));
        ToDoubleFunction<Map<String, String>> csB = p -> { double[] e = ConvBench.elems(cs.apply(p)); return F * (e[0] + e[1] + e[2]); };
        ToDoubleFunction<Map<String, String>> csAddB = p -> {
            int[] s = cs.apply(p);
            double[] e = ConvBench.elems(s);
            return F * (e[0] + e[1] + 2 * e[2] + s[3] + (double) s[0] * s[3]);
        };
        Function<Map<String, String>, String> csS = p -> {
            int[] s = cs.apply(p);
            return s[0] + "x" + s[1] + "x" + s[2] + "x" + s[2] + " k" + s[4] + " s" + s[5] + "->" + s[3] + math(p);
        };
        comp("ConvBench.forward", "conv fwd (+bias)", "-", null, false, csB, csF, csS, null);
        comp("ConvBench.backwardInput", "conv data grad", "-", null, false, csB, csF, csS, null);
        comp("ConvBench.backwardWeight", "conv weight grad", "-", null, false, csB, csF, csS, null);
        comp("ConvBench.addFused", "conv + bias + t-emb + residual", "fused (conv2dAdd)", "convAdd", true, csAddB, csF, csS, null);
        comp("ConvBench.addUnfused", "conv + bias + t-emb + residual", "conv2d, 2 adds (3 kernels)", "convAdd", false,
                csAddB, csF, csS, null);
        // the norm's passes over x: statistics (read once) and, unfused, SiLU(GN(x)) written then read by the conv
        comp("ConvBench.normFused", "GN+SiLU → conv + adds", "norm applied on load (halo)", "normConv", true,
                p -> csAddB.applyAsDouble(p) + F * ConvBench.elems(cs.apply(p))[0], csF, csS, null);
        comp("ConvBench.normUnfused", "GN+SiLU → conv + adds", "GN+SiLU written, conv2dAdd (2 kernels + stats)", "normConv", false,
                p -> csAddB.applyAsDouble(p) + 3 * F * ConvBench.elems(cs.apply(p))[0], csF, csS, null);

        // ---------------------------------------------------------------- elementwise
        Function<Map<String, String>, int[]> ew = p -> ElementwiseBench.shape(be(p), p.getOrDefault("shape", "256x16"));
        Function<Map<String, String>, String> ewS = p -> str(ew.apply(p));
        // bytes of one activation tensor (BF16 with -p activations=bf16), of one F32 tensor of that shape
        ToDoubleFunction<Map<String, String>> ewN = p -> numel(ew.apply(p)) * ("bf16".equals(p.get("activations")) ? 2 : F);
        ToDoubleFunction<Map<String, String>> ew32 = p -> numel(ew.apply(p)) * F;
        ToDoubleFunction<Map<String, String>> ewC = p -> ew.apply(p)[1] * F;
        mem("ElementwiseBench.silu", "SiLU fwd", "unary", null, false, p -> 2 * ewN.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.siluBwd", "SiLU bwd", "unaryBackward", null, false, p -> 3 * ewN.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.addBias", "add [1,C,1,1] (bias)", "binary, broadcast", null, false,
                p -> 2 * ewN.applyAsDouble(p) + ewC.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.mulScale", "mul [1,C,1,1] (scale)", "binary, broadcast", null, false,
                p -> 2 * ewN.applyAsDouble(p) + ewC.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.add", "add (same shape)", "binary", null, false, p -> 3 * ewN.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.where", "where", "-", null, false, p -> 3 * ewN.applyAsDouble(p) + ew32.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.clamp", "clamp", "-", null, false, p -> 2 * ewN.applyAsDouble(p), ewS, null);
        mem("ElementwiseBench.castBf16", "cast F32 → BF16", "-", null, false, p -> 1.5 * ew32.applyAsDouble(p), ewS, null);

        // ---------------------------------------------------------------- layout
        Function<Map<String, String>, int[]> ly = p -> LayoutBench.shape(be(p), p.getOrDefault("shape", "256x16"));
        Function<Map<String, String>, String> lyS = p -> str(ly.apply(p));
        ToDoubleFunction<Map<String, String>> lyN = p -> numel(ly.apply(p)) * F;
        mem("LayoutBench.reduceRows", "reduce SUM [B·C, HW, 1]", "-", null, false,
                p -> { int[] s = ly.apply(p); return lyN.applyAsDouble(p) + (double) s[0] * s[1] * F; }, lyS, null);
        mem("LayoutBench.reduceMiddle", "reduce SUM [B, C, HW]", "-", null, false,
                p -> { int[] s = ly.apply(p); return lyN.applyAsDouble(p) + (double) s[0] * s[2] * s[3] * F; }, lyS, null);
        mem("LayoutBench.reduceBatch", "reduce SUM [1, B, C·HW]", "-", null, false,
                p -> { int[] s = ly.apply(p); return lyN.applyAsDouble(p) + (double) s[1] * s[2] * s[3] * F; }, lyS, null);
        mem("LayoutBench.permute", "permute [B,C,HW]→[B,HW,C]", "-", null, false, p -> 2 * lyN.applyAsDouble(p), lyS, null);
        mem("LayoutBench.concat", "concat (channels)", "2 writeSlice", null, false, p -> 4 * lyN.applyAsDouble(p), lyS, null);
        mem("LayoutBench.gatherT", "gather [1000] by t", "-", null, false,
                p -> 3.0 * ly.apply(p)[0] * F, p -> LayoutBench.T + "[" + ly.apply(p)[0] + "]", null);
        mem("LayoutBench.gatherEmbed", "gather [11,512] by label", "-", null, false,
                p -> (2.0 * LayoutBench.EMBED + 1) * ly.apply(p)[0] * F,
                p -> LayoutBench.CLASSES + "x" + LayoutBench.EMBED + "[" + ly.apply(p)[0] + "]", null);

        // ---------------------------------------------------------------- optimiser, EMA, RNG
        Function<Map<String, String>, String> nP = p -> String.format("%,d params", OptimBench.params(be(p)));
        mem("OptimBench.adamFused", "Adam", "fused", "adam", true, p -> 7.0 * OptimBench.params(be(p)) * F, nP,
                p -> cuda(p) ? "adam_fused[35.7M]" : null);
        mem("OptimBench.adamClipped", "Adam", "fused, clip factor read on the device", null, false,
                p -> 7.0 * OptimBench.params(be(p)) * F, nP, null);
        mem("OptimBench.adamScheduled", "Adam", "fused, clip and schedule read on the device", null, false,
                p -> 7.0 * OptimBench.params(be(p)) * F, nP, null);
        mem("OptimBench.adamUnfused", "Adam", "unfused (14 kernels)", "adam", false, p -> 7.0 * OptimBench.params(be(p)) * F, nP, null);
        mem("OptimBench.emaFused", "EMA", "fused", "ema", true, p -> 3.0 * OptimBench.params(be(p)) * F, nP, null);
        mem("OptimBench.emaUnfused", "EMA", "unfused (3 kernels)", "ema", false, p -> 3.0 * OptimBench.params(be(p)) * F, nP, null);
        mem("RngBench.randNormal", "RNG (Philox normal)", "-", null, false,
                p -> RngBench.elements(be(p), p.getOrDefault("size", "noise")) * F,
                p -> String.format("%,d", RngBench.elements(be(p), p.getOrDefault("size", "noise"))), null);

        // ---------------------------------------------------------------- end to end
        ENTRIES.put("StepBench.train", new Entry("training step", "fwd+bwd+Adam+EMA", null, false, Kind.STEP, null, null,
                p -> StepBench.describe(be(p), p.getOrDefault("config", "cifar10")),
                p -> "train_step", p -> StepBench.batch(be(p), p.getOrDefault("config", "cifar10"), true)));
        ENTRIES.put("StepBench.sample", new Entry("sampling step", "U-Net fwd + DDPM step", null, false, Kind.STEP, null, null,
                p -> StepBench.describe(be(p), p.getOrDefault("config", "cifar10")),
                p -> "sample_step", p -> StepBench.batch(be(p), p.getOrDefault("config", "cifar10"), false)));
    }
}
