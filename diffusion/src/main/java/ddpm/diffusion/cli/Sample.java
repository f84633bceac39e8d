package ddpm.diffusion.cli;

import ddpm.diffusion.ClassifierGuidance;
import ddpm.diffusion.DdimSampler;
import ddpm.diffusion.DdpmSampler;
import ddpm.diffusion.EpsModel;
import ddpm.diffusion.Guidance;
import ddpm.diffusion.Interpolation;
import ddpm.diffusion.ProgressBar;
import ddpm.diffusion.Sampler;
import ddpm.diffusion.TrainedModel;
import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.diffusion.data.Datasets;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.ImageFolder;
import ddpm.diffusion.data.Images;
import ddpm.diffusion.data.Npy;
import ddpm.diffusion.train.RunDir;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Classifier;
import ddpm.nn.UNet;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.io.CheckpointException;
import ddpm.nn.io.WeightFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Draws samples from a checkpoint's EMA weights and writes a PNG grid and/or a .npy array; steers
 * them with a noise-conditional classifier (classifier guidance) or the model's own labels
 * (classifier-free guidance); measures them (FD-fashion, class accuracy, FID); or interpolates
 * between two latents (DDIM's deterministic decoder, optionally of two encoded images).
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
                + "PNG grid (--out) and/or the raw array (--npy; numpy.load reads it). Optionally steers the samples with a\n"
                + "noise-conditional classifier (--classifier), measures them (--eval, --inception), or interpolates\n"
                + "between two latents (--interpolate).")
                .option("ckpt", "PATH", null, "checkpoint file, or a run directory (its latest checkpoint) — required;\n"
                        + "also a PyTorch state dict (.safetensors) in a layout Convert reads")
                .option("config", "JSON|FILE", null, CONFIG_HELP)
                .option("sampler", "NAME", "ddpm", "ddpm (ancestral, as the paper) | ddim")
                .option("steps", "S", null, "DDIM steps (default 50); for ddpm: respaced ancestral sampling over S of the T\n"
                        + "steps with the subsequence's betas recomputed (default all T)")
                .option("eta", "X", "0", "DDIM η in [0, 1]: 0 deterministic, 1 DDPM-like (ddim only)")
                .option("guidance", "W", "0", "classifier-free guidance weight w (class-conditional models)")
                .option("classifier", "FILE", null, "noise-conditional classifier (TrainClassifier --noised) for classifier guidance")
                .option("classifier-scale", "S", "1", "classifier guidance scale s (with --classifier): the mean moves by s·Σ·∇log p(y|x_t)\n"
                        + "(ddpm), ε̂ by −s·√(1−ᾱ)·∇log p(y|x_t) (ddim)")
                .option("label", "C", null, "class id or name for every image (class-conditional models or --classifier; default:\n"
                        + "cycle through the classes; 'null' = unconditional)")
                .option("n", "N", "64", "number of images")
                .option("batch", "N", "64", "images per sampling batch")
                .option("seed", "N", "0", "seed of the noise")
                .option("out", "FILE", "samples.png", "PNG grid (or interpolation strip) to write; 'none' for no grid")
                .option("cols", "N", "0", "images per grid row (0: square)")
                .option("npy", "FILE", null, "also write the samples as a .npy array (and the classes asked for as <name>.labels.npy)")
                .option("npy-dtype", "TYPE", "f32", "f32: float32 [N, C, H, W] in [-1, 1]; u8: uint8 [N, H, W, C] in 0..255")
                .option("eval", "FILE", null, "measure the samples with a TrainClassifier classifier: FD-fashion against the test split\n"
                        + "(split-half floor beside it) and the fraction of samples classified as the class asked for")
                .option("inception", "FILE", null, "also compute FID with the FID InceptionV3 weights as safetensors")
                .option("dataset", "NAME", null, Datasets.HELP + ": the test split to measure against, or to\n"
                        + "encode from (default: the data set the classifier or model was trained on)")
                .option("data-dir", "DIR", null, Datasets.DATA_DIR_HELP)
                .option("ref-n", "N", "0", "with --eval/--inception: reference test images (0 = all)")
                .option("interpolate", "A,B", null, "write a strip of --frames images spherically interpolated between two latents x_T:\n"
                        + "the noise of seeds A and B, or with --encode two images (an index into the test split of\n"
                        + "--dataset, or an image file) encoded by DDIM inversion; decoded with DDIM, η = 0")
                .option("frames", "K", "8", "frames of the interpolation strip")
                .flag("encode", "with --interpolate: A and B are images, encoded to latents by DDIM inversion")
                .flag("raw-weights", "use the raw (non-EMA) weights")
                .option("device", "DEV", "auto", Devices.HELP)
                .option("precision", "P", "auto", Devices.PRECISION_HELP)
                .option("activations", "D", "auto", Devices.ACTIVATIONS_HELP)
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/cifar10-paper --n 64 --out grid.png\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/cifar10-paper --sampler ddim --steps 50 --npy samples.npy --npy-dtype u8\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/mnist-cpu --label 3 --guidance 2\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/fashion-mnist-fashion --sampler ddim --classifier "
                        + "runs/fashion-mnist-classifier-noised.safetensors --classifier-scale 3 --label sneaker\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/fashion-mnist-fashion --sampler ddim --n 1000 --eval "
                        + "runs/fashion-mnist-classifier.safetensors --out none\"")
                .example("mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt runs/fashion-mnist-fashion --interpolate 0,1 --encode --frames 10 "
                        + "--out strip.png\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            Path ckptArg = Path.of(a.require("ckpt"));
            boolean interpolate = a.given("interpolate");
            String samplerName = a.getChoice("sampler", "ddpm", "ddim");
            if (interpolate && a.given("sampler") && samplerName.equals("ddpm"))
                throw new UsageException("--interpolate decodes with the deterministic DDIM sampler; leave out --sampler ddpm");
            boolean ddim = samplerName.equals("ddim") || interpolate;
            Integer steps = a.getInt("steps", 1, 100_000);
            double eta = a.getDouble("eta", 0, 1);
            if (!ddim && a.given("eta")) throw new UsageException("--eta applies to --sampler ddim");
            if (interpolate && eta > 0) throw new UsageException("--interpolate needs the deterministic sampler: --eta 0");
            double w = a.getDouble("guidance", 0, 1000), scale = a.getDouble("classifier-scale", 0, 1e6);
            if (a.given("classifier-scale") && !a.given("classifier"))
                throw new UsageException("--classifier-scale needs --classifier (a noise-conditional classifier)");
            int n = a.getInt("n", 1, 1_000_000), batch = a.getInt("batch", 1, 65_536), cols = a.getInt("cols", 0, 10_000);
            int frames = a.getInt("frames", 2, 10_000);
            long seed = a.getLong("seed", Long.MIN_VALUE, Long.MAX_VALUE);
            String outPng = a.get("out"), npy = a.get("npy");
            String npyType = a.getChoice("npy-dtype", "f32", "u8");
            if (a.given("dataset")) Datasets.check(a.get("dataset"), "--dataset");
            a.getInt("ref-n", 0, Integer.MAX_VALUE);
            Devices.check(a.get("device"));
            Devices.checkPrecision(a.get("precision"));
            Devices.checkActivations(a.get("activations"));
            if (!interpolate && (a.given("frames") || a.flag("encode"))) throw new UsageException("--frames and --encode apply to --interpolate");
            if (interpolate && (a.given("eval") || a.given("inception") || a.given("classifier")))
                throw new UsageException("--interpolate writes a strip; it does not combine with --eval, --inception or --classifier");
            String[] ends = interpolate ? a.get("interpolate").split(",") : null;
            if (ends != null && (ends.length != 2 || ends[0].isBlank() || ends[1].isBlank()))
                throw new UsageException("--interpolate: expected two latents A,B (seeds, or images with --encode), got '" + a.get("interpolate") + "'");
            if (outPng.equalsIgnoreCase("none") && npy == null && !a.given("eval") && !a.given("inception"))
                throw new UsageException("nothing to write: give --out FILE, --npy FILE, or measure with --eval / --inception");
            EvalSamples.Request measure = a.given("eval") || a.given("inception")
                    ? EvalSamples.request(a, "eval", "--eval or --inception", null) : null;

            Map<String, Object> hint = configHint(a);
            Path ckpt = RunDir.resolve(ckptArg);
            Device device = Devices.open(a.get("device"), err);
            Devices.applyPrecision(a.get("precision"), device, err);
            TrainedModel m = TrainedModel.load(ckpt, device, !a.flag("raw-weights"), hint, out);
            if (Devices.bf16Activations(a.get("activations"), device)) m.net().activations(ddpm.engine.DType.BF16);
            Classifier guide = null;
            try (UNet net = m.net()) {
                int classes = net.config.numClasses, c = net.config.inChannels, r = net.config.resolution, T = m.diffusion().steps();
                List<String> names = m.classNames();
                if (a.given("classifier")) {
                    guide = loadGuide(Path.of(a.get("classifier")), device, m, c, r);
                    names = classNames(Path.of(a.get("classifier")), guide.config.numClasses);
                }
                int labelClasses = classes > 0 ? classes : guide != null ? guide.config.numClasses : 0;
                Integer label = null;
                if (a.given("label")) {
                    if (labelClasses == 0) throw new UsageException("--label: the model in " + ckpt.getFileName()
                            + " is unconditional (no classes); steer it with --classifier");
                    label = parseLabel(a.get("label"), names, labelClasses);
                    if (label < 0 && classes == 0) throw new UsageException("--label null: there is no unconditional label to ask a classifier for");
                }
                if (w > 0 && classes == 0) throw new UsageException("--guidance: the model in " + ckpt.getFileName() + " is unconditional (no classes)");
                int S = steps != null ? steps : ddim ? Math.min(50, T) : T;
                if (S > T) throw new UsageException("--steps: expected at most T = " + T + ", got " + S);
                if (!ddim && S < 2) throw new UsageException("--steps: respaced ddpm needs at least 2 steps, got " + S);
                EpsModel eps = classes > 0 ? new Guidance(net::forward, w, net.config.nullLabelRow()) : (x, t, y) -> net.forward(x, t);
                try {
                    if (interpolate) {
                        DdimSampler sampler = new DdimSampler(m.diffusion(), S, 0.0, DdimSampler.Spacing.UNIFORM, true);
                        interpolation(a, ends, frames, sampler, eps, net, m, label, device, out, outPng, npy, npyType, seed);
                        return 0;
                    }
                    Sampler sampler;
                    ClassifierGuidance cg = guide == null ? null : new ClassifierGuidance(guide::forward, scale);
                    if (ddim) {
                        DdimSampler d = new DdimSampler(m.diffusion(), S, eta, DdimSampler.Spacing.UNIFORM, true);
                        sampler = cg == null ? d : d.withGuidance(cg);
                    } else {
                        DdpmSampler d = DdpmSampler.respaced(m.diffusion(), S, true);
                        sampler = cg == null ? d : d.withGuidance(cg);
                    }
                    int[] asked = labelClasses > 0 && (label == null || label >= 0) ? new int[n] : null;
                    if (asked != null) for (int i = 0; i < n; i++) asked[i] = label != null ? label : i % labelClasses;
                    out.printf(Locale.ROOT, "sampling %d images %dx%dx%d with %s from %s (%s weights, step %d)%s%s%n", n, c, r, r, sampler, ckpt,
                            m.weights(), m.step(),
                            classes > 0 ? ", guidance " + w + (label == null ? ", labels cycling 0.." + (classes - 1) : label < 0 ? ", null label" : ", label " + label) : "",
                            guide != null ? ", classifier guidance s = " + scale + " towards " + (label == null ? "classes cycling 0.." + (labelClasses - 1)
                                    : "class " + label + " (" + (label < names.size() ? names.get(label) : "") + ")") : "");
                    float[] all = new float[Math.multiplyExact(n, c * r * r)];
                    Rng rng = new Rng(seed);
                    ProgressBar bar = new ProgressBar(out, "sampling", (long) ((n + batch - 1) / batch) * sampler.steps(), "steps");
                    long t0 = System.nanoTime();
                    for (int start = 0; start < n; start += batch) {
                        int b = Math.min(batch, n - start);
                        try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
                            Tensor labels = null;
                            if (labelClasses > 0 && (label == null || label >= 0 || classes > 0)) {
                                int[] y = new int[b];
                                for (int i = 0; i < b; i++) y[i] = label != null ? label : (start + i) % labelClasses;
                                labels = Tensor.ofInts(y, device, b);
                            }
                            Tensor x = sampler.sample(eps, new int[]{b, c, r, r}, device, labels, rng,
                                    Sampler.Listener.progress((d, t) -> bar.step(1, null)));
                            float[] v = x.clamp(-1, 1).toFloats();
                            System.arraycopy(v, 0, all, start * c * r * r, v.length);
                        }
                    }
                    out.printf(Locale.ROOT, "sampled in %s%n", ProgressBar.duration((System.nanoTime() - t0) / 1e9));
                    writeOutputs(out, all, n, c, r, cols, outPng, npy, npyType, asked);
                    if (measure != null) for (String line : EvalSamples.evaluate(measure, all, n, c, r, r, asked, device, out)) out.println(line);
                } finally {
                    if (guide != null) guide.close();
                }
            }
            return 0;
        });
    }

    /** A noise-conditional classifier that fits the model (channels, resolution, T and schedule), frozen. */
    static Classifier loadGuide(Path file, Device device, TrainedModel m, int c, int r) {
        Classifier clf;
        Map<String, String> meta;
        try {
            if (!Files.isRegularFile(file)) throw new UserError("--classifier: " + file.toAbsolutePath() + " does not exist");
            meta = Checkpoint.readMetadata(file);
            clf = Checkpoint.loadClassifier(file, device);
        } catch (IOException | CheckpointException | IllegalArgumentException e) {
            throw new UserError("cannot load classifier " + file + ": " + e.getMessage(), e);
        }
        var cc = clf.config;
        String problem = null;
        if (!cc.noiseConditional) problem = "it classifies clean images; guidance needs one trained on noisy images (TrainClassifier --noised)";
        else if (cc.inChannels != c || cc.resolution != r)
            problem = "it takes " + cc.inChannels + "×" + cc.resolution + "×" + cc.resolution + " images, the model makes " + c + "×" + r + "×" + r;
        else {
            String t = meta.getOrDefault("diffusion.timesteps", "?"), s = meta.getOrDefault("diffusion.schedule", "?");
            String mt = Integer.toString(m.diffusion().steps()), ms = m.schedule();
            if (!t.equals(mt) || !s.equals(ms))
                problem = "it was trained on the " + s + " schedule with T = " + t + ", the model uses " + ms + " with T = " + mt;
        }
        if (problem != null) {
            clf.close();
            throw new UserError("--classifier " + file + " does not fit: " + problem);
        }
        clf.requiresGrad(false);
        return clf;
    }

    static List<String> classNames(Path file, int k) {
        try {
            String cls = Checkpoint.readMetadata(file).get("data.classes");
            return cls == null || cls.isEmpty() ? List.of() : Arrays.asList(cls.split(","));
        } catch (IOException | CheckpointException e) {
            return List.of();
        }
    }

    private static void writeOutputs(PrintStream out, float[] all, int n, int c, int r, int cols, String outPng, String npy, String npyType,
                                     int[] asked) throws IOException {
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
            if (asked != null) {
                Path lp = labelsPath(p);
                Npy.writeI32(lp, asked, n);
                out.println("wrote " + lp.toAbsolutePath() + " (int32 [" + n + "]: the class asked for of each sample)");
            }
        }
    }

    /** samples.npy → samples.labels.npy. */
    static Path labelsPath(Path npy) {
        String f = npy.getFileName().toString();
        String base = f.endsWith(".npy") ? f.substring(0, f.length() - 4) : f;
        return npy.resolveSibling(base + ".labels.npy");
    }

    /** --interpolate: two latents (seeds, or encoded images), slerp frames, DDIM decode, a strip PNG. */
    private static void interpolation(Args a, String[] ends, int frames, DdimSampler sampler, EpsModel eps, UNet net, TrainedModel m, Integer label,
                                      Device device, PrintStream out, String outPng, String npy, String npyType, long seed) throws IOException {
        int c = net.config.inChannels, r = net.config.resolution, per = c * r * r;
        boolean encode = a.flag("encode");
        float[] strip;
        int count;
        try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            Tensor[] latents = new Tensor[2];
            float[][] originals = new float[2][];
            Tensor one = label == null || net.config.numClasses == 0 ? null : Tensor.ofInts(new int[]{label}, device, 1);
            for (int k = 0; k < 2; k++) {
                String e = ends[k].trim();
                if (!encode) {
                    long sd;
                    try {
                        sd = Long.parseLong(e);
                    } catch (NumberFormatException ex) {
                        throw new UsageException("--interpolate: '" + e + "' is not a seed (give --encode to interpolate images)");
                    }
                    latents[k] = Tensor.randn(new Rng(sd), ddpm.engine.DType.F32, device, 1, c, r, r);
                } else {
                    originals[k] = image(a, e, m, c, r, out);
                    Tensor x0 = Tensor.of(originals[k], device, 1, c, r, r);
                    latents[k] = sampler.encode(eps, x0, one, null);
                    out.printf(Locale.ROOT, "encoded %s with %d DDIM steps (latent rms %.3f)%n", e, sampler.steps() - 1,
                            Math.sqrt(latents[k].square().mean().item()));
                }
            }
            Tensor z = Interpolation.frames(latents[0], latents[1], frames);
            Tensor labels = null;
            if (one != null) {
                int[] y = new int[frames];
                Arrays.fill(y, label);
                labels = Tensor.ofInts(y, device, frames);
            }
            out.printf(Locale.ROOT, "decoding %d frames with %s%n", frames, sampler);
            float[] decoded = sampler.sample(eps, z, labels, new Rng(seed), null).clamp(-1, 1).toFloats();
            count = encode ? frames + 2 : frames;
            strip = new float[count * per];
            int o = 0;
            if (encode) { System.arraycopy(originals[0], 0, strip, 0, per); o = per; }
            System.arraycopy(decoded, 0, strip, o, decoded.length);
            if (encode) System.arraycopy(originals[1], 0, strip, o + decoded.length, per);
        }
        if (encode) out.println("strip: the two images, then the " + frames + " decoded frames between them");
        writeOutputs(out, strip, count, c, r, count, outPng, npy, npyType, null);
    }

    /** An image to encode: an index into the test split of --dataset, or an image file; floats in [−1, 1]. */
    private static float[] image(Args a, String ref, TrainedModel m, int c, int r, PrintStream log) {
        Integer index = null;
        try {
            index = Integer.parseInt(ref);
        } catch (NumberFormatException ignored) {
            // a file
        }
        if (index == null) {
            Path p = Path.of(ref);
            if (!Files.isRegularFile(p)) throw new UsageException("--interpolate: '" + ref + "' is neither an image index nor an image file");
            return ImageFolder.readImage(p, r, c);
        }
        String spec = a.given("dataset") ? Datasets.check(a.get("dataset"), "--dataset") : Datasets.specOf(m.dataName());
        if (spec == null) throw new UsageException("--interpolate " + ref + ": give --dataset (the model's data set is not known)");
        ImageDataset test = Datasets.open(new Datasets.Request(spec, Datasets.dataDir(spec, a.get("data-dir")), false, r, false, 0, 1000), log);
        if (test.height() != r) test = test.resized(r);
        if (test.channels() != c) throw new UserError(test.name() + " has " + test.channels() + " channels, the model " + c);
        if (index < 0 || index >= test.size()) throw new UsageException("--interpolate: image index " + index + " is not in [0, " + test.size() + ")");
        float[] x = new float[c * r * r];
        test.imageTo(index, x, 0, false);
        return x;
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
        for (int i = 0; i < names.size(); i++) if (names.get(i).equalsIgnoreCase(v.trim())) return i;
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
