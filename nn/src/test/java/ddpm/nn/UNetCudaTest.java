package ddpm.nn;

import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.MathPrecision;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.testing.CudaTests;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The same nn code on the CUDA backend: init, forward, a training step, EMA and a checkpoint
 *  agree with the CPU (the specification). Runs on the host driver and on a GPU (see CudaTests). */
@Tag("gpu")
class UNetCudaTest {
    static final Device GPU = Device.cuda(0);
    @TempDir Path dir;

    @BeforeEach void gpu() { CudaTests.assumeCuda(); }

    static void assertClose(String what, float[] cpu, float[] gpu, double rel) {
        assertEquals(cpu.length, gpu.length);
        double max = 1e-12, err = 0;
        for (int i = 0; i < cpu.length; i++) {
            max = Math.max(max, Math.abs(cpu[i]));
            err = Math.max(err, Math.abs(cpu[i] - gpu[i]));
        }
        assertTrue(err / max <= rel, what + ": max error " + err + " relative to max |cpu| " + max);
    }

    @Test void trainingStepMatchesTheCpu() throws Exception {
        for (UNetConfig.DownsamplePad pad : UNetConfig.DownsamplePad.values()) trainingStep(UNetConfig.tiny().withNumClasses(3).withDownsamplePad(pad));
    }

    /**
     * The train step's loss and gradients at bf16 and tf32 tensor-core math against fp32 (the CPU),
     * on the tiny class-conditional U-Net. Stated tolerances, relative to the largest value: loss
     * 2e-3 (bf16) / 5e-4 (tf32), gradients 1e-2 / 2e-3 (measured on the host driver: 1.1e-3 and
     * 1.7e-4). bf16 keeps 8 bits of mantissa, so each product carries up to 2^-9 relative error and
     * the fp32 sums average much of it out. The error must also be above zero: the reduced-precision
     * kernels ran.
     */
    @Test void reducedPrecisionTrainingStepStaysNearFp32() {
        try (TinyPair tp = new TinyPair()) {
            UNet g = tp.g;
            float[] ref = tp.ref, refGrads = tp.refGrads;
            for (MathPrecision p : new MathPrecision[]{MathPrecision.BF16, MathPrecision.TF32}) {
                Backends.get(GPU).setPrecision(p);
                try {
                    float[] got = tp.step(g, GPU);
                    boolean bf16 = p == MathPrecision.BF16;
                    assertClose(p + " loss", new float[]{ref[0]}, new float[]{got[0]}, bf16 ? 2e-3 : 5e-4);
                    assertClose(p + " gradients", refGrads, g.flatGrads().toFloats(), bf16 ? 1e-2 : 2e-3);
                    assertTrue(maxRel(refGrads, g.flatGrads().toFloats()) > 1e-5, p + ": gradients equal fp32's, the " + p + " kernels did not run");
                    System.out.printf(java.util.Locale.ROOT, "tiny U-Net train step at %s: loss %.6f vs fp32 %.6f, gradients max error %.2e of max |g|%n",
                            p, got[0], ref[0], maxRel(refGrads, g.flatGrads().toFloats()));
                } finally {
                    Backends.get(GPU).setPrecision(MathPrecision.FP32);
                }
            }
        }
    }

    /**
     * The norms fused into their convolutions' input loads ({@link Fusion#normConv}) in a sampling
     * forward (no gradient recorded; at the tiny U-Net's 16² level, 32 channels, the halo kernels with
     * the group norm applied on load) against the same forward with the norms written out: equal
     * within float32 accumulation (1e-6 of the largest; the fused kernel applies the norm in
     * group_norm_fwd's own expression). A training step records gradients and so composes the ops.
     */
    @Test void fusedNormsMatchUnfusedAtBf16() throws Exception {
        UNetConfig cfg = UNetConfig.tiny();
        boolean was = Fusion.normConv;
        String fused = "conv.conv_fwd_gnsilu_halo_bf16";
        try (UNet g = new UNet(cfg, GPU, 1)) {
            Fd.randomize(g, 5, 0.05);
            g.eval();
            Rng data = new Rng(4);
            float[] x = Tensor.randn(data, 4, 3, 16, 16).toFloats();
            int[] t = {3, 100, 600, 998};
            Backends.get(GPU).setPrecision(MathPrecision.BF16);
            float[][] out = new float[2][];
            for (int i = 0; i < 2; i++) {
                Fusion.normConv = i == 0;
                long before = ddpm.kernels.cuda.CudaBackend.kernelLaunches().getOrDefault(fused, 0L);
                try (Scope s = Scope.open(); Grad.Guard ng = Grad.noGrad()) {
                    out[i] = g.forward(Tensor.of(x, GPU, 4, 3, 16, 16), Tensor.ofInts(t, GPU, 4), null).toFloats();
                }
                long ran = ddpm.kernels.cuda.CudaBackend.kernelLaunches().getOrDefault(fused, 0L) - before;
                // fused at 16²: norm1 → conv1 and norm2 → conv2 of the three ResBlocks there (inputs of
                // 32, 96 and 64 channels), and norm_out → conv_out
                assertEquals(i == 0 ? 7 : 0, ran, "fused norm + convolution launches in one forward, normConv " + (i == 0));
            }
            assertClose("bf16 sampling forward, norms fused vs not", out[1], out[0], 1e-6);
            // with a gradient recorded the op composes: the fused kernel does not run in a training step
            long before = ddpm.kernels.cuda.CudaBackend.kernelLaunches().getOrDefault(fused, 0L);
            Fusion.normConv = true;
            step(g, GPU, x, x, t, null);
            assertEquals(before, ddpm.kernels.cuda.CudaBackend.kernelLaunches().getOrDefault(fused, 0L), "a training step");
        } finally {
            Fusion.normConv = was;
            Backends.get(GPU).setPrecision(MathPrecision.FP32);
        }
    }

