package ddpm.diffusion.train;

import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.Synthetic;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.nn.UNetConfig;
import ddpm.nn.io.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainerTest {
    @TempDir Path tmp;
    final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    final PrintStream log = new PrintStream(logBytes, true);

    /** A 4×4 three-colour set and a model small enough for a step in milliseconds. */
    static ImageDataset data() {
        return Synthetic.flatColors(4, new double[][]{{1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}}, new double[]{2, 1, 1},
                new String[]{"r", "g", "b"}).generate(64, 3);
    }

    static TrainConfig tiny() {
        TrainConfig c = TrainConfig.cpu();
        c.model = new UNetConfig(4, 3, 3, 8, new int[]{1, 2}, 1, new int[]{}, 0.1, 0, 4);
        c.timesteps = 25;
        c.batch = 4;
        c.steps = 4;
        c.warmup = 2;
        c.lr = 1e-3;
        c.logEvery = 1;
        c.sampleEvery = 0;
        c.ckptEvery = 0;
        c.sampleSteps = 0;
        c.sampleCount = 4;
        c.seed = 11;
        return c;
    }

    @Test void resumingGivesExactlyTheSameWeightsAsTrainingStraightThrough() {
        TrainConfig c = tiny();
        c.hflip = true;
        float[] straight;
        try (Trainer t = new Trainer(c, data(), tmp.resolve("a"), Device.CPU, log)) {
            Trainer.Result r = t.train();
            assertEquals(4, r.step());
            assertFalse(r.interrupted());
            straight = t.model().flatParams().toFloats();
            assertEquals(straight.length, t.ema().flat().toFloats().length);
        }
        Path b = tmp.resolve("b");
        try (Trainer t = new Trainer(c, data(), b, Device.CPU, log)) {
            t.train(2);
        }
        assertEquals(2, RunDir.step(RunDir.latest(b)));
        try (Trainer t = new Trainer(c, data(), b, Device.CPU, log)) {
            assertEquals(2, t.step());
            t.train();
            assertArrayEquals(straight, t.model().flatParams().toFloats(), "weights after 2 + 2 steps with a resume");
        }
        assertTrue(logBytes.toString().contains("resumed from"), logBytes.toString());
    }

    @Test void checkpointsCarryWhatSampleAndEvalNeedAndOldOnesArePruned() throws IOException {
        TrainConfig c = tiny();
        c.ckptEvery = 1;
        c.keepCheckpoints = 2;
        c.classConditional = true;
        c.sampleEvery = 2;
        Path run = tmp.resolve("run");
        try (Trainer t = new Trainer(c, data(), run, Device.CPU, log)) {
            assertEquals(3, t.model().config.numClasses);
            t.train();
        }
        assertEquals(2, RunDir.checkpoints(run).size());
        Path last = RunDir.latest(run);
        assertEquals(4, RunDir.step(last));
        Map<String, String> meta = Checkpoint.readMetadata(last);
        assertEquals("25", meta.get("diffusion.timesteps"));
        assertEquals("linear", meta.get("diffusion.schedule"));
        assertEquals("r,g,b", meta.get("data.classes"));
        assertNotNull(meta.get("rng.train.seed"));
        assertTrue(Files.size(RunDir.samples(run, 2)) > 0);
        assertTrue(Files.size(RunDir.samples(run, 4)) > 0);
        String csv = Files.readString(RunDir.log(run));
        assertTrue(csv.startsWith("step,loss,grad_norm,lr,img_per_s\n1,"), csv);
        assertEquals(5, csv.lines().count());
    }

    @Test void aStopRequestSavesAndReportsInterrupted() {
        TrainConfig c = tiny();
        Path run = tmp.resolve("run");
        try (Trainer t = new Trainer(c, data(), run, Device.CPU, log)) {
            t.train(1);
            t.requestStop();
            Trainer.Result r = t.train();
            assertTrue(r.interrupted());
            assertEquals(1, r.step());
            assertEquals(1, RunDir.step(RunDir.latest(run)));
        }
        assertTrue(logBytes.toString().contains("stopped at step 1"), logBytes.toString());
    }

    @Test void divergenceStopsNamingTheStepAndKeepsTheLastGoodCheckpoint() {
        TrainConfig c = tiny();
        c.lr = 1e30;           // the first update throws the weights to ±1e30: the next loss is not finite
        c.warmup = 0;
        c.gradClip = 0;
        c.ckptEvery = 1;
        c.steps = 10;
        Path run = tmp.resolve("run");
        try (Trainer t = new Trainer(c, data(), run, Device.CPU, log)) {
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, t::train);
            assertTrue(e.step >= 2, "step " + e.step);
            assertTrue(e.getMessage().contains("at step " + e.step), e.getMessage());
            assertTrue(e.getMessage().contains("last good checkpoint"), e.getMessage());
            assertEquals(e.step - 1, t.step());
            assertEquals(e.step - 1, RunDir.step(RunDir.latest(run)), "no checkpoint after the bad step");
        }
    }

    @Test void emaSamplesHaveTheModelShapeAndConditionalModelsTakeGuidance() {
        TrainConfig c = tiny();
        c.classConditional = true;
        c.labelDropout = 0.5;
        try (Trainer t = new Trainer(c, data(), tmp.resolve("run"), Device.CPU, log)) {
            t.train(1);
            try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
                assertArrayEquals(new int[]{5, 3, 4, 4}, t.sampleEma(5, new Rng(1), 0, 0).shape());
                assertArrayEquals(new int[]{2, 3, 4, 4}, t.sampleEma(2, new Rng(1), 3, 2.0).shape());
            }
            assertTrue(t.model().isTraining(), "back in training mode after sampling");
            assertFalse(t.ema().isSwapped());
        }
    }

    @Test void modelThatDoesNotFitTheDataIsAUserError() {
        TrainConfig c = tiny();
        c.model = UNetConfig.tiny();   // 2 levels need an even size
        ImageDataset odd = Synthetic.flatColors(5, new double[][]{{1, 1, 1}}, new double[]{1}, new String[]{"w"}).generate(4, 1);
        var e = assertThrows(ddpm.diffusion.UserError.class, () -> new Trainer(c, odd, tmp, Device.CPU, log));
        assertTrue(e.getMessage().contains("--image-size"), e.getMessage());
    }
}
