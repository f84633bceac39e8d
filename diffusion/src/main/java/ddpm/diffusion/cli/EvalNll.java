package ddpm.diffusion.cli;

import ddpm.diffusion.EpsModel;
import ddpm.diffusion.LikelihoodEvaluator;
import ddpm.diffusion.ProgressBar;
import ddpm.diffusion.TrainedModel;
import ddpm.diffusion.UsageException;
import ddpm.diffusion.data.Datasets;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.train.RunDir;
import ddpm.engine.Device;
import ddpm.engine.Tensor;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Evaluates the variational bound of a checkpoint on test images, in bits/dim (paper Table 2),
 * with its breakdown: the prior term L_T, the sum of the KL terms L_{t−1} (t ≥ 2) and the decoder
 * NLL L_0.
 *
 * <pre>
 *   mvn exec:java -Dmain=EvalNll -Dexec.args="--ckpt runs/cifar10-paper --n 1000 --batch 100"
 * </pre>
 */
public final class EvalNll {
    private EvalNll() {}

    static Args spec() {
        return new Args("EvalNll", "Computes the negative log-likelihood bound in bits/dim of a trained model (its EMA weights\n"
                + "unless --raw-weights) on held-out images, with the prior / KL / decoder breakdown. Costs T model\n"
                + "evaluations per batch: use --n to evaluate a subset.")
                .option("ckpt", "PATH", null, "checkpoint file, or a run directory (its latest checkpoint) — required;\n"
                        + "also a PyTorch state dict (.safetensors) in a layout Convert reads")
                .option("config", "JSON|FILE", null, Sample.CONFIG_HELP)
                .option("dataset", "NAME", "cifar10", Datasets.HELP)
                .option("data-dir", "DIR", null, Datasets.DATA_DIR_HELP)
                .option("split", "NAME", "test", "test | train")
                .flag("no-download", "never download; fail with instructions when the data is missing")
                .option("n", "N", "1000", "number of images (the first N of the split; 0 = all)")
                .option("batch", "N", "100", "images per model call")
                .option("seed", "N", "0", "seed of the noise")
                .flag("unconditional", "class-conditional models: evaluate with the null label instead of the true labels")
                .flag("no-clip", "do not clip x̂0 to [-1, 1] in p(x_{t-1}|x_t)")
                .flag("raw-weights", "use the raw (non-EMA) weights")
                .option("device", "DEV", "auto", Devices.HELP)
                .option("precision", "P", "fp32", Devices.PRECISION_HELP + "; fp32 by default here: a reported bound\n"
                        + "should not carry bf16 rounding")
                .option("synthetic-size", "N", "1000", "images in the synthetic test set")
                .example("mvn exec:java -Dmain=EvalNll -Dexec.args=\"--ckpt runs/cifar10-paper --n 1000\"")
                .example("mvn exec:java -Dmain=EvalNll -Dexec.args=\"--ckpt runs/synthetic-cpu --dataset synthetic --n 200\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            Path ckptArg = Path.of(a.require("ckpt"));
            String dataset = Datasets.check(a.get("dataset"), "--dataset");
            boolean train = a.getChoice("split", "test", "train").equals("train");
            int n = a.getInt("n", 0, Integer.MAX_VALUE);
            int batch = a.getInt("batch", 1, 65_536);
            long seed = a.getLong("seed", Long.MIN_VALUE, Long.MAX_VALUE);
            int synth = a.getInt("synthetic-size", 1, 10_000_000);
            Devices.check(a.get("device"));
            Devices.checkPrecision(a.get("precision"));

            Map<String, Object> hint = Sample.configHint(a);
            Path ckpt = RunDir.resolve(ckptArg);
            Device device = Devices.open(a.get("device"), err);
            Devices.applyPrecision(a.get("precision"), device, err);
            TrainedModel m = TrainedModel.load(ckpt, device, !a.flag("raw-weights"), hint, out);
            try (var net = m.net()) {
                int r = net.config.resolution, c = net.config.inChannels;
                ImageDataset data = Datasets.open(new Datasets.Request(dataset, Datasets.dataDir(dataset, a.get("data-dir")), train, r,
                        !a.flag("no-download"), 0, synth), out);
                if (data.channels() != c)
                    throw new UsageException("--dataset: " + data.name() + " has " + data.channels() + " channels, the model takes " + c);
                data = data.resized(r).head(n == 0 ? Integer.MAX_VALUE : n);
                int count = data.size();
                float[] x = new float[count * data.imageBytes()];
                for (int i = 0; i < count; i++) data.imageTo(i, x, i * data.imageBytes(), false);
                Tensor images = Tensor.of(x, device, count, c, r, r);
                Tensor labels = null;
                if (net.config.numClasses > 0 && !a.flag("unconditional")) {
                    if (!data.hasLabels() || data.numClasses() != net.config.numClasses)
                        throw new UsageException("the model is class-conditional (" + net.config.numClasses + " classes) but " + data.name()
                                + " has " + (data.hasLabels() ? data.numClasses() + " classes" : "no labels") + "; pass --unconditional");
                    int[] y = new int[count];
                    for (int i = 0; i < count; i++) y[i] = data.label(i);
                    labels = Tensor.ofInts(y, device, count);
                }
                int T = m.diffusion().steps();
                out.printf(Locale.ROOT, "evaluating %s (%s weights, step %d, T=%d) on %d images of %s, batch %d%n", ckpt, m.weights(), m.step(), T,
                        count, data.name(), batch);
                LikelihoodEvaluator ev = new LikelihoodEvaluator(m.diffusion(), seed, !a.flag("no-clip"));
                long[] last = {0};
                ProgressBar bar = new ProgressBar(out, "bits/dim", (long) ((count + batch - 1) / batch) * T, "steps");
                EpsModel eps = net::forward;
                LikelihoodEvaluator.Result res = ev.evaluate(eps, images, labels, Math.min(batch, count), (done, total) -> {
                    bar.step(done - last[0], null);
                    last[0] = done;
                });
                images.release();
                if (labels != null) labels.release();
                out.println(report(res));
            }
            return 0;
        });
    }

    /** The result with its breakdown, one figure a line. */
    static String report(LikelihoodEvaluator.Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "NLL bound: %.4f bits/dim (± %.4f standard error over %d images)%n", r.bpd(), r.bpdStdError(), r.images()));
        sb.append(String.format(Locale.ROOT, "  prior L_T              %9.5f%n", r.priorBpd()));
        sb.append(String.format(Locale.ROOT, "  KL terms L_1..L_{T-1}  %9.5f%n", r.klBpd()));
        int T = r.vbPerT().length;
        int[] edges = {1, Math.min(T, 10), Math.min(T, 100), T};
        for (int i = 0; i + 1 < edges.length; i++) {
            if (edges[i + 1] <= edges[i]) continue;
            double s = 0;
            for (int t = edges[i]; t < edges[i + 1]; t++) s += r.vbPerT()[t];
            sb.append(String.format(Locale.ROOT, "    t in [%d, %d)%s %9.5f%n", edges[i], edges[i + 1],
                    " ".repeat(Math.max(0, 12 - (Integer.toString(edges[i]).length() + Integer.toString(edges[i + 1]).length()))), s));
        }
        sb.append(String.format(Locale.ROOT, "  decoder NLL L_0        %9.5f", r.decoderNll()));
        return sb.toString();
    }
}
