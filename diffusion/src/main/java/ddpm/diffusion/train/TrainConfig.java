package ddpm.diffusion.train;

import ddpm.diffusion.GaussianDiffusion;
import ddpm.nn.UNetConfig;
import ddpm.nn.io.Json;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Everything a training run needs besides the data. The defaults ({@link #paper()}) are the DDPM
 * paper's CIFAR-10 recipe: the 35.7 M-parameter U-Net with dropout 0.1, T = 1000 linear schedule,
 * L_simple, batch 128, Adam lr 2e-4 with 5 000 warmup steps, gradient clipping at 1.0, EMA 0.9999,
 * random horizontal flips, 800 000 steps. {@link #cpu()} is a small preset for a CPU (0.7 M
 * parameters, 16-px images). Mutable public fields; {@link #validate()} before use.
 */
public final class TrainConfig {
    // model and diffusion
    public UNetConfig model = UNetConfig.cifar10();
    public int timesteps = 1000;
    public String schedule = "linear";
    public GaussianDiffusion.LossType loss = GaussianDiffusion.LossType.SIMPLE;
    /** What the network predicts: ε (the paper), x0 or v. */
    public GaussianDiffusion.MeanType predict = GaussianDiffusion.MeanType.EPSILON;
    /** The reverse variance: fixed (β or β̃) or learned-range (the model outputs 2·C channels). */
    public GaussianDiffusion.VarianceType variance = GaussianDiffusion.VarianceType.FIXED_LARGE;
    public double hybridLambda = 0.001;
    // optimisation
    public long steps = 800_000;
    public int batch = 128;
    public double lr = 2e-4;
    public long warmup = 5_000;
    public double gradClip = 1.0;
    public double emaDecay = 0.9999;
    public double weightDecay = 0.0;
    // data
    public boolean hflip = true;
    /** Class-conditional training (labels from the data set); 0 classes means unconditional. */
    public boolean classConditional = false;
    /** Probability of replacing a label with the null label (classifier-free guidance training). */
    public double labelDropout = 0.1;
    // bookkeeping
    public long seed = 0;
    public long logEvery = 100;
    public long sampleEvery = 5_000;
    public int sampleCount = 64;
    /** Sampler steps for preview grids: 0 = ancestral DDPM over all T, else DDIM (η = 0) with this many steps. */
    public int sampleSteps = 100;
    /** Previews by ancestral sampling respaced to {@link #sampleSteps} steps instead of DDIM. */
    public boolean sampleAncestral = false;
    /** Guidance weight for the preview grids of class-conditional models. */
    public double guidance = 0.0;
    public long ckptEvery = 5_000;
    /** Number of periodic checkpoints kept in the run directory (older ones are deleted). */
    public int keepCheckpoints = 3;
    public String preset = "paper";
    /** bf16 autocast: the U-Net's activations stored in BF16 ({@code UNet.activations}); weights,
     *  gradients, optimiser state and the loss stay float32. */
    public boolean bf16Activations = false;

    /** The paper's CIFAR-10 recipe. */
    public static TrainConfig paper() { return new TrainConfig(); }

    /**
     * A CPU preset: 16×16 images, a tiny U-Net (ch 32, mult 1,2, one ResBlock per level, attention
     * at 8×8, 0.5 M parameters), batch 16, 20 000 steps, warmup 500, EMA 0.999, previews with 50
     * DDIM steps every 1 000 steps.
     */
    public static TrainConfig cpu() {
        TrainConfig c = new TrainConfig();
        c.preset = "cpu";
        c.model = UNetConfig.tiny();
        c.batch = 16;
        c.steps = 20_000;
        c.warmup = 500;
        c.emaDecay = 0.999;
        c.logEvery = 20;
        c.sampleEvery = 1_000;
        c.sampleCount = 36;
        c.sampleSteps = 50;
        c.ckptEvery = 1_000;
        return c;
    }

    /**
     * Fashion-MNIST on a 2-core CPU in under 30 minutes: 28×28 grey images, a 1.1 M-parameter U-Net
     * (ch 32, mult 1,2,2, one ResBlock per level, attention at 7×7, no dropout), batch 32, Adam
     * 5e-4 with 200 warmup steps, EMA 0.995 (a short run wants a short average), 2 000 steps,
     * previews of 36 images by ancestral sampling respaced to 100 steps every 500 steps (a short
     * run's model draws clearer garments ancestrally than with deterministic DDIM).
     */
    public static TrainConfig fashion() {
        TrainConfig c = new TrainConfig();
        c.preset = "fashion";
        c.model = new UNetConfig(28, 1, 1, 32, new int[]{1, 2, 2}, 1, new int[]{7}, 0.0, 0, 32);
        c.batch = 32;
        c.lr = 5e-4;
        c.steps = 2_000;
        c.warmup = 200;
        c.emaDecay = 0.995;
        c.hflip = false;
        c.logEvery = 50;
        c.sampleEvery = 500;
        c.sampleCount = 36;
        c.sampleSteps = 100;
        c.sampleAncestral = true;
        c.ckptEvery = 500;
        return c;
    }

    /** A preset by name: paper, cpu or fashion. */
    public static TrainConfig preset(String name) {
        return switch (name) {
            case "paper" -> paper();
            case "cpu" -> cpu();
            case "fashion" -> fashion();
            default -> throw new IllegalArgumentException("unknown preset '" + name + "': expected paper, cpu or fashion");
        };
    }

    /** Checks ranges; throws IllegalArgumentException naming the field. */
    public TrainConfig validate() {
        StringBuilder p = new StringBuilder();
        if (timesteps < 2) p.append("; timesteps must be >= 2");
        if (steps < 0) p.append("; steps must be >= 0");
        if (batch < 1) p.append("; batch must be >= 1");
        if (!(lr > 0)) p.append("; lr must be > 0");
        if (warmup < 0) p.append("; warmup must be >= 0");
        if (!(gradClip >= 0)) p.append("; grad clip must be >= 0 (0 = off)");
        if (!(emaDecay >= 0 && emaDecay <= 1)) p.append("; EMA decay must be in [0, 1]");
        if (!(labelDropout >= 0 && labelDropout < 1)) p.append("; label dropout must be in [0, 1)");
        if (!(guidance >= 0)) p.append("; guidance must be >= 0");
        if (logEvery < 1 || sampleEvery < 0 || ckptEvery < 0) p.append("; log/sample/checkpoint intervals must be >= 0 (log >= 1)");
        // previews only: checked when there are any (a preset's default must not block --timesteps below it)
        if (sampleEvery > 0 && (sampleSteps < 0 || sampleSteps > timesteps))
            p.append("; sample steps must be in [0, T] (T = " + timesteps + ", sample steps " + sampleSteps + ")");
        if (keepCheckpoints < 1) p.append("; keep at least one checkpoint");
        if (variance.learned() && loss == GaussianDiffusion.LossType.SIMPLE)
            p.append("; the learned-range variance is trained by the bound: use the hybrid (or kl) loss");
        if (!schedule.equals("linear") && !schedule.equals("cosine")) p.append("; schedule must be linear or cosine");
        else if (timesteps >= 2) {
            try {
                ddpm.diffusion.Schedule.named(schedule, timesteps);
            } catch (IllegalArgumentException e) {
                p.append("; the ").append(schedule).append(" schedule does not work with T = ").append(timesteps).append(": ")
                        .append(e.getMessage()).append(schedule.equals("linear") ? " (the scaled linear schedule needs T >= 21)" : "");
            }
        }
        if (p.length() > 0) throw new IllegalArgumentException("invalid training config: " + p.substring(2));
        return this;
    }

    /** The settings as JSON (stored in checkpoints as metadata "train_config"). */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.put("timesteps", timesteps);
        m.put("schedule", schedule);
        m.put("loss", loss.name().toLowerCase(Locale.ROOT));
        m.put("hybrid_lambda", hybridLambda);
        m.put("predict", predict.cliName);
        m.put("variance", variance.cliName);
        m.put("steps", steps);
        m.put("batch", batch);
        m.put("lr", lr);
        m.put("warmup", warmup);
        m.put("grad_clip", gradClip);
        m.put("ema_decay", emaDecay);
        m.put("weight_decay", weightDecay);
        m.put("hflip", hflip);
        m.put("class_conditional", classConditional);
        m.put("label_dropout", labelDropout);
        m.put("seed", seed);
        return Json.write(m);
    }

    @Override public String toString() {
        return String.format(Locale.ROOT, "%s preset: %d steps, batch %d, lr %.1e (warmup %d), clip %s, EMA %s, T=%d %s, predict %s, variance %s, loss %s%s, flips %s%s",
                preset, steps, batch, lr, warmup, gradClip > 0 ? Double.toString(gradClip) : "off", emaDecay, timesteps, schedule,
                predict.cliName, variance.cliName, loss.name().toLowerCase(Locale.ROOT),
                classConditional ? ", class-conditional (label dropout " + labelDropout + ")" : "", hflip ? "on" : "off",
                bf16Activations ? ", bf16 activations" : "");
    }
}
