package ddpm.diffusion.cli;

import ddpm.diffusion.GaussianDiffusion;
import ddpm.diffusion.ProgressBar;
import ddpm.diffusion.Schedule;
import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.diffusion.data.BatchIterator;
import ddpm.diffusion.data.Datasets;
import ddpm.diffusion.data.ImageDataset;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Classification;
import ddpm.nn.Classifier;
import ddpm.nn.ClassifierConfig;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.GradClip;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Trains an image classifier of the project's own layers ({@link Classifier}): a classifier of
 * clean images, whose penultimate features the sample-quality metric compares (FD-fashion, see
 * {@link EvalSamples}), or with {@code --noised} a noise-conditional classifier p(y | x_t, t) for
 * classifier guidance, trained on x_t ~ q(x_t | x0) at uniformly drawn t.
 *
 * <pre>
 *   mvn exec:java -Dmain=TrainClassifier
 *   mvn exec:java -Dmain=TrainClassifier -Dexec.args="--noised --out runs/fashion-noisy-classifier.safetensors"
 * </pre>
 */
public final class TrainClassifier {
    private TrainClassifier() {}

    /** Timesteps at which a noise-conditional classifier's test accuracy is reported, as fractions of T. */
    static final double[] EVAL_FRACTIONS = {0, 0.25, 0.5, 0.75};

