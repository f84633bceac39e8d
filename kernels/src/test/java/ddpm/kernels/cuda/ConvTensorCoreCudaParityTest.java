package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.MathPrecision;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Convolutions at the TF32 and BF16 math precisions, on both algorithms (the implicit-GEMM tensor-core
 * kernels and im2col + cuBLAS), and the fused conv2dAdd. Each result is checked twice: against the
 * CPU backend's float32 convolution, within the precision's rounding (TF32 5e-3, BF16 3e-2), and
 * against a double-precision convolution of the inputs rounded exactly as the precision takes them
 * (MathPrecision.round), within 1e-5: what is left is float32 accumulation, so a wrong index, a
 * missed tap or a lost tile shows up at once. FP32 keeps the exact path whatever the algorithm
 * setting. Sizes are odd, channel counts not multiples of 16, so every tile edge is partial.
 */
class ConvTensorCoreCudaParityTest extends CudaTestBase {
    static final MathPrecision[] FAST = {MathPrecision.TF32, MathPrecision.BF16};
    static final ConvKernel.Algorithm[] BOTH = {ConvKernel.Algorithm.IGEMM, ConvKernel.Algorithm.GEMM};
    /** Tolerance against the rounded-input double reference: float32 accumulation only. */
    static final double ROUNDED_TOL = 1e-5;
    /** Largest error seen per (precision, algorithm, reference), printed at the end for the record. */
    static final Map<String, Double> WORST = new TreeMap<>();

    CudaBackend cb;
    ConvKernel.Algorithm before;

    @BeforeEach void remember() {
        cb = (CudaBackend) gpu;
        before = cb.conv().algorithm();
    }

    @AfterEach void restore() {
        if (cb == null) return;
        cb.setPrecision(MathPrecision.FP32);
        cb.conv().setAlgorithm(before);
        ConvKernel.measureOnHost = false;
    }

    @AfterAll static void report() {
        WORST.forEach((k, v) -> System.out.printf(Locale.ROOT, "conv tensor cores: max rel err %s = %.3g%n", k, v));
    }

    static double tolerance(MathPrecision p) { return p == MathPrecision.TF32 ? 5e-3 : p == MathPrecision.BF16 ? 3e-2 : 1e-5; }

    record Shape(int n, int c, int h, int w, int o, int k, int stride, int pad) {
        int ho() { return (h + 2 * pad - k) / stride + 1; }
        int wo() { return (w + 2 * pad - k) / stride + 1; }
        @Override public String toString() {
            return "x [" + n + "," + c + "," + h + "," + w + "] w [" + o + "," + c + "," + k + "," + k + "] s" + stride + " p" + pad;
        }
    }

    /** A double-precision CPU tensor of t's values rounded as p takes them (the reference's input). */
    static Tensor rounded(Tensor t, MathPrecision p) {
        float[] v = t.toFloats();
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = p.round(v[i]);
        return Tensor.ofDoubles(DType.F64, Device.CPU, d, t.shape());
    }

    void record(String key, double err) { WORST.merge(key, err, Math::max); }

    /** The GPU result against the CPU float32 one (p's tolerance) and the rounded-input double one (1e-5). */
    void compare(String what, MathPrecision p, ConvKernel.Algorithm a, Tensor cpuF32, Tensor roundedF64, Tensor gpuT) {
        String tag = p + " " + a;
        record(tag + " vs fp32", assertClose(what + " " + tag + " vs fp32", cpuF32, gpuT, tolerance(p)));
        record(tag + " vs rounded inputs",
                assertClose(what + " " + tag + " vs rounded inputs in double", roundedF64.to(DType.F32), gpuT, ROUNDED_TOL));
    }