    /**
     * bf16 autocast ({@link UNet#activations}): the train step with BF16 activations against the
     * float32 one, on the CPU (the specification) and on CUDA with BF16 tensor-core math. Stated
     * tolerances, relative to the largest value: loss 1e-3, gradients 1.5e-2 (bf16 keeps 8 bits and
     * every stored activation is rounded; measured on the host driver: loss 3e-6, gradients 5.0e-3 on
     * the CPU and 2.3e-3 on CUDA). The BF16 gradients must differ from float32's, and the CUDA step
     * must have cast its input and embedding to bfloat16 (the casts are counted).
     */
    @Test void bf16ActivationsTrainingStepStaysNearFp32() {
        try (TinyPair tp = new TinyPair()) {
            UNet c = tp.c, g = tp.g;
            float[] ref = tp.ref, refGrads = tp.refGrads;
            c.activations(ddpm.engine.DType.BF16);
            float[] cpuBf16 = tp.step(c, Device.CPU);
            float[] cpuBf16Grads = c.flatGrads().toFloats();
            assertClose("CPU bf16 activations: loss", new float[]{ref[0]}, cpuBf16, 1e-3);
            assertClose("CPU bf16 activations: gradients", refGrads, cpuBf16Grads, 1.5e-2);
            assertTrue(maxRel(refGrads, cpuBf16Grads) > 1e-5, "gradients equal float32's: no activation was rounded");
            g.activations(ddpm.engine.DType.BF16);
            Backends.get(GPU).setPrecision(MathPrecision.BF16);
            try {
                long narrowed = launches("elementwise.cast_f32_bf16");
                ddpm.kernels.cuda.CudaBackend cb = (ddpm.kernels.cuda.CudaBackend) Backends.get(GPU);
                long staged = cb.stagedOps(), launched = kernelCount();
                float[] got = tp.step(g, GPU);
                System.out.printf(java.util.Locale.ROOT, "tiny U-Net bf16 train step on CUDA: %d kernel launches, %d primitive calls staged through float32%n",
                        kernelCount() - launched, cb.stagedOps() - staged);
                float[] gotGrads = g.flatGrads().toFloats();
                assertTrue(launches("elementwise.cast_f32_bf16") - narrowed >= 2, "the CUDA step cast neither its input nor its embedding to BF16");
                assertClose("CUDA bf16: loss", new float[]{ref[0]}, got, 1e-3);
                assertClose("CUDA bf16: gradients", refGrads, gotGrads, 1.5e-2);
                System.out.printf(java.util.Locale.ROOT, "tiny U-Net train step, bf16 activations: loss %.6f (CPU) %.6f (CUDA, bf16 math) vs fp32 %.6f;"
                                + " gradients max error of max |g|: CPU %.2e, CUDA %.2e; CUDA vs CPU bf16 %.2e%n", cpuBf16[0], got[0], ref[0],
                        maxRel(refGrads, cpuBf16Grads), maxRel(refGrads, gotGrads), maxRel(cpuBf16Grads, gotGrads));
            } finally {
                Backends.get(GPU).setPrecision(MathPrecision.FP32);
            }
        }
    }

    private static long kernelCount() {
        return ddpm.kernels.cuda.CudaBackend.kernelLaunches().values().stream().mapToLong(Long::longValue).sum();
    }

    private static long launches(String kernel) { return ddpm.kernels.cuda.CudaBackend.kernelLaunches().getOrDefault(kernel, 0L); }

    /** The tiny class-conditional U-Net on the CPU and, with the same randomised weights, on the GPU;
     *  one batch, and the CPU's float32 train step on it (loss, gradients). */
    private static final class TinyPair implements AutoCloseable {
        final UNet c, g;
        final float[] x, eps, ref, refGrads;
        final int[] t = {0, 10, 500, 999}, y = {0, 2, UNet.NULL_LABEL, 1};

