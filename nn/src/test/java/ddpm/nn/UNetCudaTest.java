package ddpm.nn;

import ddpm.engine.Device;
import ddpm.engine.F;
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
                    Tensor pred = nets[k].forward(Tensor.of(x, d, 4, 3, 16, 16), Tensor.ofInts(t, d, 4), Tensor.ofInts(y, d, 4));
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