    /** Forward (with bias), data gradient and weight gradient of s at p on algorithm a. */
    void check(Shape s, MathPrecision p, ConvKernel.Algorithm a) {
        cb.setPrecision(p);
        cb.conv().setAlgorithm(a);
        P x = rand(s.n(), s.c(), s.h(), s.w()), w = rand(s.o(), s.c(), s.k(), s.k()), b = rand(s.o());
        P y = out(s.n(), s.o(), s.ho(), s.wo()), gy = rand(s.n(), s.o(), s.ho(), s.wo());
        P gx = out(s.n(), s.c(), s.h(), s.w()), gw = out(s.o(), s.c(), s.k(), s.k());
        Tensor xd = rounded(x.c(), p), wd = rounded(w.c(), p), gyd = rounded(gy.c(), p);
        Tensor bd = Tensor.ofDoubles(DType.F64, Device.CPU, b.c().toDoubles(), s.o());

        cpu.conv2d(x.c(), w.c(), b.c(), y.c(), s.stride(), s.pad());
        gpu.conv2d(x.g(), w.g(), b.g(), y.g(), s.stride(), s.pad());
        Tensor yd = Tensor.zeros(DType.F64, Device.CPU, s.n(), s.o(), s.ho(), s.wo());
        cpu.conv2d(xd, wd, bd, yd, s.stride(), s.pad());
        compare(s + " forward", p, a, y.c(), yd, y.g());

        cpu.conv2dBackwardInput(gy.c(), w.c(), gx.c(), s.stride(), s.pad());
        gpu.conv2dBackwardInput(gy.g(), w.g(), gx.g(), s.stride(), s.pad());
        Tensor gxd = Tensor.zeros(DType.F64, Device.CPU, s.n(), s.c(), s.h(), s.w());
        cpu.conv2dBackwardInput(gyd, wd, gxd, s.stride(), s.pad());
        compare(s + " backward input", p, a, gx.c(), gxd, gx.g());

        cpu.conv2dBackwardWeight(x.c(), gy.c(), gw.c(), s.stride(), s.pad());
        gpu.conv2dBackwardWeight(x.g(), gy.g(), gw.g(), s.stride(), s.pad());
        Tensor gwd = Tensor.zeros(DType.F64, Device.CPU, s.o(), s.c(), s.k(), s.k());
        cpu.conv2dBackwardWeight(xd, gyd, gwd, s.stride(), s.pad());
        compare(s + " backward weight", p, a, gw.c(), gwd, gw.g());
    }

    static final List<Shape> SHAPES = List.of(
            new Shape(3, 19, 11, 13, 21, 3, 1, 1),    // 3×3: 4 pixel tiles, 6 k-steps, weight grad split in 3
            new Shape(3, 17, 11, 9, 13, 3, 2, 1),     // stride 2 (downsample), odd input
            new Shape(3, 37, 7, 9, 19, 1, 1, 0),      // 1×1 (skip projection)
            new Shape(2, 5, 9, 7, 7, 1, 2, 0),        // 1×1 strided
            new Shape(1, 3, 5, 7, 4, 3, 1, 0),        // no padding, a nearly empty tile
            new Shape(1, 133, 5, 7, 131, 3, 1, 1));   // two tiles along O (forward) and C (data gradient)

    @Test void bothAlgorithmsAtTf32AndBf16() {
        for (Shape s : SHAPES)
            for (MathPrecision p : FAST)
                for (ConvKernel.Algorithm a : BOTH) check(s, p, a);
    }

    /** FP32 is the exact im2col + cuBLAS path whichever algorithm is asked for. */
    @Test void fp32StaysExact() {
        for (ConvKernel.Algorithm a : BOTH) {
            check(SHAPES.get(0), MathPrecision.FP32, a);
            check(SHAPES.get(2), MathPrecision.FP32, a);
        }
    }

    /** U-Net layers: 3×3 at 128 channels, the stride-2 downsample, a 1×1 skip (256 + 128 → 128). */
    @Test void uNetLayers() {
        int n = pick(8, 1), r = pick(32, 8);
        for (MathPrecision p : FAST)
            for (ConvKernel.Algorithm a : BOTH) {
                check(new Shape(n, 128, r, r, 128, 3, 1, 1), p, a);
                check(new Shape(n, 128, r, r, 128, 3, 2, 1), p, a);
                check(new Shape(n, 384, r, r, 128, 1, 1, 0), p, a);
            }
    }

    static long launches(String entry) { return KernelModule.launchCounts().getOrDefault(entry, 0L); }

    /** Shapes the halo kernels take (3×3, stride 1, pad 1, rows of 16..128 pixels, channels in 32s; 16s for the weight grad). */
    static final List<Shape> HALO = List.of(
            new Shape(2, 64, 16, 16, 96, 3, 1, 1),    // both passes: 2 input slices forward, 3 back; a partial M tile
            new Shape(1, 32, 4, 32, 160, 3, 1, 1),    // W = 32, 4 rows a tile; two M tiles forward, 5 slices back
            new Shape(3, 32, 2, 64, 32, 3, 1, 1),     // W = 64, 2 rows a tile, one tile per image
            new Shape(1, 32, 1, 128, 33, 3, 1, 1),    // W = 128, a one-row image; 33 gy channels: data grad gathers
            new Shape(2, 48, 16, 16, 40, 3, 1, 1));   // 48 channels: forward and data grad gather, the weight grad's
                                                      // halo has 3 channel groups (27 fragments, a partial last block)

