package ddpm.diffusion.cli;

import ddpm.diffusion.DdpmSampler;
import ddpm.diffusion.data.Npy;
import ddpm.diffusion.train.RunDir;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The command lines: help, argument errors (exit 2, no stack trace), user errors (exit 1), a tiny full run. */
class MainsTest {
    @TempDir Path tmp;

    interface Main { int run(String[] a, PrintStream out, PrintStream err); }

    record Run(int code, String out, String err) {}

    static Run run(Main m, String... args) {
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int code = m.run(args, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
        return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    }

    /** Tiny but complete: synthetic 8-px images, a 43k-parameter U-Net, T = 30. */
    static String[] tinyTrain(Path runDir, String... more) {
        List<String> a = new ArrayList<>(List.of("--dataset", "synthetic", "--image-size", "8", "--ch", "8", "--batch", "2",
                "--timesteps", "30", "--synthetic-size", "40", "--sample-every", "2", "--sample-steps", "3", "--samples", "4",
                "--ckpt-every", "2", "--log-every", "1", "--device", "cpu", "--run-dir", runDir.toString()));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    @Test void helpPrintsUsageAndExitsZero() {
        for (Main m : new Main[]{TrainCifar::run, Sample::run, EvalNll::run, ddpm.diffusion.cli.Convert::run, TrainClassifier::run, EvalSamples::run}) {
            Run r = run(m, "--help");
            assertEquals(0, r.code);
            assertTrue(r.out.contains("usage: mvn exec:java -Dmain="), r.out);
            assertTrue(r.out.contains("-Dexec.args="), r.out);
        }
        assertTrue(run(TrainCifar::run, "--help").out.contains("--dataset NAME"));
    }

    @Test void argumentMistakesExitTwoWithMessageAndUsage() {
        Run r = run(TrainCifar::run, "--stesp", "10");
        assertEquals(2, r.code);
        assertTrue(r.err.startsWith("TrainCifar: error: unknown option --stesp (did you mean --steps?)"), r.err);
        assertTrue(r.err.contains("usage:"), r.err);
        assertFalse(r.err.contains("\tat "), "no stack trace: " + r.err);
        r = run(TrainCifar::run, "--batch", "zero");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--batch: expected an integer in [1, 65536], got 'zero'"), r.err);
        r = run(TrainCifar::run, "--dataset", "imagenet");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--dataset: expected cifar10 | fashion-mnist | mnist"), r.err);
        r = run(TrainCifar::run, "--guidance", "2");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("need --classes"), r.err);
        r = run(TrainCifar::run, "--timesteps", "10");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("T >= 21"), r.err);
        r = run(TrainCifar::run, "--device", "tpu");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--device: expected auto | cpu | cuda | cuda:N, got 'tpu'"), r.err);
        r = run(TrainCifar::run, "--precision", "fp16");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--precision: expected auto | fp32 | tf32 | bf16, got 'fp16'"), r.err);
        r = run(Sample::run, "--ckpt", "x", "--activations", "fp16");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--activations: expected auto, f32 or bf16, got 'fp16'"), r.err);
        r = run(Sample::run);
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--ckpt is required"), r.err);
        r = run(Sample::run, "--ckpt", "x", "--sampler", "ddpm", "--eta", "0.5");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--eta applies to --sampler ddim"), r.err);
        r = run(EvalNll::run, "--ckpt", "x", "--split", "val");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--split: expected one of test, train, got 'val'"), r.err);
    }

    @Test void missingDataAndCheckpointsAreUserErrorsWithInstructions() {
        Run r = run(TrainCifar::run, "--data-dir", tmp.toString(), "--no-download", "--device", "cpu", "--run-dir", tmp.resolve("r").toString());
        assertEquals(1, r.code);
        assertTrue(r.err.contains("cifar-10-binary.tar.gz"), r.err);
        assertTrue(r.err.contains("c32a1d4ab5d03f1284b67883e8d87530"), r.err);
        assertTrue(r.out.contains("no GPU in use"), r.out);
        assertFalse(r.err.contains("\tat "), r.err);
        r = run(Sample::run, "--ckpt", tmp.resolve("nothing").toString(), "--device", "cpu");
        assertEquals(1, r.code);
        assertTrue(r.err.contains("does not exist"), r.err);
        r = run(EvalNll::run, "--ckpt", tmp.toString(), "--device", "cpu");
        assertEquals(1, r.code);
        assertTrue(r.err.contains("no checkpoints"), r.err);
        r = run(TrainCifar::run, "--dataset", "synthetic", "--device", "cpu", "--precision", "bf16", "--run-dir", tmp.resolve("p").toString());
        assertEquals(1, r.code);
        assertTrue(r.err.contains("--precision bf16: cpu computes matmul, convolution and attention in fp32 only"), r.err);
    }

