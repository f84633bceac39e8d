package ddpm.diffusion.train;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.kernels.cuda.testing.CudaTests;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The training loop on the CUDA backend (the host driver, or a GPU): a step reads nothing back to
 * the host (the clip factor is the Adam kernel's, the loss and norm wait on the device), the steps'
 * losses and norms read later equal the CPU's, and a non-finite gradient skips its update.
 */
@Tag("gpu")
class TrainerCudaTest {
    @TempDir Path tmp;
    final PrintStream log = new PrintStream(new ByteArrayOutputStream(), true);

    @BeforeEach void gpu() { CudaTests.assumeCuda(); }

    static TrainConfig config() {
        TrainConfig c = TrainerTest.tiny();
        c.model = c.model.withDropout(0.0);   // the same numbers on both backends need no dropout masks
        c.gradClip = 0.05;                    // small enough that the clip factor is below 1 and matters
        return c;
    }

    @Test void stepsMakeNoHostReadsAndMatchTheCpu() {
        Backend cuda = Backends.get(CudaTests.GPU);
        try (Trainer g = new Trainer(config(), TrainerTest.data(), tmp.resolve("g"), CudaTests.GPU, log);
             Trainer c = new Trainer(config(), TrainerTest.data(), tmp.resolve("c"), Device.CPU, log)) {
            long before = cuda.hostReads();
            for (int i = 0; i < 3; i++) g.trainStep();
            assertEquals(before, cuda.hostReads(), "host reads during three training steps");
            List<double[]> gpu = g.drain();
            assertEquals(before + 1, cuda.hostReads(), "the three steps' losses and norms in one read");
            for (int i = 0; i < 3; i++) c.trainStep();
            List<double[]> cpu = c.drain();
            assertEquals(3, gpu.size());
            for (int i = 0; i < 3; i++) {
                assertEquals(cpu.get(i)[0], gpu.get(i)[0], 1e-4 * Math.abs(cpu.get(i)[0]), "loss of step " + (i + 1));
                assertEquals(cpu.get(i)[1], gpu.get(i)[1], 1e-3 * cpu.get(i)[1], "gradient norm of step " + (i + 1));
                assertTrue(cpu.get(i)[1] > config().gradClip, "the clip bites at step " + (i + 1));
            }
            float[] pc = c.model().flatParams().toFloats(), pg = g.model().flatParams().toFloats();
            double max = 1e-12, err = 0;
            for (int i = 0; i < pc.length; i++) {
                max = Math.max(max, Math.abs(pc[i]));
                err = Math.max(err, Math.abs(pc[i] - pg[i]));
            }
            assertTrue(err / max < 1e-4, "parameters after 3 clipped Adam steps: max error " + err + " of " + max);
        }
    }

    /**
     * The step recorded once and replayed (class-conditional with label dropout, dropout 0.1 in the
     * ResBlocks, clipping that bites, warmup) gives the direct steps' values bit for bit: weights,
     * EMA, Adam's moments and count, the losses and norms, and both Philox streams' state; and a
     * replayed step reads nothing back. At BF16 math with bfloat16 activations, the commands'
     * default on a GPU (the linear layers' matmuls staged through float32 copies inside the graph).
     */
    @Test void recordedStepsEqualDirectSteps() {
        boolean was = ddpm.diffusion.CudaGraphs.enabled;
        Backend cuda = Backends.get(CudaTests.GPU);
        cuda.setPrecision(ddpm.engine.MathPrecision.BF16);
        TrainConfig c = config();
        c.bf16Activations = true;
        c.model = c.model.withDropout(0.1);
        c.classConditional = true;
        c.labelDropout = 0.3;
        c.warmup = 3;
        float[][] params = new float[2][], emas = new float[2][], moments = new float[2][];
        List<List<double[]>> drained = new java.util.ArrayList<>();
        long[][] state = new long[2][];
        try {
            for (int k = 0; k < 2; k++) {
                ddpm.diffusion.CudaGraphs.enabled = k == 0;
                try (Trainer t = new Trainer(c, TrainerTest.data(), tmp.resolve("r" + k), CudaTests.GPU, log)) {
                    t.trainStep();   // directly
                    t.trainStep();   // recorded (k = 0) and replayed
                    long before = cuda.hostReads();
                    for (int i = 0; i < 3; i++) t.trainStep();
                    if (k == 0) assertEquals(before, cuda.hostReads(), "host reads in three replayed steps");
                    drained.add(t.drain());
                    params[k] = t.model().flatParams().toFloats();
                    emas[k] = t.ema().flat().toFloats();
                    moments[k] = t.optimizer().v().toFloats();
                    state[k] = new long[]{t.step(), t.optimizer().stepCount(), t.trainRng().offset(), t.model().dropoutRng().offset()};
                }
            }
        } finally {
            ddpm.diffusion.CudaGraphs.enabled = was;
            cuda.setPrecision(ddpm.engine.MathPrecision.FP32);
        }
        assertArrayEquals(state[1], state[0], "step, Adam's count, the noise and dropout streams' offsets");
        for (int i = 0; i < 5; i++) assertArrayEquals(drained.get(1).get(i), drained.get(0).get(i), "loss and norm of step " + (i + 1));
        assertArrayEquals(params[1], params[0], "weights after 5 steps");
        assertArrayEquals(emas[1], emas[0], "EMA after 5 steps");
        assertArrayEquals(moments[1], moments[0], "Adam's second moments after 5 steps");
        assertTrue(drained.get(0).get(3)[1] > config().gradClip, "the clip bites");
    }

    @Test void aNonFiniteGradientSkipsTheUpdateAndIsNamedWhenRead() {
        try (Trainer g = new Trainer(config(), TrainerTest.data(), tmp.resolve("nan"), CudaTests.GPU, log)) {
            g.trainStep();
            g.drain();
            float[] good = g.model().flatParams().toFloats();
            try (Scope s = Scope.open()) {   // one weight set to NaN: the next step's gradients are NaN
                float[] p = good.clone();
                p[p.length / 2] = Float.NaN;
                g.model().flatParams().copyFrom(p);
            }
            g.trainStep();
            float[] after = g.model().flatParams().toFloats();
            for (int i = 0; i < after.length; i++)
                if (i != good.length / 2) assertEquals(good[i], after[i], "weight " + i + " moved in a skipped step");
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, g::drain);
            assertEquals(2, e.step);
            assertTrue(e.getMessage().contains("at step 2"), e.getMessage());
            assertEquals(1, g.step(), "the state is the one after step 1");
        }
    }
}