    /** The halo kernels, checked as every pass is (against fp32 and against the rounded-input double
     *  reference within float32 accumulation), and counted: each fitting pass ran the halo entry. */
    @Test void haloKernelsForTheUNetsThreeByThreeConvolutions() {
        for (Shape s : HALO)
            for (MathPrecision p : FAST) {
                long f0 = launches("conv.conv_fwd_halo_" + p), d0 = launches("conv.conv_dgrad_halo_" + p),
                        w0 = launches("conv.conv_wgrad_halo_" + p);
                check(s, p, ConvKernel.Algorithm.IGEMM);
                assertEquals(f0 + (s.c() % 32 == 0 ? 1 : 0), launches("conv.conv_fwd_halo_" + p), s + " forward on the halo kernel");
                assertEquals(d0 + (s.o() % 32 == 0 ? 1 : 0), launches("conv.conv_dgrad_halo_" + p), s + " data grad");
                assertEquals(w0 + 1, launches("conv.conv_wgrad_halo_" + p), s + " weight grad (split over the pixel chunks)");
            }
        // off, the same shape takes the gathering kernel
        cb.conv().setHalo(false);
        try {
            long f0 = launches("conv.conv_fwd_halo_bf16");
            check(HALO.get(0), MathPrecision.BF16, ConvKernel.Algorithm.IGEMM);
            assertEquals(f0, launches("conv.conv_fwd_halo_bf16"), "setHalo(false)");
        } finally {
            cb.conv().setHalo(true);
        }
    }

    /**
     * groupNormSiluConv2dAdd at TF32/BF16: the statistics as the CPU's; the fused kernel (the norm
     * applied as the halo loads x) ran, and equals the unfused GPU sequence —
     * group_norm_fwd writing SiLU(GN(x)), then conv2dAdd on the halo kernel — within float32
     * accumulation, and the CPU's float32 composition within the precision's rounding. At FP32 the
     * composed path runs (no fused kernel launched).
     */
    @Test void groupNormSiluAppliedAsTheHaloLoads() {
        double eps = 1e-5;
        for (MathPrecision p : new MathPrecision[]{MathPrecision.TF32, MathPrecision.BF16, MathPrecision.FP32})
            for (Shape s : List.of(HALO.get(0), HALO.get(1))) {
                cb.setPrecision(p);
                cb.conv().setAlgorithm(ConvKernel.Algorithm.IGEMM);
                int groups = s.c() == 64 ? 8 : 4, n = s.n();
                P x = rand(n, s.c(), s.h(), s.w()), ga = rand(s.c()), bt = rand(s.c()), w = rand(s.o(), s.c(), 3, 3), b = rand(s.o());
                P na = rand(n, s.o()), res = rand(n, s.o(), s.h(), s.w());
                P mean = out(n, groups), rstd = out(n, groups), h = out(n, s.c(), s.h(), s.w()), y = out(n, s.o(), s.h(), s.w());
                cpu.groupNorm(x.c(), ga.c(), bt.c(), groups, eps, true, h.c(), mean.c(), rstd.c());
                long before = launches("conv.conv_fwd_gnsilu_halo_" + p);
                cb.groupNormSiluConv2dAdd(x.g(), ga.g(), bt.g(), groups, eps, w.g(), b.g(), na.g(), res.g(), y.g(), mean.g(), rstd.g(), 1, 1);
                assertEquals(before + (p == MathPrecision.FP32 ? 0 : 1), launches("conv.conv_fwd_gnsilu_halo_" + p), s + " " + p);
                assertClose(s + " " + p + " statistics: mean", mean, 1e-5);
                assertClose(s + " " + p + " statistics: rstd", rstd, 1e-5);

                P m2 = out(n, groups), r2 = out(n, groups), y2 = out(n, s.o(), s.h(), s.w());
                gpu.groupNorm(x.g(), ga.g(), bt.g(), groups, eps, true, h.g(), m2.g(), r2.g());
                cb.conv2dAdd(h.g(), w.g(), b.g(), na.g(), res.g(), y2.g(), 1, 1);
                String what = "groupNormSiluConv2dAdd " + s + " " + p;
                record(p + " fused norm vs unfused on the GPU", assertClose(what + " vs unfused", y2.g(), y.g(), 1e-6));
                ddpm.engine.FusedOps.of(cpu).conv2dAdd(h.c(), w.c(), b.c(), na.c(), res.c(), y.c(), 1, 1);
                record(p + " fused norm vs fp32", assertClose(what + " vs fp32", y.c(), y.g(), tolerance(p)));
            }
    }

