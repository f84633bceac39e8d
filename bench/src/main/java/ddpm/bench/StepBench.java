package ddpm.bench;

import ddpm.engine.DType;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.MathPrecision;
import ddpm.engine.Tensor;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * End to end, with {@code ddpm.nn.UNet}: one training step (draw t and ε, q_sample, U-Net
 * forward, L_simple, backward, gradient clipping at 1, Adam lr 2e-4, EMA 0.9999 — what
 * torch_ddpm.py's {@code train_step} times) and one ancestral sampling step (U-Net forward in
 * eval mode without autograd, then the fused DDPM posterior step with fresh noise — its
 * {@code sample_step}). The report turns the time per step into images per second.
 *
 * <p>{@code config}: "cifar10" is the paper's model (35.7M parameters), train batch 128 and
 * sample batch 256 on CUDA (as torch_ddpm.py); on the CPU 1/16 of those. "tiny" is
 * {@link UNetConfig#tiny()} (3×16×16, ch 32, mult 1,2, one block, attention at 8), train batch
 * 4 and sample batch 8, for the CPU. Every step runs in its own engine scope, so its
 * activations and gradients are freed when it ends.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
public class StepBench extends DeviceState {
    @Param({"cifar10", "tiny"})
    public String config;

    /** The CUDA backend's math precision (fp32, tf32, bf16; see MathPrecision); the CPU computes fp32. */
    @Param({"fp32"})
    public String precision;

    /**
     * The network's fusions, to show what they gain: on (the default: the ResBlocks' adds in their
     * convolutions' epilogue, {@code nn.Fusion.convAdd}, and the group norms + SiLU in their input
     * loads, {@code nn.Fusion.normConv}), adds (the first only) or off (neither).
     */
    @Param({"on"})
    public String fusion;

    /**
     * on: the training and sampling steps recorded once and replayed as CUDA graphs, as the
     * trainer and the samplers do ({@code CudaGraphs}); backends that do not record work skip it.
     */
    @Param({"off"})
    public String graph;

    /** The activations' dtype ({@code UNet.activations}): auto (bf16 at bf16 precision, else f32, as the
     *  commands default), f32 or bf16. */
    @Param({"auto"})
    public String activations;

    public static UNetConfig unetConfig(String config) {
        return switch (config) {
            case "cifar10" -> UNetConfig.cifar10();
            case "small" -> UNetConfig.small();
            case "tiny" -> UNetConfig.tiny();
            default -> throw new IllegalArgumentException("config must be cifar10, small or tiny, got " + config);
        };
    }

    /** Images per step. */
    public static int batch(String backend, String config, boolean train) {
        return switch (config) {
            case "cifar10" -> batch(backend, train ? 128 : 256);
            case "small" -> train ? 16 : 32;
            default -> train ? 4 : 8;
        };
    }

    public static String describe(String backend, String config) {
        UNetConfig c = unetConfig(config);
        return config + " U-Net " + c.inChannels + "x" + c.resolution + "x" + c.resolution + " ch" + c.ch
                + ", train B=" + batch(backend, config, true) + ", sample B=" + batch(backend, config, false);
    }

    static final int T = 1000;
    private UNet model;
    private Adam adam;
    private Ema ema;
    private final Tensor[] x0 = new Tensor[SETS], xs = new Tensor[SETS];
    private Tensor sqrtAb, sqrt1mAb, c1, c2, sigma;
    private int trainB, sampleB;
    private boolean fusedBefore = ddpm.nn.Fusion.convAdd, normBefore = ddpm.nn.Fusion.normConv;

    @Override protected void build() {
        ddpm.engine.MathPrecision p = ddpm.engine.MathPrecision.parse(precision);
        if (!b.supports(p)) {
            System.out.println("skipped: backend " + backend + " has no " + p + " math");
            skip = true;
            return;
        }
        if (graph.equals("on") && !b.canCapture()) {
            System.out.println("skipped: backend " + backend + " does not record graphs");
            skip = true;
            return;
        }
        b.setPrecision(p);
        if (!fusion.equals("on") && !fusion.equals("adds") && !fusion.equals("off"))
            throw new IllegalArgumentException("fusion must be on, adds or off, got " + fusion);
        fusedBefore = ddpm.nn.Fusion.convAdd;
        normBefore = ddpm.nn.Fusion.normConv;
        ddpm.nn.Fusion.convAdd = !fusion.equals("off");
        ddpm.nn.Fusion.normConv = fusion.equals("on");
        UNetConfig c = unetConfig(config);
        trainB = batch(backend, config, true);
        sampleB = batch(backend, config, false);
        model = new UNet(c, dev, 0);
        boolean bf16 = switch (activations) {
            case "bf16" -> true;
            case "f32" -> false;
            case "auto" -> p == ddpm.engine.MathPrecision.BF16;
            default -> throw new IllegalArgumentException("activations must be auto, f32 or bf16, got " + activations);
        };
        if (bf16) model.activations(ddpm.engine.DType.BF16);
        adam = new Adam(model);
        ema = new Ema(model);
        for (int i = 0; i < SETS; i++) {
            x0[i] = rand(-1, 1, trainB, c.inChannels, c.resolution, c.resolution);
            xs[i] = randn(sampleB, c.inChannels, c.resolution, c.resolution);
        }
        float[] a = new float[T], s = new float[T], f1 = new float[T], f2 = new float[T], g = new float[T];
        double ab = 1;
        for (int i = 0; i < T; i++) {
            double beta = 1e-4 + (0.02 - 1e-4) * i / (T - 1);
            ab *= 1 - beta;
            a[i] = (float) Math.sqrt(ab);
            s[i] = (float) Math.sqrt(1 - ab);
            f1[i] = (float) (1 / Math.sqrt(1 - beta));
            f2[i] = (float) (beta / Math.sqrt(1 - ab));
            g[i] = (float) Math.sqrt(beta);
        }
        sqrtAb = floats(a, T);
        sqrt1mAb = floats(s, T);
        c1 = floats(f1, T);
        c2 = floats(f2, T);
        sigma = floats(g, T);
        sampleTimesteps = new int[sampleB];
        java.util.Arrays.fill(sampleTimesteps, 500);
        if (graph.equals("on")) {
            model.train(true);
            trainT = ints(timesteps(trainB, T));
            trainSchedule = empty(3);
            trainStep(x0[0], trainT, null);   // directly first: the conv algorithms measured
            adam.writeSchedule(trainSchedule, 2e-4, adam.stepCount() + 1);
            trainGraph = b.capture(() -> trainStep(x0[0], trainT, trainSchedule));
            sampleT = ints(sampleTimesteps);
            sampleStep(0, sampleT);   // directly first: the conv algorithms measured
            sampleGraph = b.capture(() -> sampleStep(0, sampleT));
        }
    }

    @Override protected void release() {
        if (sampleGraph != null) sampleGraph.close();
        if (trainGraph != null) trainGraph.close();
        b.setPrecision(ddpm.engine.MathPrecision.FP32);
        ddpm.nn.Fusion.convAdd = fusedBefore;
        ddpm.nn.Fusion.normConv = normBefore;
        if (ema != null) ema.close();
        if (adam != null) adam.close();
        if (model != null) model.close();
    }

    @Benchmark public void train() {
        if (skip) return;
        if (trainGraph != null) {   // as the trainer replays: timesteps and Adam's schedule written first
            trainT.copyFrom(timesteps(trainB, T));
            adam.writeSchedule(trainSchedule, 2e-4, adam.stepCount() + 1);
            adam.setStepCount(adam.stepCount() + 1);
            trainGraph.replay();
            sync();
            return;
        }
        int i = next();
        model.train(true);
        try (ddpm.engine.Scope ignored = ddpm.engine.Scope.open()) {
            trainStep(x0[i], Tensor.ofInts(timesteps(trainB, T), dev, trainB), null);
            sync();
        }
    }

    private ddpm.engine.Backend.Graph trainGraph;
    private Tensor trainT, trainSchedule;

    /**
     * q_sample with fresh noise, forward, L_simple, backward, Adam with the clip on the device
     * (its schedule from {@code schedule} when recorded, else from the host), EMA.
     */
    private void trainStep(Tensor x0, Tensor t, Tensor schedule) {
        try (ddpm.engine.Scope ignored = ddpm.engine.Scope.open()) {
            Tensor eps = Tensor.randn(rng, DType.F32, dev, x0.shape());
            Tensor xt = F.qSample(x0, eps, t, sqrtAb, sqrt1mAb);
            Tensor loss = F.mseLoss(model.forward(xt, t), eps);
            model.zeroGrad();
            loss.backward();
            Tensor sumSq = GradClip.sumSquares(model.flatGrads());
            if (schedule != null) adam.stepScheduled(schedule, sumSq, 1.0);
            else adam.step(2e-4, sumSq, 1.0);   // the clip on the device, as the trainer does
            ema.update();
        }
    }

    @Benchmark public void sample() {
        if (skip) return;
        if (sampleGraph != null) {   // as the samplers replay: the step's timesteps written first
            sampleT.copyFrom(sampleTimesteps);
            sampleGraph.replay();
        } else {
            try (ddpm.engine.Scope ignored = ddpm.engine.Scope.open()) {
                sampleStep(next(), Tensor.ofInts(sampleTimesteps, dev, sampleB));
            }
        }
        sync();
    }

    private ddpm.engine.Backend.Graph sampleGraph;
    private Tensor sampleT;
    private int[] sampleTimesteps;

    /** The U-Net forward at t = 500 and the DDPM posterior step with fresh noise, on set i. */
    private void sampleStep(int i, Tensor t) {
        model.eval();
        try (Grad.Guard ng = Grad.noGrad(); ddpm.engine.Scope ignored = ddpm.engine.Scope.open()) {
            Tensor epsHat = model.forward(xs[i], t);
            Tensor z = Tensor.randn(rng, DType.F32, dev, xs[i].shape());
            F.posteriorStep(xs[i], epsHat, z, t, c1, c2, sigma);
        }
    }
}
