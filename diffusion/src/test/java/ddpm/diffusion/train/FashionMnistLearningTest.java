package ddpm.diffusion.train;

import ddpm.diffusion.LikelihoodEvaluator;
import ddpm.diffusion.data.FashionMnist;
import ddpm.diffusion.data.ImageDataset;
import ddpm.engine.Device;
import ddpm.engine.Tensor;
import ddpm.nn.UNetConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Learning on real images: a few hundred steps of the trainer on Fashion-MNIST (Debian's
 * dataset-fashion-mnist; .ci/run installs it) lower the test-set bound in bits/dim clearly.
 * To stay a few seconds on two cores the images are averaged down to 14×14, the U-Net is small
 * (ch 16, mult 1,2) and T = 50; the bound is evaluated on the same 48 test images with the same
 * noise before and after, so the difference is paired.
 */
class FashionMnistLearningTest {
    @TempDir Path tmp;

    static final int TEST_IMAGES = 48, STEPS = 200;

    @Test void aFewHundredStepsLowerTheTestSetBound() {
        Path dir = FashionMnist.DEFAULT_DIR;
        Assumptions.assumeTrue(Files.isRegularFile(dir.resolve("train-images-idx3-ubyte.gz")),
                "Fashion-MNIST is not installed in " + dir + " (apt-get install dataset-fashion-mnist; .ci/run does this)");
        ImageDataset train = FashionMnist.load(dir, true).resized(14), test = FashionMnist.load(dir, false).resized(14).head(TEST_IMAGES);
        TrainConfig c = TrainConfig.fashion();
        c.model = new UNetConfig(14, 1, 1, 16, new int[]{1, 2}, 1, new int[0], 0.0, 0, 8);
        c.timesteps = 50;
        c.steps = STEPS;
        c.batch = 16;
        c.lr = 2e-3;
        c.warmup = 20;
        c.emaDecay = 0;   // evaluate the weights themselves
        c.logEvery = 100;
        c.sampleEvery = 0;
        c.ckptEvery = 0;
        float[] x = new float[TEST_IMAGES * test.imageBytes()];
        for (int i = 0; i < TEST_IMAGES; i++) test.imageTo(i, x, i * test.imageBytes(), false);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (Trainer t = new Trainer(c, train, tmp, Device.CPU, new PrintStream(log, true));
             Tensor images = Tensor.of(x, Device.CPU, TEST_IMAGES, 1, 14, 14)) {
            LikelihoodEvaluator ev = new LikelihoodEvaluator(t.diffusion(), 5);
            t.model().eval();
            LikelihoodEvaluator.Result before = ev.evaluate(t.epsModel(), images, null, TEST_IMAGES, null);
            t.model().train(true);
            long t0 = System.nanoTime();
            t.train();
            double secs = (System.nanoTime() - t0) / 1e9;
            t.model().eval();
            LikelihoodEvaluator.Result after = ev.evaluate(t.epsModel(), images, null, TEST_IMAGES, null);
            double[] d = new double[TEST_IMAGES];
            double mean = 0, var = 0;
            for (int i = 0; i < TEST_IMAGES; i++) {
                d[i] = before.perImageBpd()[i] - after.perImageBpd()[i];
                mean += d[i] / TEST_IMAGES;
            }
            for (double v : d) var += (v - mean) * (v - mean) / (TEST_IMAGES - 1);
            double se = Math.sqrt(var / TEST_IMAGES);
            System.out.printf("Fashion-MNIST 14px, %d steps in %.1f s: test bound %.3f -> %.3f bits/dim (drop %.3f ± %.3f)%n",
                    STEPS, secs, before.bpd(), after.bpd(), mean, se);
            // the margin: at least 1 bit/dim, and at least 10 standard errors of the paired drop (the
            // evaluation noise is the same before and after; what remains is the images' spread)
            assertTrue(mean > 1.0 && mean > 10 * se, String.format("the bound fell by %.3f ± %.3f bits/dim (%.3f -> %.3f)%n%s",
                    mean, se, before.bpd(), after.bpd(), log));
        }
    }
}