    /** out = conv2d(x, w) + bias + nAdd[n, o] + residual, each term optional, residual possibly out itself. */
    void checkAdd(Shape s, MathPrecision p, ConvKernel.Algorithm a, boolean bias, boolean nAdd, boolean residual, boolean inPlace) {
        cb.setPrecision(p);
        cb.conv().setAlgorithm(a);
        P x = rand(s.n(), s.c(), s.h(), s.w()), w = rand(s.o(), s.c(), s.k(), s.k());
        P b = bias ? rand(s.o()) : null, na = nAdd ? rand(s.n(), s.o()) : null;
        P res = residual ? rand(s.n(), s.o(), s.ho(), s.wo()) : null;
        P y = inPlace ? outOf(res) : out(s.n(), s.o(), s.ho(), s.wo());
        // the CPU reference: conv2d, then the adds
        Tensor ref = Tensor.zeros(DType.F32, Device.CPU, s.n(), s.o(), s.ho(), s.wo());
        cpu.conv2d(x.c(), w.c(), b == null ? null : b.c(), ref, s.stride(), s.pad());
        float[] r = ref.toFloats();
        float[] nv = na == null ? null : na.c().toFloats(), rv = res == null ? null : res.c().toFloats();
        int per = s.ho() * s.wo();
        for (int i = 0; i < r.length; i++) {
            if (nv != null) r[i] += nv[i / per];
            if (rv != null) r[i] += rv[i];
        }
        Tensor expect = Tensor.of(r, Device.CPU, ref.shape());
        cb.conv2dAdd(x.g(), w.g(), b == null ? null : b.g(), na == null ? null : na.g(),
                res == null ? null : inPlace ? y.g() : res.g(), y.g(), s.stride(), s.pad());
        String what = "conv2dAdd " + s + (bias ? " +bias" : "") + (nAdd ? " +nAdd" : "") + (residual ? inPlace ? " +residual (in place)" : " +residual" : "")
                + " " + p + " " + a;
        record(p + " " + a + " conv2dAdd vs fp32", assertClose(what, expect, y.g(), tolerance(p)));
    }

    @Test void conv2dAddFusesBiasTimestepAndResidual() {
        Shape s = new Shape(3, 19, 11, 13, 21, 3, 1, 1), d = new Shape(2, 17, 9, 11, 13, 3, 2, 1), o = new Shape(3, 37, 7, 9, 19, 1, 1, 0);
        for (MathPrecision p : new MathPrecision[]{MathPrecision.FP32, MathPrecision.TF32, MathPrecision.BF16})
            for (ConvKernel.Algorithm a : BOTH) {
                checkAdd(s, p, a, true, true, true, false);
                checkAdd(s, p, a, true, true, true, true);
                checkAdd(d, p, a, false, true, false, false);
                checkAdd(o, p, a, false, false, true, true);
                checkAdd(o, p, a, true, false, false, false);
            }
    }

