package ddpm.tests;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Parameter;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.io.Json;
import ddpm.nn.io.SafeTensors;
import ddpm.nn.io.WeightFiles;
import ddpm.nn.io.WeightLayout;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * jddpm's U-Net against an independent PyTorch implementation ({@code tools/torch/jddpm_unet.py},
 * written module for module from the original DDPM network), in both directions, in one Python run:
 * <ol>
 *   <li>jddpm → PyTorch: jddpm checkpoints of the {@code tiny} model, a class-conditional model
 *       (TF-"SAME" downsampling, labels including the null label) and the paper's CIFAR-10
 *       configuration at batch 1 (35,746,307 parameters), each fresh and briefly trained (3 Adam
 *       steps, the paper model 1; raw and EMA weights), loaded by the Python module from their config
 *       metadata;</li>
 *   <li>PyTorch → jddpm: models made and briefly trained in PyTorch, saved as safetensors state dicts
 *       in the module's names (the pytorch_diffusion layout), with and without config metadata, loaded
 *       by jddpm's {@link WeightFiles} as Sample and EvalNll load them;</li>
 *   <li>the pytorch_diffusion layout written by jddpm's own mapping ({@link WeightLayout}) and loaded
 *       strictly (every name and shape) by PyTorch's load_state_dict into the original structure.</li>
 * </ol>
 * For the same x_t, t and labels, ε̂ must agree to 1e-4 relative: max|ε̂_jddpm − ε̂_torch| / max|ε̂_torch|,
 * against PyTorch in float64 (the reference; from the same float32 weights) and in float32.
 * "Fresh" models keep jddpm's random initialisation but draw the tensors DDPM initialises to zero
 * (output convolutions, biases, GroupNorm affine) at random too, since ε̂ would otherwise be 0.
 *
 * <p>Needs a Python 3 with torch and numpy: $JDDPM_PYTHON, else /usr/bin/python3 (Debian's
 * python3-torch, which .ci/run installs), else python3 on the PATH; skips saying so when none has them.
 */
class TorchParityTest {
    static final double TOLERANCE = 1e-4;
    @TempDir Path dir;

    /** One comparison: jddpm's ε̂ (computed after the Python run for files Python wrote) and Python's output file. */
    record Case(String name, long params, float[] jddpm, Path torchOut, Path jddpmSide, Map<String, Object> hint, Path inputs) {}