    @Test void trainSampleEvaluateAndResumeFromTheCommandLine() throws Exception {
        Path runDir = tmp.resolve("run");
        Run t = run(TrainCifar::run, tinyTrain(runDir, "--steps", "4", "--classes"));
        assertEquals(0, t.code, t.out + t.err);
        assertTrue(t.out.contains("step 4/4"), t.out);
        assertTrue(t.out.matches("(?s).*step 1/4 +loss [0-9.]+ +grad [0-9.]+ +lr [0-9.e+-]+ +[0-9.]+ img/s +ETA .*"), t.out);
        assertTrue(Files.exists(RunDir.samples(runDir, 4)));
        assertEquals(4, RunDir.step(RunDir.latest(runDir)));
        t = run(TrainCifar::run, tinyTrain(runDir, "--steps", "6", "--classes"));
        assertEquals(0, t.code, t.out + t.err);
        assertTrue(t.out.contains("resumed from") && t.out.contains("step 6/6"), t.out);

        Path npy = tmp.resolve("s.npy"), png = tmp.resolve("g.png");
        Run s = run(Sample::run, "--ckpt", runDir.toString(), "--sampler", "ddim", "--steps", "5", "--n", "3", "--label", "green-yellow",
                "--guidance", "1.5", "--out", png.toString(), "--npy", npy.toString(), "--npy-dtype", "u8", "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertArrayEquals(new int[]{3, 8, 8, 3}, Npy.read(npy).shape());
        assertTrue(Files.size(png) > 0);
        s = run(Sample::run, "--ckpt", runDir.toString(), "--label", "purple", "--device", "cpu");
        assertEquals(2, s.code);
        assertTrue(s.err.contains("red-disc, green-yellow, stripes"), s.err);

        Run e = run(EvalNll::run, "--ckpt", runDir.toString(), "--dataset", "synthetic", "--n", "3", "--batch", "3", "--device", "cpu");
        assertEquals(0, e.code, e.out + e.err);
        assertTrue(e.out.contains("NLL bound:") && e.out.contains("prior L_T") && e.out.contains("decoder NLL L_0"), e.out);
        assertTrue(e.out.contains("bits/dim [########################] 100%"), e.out);
    }

    /** bf16 autocast from the command line: training and sampling with BF16 activations, on the CPU. */
    @Test void bf16ActivationsTrainAndSample() throws Exception {
        Path runDir = tmp.resolve("bf16");
        Run t = run(TrainCifar::run, tinyTrain(runDir, "--steps", "2", "--activations", "bf16"));
        assertEquals(0, t.code, t.out + t.err);
        assertTrue(t.out.contains("bf16 activations") && t.out.contains("step 2/2"), t.out);
        Path f32 = tmp.resolve("f32.npy"), bf16 = tmp.resolve("bf16.npy");
        for (String[] v : new String[][]{{"f32", f32.toString()}, {"bf16", bf16.toString()}}) {
            Run s = run(Sample::run, "--ckpt", runDir.toString(), "--sampler", "ddim", "--steps", "3", "--n", "2", "--out", "none",
                    "--npy", v[1], "--activations", v[0], "--device", "cpu");
            assertEquals(0, s.code, s.out + s.err);
        }
        float[] a = Npy.read(f32).floats(), b = Npy.read(bf16).floats();
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            assertTrue(Float.isFinite(b[i]), "bf16 sample element " + i + " is " + b[i]);
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        assertTrue(diff > 0 && diff < 0.1, "bf16 samples differ from f32 ones by " + diff + ": rounded, and close");
    }

    /** The classifier, guidance, measuring and interpolation commands on the tiny synthetic setup. */
    @Test void classifiersGuidanceMeasuresAndInterpolationFromTheCommandLine() throws Exception {
        Path runDir = tmp.resolve("run"), clean = tmp.resolve("clean.safetensors"), noisy = tmp.resolve("noisy.safetensors");
        assertEquals(0, run(TrainCifar::run, tinyTrain(runDir, "--steps", "2")).code);
        String[] common = {"--dataset", "synthetic", "--image-size", "8", "--synthetic-size", "40", "--ch", "8", "--batch", "4",
                "--steps", "3", "--log-every", "1", "--device", "cpu"};
        Run c = run(TrainClassifier::run, concat(common, "--out", clean.toString()));
        assertEquals(0, c.code, c.out + c.err);
        assertTrue(c.out.contains("test accuracy: ") && c.out.contains("saved " + clean), c.out);
        c = run(TrainClassifier::run, concat(common, "--noised", "--timesteps", "30", "--out", noisy.toString()));
        assertEquals(0, c.code, c.out + c.err);
        assertTrue(c.out.contains("test accuracy at t = 0: ") && c.out.contains("test accuracy at t = 22: "), c.out);

        // classifier guidance (unconditional model), measured with the clean classifier
        Path npy = tmp.resolve("g.npy");
        Run s = run(Sample::run, "--ckpt", runDir.toString(), "--sampler", "ddim", "--steps", "4", "--n", "6", "--classifier", noisy.toString(),
                "--classifier-scale", "2", "--eval", clean.toString(), "--out", "none", "--npy", npy.toString(), "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertTrue(s.out.contains("classifier guidance s = 2.0 towards classes cycling 0..2"), s.out);
        assertTrue(s.out.matches("(?s).*FD-fashion: [0-9.]+ \\(6 samples vs 1000 test images\\); floor, the test set's split-half FD-fashion: [0-9.]+ \\(500 vs 500\\).*"), s.out);
        assertTrue(s.out.contains("class accuracy: "), s.out);
        assertArrayEquals(new int[]{0, 1, 2, 0, 1, 2}, Npy.read(tmp.resolve("g.labels.npy")).ints());
        Run e = run(EvalSamples::run, "--samples", npy.toString(), "--labels", tmp.resolve("g.labels.npy").toString(), "--classifier", clean.toString(),
                "--dataset", "synthetic", "--device", "cpu");
        assertEquals(0, e.code, e.out + e.err);
        assertTrue(e.out.contains("FD-fashion: ") && e.out.contains("class accuracy: "), e.out);
        // a class-conditional model: the fraction of its samples classified as the label asked for
        Path cond = tmp.resolve("cond");
        assertEquals(0, run(TrainCifar::run, tinyTrain(cond, "--steps", "2", "--classes")).code);
        s = run(Sample::run, "--ckpt", cond.toString(), "--sampler", "ddim", "--steps", "3", "--n", "4", "--guidance", "1", "--eval", clean.toString(),
                "--out", "none", "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertTrue(s.out.contains("class accuracy: ") && s.out.contains("per class asked (hits/samples): 0: "), s.out);
        // ancestral sampling respaced to 5 of the 30 steps, guided towards one class by name
        s = run(Sample::run, "--ckpt", runDir.toString(), "--steps", "5", "--n", "2", "--classifier", noisy.toString(), "--label", "stripes",
                "--out", tmp.resolve("d.png").toString(), "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertTrue(s.out.contains("DdpmSampler(T=5") && s.out.contains("towards class 2 (stripes)"), s.out);
        // mistakes: a clean classifier cannot guide; a scale without a classifier; the wrong T
        s = run(Sample::run, "--ckpt", runDir.toString(), "--classifier", clean.toString(), "--device", "cpu");
        assertEquals(1, s.code);
        assertTrue(s.err.contains("TrainClassifier --noised"), s.err);
        assertEquals(2, run(Sample::run, "--ckpt", runDir.toString(), "--classifier-scale", "3").code);
        Path noisy1000 = tmp.resolve("n1000.safetensors");
        assertEquals(0, run(TrainClassifier::run, concat(common, "--noised", "--steps", "1", "--out", noisy1000.toString())).code);
        s = run(Sample::run, "--ckpt", runDir.toString(), "--classifier", noisy1000.toString(), "--device", "cpu");
        assertEquals(1, s.code);
        assertTrue(s.err.contains("T = 1000, the model uses linear with T = 30"), s.err);

        // interpolation between two seeds, and between two encoded test images
        Path strip = tmp.resolve("strip.png");
        s = run(Sample::run, "--ckpt", runDir.toString(), "--interpolate", "1,2", "--frames", "3", "--steps", "4", "--out", strip.toString(),
                "--npy", tmp.resolve("strip.npy").toString(), "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertArrayEquals(new int[]{3, 3, 8, 8}, Npy.read(tmp.resolve("strip.npy")).shape());
        s = run(Sample::run, "--ckpt", runDir.toString(), "--interpolate", "0,5", "--encode", "--dataset", "synthetic", "--frames", "4",
                "--steps", "4", "--out", strip.toString(), "--npy", tmp.resolve("enc.npy").toString(), "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        assertTrue(s.out.contains("encoded 0 with 3 DDIM steps"), s.out);
        assertArrayEquals(new int[]{6, 3, 8, 8}, Npy.read(tmp.resolve("enc.npy")).shape(), "the two images and 4 frames");
        assertEquals(2, run(Sample::run, "--ckpt", runDir.toString(), "--interpolate", "1").code);
        assertEquals(2, run(Sample::run, "--ckpt", runDir.toString(), "--interpolate", "1,2", "--sampler", "ddpm").code);
    }

    @Test void learnedVarianceAndVPredictionTrainSampleAndEvaluate() {
        Path runDir = tmp.resolve("lv");
        Run t = run(TrainCifar::run, tinyTrain(runDir, "--steps", "2", "--variance", "learned-range", "--predict", "v"));
        assertEquals(0, t.code, t.out + t.err);
        assertTrue(t.out.contains("predict v, variance learned-range, loss hybrid"), t.out);
        Run s = run(Sample::run, "--ckpt", runDir.toString(), "--sampler", "ddim", "--steps", "4", "--eta", "0.5", "--n", "2",
                "--out", tmp.resolve("lv.png").toString(), "--device", "cpu");
        assertEquals(0, s.code, s.out + s.err);
        Run e = run(EvalNll::run, "--ckpt", runDir.toString(), "--dataset", "synthetic", "--n", "2", "--batch", "2", "--device", "cpu");
        assertEquals(0, e.code, e.out + e.err);
        Run bad = run(TrainCifar::run, tinyTrain(tmp.resolve("bad"), "--variance", "learned-range", "--loss", "simple"));
        assertEquals(2, bad.code);
        assertTrue(bad.err.contains("use the hybrid (or kl) loss"), bad.err);
    }

    static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Ctrl-C (here SIGTERM, which runs the same shutdown hooks) saves a checkpoint before the JVM exits. */
    @Test void terminationSavesACheckpoint() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(System.getProperty("os.name").toLowerCase().contains("win"), "needs kill(1)");
        Path runDir = tmp.resolve("run");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"), "ddpm.diffusion.cli.TrainCifar"));
        cmd.addAll(List.of(tinyTrain(runDir, "--steps", "1000000", "--ckpt-every", "0", "--sample-every", "0")));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            String line;
            while ((line = r.readLine()) != null) {
                out.append(line).append('\n');
                if (line.startsWith("step 3/"))                              // SIGTERM (Process.destroy would close our pipe)
                    new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).inheritIO().start().waitFor();
                if (System.nanoTime() > deadline) { p.destroyForcibly(); fail("no progress:\n" + out); }
            }
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out.toString());
        assertTrue(out.toString().contains("interrupted: finishing step"), out.toString());
        Path ckpt = RunDir.latest(runDir);
        assertNotNull(ckpt, out.toString());
        assertTrue(RunDir.step(ckpt) >= 3, out.toString());
        assertTrue(out.toString().contains("saved " + ckpt), out.toString());
        assertFalse(Files.exists(ckpt.resolveSibling(ckpt.getFileName() + ".tmp")));
        assertEquals("", Files.readString(runDir.resolve(ddpm.diffusion.train.RunLock.FILE)),
                "the run directory's lock is released on exit");
    }
}