    @Test void conv2dAddRefusesWrongShapes() {
        P x = rand(2, 3, 5, 5), w = rand(4, 3, 3, 3), y = out(2, 4, 5, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cb.conv2dAdd(x.g(), w.g(), null, rand(4, 2).g(), null, y.g(), 1, 1));
        assertTrue(e.getMessage().contains("nAdd [4, 2] must be [2, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> cb.conv2dAdd(x.g(), w.g(), null, null, rand(2, 4, 5, 4).g(), y.g(), 1, 1));
        assertTrue(e.getMessage().contains("residual [2, 4, 5, 4] must have out's shape [2, 4, 5, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> cb.conv2dAdd(x.g(), w.g(), null, null, null, out(2, 4, 3, 3).g(), 1, 1));
        assertTrue(e.getMessage().contains("out [2, 4, 3, 3] must be [2, 4, 5, 5]"), e.getMessage());
    }

    /** On the host driver auto means igemm, unmeasured (so that every test run checks the tensor-core kernels). */
    @Test void autoIsIgemmOnTheHostDriver() {
        org.junit.jupiter.api.Assumptions.assumeTrue(ddpm.kernels.cuda.testing.CudaTests.onHost(), "a GPU measures instead");
        cb.setPrecision(MathPrecision.BF16);
        cb.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
        int measured = cb.conv().choices().size();
        long before = KernelModule.launchCounts().getOrDefault("conv.conv_fwd_bf16_k3", 0L);
        P x = rand(2, 3, 5, 7), w = rand(4, 3, 3, 3), y = out(2, 4, 5, 7);
        cpu.conv2d(x.c(), w.c(), null, y.c(), 1, 1);
        gpu.conv2d(x.g(), w.g(), null, y.g(), 1, 1);
        assertClose("conv2d bf16 auto on the host", y, tolerance(MathPrecision.BF16));
        assertEquals(before + 1, KernelModule.launchCounts().getOrDefault("conv.conv_fwd_bf16_k3", 0L));
        assertEquals(measured, cb.conv().choices().size(), "nothing measured");
    }

    /** auto times both algorithms on scratch memory the first time a shape is seen, keeps the faster,
     *  and still writes the right result (also when the residual is the output itself). */
    @Test void autoMeasuresEachShapeOnceAndKeepsTheFaster() {
        ConvKernel.measureOnHost = true;
        cb.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
        Shape s = new Shape(2, 7, 9, 11, 5, 3, 1, 1);
        int before = cb.conv().choices().size();
        checkAdd(s, MathPrecision.BF16, ConvKernel.Algorithm.AUTO, true, true, true, true);
        checkAdd(s, MathPrecision.BF16, ConvKernel.Algorithm.AUTO, true, false, true, false);
        check(s, MathPrecision.BF16, ConvKernel.Algorithm.AUTO);
        List<ConvKernel.Choice> mine = new ArrayList<>();
        for (ConvKernel.Choice c : cb.conv().choices()) if (c.shape().startsWith("x [2,7,9,11] w [5,7,3,3]")) mine.add(c);
        assertEquals(before + 3, cb.conv().choices().size(), "one measurement per pass: " + cb.conv().choices());
        assertEquals(3, mine.size(), mine.toString());
        for (ConvKernel.Choice c : mine) {
            assertTrue(c.igemmMs() > 0 && c.gemmMs() > 0, c.toString());
            assertTrue(Double.isNaN(c.haloMs()) && !c.halo(), "7 channels: no halo kernel: " + c);
            assertEquals(c.igemmMs() <= c.gemmMs() ? ConvKernel.Algorithm.IGEMM : ConvKernel.Algorithm.GEMM, c.chosen(), c.toString());
            System.out.println("conv auto (host timings): " + c);
        }
    }

    /** On a shape with halo kernels auto times three ways (halo, gathering, gemm) per pass, keeps the
     *  fastest, and then runs exactly that one: counted by launches, and the results still right. */
    @Test void autoTimesTheHaloKernelsToo() {
        ConvKernel.measureOnHost = true;
        cb.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
        Shape s = new Shape(1, 32, 4, 32, 32, 3, 1, 1);
        check(s, MathPrecision.BF16, ConvKernel.Algorithm.AUTO);   // measures, then computes
        List<ConvKernel.Choice> mine = new ArrayList<>();
        for (ConvKernel.Choice c : cb.conv().choices())
            if (c.shape().startsWith("x [1,32,4,32] w [32,32,3,3]") && c.precision() == MathPrecision.BF16) mine.add(c);
        assertEquals(3, mine.size(), mine.toString());
        String[] entry = {"conv_fwd", "conv_dgrad", "conv_wgrad"};
        java.util.Map<String, String> byPass = java.util.Map.of("forward", entry[0], "backward input", entry[1], "backward weight", entry[2]);
        java.util.Map<String, Long> before = new java.util.HashMap<>();
        for (String e : entry) {
            before.put(e + "_halo_bf16", launches("conv." + e + "_halo_bf16"));
            before.put(e + "_bf16_k3", launches("conv." + e + "_bf16_k3"));
        }
        check(s, MathPrecision.BF16, ConvKernel.Algorithm.AUTO);   // measured: runs the choices
        for (ConvKernel.Choice c : mine) {
            System.out.println("conv auto (host timings): " + c);
            assertTrue(c.haloMs() > 0 && c.igemmMs() > 0 && c.gemmMs() > 0, c.toString());
            double best = Math.min(c.haloMs(), Math.min(c.igemmMs(), c.gemmMs()));
            assertEquals(best == c.gemmMs() && c.gemmMs() < Math.min(c.haloMs(), c.igemmMs()) ? ConvKernel.Algorithm.GEMM
                    : ConvKernel.Algorithm.IGEMM, c.chosen(), c.toString());
            assertEquals(c.haloMs() <= c.igemmMs(), c.halo(), c.toString());
            String e = byPass.get(c.pass());
            boolean halo = c.chosen() == ConvKernel.Algorithm.IGEMM && c.halo();
            boolean gather = c.chosen() == ConvKernel.Algorithm.IGEMM && !c.halo();
            assertEquals(before.get(e + "_halo_bf16") + (halo ? 1 : 0), launches("conv." + e + "_halo_bf16"), "halo ran: " + c);
            assertEquals(before.get(e + "_bf16_k3") + (gather ? 1 : 0), launches("conv." + e + "_bf16_k3"), "gathering ran: " + c);
        }
    }
}
