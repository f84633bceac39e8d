package ddpm.diffusion;

import ddpm.diffusion.cli.Args;
import ddpm.diffusion.cli.Cli;
import ddpm.diffusion.cli.Devices;
import ddpm.diffusion.cli.ProgressBar;
import ddpm.diffusion.cli.UsageException;
import ddpm.diffusion.cli.UserError;
import ddpm.diffusion.data.Images;
import ddpm.diffusion.data.Npy;
import ddpm.diffusion.train.RunDir;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.UNet;
import ddpm.nn.io.WeightFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Draws samples from a checkpoint's EMA weights and writes a PNG grid and/or a .npy array.
 *
 * <pre>
 *   mvn exec:java -Dmain=Sample -Dexec.args="--ckpt runs/cifar10-paper --sampler ddim --steps 50 --n 64 --out grid.png"
 * </pre>
 */
public final class Sample {
    private Sample() {}

    static final String CONFIG_HELP = "for a state dict without jddpm metadata: the model config, as a JSON file\n"
            + "(jddpm's keys, or diffusers' config.json) or inline, e.g. '{\"resolution\": 256}'";

    static Args spec() {
        return new Args("Sample", "Samples images from a trained model (its EMA weights unless --raw-weights) and writes a\n"
                + "PNG grid (--out) and/or the raw array (--npy; numpy.load reads it).")
                .option("ckpt", "PATH", null, "checkpoint file, or a run directory (its latest checkpoint) — required;\n"
                        + "also a PyTorch state dict (.safetensors) in a layout Convert reads")
                .option("config", "JSON|FILE", null, CONFIG_HELP)
                .option("sampler", "NAME", "ddpm", "ddpm (ancestral, all T steps, as the paper) | ddim")
                .option("steps", "S", "50", "DDIM steps (ddim only)")
                .option("eta", "X", "0", "DDIM η in [0, 1]: 0 deterministic, 1 DDPM-like (ddim only)")
                .option("guidance", "W", "0", "classifier-free guidance weight w (class-conditional models)")
                .option("label", "C", null, "class id or name for every image (class-conditional models; default: cycle through the classes; 'null' = unconditional)")
                .option("n", "N", "64", "number of images")
                .option("batch", "N", "64", "images per sampling batch")
                .option("seed", "N", "0", "seed of the noise")
                .option("out", "FILE", "samples.png", "PNG grid to write; 'none' for no grid")
                .option("cols", "N", "0", "images per grid row (0: square)")
                .option("npy", "FILE", null, "also write the samples as a .npy array")
                .option("npy-dtype", "TYPE", "f32", "f32: float32 [N, C, H, W] in [-1, 1]; u8: uint8 [N, H, W, C] in 0..255")
                .flag("raw-weights", "use the raw (non-EMA) weights")
                .option("device", "DEV", "auto", Devices.HELP)
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/cifar10-paper --n 64 --out grid.png\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/cifar10-paper --sampler ddim --steps 50 --npy samples.npy --npy-dtype u8\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/mnist-cpu --label 3 --guidance 2\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        Args a = spec();
        return Cli.run(a, err, () -> {
            if (!a.parse(argv)) { a.printUsage(out); return 0; }
            Path ckptArg = Path.of(a.require("ckpt"));
            String samplerName = a.getChoice("sampler", "ddpm", "ddim");
            boolean ddim = samplerName.equals("ddim");
            int steps = a.getInt("steps", 1, 100_000);
            double eta = a.getDouble("eta", 0, 1);
            if (!ddim && (a.given("steps") || a.given("eta")))
                throw new UsageException("--steps and --eta apply to --sampler ddim (ddpm always runs all T steps)");
            double w = a.getDouble("guidance", 0, 1000);
            int n = a.getInt("n", 1, 1_000_000);
            int batch = a.getInt("batch", 1, 65_536);
            long seed = a.getLong("seed", Long.MIN_VALUE, Long.MAX_VALUE);
            String outPng = a.get("out");
            int cols = a.getInt("cols", 0, 10_000);
            String npy = a.get("npy");
            String npyType = a.getChoice("npy-dtype", "f32", "u8");
            Devices.check(a.get("device"));
            if (outPng.equalsIgnoreCase("none") && npy == null) throw new UsageException("nothing to write: give --out FILE or --npy FILE");

            Map<String, Object> hint = configHint(a);
            Path ckpt = RunDir.resolve(ckptArg);
            Device device = Devices.open(a.get("device"), err);
            Loaded m = load(ckpt, device, !a.flag("raw-weights"), hint, out);
            try (UNet net = m.net) {
                int classes = net.config.numClasses;
                Integer label = null;
                if (a.given("label")) {
                    if (classes == 0) throw new UsageException("--label: the model in " + ckpt.getFileName() + " is unconditional (no classes)");
                    label = parseLabel(a.get("label"), m.classNames, classes);
                }
                if (w > 0 && classes == 0) throw new UsageException("--guidance: the model in " + ckpt.getFileName() + " is unconditional (no classes)");
                Sampler sampler = ddim ? new DdimSampler(m.diffusion, Math.min(steps, m.diffusion.steps()), eta, DdimSampler.Spacing.UNIFORM, true)
                        : new DdpmSampler(m.diffusion);
                EpsModel eps = net::forward;
                EpsModel model = classes > 0 ? new Guidance(eps, w, net.config.nullLabelRow()) : eps;
                int c = net.config.inChannels, r = net.config.resolution;
                out.printf("sampling %d images %dx%dx%d with %s from %s (%s weights, step %d)%s%n", n, c, r, r, sampler, ckpt,
                        m.weights, m.step,
                        classes > 0 ? ", guidance " + w + (label == null ? ", labels cycling 0.." + (classes - 1) : label < 0 ? ", null label" : ", label " + label) : "");
                float[] all = new float[Math.multiplyExact(n, c * r * r)];
                Rng rng = new Rng(seed);
                ProgressBar bar = new ProgressBar(out, "sampling", (long) ((n + batch - 1) / batch) * sampler.steps(), "steps");
                for (int start = 0; start < n; start += batch) {
                    int b = Math.min(batch, n - start);
                    try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
                        Tensor labels = null;
                        if (classes > 0) {
                            int[] y = new int[b];
                            for (int i = 0; i < b; i++) y[i] = label != null ? label : (start + i) % classes;
                            labels = Tensor.ofInts(y, device, b);
                        }
                        Tensor x = sampler.sample(model, new int[]{b, c, r, r}, device, labels, rng,
                                Sampler.Listener.progress((d, t) -> bar.step(1, null)));
                        float[] v = x.clamp(-1, 1).toFloats();
                        System.arraycopy(v, 0, all, start * c * r * r, v.length);
                    }
                }
                if (!outPng.equalsIgnoreCase("none")) {
                    Path p = Path.of(outPng);
                    Images.write(Images.grid(all, n, c, r, r, cols, 2), p);
                    out.println("wrote " + p.toAbsolutePath());
                }
                if (npy != null) {
                    Path p = Path.of(npy);
                    if (npyType.equals("u8")) Npy.writeImagesU8(p, all, n, c, r, r);
                    else Npy.writeF32(p, all, n, c, r, r);
                    out.println("wrote " + p.toAbsolutePath() + (npyType.equals("u8") ? " (uint8 [" + n + ", " + r + ", " + r + ", " + c + "])"
                            : " (float32 [" + n + ", " + c + ", " + r + ", " + r + "] in [-1, 1])"));
                }
            }
            return 0;
        });
    }

    /** A model loaded for inference, with the diffusion it was trained with and which weights it holds. */
    record Loaded(UNet net, GaussianDiffusion diffusion, long step, List<String> classNames, String weights) {}

    static Loaded load(Path ckpt, Device device, boolean ema) { return load(ckpt, device, ema, null, null); }

    /**
     * A jddpm checkpoint (EMA weights when {@code ema} and present), or a state dict in a layout
     * {@link WeightFiles} reads, with {@code hint} filling in what its names do not say; where the
     * weights came from and any assumption made is printed to {@code log} (when given).
     */
    static Loaded load(Path ckpt, Device device, boolean ema, Map<String, Object> hint, PrintStream log) {
        WeightFiles.Loaded w;
        try {
            w = WeightFiles.load(ckpt, device, ema, hint);
        } catch (IOException | RuntimeException e) {
            throw new UserError("cannot load checkpoint " + ckpt + ": " + e.getMessage(), e);
        }
        try {
            Map<String, String> meta = w.metadata();
            int T = Integer.parseInt(meta.getOrDefault("diffusion.timesteps", "1000"));
            String schedule = meta.getOrDefault("diffusion.schedule", "linear");
            long step = Long.parseLong(meta.getOrDefault("step", "0"));
            String cls = meta.get("data.classes");
            List<String> names = cls == null || cls.isEmpty() ? List.of() : Arrays.asList(cls.split(","));
            if (log != null) {
                if (!w.source().equals("jddpm checkpoint")) log.println("weights: " + w.source());
                for (String note : w.notes()) log.println("note: " + note);
                if (!meta.containsKey("diffusion.timesteps"))
                    log.println("note: the file does not say how it was trained: T = 1000 steps, linear β from 1e-4 to 0.02 (the paper's);"
                            + " Convert --timesteps/--schedule records others");
            }
            return new Loaded(w.net(), new GaussianDiffusion(Schedule.named(schedule, T)), step, names, w.weights());
        } catch (RuntimeException e) {
            w.net().close();
            throw new UserError("cannot load checkpoint " + ckpt + ": bad metadata: " + e.getMessage(), e);
        }
    }

    /** The --config option's value as a config hint (null when absent); a bad value is a usage error. */
    static Map<String, Object> configHint(Args a) {
        if (!a.given("config")) return null;
        try {
            return WeightFiles.configHint(a.get("config"));
        } catch (IOException | IllegalArgumentException e) {
            throw new UsageException("--config: " + e.getMessage());
        }
    }

    static int parseLabel(String v, List<String> names, int classes) {
        if (v.equalsIgnoreCase("null") || v.equalsIgnoreCase("none")) return UNet.NULL_LABEL;
        int i = names.indexOf(v);
        if (i >= 0) return i;
        try {
            int l = Integer.parseInt(v.trim());
            if (l >= 0 && l < classes) return l;
        } catch (NumberFormatException ignored) {
            // fall through
        }
        throw new UsageException("--label: expected a class id in [0, " + (classes - 1) + "]"
                + (names.isEmpty() ? "" : ", a class name (" + String.join(", ", names) + ")") + " or 'null', got '" + v + "'");
    }
}
