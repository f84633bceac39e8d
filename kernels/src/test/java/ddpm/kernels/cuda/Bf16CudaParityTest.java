package ddpm.kernels.cuda;

import ddpm.engine.BFloat16;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Ops;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.engine.testing.Bf16Calls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * BF16 tensors on the CUDA backend against the CPU backend: the float32 ↔ bfloat16 casts bit for
 * bit (ties, overflow, NaN, subnormals), 16-bit fills, transfers; then every primitive of
 * {@link Bf16Calls} with BF16 activations beside F32 parameters, at an odd offset into storage, its
 * BF16 outputs within one bfloat16 step of the CPU's (the two float32 results may straddle a
 * rounding boundary) and its F32 outputs within float32 error, the {@link #NATIVE} ones without
 * float32 staging copies; and a BF16 step recorded into a CUDA graph and replayed.
 */
class Bf16CudaParityTest extends CudaTestBase {
    static List<Bf16Calls.Call> calls() { return Bf16Calls.all(); }

    /** The calls whose kernels read and write bfloat16 themselves: no float32 staging. */
    static final java.util.Set<String> NATIVE = java.util.Set.of("unary SILU", "unary EXP in place", "unaryBackward TANH",
            "binary MUL broadcast", "binary ADD of a float32 parameter", "binary DIV flat", "affine", "powScalar", "clamp", "where",
            "permute", "writeSlice", "readSlice", "reduce SUM", "reduce SUMSQ to float32", "reduce MAX",
            "reduce SUM of a long row", "reduce SUMSQ of long columns", "groupNorm + SiLU", "groupNormBackward", "upsampleNearest2x",
            "upsampleNearest2xBackward");

    @Test void castsRoundAsTheCpuBitForBit() {
        int n = 4099;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = Float.intBitsToFloat(rnd.nextInt());
        int[] special = {0x3F808000, 0x3F818000, 0xBF808000, 0x3F807FFF, 0x3F808001, 0x00008000, 0x00018000, 0x7F7F8000,
                0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x80000000, 0x00000000, 0x7F800001, 0x7FC00000};
        for (int i = 0; i < special.length; i++) v[i] = Float.intBitsToFloat(special[i]);
        Tensor f = gpuEmpty(DType.F32, n), h = gpuEmpty(DType.BF16, n), back = gpuEmpty(DType.F32, n);
        gpu.write(f, v);
        h.fill(Double.NaN);
        gpu.copy(f, h);
        back.fill(Double.NaN);
        gpu.copy(h, back);
        float[] got = back.toFloats(), direct = h.toFloats();
        for (int i = 0; i < n; i++) {
            float want = BFloat16.round(v[i]);
            if (Float.isNaN(want)) {
                assertTrue(Float.isNaN(got[i]) && Float.isNaN(direct[i]), "element " + i + ": NaN stays NaN");
                continue;
            }
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]),
                    "element " + i + " (0x" + Integer.toHexString(Float.floatToRawIntBits(v[i])) + "): seed " + seed);
            assertEquals(want, direct[i], 0, "read of a BF16 tensor, element " + i);
        }
    }

    @Test void fillsWritesAndIndexCopies() {
        Tensor h = gpuEmpty(DType.BF16, 3, 7);
        h.fill(0.1);
        for (float x : h.toFloats()) assertEquals(BFloat16.round(0.1f), x, 0);
        Tensor neighbour = Tensor.empty(DType.BF16, GPU, 8);   // a 16-bit fill of 7 elements leaves the 8th alone
        neighbour.fill(5);
        neighbour.flatView(0, 7).fill(-2.5);
        assertArrayEquals(new float[]{-2.5f, -2.5f, -2.5f, -2.5f, -2.5f, -2.5f, -2.5f, 5f}, neighbour.toFloats());
        double[] d = {1.00390625, -3.3, 1e-40, 7};
        Tensor w = gpuEmpty(DType.BF16, 4);
        gpu.write(w, d);
        float[] got = w.toFloats();
        for (int i = 0; i < 4; i++) assertEquals(BFloat16.round((float) d[i]), got[i], 0, "write(double[]) element " + i);
        gpu.write(w, new int[]{1, -2, 257, 3});
        assertArrayEquals(new float[]{1, -2, 256, 3}, w.toFloats(), "257 is not a bfloat16: nearest even is 256");
        Tensor idx = gpuEmpty(DType.I32, 4);
        gpu.copy(w, idx);
        assertArrayEquals(new int[]{1, -2, 256, 3}, idx.toInts());
        Tensor w2 = gpuEmpty(DType.BF16, 4);
        gpu.copy(Tensor.ofInts(new int[]{9, 513, -1, 0}, GPU, 4), w2);
        assertArrayEquals(new float[]{9, 512, -1, 0}, w2.toFloats());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("calls")
    void everyPrimitiveMatchesTheCpu(Bf16Calls.Call call) {
        long staged = compare(call, 1e-5);
        if (NATIVE.contains(call.name())) assertEquals(0, staged, call + ": went through float32 copies");
        else assertTrue(staged > 0, call + ": no longer staged; add it to NATIVE");
    }

    /**
     * The call on the CPU and on the GPU with BF16 activations: BF16 outputs within one bfloat16 step
     * plus {@code rel} of the largest value, F32 outputs within {@code rel}; returns how many of the
     * GPU's primitive calls went through float32 copies.
     */
    long compare(Bf16Calls.Call call, double rel) {
        try (Scope ignored = Scope.open()) {
            List<Tensor> want = call.run(Device.CPU, DType.BF16, 0);
            long staged = ((CudaBackend) gpu).stagedOps();
            List<Tensor> got = call.run(GPU, DType.BF16, OFFSET);
            staged = ((CudaBackend) gpu).stagedOps() - staged;
            assertEquals(want.size(), got.size());
            for (int o = 0; o < want.size(); o++) {
                assertEquals(want.get(o).dtype(), got.get(o).dtype());
                float[] w = want.get(o).toFloats(), g = got.get(o).toFloats();
                boolean bf16 = got.get(o).dtype() == DType.BF16;
                double scale = 0;
                for (float x : w) if (Float.isFinite(x)) scale = Math.max(scale, Math.abs(x));
                for (int i = 0; i < w.length; i++) {
                    String where = call + ": output " + o + " (" + got.get(o).describe() + ") element " + i + " (seed " + seed + ")";
                    assertEquals(Float.isNaN(w[i]), Float.isNaN(g[i]), where + ": cpu " + w[i] + ", gpu " + g[i]);
                    if (bf16) assertEquals(BFloat16.round(g[i]), g[i], 0, where + " holds a value bfloat16 cannot");
                    double tol = (bf16 ? 0x1p-7 * Math.max(Math.abs(w[i]), Math.abs(g[i])) : 0) + rel * scale;
                    if (!Float.isNaN(w[i])) assertEquals(w[i], g[i], tol, where);
                }
            }
            return staged;
        }
    }

    /** Convolutions on the U-Net's halo shapes (3×3 at 16², channels in multiples of 32, or 16 for the weight gradient). */
    static final List<Bf16Calls.Call> HALO_CONVS = List.of(
            new Bf16Calls.Call("conv2d halo", c -> c.b.conv2d(c.act(2, 32, 16, 16), c.param(32, 32, 3, 3), c.param(32),
                    c.actOut(2, 32, 16, 16), 1, 1)),
            new Bf16Calls.Call("conv2dAdd halo", c -> ddpm.engine.FusedOps.of(c.b).conv2dAdd(c.act(2, 32, 16, 16), c.param(32, 32, 3, 3),
                    c.param(32), c.act(2, 32), c.act(2, 32, 16, 16), c.actOut(2, 32, 16, 16), 1, 1)),
            new Bf16Calls.Call("conv2dBackwardInput halo", c -> c.b.conv2dBackwardInput(c.act(2, 32, 16, 16), c.param(32, 32, 3, 3),
                    c.actOut(2, 32, 16, 16), 1, 1)),
            new Bf16Calls.Call("conv2dBackwardWeight halo", c -> c.b.conv2dBackwardWeight(c.act(2, 16, 16, 16), c.act(2, 32, 16, 16),
                    c.statOut(32, 16, 3, 3), 1, 1)),
            new Bf16Calls.Call("groupNormSiluConv2dAdd halo", c -> ddpm.engine.FusedOps.of(c.b).groupNormSiluConv2dAdd(c.act(2, 32, 16, 16),
                    c.param(32), c.param(32), 8, 1e-5, c.param(32, 32, 3, 3), c.param(32), c.act(2, 32), c.act(2, 32, 16, 16),
                    c.actOut(2, 32, 16, 16), c.statOut(2, 8), c.statOut(2, 8), 1, 1)));

    /**
     * At BF16 tensor-core precision the convolutions and attention read and write BF16 activations
     * themselves, convolutions on the gathering kernels (the catalogue's odd shapes) and the halo
     * kernels (counted): no float32 copies. The inputs are bfloat16 values, so a convolution's
     * tensor-core products are exact and its results match the CPU's within one bfloat16 step and
     * float32 error; the fused norm rounds its normalised input, and attention its probabilities
     * and score gradients, to bfloat16 for the tensor cores, so those are held to bf16 math's 3e-3.
     */
    @Test void convolutionsAndAttentionReadBf16OnTheTensorCores() {
        List<Bf16Calls.Call> convs = new java.util.ArrayList<>(HALO_CONVS);
        for (Bf16Calls.Call c : Bf16Calls.all()) if (c.name().startsWith("conv2d") || c.name().startsWith("attention")) convs.add(c);
        gpu.setPrecision(ddpm.engine.MathPrecision.BF16);
        try {
            long halo = haloLaunches();
            for (Bf16Calls.Call call : convs)
                assertEquals(0, compare(call, call.name().startsWith("conv2d") ? 1e-5 : 3e-3), call + ": went through float32 copies");
            assertTrue(haloLaunches() - halo >= 5, "the halo kernels ran " + (haloLaunches() - halo) + " times");
        } finally {
            gpu.setPrecision(ddpm.engine.MathPrecision.FP32);
        }
    }

    private static long haloLaunches() {
        long n = 0;
        for (var e : CudaBackend.kernelLaunches().entrySet()) if (e.getKey().contains("_halo_bf16")) n += e.getValue();
        return n;
    }

    /** A step of BF16 work recorded once and replayed: its float32 scratch copies belong to the graph. */
    @Test void bf16WorkReplaysFromAGraph() {
        CudaBackend cb = (CudaBackend) gpu;
        int n = 5, k = 37;
        Tensor x = gpuEmpty(DType.BF16, n, k), y = gpuEmpty(DType.BF16, n, k);
        CudaBackend.Graph g = cb.capture(() -> {
            gpu.unary(Ops.Unary.SILU, x, y);
            gpu.affine(y, 2, 0.25, y);
        });
        try {
            for (int round = 0; round < 2; round++) {
                float[] v = data((long) n * k, 1 + round);
                gpu.write(x, v);
                y.fill(Double.NaN);
                g.replay();
                Tensor xc = Tensor.of(v, Device.CPU, n, k).to(DType.BF16);
                Tensor yc = xc.emptyLike(n, k);
                cpu.unary(Ops.Unary.SILU, xc, yc);
                cpu.affine(yc, 2, 0.25, yc);
                float[] want = yc.toFloats(), got = y.toFloats();
                for (int i = 0; i < want.length; i++)
                    assertEquals(want[i], got[i], 0x1p-7 * Math.abs(want[i]) + 1e-6, "replay " + round + " element " + i);
            }
        } finally {
            g.close();
        }
    }
}