        TinyPair() {
            UNetConfig cfg = UNetConfig.tiny().withNumClasses(3);
            c = new UNet(cfg, Device.CPU, 1);
            g = new UNet(cfg, GPU, 1);
            Fd.randomize(c, 3, 0.05);
            try (Scope s = Scope.open()) {
                g.flatParams().copyFrom(c.flatParams().to(GPU));
            }
            Rng data = new Rng(2);
            x = Tensor.randn(data, 4, 3, 16, 16).toFloats();
            eps = Tensor.randn(data, 4, 3, 16, 16).toFloats();
            ref = step(c, Device.CPU);
            refGrads = c.flatGrads().toFloats();
        }

        float[] step(UNet net, Device d) { return UNetCudaTest.step(net, d, x, eps, t, y); }

        @Override public void close() {
            c.close();
            g.close();
        }
    }

    /** Loss of one forward and backward (dropout off: eval mode), gradients left in the net. */
    private static float[] step(UNet net, Device d, float[] x, float[] eps, int[] t, int[] y) {
        net.eval();
        try (Scope s = Scope.open()) {
            net.zeroGrad();
            Tensor pred = net.forward(Tensor.of(x, d, 4, 3, 16, 16), Tensor.ofInts(t, d, 4), y == null ? null : Tensor.ofInts(y, d, 4));
            Tensor l = F.mseLoss(pred, Tensor.of(eps, d, 4, 3, 16, 16));
            float loss = l.toFloats()[0];
            l.backward();
            return new float[]{loss};
        }
    }

    private static double maxRel(float[] a, float[] b) {
        double max = 1e-12, err = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i]));
            err = Math.max(err, Math.abs(a[i] - b[i]));
        }
        return err / max;
    }

    void trainingStep(UNetConfig cfg) throws Exception {
        try (UNet c = new UNet(cfg, Device.CPU, 1); UNet g = new UNet(cfg, GPU, 1);
             Adam oc = new Adam(c); Adam og = new Adam(g); Ema ec = new Ema(c); Ema eg = new Ema(g)) {
            // the same Philox stream on both; normals go through double log/cos, whose last bit may differ
            assertClose("Philox init", c.flatParams().toFloats(), g.flatParams().toFloats(), 1e-6);
            Fd.randomize(c, 3, 0.05);
            try (Scope s = Scope.open()) {
                g.flatParams().copyFrom(c.flatParams().to(GPU));
            }
            c.setDropoutRng(new Rng(5));
            g.setDropoutRng(new Rng(5));
            Rng data = new Rng(2);
            float[] x = Tensor.randn(data, 4, 3, 16, 16).toFloats(), eps = Tensor.randn(data, 4, 3, 16, 16).toFloats();
            int[] t = {0, 10, 500, 999}, y = {0, 2, UNet.NULL_LABEL, 1};
            float[][] out = new float[2][];
            float[] loss = new float[2];
            UNet[] nets = {c, g};
            for (int k = 0; k < 2; k++) {
                Device d = k == 0 ? Device.CPU : GPU;
                try (Scope s = Scope.open()) {
                    nets[k].zeroGrad();
                    Tensor pred = nets[k].forward(Tensor.of(x, d, 4, 3, 16, 16), Tensor.ofInts(t, d, 4), y == null ? null : Tensor.ofInts(y, d, 4));
                    out[k] = pred.toFloats();
                    Tensor l = F.mseLoss(pred, Tensor.of(eps, d, 4, 3, 16, 16));
                    loss[k] = l.toFloats()[0];
                    l.backward();
                }
            }
            assertClose("forward", out[0], out[1], 1e-3);
            assertClose("loss", new float[]{loss[0]}, new float[]{loss[1]}, 1e-5);
            assertClose("gradients", c.flatGrads().toFloats(), g.flatGrads().toFloats(), 2e-3);
            // Adam's first step moves every weight by about ±lr whatever the size of its gradient, so
            // gradients near zero that differ in the last bits would flip it: the update is compared on
            // the same gradients (clipping, Adam and EMA kernels alone)
            try (Scope s = Scope.open()) {
                g.flatGrads().copyFrom(c.flatGrads().to(GPU));
            }
            Adam[] opts = {oc, og};
            Ema[] emas = {ec, eg};
            for (int k = 0; k < 2; k++) {
                try (Scope s = Scope.open()) {
                    opts[k].step(1e-3, GradClip.compute(nets[k].flatGrads(), 1.0).scale());
                    emas[k].update();
                }
            }
            assertClose("parameters after Adam", c.flatParams().toFloats(), g.flatParams().toFloats(), 1e-5);
            assertClose("EMA", ec.flat().toFloats(), eg.flat().toFloats(), 1e-5);
            Path ck = dir.resolve("gpu.safetensors");
            Checkpoint.save(ck, g, og, eg, 1, null, null);
            try (UNet back = new UNet(cfg, Device.CPU, 9)) {
                Checkpoint.loadWeights(ck, back, false);
                assertArrayEquals(g.flatParams().toFloats(), back.flatParams().toFloats());
            }
        }
    }
}
