package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.diffusion.data.Datasets;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.Npy;
import ddpm.diffusion.eval.SampleQuality;
import ddpm.engine.Device;
import ddpm.nn.Classifier;
import ddpm.nn.InceptionV3;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.io.CheckpointException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Sample-quality numbers for generated images (a .npy array as {@code Sample --npy} writes):
 * FD-fashion with a classifier of {@code TrainClassifier} (the Fréchet distance of its penultimate
 * features to the test set's, the split-half floor beside it, and with {@code --labels} the
 * fraction of samples classified as the class asked for), and real FID when the FID InceptionV3
 * weights are given. {@code Sample --eval} runs the same after sampling.
 *
 * <pre>
 *   mvn exec:java -Dmain=EvalSamples -Dexec.args="--samples samples.npy --classifier runs/fashion-mnist-classifier.safetensors"
 * </pre>
 */
public final class EvalSamples {
    private EvalSamples() {}

    static Args spec() {
        return new Args("EvalSamples", "Measures generated images against the test split of a data set: FD-fashion (the Fréchet\n"
                + "distance between a TrainClassifier classifier's penultimate features of the samples and of the test\n"
                + "images, with the test set's split-half distance as the floor; NOT comparable to Inception FID) and,\n"
                + "given --labels, the fraction of samples the classifier assigns to the class asked for. With the\n"
                + "pytorch-fid InceptionV3 weights as safetensors (--inception) it computes real FID (299-px inputs).")
                .option("samples", "FILE", null, "images as .npy: float32 [N, C, H, W] in [-1, 1] or uint8 [N, H, W, C] — required")
                .option("labels", "FILE", null, "the class asked for of each sample, .npy of integers [N] (Sample writes <npy>.labels.npy)")
                .option("classifier", "FILE", null, "classifier checkpoint of TrainClassifier (clean images): FD-fashion and class accuracy")
                .option("inception", "FILE", null, "FID InceptionV3 weights (pytorch-fid's pt_inception-2015-12-05 as safetensors): FID")
                .option("dataset", "NAME", null, Datasets.HELP + ": its test split is the reference (default: the data\n"
                        + "set the classifier was trained on)")
                .option("data-dir", "DIR", null, Datasets.DATA_DIR_HELP)
                .option("ref-n", "N", "0", "reference images (the first N of the test split; 0 = all)")
                .option("batch", "N", "100", "images per network call")
                .option("device", "DEV", "auto", Devices.HELP)
                .option("precision", "P", "auto", Devices.PRECISION_HELP)
                .example("mvn exec:java -Dmain=EvalSamples -Dexec.args=\"--samples samples.npy --classifier runs/fashion-mnist-classifier.safetensors\"")
                .example("mvn exec:java -Dmain=EvalSamples -Dexec.args=\"--samples samples.npy --inception pt_inception.safetensors --ref-n 2000\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            Path samples = Path.of(a.require("samples"));
            Request r = request(a, "--classifier or --inception");
            Devices.check(a.get("device"));
            Devices.checkPrecision(a.get("precision"));
            int[] nchw = new int[4];
            float[] x;
            int[] labels = null;
            try {
                x = Npy.read(samples).images(nchw);
                if (a.given("labels")) labels = Npy.read(Path.of(a.get("labels"))).ints();
            } catch (IOException | RuntimeException e) {
                throw new UserError("cannot read " + (a.given("labels") ? samples + " / " + a.get("labels") : samples) + ": " + e.getMessage(), e);
            }
            if (labels != null && labels.length != nchw[0])
                throw new UserError("--labels has " + labels.length + " entries for " + nchw[0] + " samples");
            Device device = Devices.open(a.get("device"), err);
            Devices.applyPrecision(a.get("precision"), device, err);
            for (String line : evaluate(r, x, nchw[0], nchw[1], nchw[2], nchw[3], labels, device, out)) out.println(line);
            return 0;
        });
    }

    /** What to measure against what. */
    record Request(Path classifier, Path inception, String dataset, Path dataDir, int refN, int batch) {}

    /** The measuring options of this command. */
    static Request request(Args a, String what) {
        return request(a, "classifier", what, null);
    }

    /**
     * The measuring options shared with Sample (--classifier or --eval, --inception, --dataset,
     * --data-dir, --ref-n, --batch); without --dataset, the data set the classifier was trained on,
     * else {@code fallback}.
     */
    static Request request(Args a, String classifierOption, String what, String fallback) {
        Path clf = a.given(classifierOption) ? Path.of(a.get(classifierOption)) : null, inc = a.given("inception") ? Path.of(a.get("inception")) : null;
        if (clf == null && inc == null) throw new UsageException("nothing to measure with: give " + what);
        for (Path p : new Path[]{clf, inc})
            if (p != null && !Files.isRegularFile(p)) throw new UserError(p.toAbsolutePath() + " does not exist");
        String dataset = a.get("dataset") != null ? Datasets.check(a.get("dataset"), "--dataset") : null;
        if (dataset == null && clf != null) {
            try {
                dataset = Datasets.specOf(Checkpoint.readMetadata(clf).get("data.name"));
            } catch (IOException | CheckpointException e) {
                throw new UserError("cannot read " + clf + ": " + e.getMessage(), e);
            }
        }
        if (dataset == null) dataset = fallback;
        if (dataset == null) throw new UsageException("give --dataset: the test split to measure against");
        return new Request(clf, inc, dataset, Datasets.dataDir(dataset, a.get("data-dir")), a.getInt("ref-n", 0, Integer.MAX_VALUE),
                a.getInt("batch", 1, 65_536));
    }

    /**
     * The report lines for images x in [−1, 1] ([n, c, h, w]) with the requested class per image
     * (or null).
     */
    static List<String> evaluate(Request r, float[] x, int n, int c, int h, int w, int[] labels, Device device, PrintStream log) {
        List<String> lines = new ArrayList<>();
        if (n < 2) throw new UserError("measuring needs at least 2 samples, got " + n);
        ImageDataset test = Datasets.open(new Datasets.Request(r.dataset(), r.dataDir(), false, h, false, 0, 1000), log);
        if (test.height() != h) test = test.resized(h);
        if (r.refN() > 0) test = test.head(r.refN());
        float[] ref = SampleQuality.images(test);
        if (r.classifier() != null) {
            try (Classifier clf = Checkpoint.loadClassifier(r.classifier(), device)) {
                var cc = clf.config;
                if (cc.noiseConditional)
                    throw new UserError(r.classifier() + " is a noise-conditional classifier (for guidance); FD-fashion needs one of clean images"
                            + " (TrainClassifier without --noised)");
                if (c != cc.inChannels || h != cc.resolution || w != cc.resolution)
                    throw new UserError("the samples are " + c + "×" + h + "×" + w + ", the classifier takes " + cc.inChannels + "×"
                            + cc.resolution + "×" + cc.resolution);
                if (test.channels() != c || test.height() != h || test.width() != w)
                    throw new UserError("the samples are " + c + "×" + h + "×" + w + ", the test images of " + r.dataset() + " "
                            + test.channels() + "×" + test.height() + "×" + test.width());
                if (labels != null) for (int l : labels)
                    if (l < 0 || l >= cc.numClasses) throw new UserError("label " + l + " is not one of the classifier's " + cc.numClasses + " classes");
                log.printf(Locale.ROOT, "features of %d samples and %d test images through %s%n", n, test.size(), r.classifier());
                SampleQuality.Features fs = SampleQuality.classifierFeatures(clf, x, n, r.batch(), device);
                SampleQuality.Features fr = SampleQuality.classifierFeatures(clf, ref, test.size(), r.batch(), device);
                lines.add(SampleQuality.report("FD-fashion", fs, fr, labels).summary());
            } catch (IOException | CheckpointException | IllegalArgumentException e) {
                throw new UserError("cannot use classifier " + r.classifier() + ": " + e.getMessage(), e);
            }
        }
        if (r.inception() != null) {
            try (InceptionV3 net = InceptionV3.load(r.inception(), device)) {
                log.printf(Locale.ROOT, "Inception features of %d samples and %d test images (299 px; slow on a CPU: use --ref-n)%n", n, test.size());
                int b = Math.min(r.batch(), 50);
                SampleQuality.Features fs = SampleQuality.inceptionFeatures(net, x, n, c, h, w, b);
                SampleQuality.Features fr = SampleQuality.inceptionFeatures(net, ref, test.size(), test.channels(), test.height(), test.width(), b);
                lines.add(SampleQuality.report("FID", fs, fr, null).summary());
            } catch (IOException | CheckpointException e) {
                throw new UserError("cannot use the Inception weights " + r.inception() + ": " + e.getMessage(), e);
            }
        }
        return lines;
    }
}
