package ddpm.tests;

import ddpm.diffusion.LikelihoodEvaluator;
import ddpm.diffusion.cli.EvalNll;
import ddpm.diffusion.cli.Sample;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.Images;
import ddpm.diffusion.data.Npy;
import ddpm.diffusion.data.Synthetic;
import ddpm.diffusion.train.TrainConfig;
import ddpm.diffusion.train.Trainer;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Ema;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * End to end on the CPU, about 20 s on two cores (a minute with the reference kernels): trains a small DDPM with the {@link Trainer}
 * on a data set whose distribution is known — 4×4 RGB images, each exactly one of three flat
 * colours drawn with probabilities 50 / 30 / 20 % — then, through the command lines a user runs,
 * samples 200 images from the saved checkpoint ({@code Sample --npy}) and evaluates the bound on
 * held-out PNGs ({@code EvalNll --dataset folder:...}). It checks quantitatively that
 * <ol>
 *   <li>the samples are the three colours (at most 10 % farther than 0.25 RMS from every colour)
 *       in the right proportions: total-variation distance between the sample and true mode
 *       frequencies at most 0.15 (sampling noise alone is about 0.04 at 200 samples);</li>
 *   <li>the variational bound on 20 held-out images falls by more than 1 bit/dim with training
 *       (T = 100 steps, so the evaluation is cheap), and EvalNll reproduces the library's figure.</li>
 * </ol>
 * The figures are printed so they appear in the test log. (The 4×4 images and the 42k-parameter
 * model keep it fast: about 2 300 training img/s on two shared cores with the fast CPU kernels.)
 */
class EndToEndTest {
    static final int SIDE = 4;
    static final double[][] COLORS = {{0.8, -0.6, -0.6}, {-0.6, 0.7, -0.6}, {-0.6, -0.6, 0.8}};
    static final double[] WEIGHTS = {0.5, 0.3, 0.2};
    static final double MAX_RMS = 0.25, MAX_OFF = 0.10, MAX_TV = 0.15;
    @TempDir Path tmp;

