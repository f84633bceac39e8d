package ddpm.tests;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.testing.CudaTests;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The paper's CIFAR-10 U-Net (35.7M parameters) on the CUDA backend: one training step (forward,
 * backward, clipping, Adam, EMA) matches the CPU at a small batch (2 on a GPU, 1 on the host driver,
 * where a step takes tens of seconds), and repeated steps keep device memory flat (the step's scope
 * returns everything to the pool): the paper model at batch 128 on a GPU, the tiny one at batch 4 on
 * the host driver (the allocator and scopes are the same code). Prints the step time.
 */
@Tag("gpu")
class UNetPaperCudaSmokeTest {
    static final Device GPU = Device.cuda(0);

    @BeforeEach void gpu() { CudaTests.assumeCuda(); }

    private static double relErr(float[] ref, float[] got) {
        double max = 1e-12, err = 0;
        for (int i = 0; i < ref.length; i++) {
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - got[i]));
        }
        return err / max;
    }

    /** Forward and backward on `net` with fixed data; returns ε̂. */
    private static float[] backward(UNet net, Device d, float[] x, float[] eps, int[] t, int b) {
        int res = net.config.resolution;
        try (Scope s = Scope.open()) {
            net.zeroGrad();
            Tensor pred = net.forward(Tensor.of(x, d, b, 3, res, res), Tensor.ofInts(t, d, b));
            F.mseLoss(pred, Tensor.of(eps, d, b, 3, res, res)).backward();
            return pred.toFloats();
        }
    }

    /** Clipping, Adam and EMA on the gradients `net` holds. */
    private static void update(UNet net, Adam opt, Ema ema) {
        try (Scope s = Scope.open()) {
            opt.step(2e-4, GradClip.compute(net.flatGrads(), 1.0).scale());
            ema.update();
        }
    }

    private static float[] step(UNet net, Adam opt, Ema ema, Device d, float[] x, float[] eps, int[] t, int b) {
        float[] pred = backward(net, d, x, eps, t, b);
        update(net, opt, ema);
        return pred;
    }

    @Test void paperUNetTrainingStepMatchesTheCpu() {
        UNetConfig cfg = UNetConfig.cifar10();
        int b = CudaTests.pick(2, 1);
        Rng data = new Rng(11);
        float[] x = Tensor.randn(data, b, 3, 32, 32).toFloats(), eps = Tensor.randn(data, b, 3, 32, 32).toFloats();
        int[] t = java.util.Arrays.copyOf(new int[]{17, 873}, b);
        try (UNet c = new UNet(cfg, Device.CPU, 3); UNet g = new UNet(cfg, GPU, 3);
             Adam oc = new Adam(c); Adam og = new Adam(g); Ema ec = new Ema(c); Ema eg = new Ema(g)) {
            assertEquals(35_746_307L, g.paramCount());
            // perturbed weights: the zero-initialised output layer would make the forward trivially 0
            try (Scope s = Scope.open()) {
                float[] p = c.flatParams().toFloats();
                float[] noise = Tensor.randn(new Rng(4), p.length).toFloats();
                for (int i = 0; i < p.length; i++) p[i] += 0.01f * noise[i];
                c.flatParams().copyFrom(Tensor.of(p, Device.CPU, p.length));
                g.flatParams().copyFrom(Tensor.of(p, GPU, p.length));
            }
            c.eval();   // dropout off on both sides: the comparison is about the arithmetic
            g.eval();
            float[] pc = backward(c, Device.CPU, x, eps, t, b), pg = backward(g, GPU, x, eps, t, b);
            double fwd = relErr(pc, pg), grad = relErr(c.flatGrads().toFloats(), g.flatGrads().toFloats());
            // Adam's first step moves each weight by about ±lr whatever its gradient's size: compare the
            // update on the same gradients, so near-zero gradients differing in the last bits cannot flip it
            try (Scope s = Scope.open()) {
                g.flatGrads().copyFrom(c.flatGrads().to(GPU));
            }
            update(c, oc, ec);
            update(g, og, eg);
            double par = relErr(c.flatParams().toFloats(), g.flatParams().toFloats());
            System.out.printf("paper U-Net, batch %d: forward rel err %.2e, gradients %.2e, parameters after Adam %.2e%n",
                    b, fwd, grad, par);
            assertTrue(fwd < 1e-3, "forward differs from the CPU: " + fwd);
            assertTrue(grad < 5e-3, "gradients differ from the CPU: " + grad);
            assertTrue(par < 1e-4, "parameters after Adam differ from the CPU: " + par);
        }
    }

    @Test void paperUNetStepsKeepMemoryFlat() {
        UNetConfig cfg = CudaTests.onHost() ? UNetConfig.tiny() : UNetConfig.cifar10();
        int b = CudaTests.pick(128, 4), res = cfg.resolution;
        Rng data = new Rng(5);
        float[] x = Tensor.randn(data, b, 3, res, res).toFloats(), eps = Tensor.randn(data, b, 3, res, res).toFloats();
        int[] t = new int[b];
        for (int i = 0; i < b; i++) t[i] = data.nextInt(1000);
        Backend backend = Backends.get(GPU);
        try (UNet g = new UNet(cfg, GPU, 3); Adam opt = new Adam(g); Ema ema = new Ema(g)) {
            long[] live = new long[4];
            float[] last = null;
            for (int i = 0; i < live.length; i++) {
                long t0 = System.nanoTime();
                last = step(g, opt, ema, GPU, x, eps, t, b);
                backend.synchronize();
                System.out.printf("step %d: %.1f ms, %s%n", i, (System.nanoTime() - t0) / 1e6, backend.memoryStats());
                live[i] = backend.memoryStats().liveBytes();
            }
            for (float v : last) assertTrue(Float.isFinite(v), "non-finite output at batch " + b);
            assertEquals(live[1], live[3], "live device bytes grew between steps: " + java.util.Arrays.toString(live));
        }
    }
}