    static Args spec() {
        return new Args("TrainClassifier", "Trains a classifier (the U-Net's down path with a pooled linear head) on a labelled data\n"
                + "set's training split and reports its accuracy on the test split. Its penultimate-layer features\n"
                + "give the FD-fashion sample-quality number (EvalSamples, Sample --eval). With --noised it learns\n"
                + "p(y | x_t, t) on noisy images for classifier guidance (Sample --classifier).")
                .option("dataset", "NAME", "fashion-mnist", Datasets.HELP)
                .option("data-dir", "DIR", null, Datasets.DATA_DIR_HELP)
                .flag("no-download", "never download; fail with instructions when the data is missing")
                .flag("noised", "noise-conditional classifier of x_t at random t (for classifier guidance)")
                .option("timesteps", "T", "1000", "with --noised: diffusion steps T (must match the diffusion model it guides)")
                .option("schedule", "NAME", "linear", "with --noised: beta schedule, linear | cosine")
                .option("out", "FILE", null, "checkpoint to write (default runs/<dataset>-classifier[-noised].safetensors)")
                .option("steps", "N", "3000", "training steps")
                .option("batch", "N", "64", "batch size")
                .option("lr", "X", "2e-3", "peak learning rate (linear warmup, then cosine decay to 0)")
                .option("warmup", "N", "100", "warmup steps")
                .option("weight-decay", "X", "0", "AdamW decoupled weight decay (0 = Adam)")
                .option("grad-clip", "X", "1.0", "clip the global gradient norm; 0 = off")
                .option("image-size", "PX", null, "resize the images to PX×PX (integer ratios; default: the data set's size)")
                .option("ch", "N", "32", "base width (widths ch·(1,2,2))")
                .option("dropout", "P", "0", "dropout in the ResBlocks")
                .option("eval-n", "N", "0", "test images for the accuracy (0 = the whole test split)")
                .option("log-every", "N", "100", "progress line every N steps")
                .option("seed", "N", "0", "seed of the initialisation, data order, noise and dropout")
                .option("device", "DEV", "auto", Devices.HELP)
                .option("precision", "P", "auto", Devices.PRECISION_HELP)
                .option("synthetic-size", "N", "5000", "images in the synthetic data set")
                .example("mvn exec:java -Dmain=TrainClassifier")
                .example("mvn exec:java -Dmain=TrainClassifier -Dexec.args=\"--noised --steps 2000 --dropout 0.1\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            String dataset = Datasets.check(a.get("dataset"), "--dataset");
            boolean noised = a.flag("noised");
            int T = a.getInt("timesteps", 2, 100_000);
            String schedule = a.getChoice("schedule", "linear", "cosine");
            if (!noised && (a.given("timesteps") || a.given("schedule")))
                throw new UsageException("--timesteps and --schedule apply to a --noised classifier");
            long steps = a.getLong("steps", 1, Long.MAX_VALUE);
            int batch = a.getInt("batch", 1, 65_536);
            double lr = a.getDouble("lr", 1e-12, 10), wd = a.getDouble("weight-decay", 0, 10), clip = a.getDouble("grad-clip", 0, 1e9);
            long warmup = a.getLong("warmup", 0, Long.MAX_VALUE);
            int ch = a.getInt("ch", 4, 4096), evalN = a.getInt("eval-n", 0, Integer.MAX_VALUE);
            double dropout = a.getDouble("dropout", 0, 0.99);
            long logEvery = a.getLong("log-every", 1, Long.MAX_VALUE), seed = a.getLong("seed", Long.MIN_VALUE, Long.MAX_VALUE);
            Devices.check(a.get("device"));
            Devices.checkPrecision(a.get("precision"));
            Schedule sched;
            try {
                sched = Schedule.named(schedule, T);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--timesteps: the " + schedule + " schedule does not work with T = " + T + ": " + e.getMessage());
            }
            Path outFile = Path.of(a.given("out") ? a.get("out")
                    : "runs/" + dataset.replaceAll("[^A-Za-z0-9_.-]+", "_") + "-classifier" + (noised ? "-noised" : "") + ".safetensors");

            Device device = Devices.open(a.get("device"), err);

            Devices.applyPrecision(a.get("precision"), device, err);
            Path dir = Datasets.dataDir(dataset, a.get("data-dir"));
            int synth = a.getInt("synthetic-size", 1, 10_000_000), size = a.getInt("image-size", 4, 4096, 0);
            ImageDataset train = Datasets.open(new Datasets.Request(dataset, dir, true, size, !a.flag("no-download"), seed, synth), out);
            ImageDataset test = Datasets.open(new Datasets.Request(dataset, dir, false, size, !a.flag("no-download"), seed, synth), out);
            if (size > 0) {
                train = train.resized(size);
                test = test.resized(size);
            }
            if (!train.hasLabels()) throw new UserError(train.name() + " has no labels to learn");
            if (train.height() != train.width()) throw new UserError("images must be square, " + train.name() + " is "
                    + train.height() + "×" + train.width());
            ClassifierConfig cfg;
            try {
                int r = train.height();
                int[] mult = r % 4 == 0 ? new int[]{1, 2, 2} : r % 2 == 0 ? new int[]{1, 2} : new int[]{1};
                int[] attn = noised ? new int[]{r >> (mult.length - 1)} : new int[0];
                cfg = new ClassifierConfig(r, train.channels(), train.numClasses(), ch, mult, 1, attn, dropout,
                        java.math.BigInteger.valueOf(ch).gcd(java.math.BigInteger.valueOf(32)).intValue(), noised);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            GaussianDiffusion diffusion = noised ? new GaussianDiffusion(sched) : null;
            try (Classifier net = new Classifier(cfg, device, seed);
                 Adam opt = wd > 0 ? new ddpm.nn.optim.AdamW(net, wd) : new Adam(net)) {
                out.printf(Locale.ROOT, "training %s on %s (%s), %d steps of %d, lr %.1e%n", net, train, device, steps, batch, lr);
                BatchIterator batches = new BatchIterator(train, batch, seed, false);
                Rng rng = new Rng(seed + 1);
                long t0 = System.nanoTime(), window = System.nanoTime();
                double lossSum = 0;
                int correct = 0, seen = 0;
                for (long step = 1; step <= steps; step++) {
                    try (Scope s = Scope.open()) {
                        BatchIterator.Batch b = batches.next(device);
                        Tensor x = b.images(), t = null;
                        if (noised) {
                            t = diffusion.sampleTimesteps(rng, batch, device);
                            x = diffusion.qSample(x, t, rng);
                        }
                        net.zeroGrad();
                        Tensor logits = net.forward(x, t);
                        Tensor loss = Classification.crossEntropy(logits, b.labels());
                        double l = loss.item();
                        if (!Double.isFinite(l))
                            throw new UserError(String.format(Locale.ROOT, "training diverged: the loss is %s at step %d; try a lower --lr (now %.1e)", l, step, lr));
                        loss.backward();
                        GradClip.Result c = GradClip.compute(net.flatGrads(), clip);
                        opt.step(learningRate(lr, warmup, steps, step), c.scale());
                        lossSum += l;
                        int[] pred = Classification.argmax(logits);
                        for (int i = 0; i < batch; i++) if (pred[i] == b.hostLabels()[i]) correct++;
                        seen += batch;
                    }
                    if (step % logEvery == 0 || step == steps) {
                        double secs = (System.nanoTime() - window) / 1e9;
                        out.printf(Locale.ROOT, "step %d/%d  loss %.4f  train accuracy %.3f  %.1f img/s  ETA %s%n", step, steps,
                                lossSum / (seen / (double) batch), correct / (double) seen, seen / secs,
                                ProgressBar.duration((steps - step) * (System.nanoTime() - t0) / 1e9 / step));
                        window = System.nanoTime();
                        lossSum = 0;
                        correct = seen = 0;
                    }
                }
                net.eval();
                ImageDataset evalSet = evalN == 0 ? test : test.head(evalN);
                Map<String, String> meta = new LinkedHashMap<>();
                meta.put("data.name", train.name());
                meta.put("data.classes", String.join(",", train.classNames()));
                if (noised) {
                    meta.put("diffusion.timesteps", Integer.toString(T));
                    meta.put("diffusion.schedule", schedule);
                    for (double f : EVAL_FRACTIONS) {
                        int t = (int) Math.round(f * (T - 1));
                        double acc = accuracy(net, evalSet, diffusion, t, seed + 7, device);
                        out.printf(Locale.ROOT, "test accuracy at t = %d: %.4f (%d images)%n", t, acc, evalSet.size());
                        meta.put("test_accuracy.t" + t, String.format(Locale.ROOT, "%.4f", acc));
                    }
                } else {
                    double acc = accuracy(net, evalSet, null, 0, 0, device);
                    out.printf(Locale.ROOT, "test accuracy: %.4f (%d images)%n", acc, evalSet.size());
                    meta.put("test_accuracy", String.format(Locale.ROOT, "%.4f", acc));
                }
                try {
                    java.nio.file.Files.createDirectories(outFile.toAbsolutePath().getParent());
                    Checkpoint.save(outFile, net, null, null, steps, null, meta);
                } catch (IOException e) {
                    throw new UserError("cannot write " + outFile + ": " + e.getMessage(), e);
                }
                out.printf(Locale.ROOT, "saved %s (%.1f min)%n", outFile, (System.nanoTime() - t0) / 6e10);
            }
            return 0;
        });
    }