    @Test void trainsSamplesAndImprovesTheBound() throws IOException {
        long t0 = System.nanoTime();
        Synthetic dist = Synthetic.flatColors(SIDE, COLORS, WEIGHTS, new String[]{"red", "green", "blue"});
        ImageDataset train = dist.generate(2000, 1);
        ImageDataset heldOut = dist.generate(20, 99);
        Path heldOutDir = writePngs(heldOut, tmp.resolve("held-out"));
        Path run = tmp.resolve("run");

        TrainConfig cfg = TrainConfig.cpu();
        cfg.model = new UNetConfig(SIDE, 3, 3, 8, new int[]{1, 2}, 1, new int[]{}, 0.0, 0, 4);
        cfg.timesteps = 100;
        cfg.steps = 400;
        cfg.batch = 64;
        cfg.lr = 5e-3;
        cfg.warmup = 20;
        cfg.emaDecay = 0.98;
        cfg.hflip = false;
        cfg.logEvery = 100;
        cfg.sampleEvery = 0;
        cfg.ckptEvery = 0;
        cfg.seed = 7;
        double before, after;
        Trainer.Result r;
        try (Trainer trainer = new Trainer(cfg, train, run, Device.CPU, System.out)) {
            before = bpd(trainer, heldOut);
            r = trainer.train();
            after = bpd(trainer, heldOut);
        }
        long t1 = System.nanoTime();
        assertEquals(400, r.step());
        assertNotNull(r.lastCheckpoint());

        // sample through the command line, as a user would, and score the samples
        int n = 200;
        Path npy = tmp.resolve("samples.npy");
        Path png = tmp.resolve("samples.png");
        String sampleOut = runMain(Sample::run, "--ckpt", run.toString(), "--n", Integer.toString(n), "--seed", "2024",
                "--out", png.toString(), "--npy", npy.toString(), "--device", "cpu");
        assertTrue(Files.size(png) > 0, sampleOut);
        Npy.Array arr = Npy.read(npy);
        assertArrayEquals(new int[]{n, 3, SIDE, SIDE}, arr.shape());
        float[] x = arr.floats();
        int[] counts = dist.modeCounts(x, n, MAX_RMS);
        double[] freq = new double[WEIGHTS.length];
        double tv = 0;
        for (int k = 0; k < WEIGHTS.length; k++) {
            freq[k] = counts[k] / (double) n;
            tv += Math.abs(freq[k] - WEIGHTS[k]);
        }
        double off = counts[WEIGHTS.length] / (double) n;
        tv = 0.5 * (tv + off);
        long t2 = System.nanoTime();

        // the bound through the command line, on the held-out images as PNG files
        String evalOut = runMain(EvalNll::run, "--ckpt", run.toString(), "--dataset", "folder:" + heldOutDir,
                "--n", "20", "--batch", "20", "--seed", "5", "--device", "cpu");
        Matcher m = Pattern.compile("NLL bound: ([0-9.]+) bits/dim").matcher(evalOut);
        assertTrue(m.find(), evalOut);
        double cliBpd = Double.parseDouble(m.group(1));
        long t3 = System.nanoTime();

        System.out.printf(Locale.ROOT, "e2e: trained %d steps of batch %d in %.1f s (%.0f img/s), final loss %.4f%n",
                r.stepsThisRun(), cfg.batch, (t1 - t0) / 1e9, r.imagesPerSecond(), r.lastLoss());
        System.out.printf(Locale.ROOT, "e2e: bits/dim on %d held-out images (T=%d): before training %.3f, after %.3f (EvalNll: %.3f)%n",
                heldOut.size(), cfg.timesteps, before, after, cliBpd);
        System.out.printf(Locale.ROOT, "e2e: %d samples (Sample, ancestral, EMA) -> colours %s, off-mode %d; frequencies %s vs true %s;"
                        + " total variation %.3f (threshold %.2f); sampling %.1f s, EvalNll %.1f s%n",
                n, Arrays.toString(Arrays.copyOf(counts, 3)), counts[3], fmt(freq), fmt(WEIGHTS), tv, MAX_TV,
                (t2 - t1) / 1e9, (t3 - t2) / 1e9);

        assertTrue(after < before - 1.0, "bits/dim should fall with training: before " + before + ", after " + after);
        assertEquals(after, cliBpd, 2e-3, "EvalNll should reproduce the evaluator's figure");
        assertTrue(off <= MAX_OFF, "at most " + MAX_OFF + " of the samples may be off the three colours, got " + off);
        assertTrue(tv <= MAX_TV, "mode frequencies " + fmt(freq) + " should match " + fmt(WEIGHTS) + " (total variation " + tv + ")");
    }

    interface Main { int run(String[] args, PrintStream out, PrintStream err); }

    static String runMain(Main main, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        String o = out.toString(StandardCharsets.UTF_8), e = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, "exit status of " + String.join(" ", args) + "\n" + o + e);
        return o;
    }

    static Path writePngs(ImageDataset d, Path dir) throws IOException {
        Files.createDirectories(dir);
        int img = d.imageBytes();
        for (int i = 0; i < d.size(); i++) {
            float[] x = new float[img];
            d.imageTo(i, x, 0, false);
            Images.write(Images.grid(x, 1, d.channels(), d.height(), d.width(), 1, 0), dir.resolve(String.format("%03d.png", i)));
        }
        return dir;
    }

    static String fmt(double[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) sb.append(i > 0 ? ", " : "").append(String.format(Locale.ROOT, "%.3f", v[i]));
        return sb.append(']').toString();
    }

    /** The bound in bits/dim of the images under the EMA weights (what EvalNll computes, seed 5). */
    static double bpd(Trainer trainer, ImageDataset d) {
        float[] x = new float[d.size() * d.imageBytes()];
        for (int i = 0; i < d.size(); i++) d.imageTo(i, x, i * d.imageBytes(), false);
        Ema ema = trainer.ema();
        try (Scope s = Scope.open(); Ema.Swap sw = ema.swap()) {
            trainer.model().eval();
            Tensor images = Tensor.of(x, Device.CPU, d.size(), d.channels(), d.height(), d.width());
            return new LikelihoodEvaluator(trainer.diffusion(), 5).evaluate(trainer.epsModel(), images, null, d.size(), null).bpd();
        } finally {
            trainer.model().train(true);
        }
    }
}
