package ddpm.diffusion.cli;

import ddpm.diffusion.GaussianDiffusion;
import ddpm.diffusion.UsageException;
import ddpm.diffusion.data.Datasets;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.train.TrainConfig;
import ddpm.diffusion.train.Trainer;
import ddpm.engine.Device;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Trains a DDPM: by default the paper's CIFAR-10 recipe on the GPU; on a CPU-only machine a small
 * preset (16-px images, tiny U-Net, batch 16) unless {@code --preset paper}.
 *
 * <pre>
 *   mvn exec:java -Dmain=TrainCifar
 *   mvn exec:java -Dmain=TrainCifar -Dexec.args="--dataset synthetic --steps 2000"
 *   mvn exec:java -Dmain=TrainCifar -Dexec.args="--help"
 * </pre>
 */
public final class TrainCifar {
    private TrainCifar() {}

    static Args spec() {
        return new Args("TrainCifar", "Trains a denoising diffusion model (Ho et al. 2020). Defaults: the paper's CIFAR-10 recipe\n"
                + "(35.7M-parameter U-Net, batch 128, Adam 2e-4, warmup 5000, clip 1.0, EMA 0.9999, T=1000 linear,\n"
                + "L_simple, random flips, dropout 0.1) on the GPU; without a GPU the 'cpu' preset. Checkpoints,\n"
                + "sample grids and train_log.csv go to the run directory; rerunning resumes from its latest\n"
                + "checkpoint; Ctrl-C saves one before exiting.")
                .option("dataset", "NAME", "cifar10", Datasets.HELP)
                .option("data-dir", "DIR", null, Datasets.DATA_DIR_HELP + "; CIFAR-10 is downloaded here when missing")
                .flag("no-download", "never download; fail with instructions when the data is missing")
                .option("run-dir", "DIR", null, "checkpoints, samples and log (default runs/<dataset>-<preset>)")
                .option("preset", "NAME", null, "paper | cpu | fashion (default: paper with a GPU; without one, fashion for\n"
                        + "fashion-mnist, else cpu)")
                .option("device", "DEV", "auto", Devices.HELP)
                .option("precision", "P", "auto", Devices.PRECISION_HELP)
                .option("activations", "D", "auto", Devices.ACTIVATIONS_HELP)
                .option("steps", "N", null, "training steps (paper 800k, cpu 20k)")
                .option("batch", "N", null, "batch size (paper 128, cpu 16)")
                .option("lr", "X", null, "peak learning rate (2e-4)")
                .option("warmup", "N", null, "linear warmup steps (paper 5000, cpu 500)")
                .option("grad-clip", "X", null, "clip the global gradient norm at X; 0 = off (1.0)")
                .option("ema", "X", null, "EMA decay (paper 0.9999, cpu 0.999)")
                .option("weight-decay", "X", null, "AdamW decoupled weight decay; 0 = plain Adam (0)")
                .option("dropout", "P", null, "dropout in the ResBlocks (0.1)")
                .option("ch", "N", null, "U-Net base width (paper 128, cpu 32)")
                .option("image-size", "PX", null, "resize images to PX×PX (integer ratios; cpu preset 16)")
                .option("timesteps", "T", "1000", "diffusion steps T")
                .option("schedule", "NAME", "linear", "beta schedule: linear | cosine")
                .option("loss", "NAME", null, "simple (L_simple) | hybrid (L_simple + λ·L_vlb) | kl (the bound); default simple,\n"
                        + "hybrid with the learned-range variance")
                .option("hybrid-lambda", "X", "0.001", "λ of the hybrid loss (L_vlb = T·L_t at the sampled t)")
                .option("predict", "WHAT", "eps", "what the network predicts: eps (ε, the paper) | x0 | v (√ᾱ·ε − √(1−ᾱ)·x0)")
                .option("variance", "NAME", "fixed-large", "reverse variance: fixed-large (σ² = β) | fixed-small (β̃) | learned-range\n"
                        + "(the model also outputs v_σ interpolating log β and log β̃; trained by the hybrid loss)")
                .flag("no-flip", "no random horizontal flips")
                .flag("classes", "class-conditional model (labels from the data set) for classifier-free guidance")
                .option("label-dropout", "P", "0.1", "with --classes: probability of training on the null label")
                .option("guidance", "W", "0", "with --classes: guidance weight of the preview grids")
                .option("sample-every", "N", null, "write a sample grid from the EMA weights every N steps; 0 = never (paper 5000, cpu 1000)")
                .option("sample-steps", "S", null, "sampler steps for the grids; 0 = ancestral DDPM over all T (paper 100, cpu 50, fashion 100)")
                .option("sample-sampler", "NAME", null, "sampler of the grids: ddim | ddpm (ancestral, respaced to --sample-steps)\n"
                        + "(paper, cpu ddim; fashion ddpm)")
                .option("samples", "N", null, "images per grid (paper 64, cpu 36)")
                .option("ckpt-every", "N", null, "checkpoint every N steps; 0 = only at the end and on Ctrl-C (paper 5000, cpu 1000)")
                .option("keep", "N", "3", "checkpoints kept in the run directory")
                .option("log-every", "N", null, "progress line every N steps (paper 100, cpu 20)")
                .option("seed", "N", "0", "seed of the initialisation, data order, noise and dropout")
                .option("synthetic-size", "N", "5000", "images in the synthetic data set")
                .example("mvn exec:java -Dmain=TrainCifar")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--dataset fashion-mnist\"")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--dataset synthetic --steps 3000\"")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--dataset fashion-mnist --variance learned-range --predict v\"")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--preset paper --device cuda --run-dir runs/cifar10\"")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--dataset mnist --data-dir data/mnist --classes\"")
                .example("mvn exec:java -Dmain=TrainCifar -Dexec.args=\"--dataset folder:/path/to/pngs --image-size 32\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            // validate every argument before touching the data or the device
            String dataset = Datasets.check(a.get("dataset"), "--dataset");
            String presetArg = a.given("preset") ? a.getChoice("preset", "paper", "cpu", "fashion") : null;
            Devices.check(a.get("device"));
            Devices.checkPrecision(a.get("precision"));
            Devices.checkActivations(a.get("activations"));
            TrainConfig probe = TrainConfig.paper();
            apply(a, probe);   // throws UsageException for bad values
            Device device = Devices.open(a.get("device"), err);
            Devices.applyPrecision(a.get("precision"), device, err);
            String preset = presetArg;
            if (preset == null) {
                boolean fashion = dataset.equals("fashion-mnist");
                preset = !device.isCpu() ? "paper" : fashion ? "fashion" : "cpu";
                if (device.isCpu())
                    out.println(fashion ? "no GPU in use: training on the CPU with the 'fashion' preset (28-px images, 1.1M-parameter"
                            + " U-Net, batch 32, 2000 steps); pass --preset paper for the paper's model"
                            : "no GPU in use: training on the CPU with the small 'cpu' preset (16-px images, tiny U-Net,"
                            + " batch 16); pass --preset paper for the paper's model");
            }
            TrainConfig cfg = TrainConfig.preset(preset);
            apply(a, cfg);
            cfg.bf16Activations = Devices.bf16Activations(a.get("activations"), device);
            int imageSize = a.given("image-size") ? a.getInt("image-size", 4, 4096) : preset.equals("cpu") ? 16 : 0;
            if (dataset.equals("synthetic") && !a.given("image-size") && preset.equals("paper")) imageSize = 32;
            Path runDir = Path.of(a.given("run-dir") ? a.get("run-dir")
                    : "runs/" + dataset.replaceAll("[^A-Za-z0-9_.-]+", "_") + "-" + preset);
            ImageDataset data = Datasets.open(new Datasets.Request(dataset, Datasets.dataDir(dataset, a.get("data-dir")), true, imageSize,
                    !a.flag("no-download"), cfg.seed, a.getInt("synthetic-size", 1, 10_000_000)), out);
            if (imageSize > 0 && !dataset.equals("synthetic") && !dataset.startsWith("folder:")) data = data.resized(imageSize);
            if (!Datasets.flipsSuit(dataset) && !a.flag("no-flip") && cfg.hflip) {
                cfg.hflip = false;
                out.println("note: random flips are off for " + dataset + " (they would change what the images show)");
            }
            out.println("data: " + data + "; run directory: " + runDir.toAbsolutePath());
            try (Trainer t = new Trainer(cfg, data, runDir, device, out)) {
                Trainer.Result r = t.train();
                out.printf(Locale.ROOT, "done: step %d (%d this run), last loss %.5f, %.1f img/s, checkpoint %s%n",
                        r.step(), r.stepsThisRun(), r.lastLoss(), r.imagesPerSecond(), r.lastCheckpoint());
                return r.interrupted() ? 130 : 0;
            }
        });
    }

    /** Applies the options that were given on top of a preset. */
    static void apply(Args a, TrainConfig c) {
        if (a.given("steps")) c.steps = a.getLong("steps", 0, Long.MAX_VALUE);
        if (a.given("batch")) c.batch = a.getInt("batch", 1, 1 << 16);
        if (a.given("lr")) c.lr = a.getDouble("lr", 1e-12, 10);
        if (a.given("warmup")) c.warmup = a.getLong("warmup", 0, Long.MAX_VALUE);
        if (a.given("grad-clip")) c.gradClip = a.getDouble("grad-clip", 0, 1e9);
        if (a.given("ema")) c.emaDecay = a.getDouble("ema", 0, 1);
        if (a.given("weight-decay")) c.weightDecay = a.getDouble("weight-decay", 0, 10);
        if (a.given("dropout")) c.model = c.model.withDropout(a.getDouble("dropout", 0, 0.99));
        if (a.given("ch")) {
            int ch = a.getInt("ch", 4, 4096);
            try {
                c.model = c.model.withGroups(java.math.BigInteger.valueOf(ch).gcd(java.math.BigInteger.valueOf(c.model.groups)).intValue()).withCh(ch);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--ch: " + e.getMessage());
            }
        }
        c.timesteps = a.getInt("timesteps", 2, 100_000);
        c.schedule = a.getChoice("schedule", "linear", "cosine");
        c.predict = GaussianDiffusion.MeanType.named(a.getChoice("predict", "eps", "x0", "v"));
        c.variance = GaussianDiffusion.VarianceType.named(a.getChoice("variance", "fixed-large", "fixed-small", "learned-range"));
        String loss = a.given("loss") ? a.getChoice("loss", "simple", "hybrid", "kl") : c.variance.learned() ? "hybrid" : "simple";
        c.loss = switch (loss) {
            case "hybrid" -> GaussianDiffusion.LossType.HYBRID;
            case "kl" -> GaussianDiffusion.LossType.KL;
            default -> GaussianDiffusion.LossType.SIMPLE;
        };
        c.hybridLambda = a.getDouble("hybrid-lambda", 0, 1e6);
        if (a.flag("no-flip")) c.hflip = false;
        c.classConditional = a.flag("classes");
        c.labelDropout = a.getDouble("label-dropout", 0, 0.99);
        c.guidance = a.getDouble("guidance", 0, 1000);
        if ((a.given("label-dropout") || a.given("guidance")) && !c.classConditional)
            throw new UsageException("--label-dropout and --guidance need --classes (a class-conditional model)");
        if (a.given("sample-every")) c.sampleEvery = a.getLong("sample-every", 0, Long.MAX_VALUE);
        if (a.given("sample-steps")) c.sampleSteps = a.getInt("sample-steps", 0, 100_000);
        if (a.given("sample-sampler")) c.sampleAncestral = a.getChoice("sample-sampler", "ddim", "ddpm").equals("ddpm");
        if (c.sampleAncestral && c.sampleSteps == 1) throw new UsageException("--sample-steps: ancestral previews need at least 2 steps");
        if (!a.given("sample-steps") && c.sampleSteps >= c.timesteps) c.sampleSteps = 0;   // ancestral over all T
        if (c.sampleSteps > c.timesteps) throw new UsageException("--sample-steps: expected at most --timesteps (" + c.timesteps + "), got " + c.sampleSteps);
        if (a.given("samples")) c.sampleCount = a.getInt("samples", 1, 1024);
        if (a.given("ckpt-every")) c.ckptEvery = a.getLong("ckpt-every", 0, Long.MAX_VALUE);
        c.keepCheckpoints = a.getInt("keep", 1, 1000);
        if (a.given("log-every")) c.logEvery = a.getLong("log-every", 1, Long.MAX_VALUE);
        c.seed = a.getLong("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        try {
            c.validate();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

}