    /** Linear warmup to {@code base}, then cosine decay to 0 at {@code total}. */
    static double learningRate(double base, long warmup, long total, long step) {
        double w = warmup > 0 ? Math.min(1, step / (double) warmup) : 1;
        return base * w * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, total) / total));
    }

    /**
     * The fraction of {@code data} classified correctly; for a noise-conditional classifier
     * ({@code diffusion} not null) of images noised to step t with noise from {@code seed}.
     */
    static double accuracy(Classifier net, ImageDataset data, GaussianDiffusion diffusion, int t, long seed, Device device) {
        int n = data.size(), per = data.imageBytes(), bs = 250, correct = 0;
        Rng rng = new Rng(seed);
        try (Grad.Guard g = Grad.noGrad()) {
            for (int start = 0; start < n; start += bs) {
                int b = Math.min(bs, n - start);
                try (Scope s = Scope.open()) {
                    float[] x = new float[b * per];
                    for (int i = 0; i < b; i++) data.imageTo(start + i, x, i * per, false);
                    Tensor img = Tensor.of(x, device, b, data.channels(), data.height(), data.width()), tt = null;
                    if (diffusion != null) {
                        int[] ts = new int[b];
                        Arrays.fill(ts, t);
                        tt = Tensor.ofInts(ts, device, b);
                        img = diffusion.qSample(img, tt, rng);
                    }
                    int[] pred = Classification.argmax(net.forward(img, tt));
                    for (int i = 0; i < b; i++) if (pred[i] == data.label(start + i)) correct++;
                }
            }
        }
        return correct / (double) n;
    }
}