    // ================================================================ finding Python
    static String python() {
        List<String> candidates = new ArrayList<>();
        String env = System.getenv("JDDPM_PYTHON");
        if (env != null && !env.isBlank()) candidates.add(env);
        candidates.add("/usr/bin/python3");
        candidates.add("python3");
        for (String py : candidates) {
            try {
                Process p = new ProcessBuilder(py, "-c", "import torch, numpy").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0) return py;
            } catch (IOException e) {
                // not installed under that name
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }

    static Path script() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolve("tools/torch/jddpm_unet.py");
            if (Files.isRegularFile(s)) return s;
        }
        throw new IllegalStateException("tools/torch/jddpm_unet.py not found above " + Path.of("").toAbsolutePath());
    }

    // ================================================================ models
    /** Keeps jddpm's random init; draws the zero/one-initialised tensors at random so no output is trivially zero. */
    static void randomiseFixedInits(UNet net, Rng rng) {
        float[] flat = net.flatParams().toFloats();
        for (Parameter p : net.parameterSlots()) {
            if (p.init().isRandom()) continue;
            boolean scale = p.name().contains("norm") && p.name().endsWith(".weight");
            boolean matrix = p.shape().length >= 2;
            double bound = matrix ? 1.0 / Math.sqrt(p.numel() / p.shape()[0]) : 0.1;
            for (long i = 0; i < p.numel(); i++)
                flat[(int) (p.flatOffset() + i)] = (float) ((scale ? 1 : 0) + bound * (2 * rng.nextDouble() - 1));
        }
        net.flatParams().backend().write(net.flatParams(), flat);
    }

    /** A few Adam steps of MSE on random data (dropout on), with an EMA of decay 0.5 so EMA and raw weights differ. */
    static void train(UNet net, Adam opt, Ema ema, int steps, int batch, Rng rng) {
        UNetConfig c = net.config;
        net.train(true);
        for (int s = 0; s < steps; s++) {
            try (Scope scope = Scope.open()) {
                Tensor x = Tensor.randn(rng, batch, c.inChannels, c.resolution, c.resolution);
                Tensor eps = Tensor.randn(rng, batch, c.outChannels, c.resolution, c.resolution);
                int[] ts = new int[batch], ys = new int[batch];
                for (int i = 0; i < batch; i++) { ts[i] = rng.nextInt(1000); ys[i] = i % 2 == 0 ? rng.nextInt(Math.max(1, c.numClasses)) : UNet.NULL_LABEL; }
                Tensor labels = c.numClasses > 0 ? Tensor.ofInts(ys, Device.CPU, batch) : null;
                net.zeroGrad();
                F.mseLoss(net.forward(x.mul(0.8).add(eps.mul(0.6)), Tensor.ofInts(ts, Device.CPU, batch), labels), eps).backward();
                opt.step(1e-3, GradClip.compute(net.flatGrads(), 1.0).scale());
                ema.update();
            }
        }
        net.eval();
    }

    /** Random x ~ N(0, I), t in [0, 1000) and (class-conditional) labels with a null label, as a safetensors file. */
    static Path inputs(Path p, UNetConfig c, int batch, Rng rng) throws IOException {
        int n = batch * c.inChannels * c.resolution * c.resolution;
        float[] x;
        try (Scope s = Scope.open()) {
            x = Tensor.randn(rng, n).toFloats();
        }
        int[] t = new int[batch], y = new int[batch];
        for (int i = 0; i < batch; i++) {
            t[i] = i == 0 ? 999 : rng.nextInt(1000);
            y[i] = i == batch - 1 ? UNet.NULL_LABEL : rng.nextInt(Math.max(1, c.numClasses));
        }
        List<SafeTensors.HostTensor> ts = new ArrayList<>(List.of(
                new SafeTensors.HostTensor("x", DType.F32, new int[]{batch, c.inChannels, c.resolution, c.resolution}, x, 0),
                new SafeTensors.HostTensor("t", DType.I32, new int[]{batch}, t, 0)));
        if (c.numClasses > 0) ts.add(new SafeTensors.HostTensor("labels", DType.I32, new int[]{batch}, y, 0));
        SafeTensors.write(p, ts, null);
        return p;
    }

    /** jddpm's ε̂ for an inputs file, from a model loaded from {@code weights} as Sample loads it. */
    static float[] jddpmEps(Path weights, boolean ema, Map<String, Object> hint, Path inputs) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(inputs);
        SafeTensors.Entry xe = h.entries().get("x");
        float[] x = new float[(int) xe.numel()];
        SafeTensors.readFloats(inputs, h, xe, x, 0);
        int b = xe.shape()[0];
        int[] t = new int[b], y = new int[b];
        SafeTensors.readInts(inputs, h, h.entries().get("t"), t, 0);
        boolean labels = h.entries().containsKey("labels");
        if (labels) SafeTensors.readInts(inputs, h, h.entries().get("labels"), y, 0);
        try (UNet net = WeightFiles.load(weights, Device.CPU, ema, hint).net();
             Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            return net.forward(Tensor.of(x, Device.CPU, xe.shape()), Tensor.ofInts(t, Device.CPU, b),
                    labels ? Tensor.ofInts(y, Device.CPU, b) : null).toFloats();
        }
    }

    static double relErr(float[] a, float[] ref) {
        assertEquals(ref.length, a.length, "ε̂ sizes");
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs((double) a[i] - ref[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        assertTrue(den > 1e-3, "ε̂ is (nearly) zero: the comparison would say nothing");
        return num / den;
    }

    static float[] readOut(Path p, String name) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(p);
        SafeTensors.Entry e = h.entries().get(name);
        float[] v = new float[(int) e.numel()];
        if (e.dtype().equals("F64")) {
            double[] d = new double[v.length];
            SafeTensors.readDoubles(p, h, e, d, 0);
            for (int i = 0; i < v.length; i++) v[i] = (float) d[i];   // max|a−b| well above float rounding at 1e-4
        } else SafeTensors.readFloats(p, h, e, v, 0);
        return v;
    }

    static Map<String, Object> job(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    // ================================================================ the test
    @Test void epsMatchesPyTorchBothWays() throws Exception {
        String py = python();
        Assumptions.assumeTrue(py != null, "no Python with torch and numpy ($JDDPM_PYTHON, /usr/bin/python3, python3):"
                + " install Debian's python3-torch (as .ci/run does) or set JDDPM_PYTHON");
        long t0 = System.nanoTime();
        Rng rng = new Rng(2024);
        List<Case> cases = new ArrayList<>();
        List<Map<String, Object>> jobs = new ArrayList<>();
        UNetConfig tiny = UNetConfig.tiny();
        UNetConfig cond = UNetConfig.tiny().toBuilder().numClasses(10).groups(8).numResBlocks(2)
                .downsamplePad(UNetConfig.DownsamplePad.TF_SAME).build();
        UNetConfig paper = UNetConfig.cifar10();

        // 1. jddpm → PyTorch
        record Export(String name, UNetConfig cfg, int trainSteps, int batch, boolean[] ema) {}
        for (Export ex : List.of(new Export("tiny fresh", tiny, 0, 4, new boolean[]{false}),
                new Export("tiny trained", tiny, 3, 4, new boolean[]{false, true}),
                new Export("class-conditional fresh", cond, 0, 4, new boolean[]{false}),
                new Export("class-conditional trained", cond, 3, 4, new boolean[]{true}),
                new Export("paper fresh", paper, 0, 1, new boolean[]{false}),
                new Export("paper trained", paper, 1, 1, new boolean[]{false, true}))) {
            Path ck = dir.resolve(ex.name.replace(' ', '-') + ".safetensors");
            try (UNet net = new UNet(ex.cfg, Device.CPU, cases.size() + 1)) {
                randomiseFixedInits(net, rng);
                if (ex.trainSteps == 0) Checkpoint.save(ck, net, null, null, 0, null, null);
                else try (Adam opt = new Adam(net); Ema ema = new Ema(net, 0.5)) {
                    train(net, opt, ema, ex.trainSteps, ex.batch == 1 ? 1 : 2, rng);
                    Checkpoint.save(ck, net, null, ema, ex.trainSteps, null, null);
                }
            }
            Path in = inputs(dir.resolve(ex.name.replace(' ', '-') + "-in.safetensors"), ex.cfg, ex.batch, rng);
            for (boolean ema : ex.ema) {
                String name = ex.name + (ema ? " (EMA)" : ex.trainSteps > 0 ? " (raw)" : "");
                Path out = dir.resolve("out-" + cases.size() + ".safetensors");
                jobs.add(job("op", "eps", "weights", ck.toString(), "layout", "jddpm", "ema", ema, "inputs", in.toString(), "out", out.toString()));
                cases.add(new Case(name, UNet.countParameters(ex.cfg), jddpmEps(ck, ema, null, in), out, null, null, in));
            }
        }
        // 3. jddpm's mapping to the pytorch_diffusion names, loaded strictly by PyTorch
        for (UNetConfig cfg : List.of(tiny.withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME), cond)) {
            String name = "pytorch_diffusion names from jddpm" + (cfg.numClasses > 0 ? ", class-conditional" : "");
            Path file = dir.resolve("pd-" + cases.size() + ".safetensors");
            List<SafeTensors.HostTensor> ts = new ArrayList<>();
            for (WeightLayout.Slot s : WeightLayout.PYTORCH_DIFFUSION.slots(cfg, false)) {
                int n = 1;
                for (int d : s.shape()) n *= d;
                float[] v = new float[n];
                double bound = s.shape().length >= 2 ? 1.0 / Math.sqrt((double) n / s.shape()[0]) : 0.1;
                boolean scale = s.name().contains("norm") && s.name().endsWith(".weight");
                for (int i = 0; i < n; i++) v[i] = (float) ((scale ? 1 : 0) + bound * (2 * rng.nextDouble() - 1));
                ts.add(new SafeTensors.HostTensor(s.name(), DType.F32, s.shape(), v, 0));
            }
            SafeTensors.write(file, ts, null);
            Path in = inputs(dir.resolve("pd-in-" + cases.size() + ".safetensors"), cfg, 3, rng);
            Path out = dir.resolve("out-" + cases.size() + ".safetensors");
            jobs.add(job("op", "eps", "weights", file.toString(), "layout", "native", "config", cfg.toMap(), "inputs", in.toString(), "out", out.toString()));
            cases.add(new Case(name, UNet.countParameters(cfg), jddpmEps(file, true, cfg.toMap(), in), out, null, null, in));
        }
        // 2. PyTorch → jddpm (jddpm's side is computed after Python has written the weights)
        record Make(String name, UNetConfig cfg, int trainSteps, int batch, boolean withConfig) {}
        for (Make mk : List.of(new Make("torch-made tiny, trained", tiny.withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME), 3, 4, true),
                new Make("torch-made class-conditional, no metadata", cond, 2, 4, false),
                new Make("torch-made paper", paper.withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME), 0, 1, true))) {
            Path file = dir.resolve("torch-" + cases.size() + ".safetensors");
            Path in = inputs(dir.resolve("torch-in-" + cases.size() + ".safetensors"), mk.cfg, mk.batch, rng);
            Path out = dir.resolve("out-" + cases.size() + ".safetensors");
            jobs.add(job("op", "make", "config", mk.cfg.toMap(), "seed", cases.size(), "train_steps", mk.trainSteps,
                    "weights", file.toString(), "with_config", mk.withConfig, "inputs", in.toString(), "out", out.toString()));
            cases.add(new Case(mk.name, UNet.countParameters(mk.cfg), null, out, file, mk.withConfig ? null : mk.cfg.toMap(), in));
        }
        double javaSeconds = (System.nanoTime() - t0) / 1e9;

        // one Python process for every job
        Path jobFile = Files.writeString(dir.resolve("jobs.json"), Json.write(jobs));
        long t1 = System.nanoTime();
        Process p = new ProcessBuilder(py, script().toString(), "jobs", jobFile.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the Python side did not finish:\n" + log);
        assertEquals(0, p.exitValue(), "the Python side failed:\n" + log);
        double pySeconds = (System.nanoTime() - t1) / 1e9;
        System.out.print(log);

        StringBuilder table = new StringBuilder(String.format(Locale.ROOT, "%-54s %11s  %-12s %-12s%n", "model", "parameters",
                "vs torch f64", "vs torch f32"));
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            float[] mine = c.jddpm != null ? c.jddpm : jddpmEps(c.jddpmSide, true, c.hint, c.inputs);
            double e64 = relErr(mine, readOut(c.torchOut, "eps64")), e32 = relErr(mine, readOut(c.torchOut, "eps32"));
            table.append(String.format(Locale.ROOT, "%-54s %,11d  %-12.2e %-12.2e%n", c.name, c.params, e64, e32));
            if (!(e64 <= TOLERANCE && e32 <= TOLERANCE)) failures.add(c.name);
        }
        System.out.print(table);
        System.out.printf(Locale.ROOT, "TorchParityTest: %d cases; jddpm side %.1f s, Python side %.1f s%n", cases.size(),
                javaSeconds + (System.nanoTime() - t1) / 1e9 - pySeconds, pySeconds);
        assertTrue(failures.isEmpty(), "ε̂ differs from PyTorch's by more than " + TOLERANCE + " (max|a-b| / max|b|) for " + failures + ":\n" + table);
    }
}
