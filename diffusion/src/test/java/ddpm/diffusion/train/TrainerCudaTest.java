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
