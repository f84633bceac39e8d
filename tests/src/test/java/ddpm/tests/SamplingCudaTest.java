package ddpm.tests;

import ddpm.diffusion.DdimSampler;
import ddpm.diffusion.DdpmSampler;
import ddpm.diffusion.GaussianDiffusion;
import ddpm.diffusion.Sampler;
import ddpm.diffusion.CudaGraphs;
import ddpm.diffusion.Schedule;
import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.MathPrecision;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.CudaBackend;
import ddpm.kernels.cuda.testing.CudaTests;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ten reverse steps of each sampler through the tiny class-conditional U-Net on the CUDA backend
 * against the CPU backend, with the same weights, x_T, labels and noise seed: ancestral DDPM
 * (T = 10, clipped x̂0), DDIM with η = 0.5 (noise drawn each step) and η = 0 with clipping
 * (T = 1000, S = 10). Runs on the host driver and on a GPU (see CudaTests).
 */
@Tag("gpu")
class SamplingCudaTest {
    static final Device GPU = CudaTests.GPU;

    @BeforeEach void gpu() { CudaTests.assumeCuda(); }

    static double relErr(float[] ref, float[] got) {
        double max = 1e-12, err = 0;
        for (int i = 0; i < ref.length; i++) {
            if (!Float.isFinite(got[i])) return Double.POSITIVE_INFINITY;
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - got[i]));
        }
        return err / max;
    }

    @Test void tenStepsOfEachSamplerMatchTheCpu() {
        UNetConfig cfg = UNetConfig.tiny().withNumClasses(3);
        int b = 3, res = cfg.resolution;
        try (UNet c = new UNet(cfg, Device.CPU, 7); UNet g = new UNet(cfg, GPU, 7)) {
            SameWeights.perturbAndCopy(c, g, 3, 0.02);
            c.eval();
            g.eval();
            float[] xT = Tensor.randn(new Rng(11), b, 3, res, res).toFloats();
            int[] labels = {0, 2, 1};
            Sampler[] samplers = {
                    new DdpmSampler(new GaussianDiffusion(Schedule.linear(10, 0.01, 0.5)), true),
                    new DdimSampler(new GaussianDiffusion(Schedule.linear(1000)), 10, 0.5, DdimSampler.Spacing.UNIFORM, false),
                    new DdimSampler(new GaussianDiffusion(Schedule.linear(1000)), 10, 0.0, DdimSampler.Spacing.QUADRATIC, true)};
            for (Sampler s : samplers) {
                float[][] out = new float[2][];
                UNet[] nets = {c, g};
                for (int k = 0; k < 2; k++) {
                    Device d = k == 0 ? Device.CPU : GPU;
                    try (Scope ignored = Scope.open()) {
                        Tensor x = Tensor.of(xT, d, b, 3, res, res), y = Tensor.ofInts(labels, d, b);
                        out[k] = s.sample(nets[k]::forward, x, y, new Rng(5), null).toFloats();
                    }
                }
                double err = relErr(out[0], out[1]);
                System.out.printf("%s, 10 steps: max rel err %.2e%n", s, err);
                assertTrue(err < 1e-3, s + ": CUDA samples differ from the CPU's, max rel err " + err);
            }
        }
    }

    /**
     * DDIM (η = 0, and η = 0.5 with noise every step but the last) and ancestral DDPM (plain and
     * respaced: noise every step, Philox offsets shifted per replay) replayed as a recorded graph give the step-by-step loop's values bit for bit and
     * leave the Rng where it leaves it; without labels for a class-conditional model (the model
     * makes them on the host, which cannot be recorded) the loop goes on step by step.
     */
    @Test void samplingReplayedAsAGraphEqualsStepByStep() {
        UNetConfig cfg = UNetConfig.tiny().withNumClasses(3);
        int b = 2, res = cfg.resolution;
        boolean was = CudaGraphs.enabled;
        GaussianDiffusion g1000 = new GaussianDiffusion(Schedule.linear(1000));
        Sampler[] samplers = {
                new DdimSampler(g1000, 6, 0.0, DdimSampler.Spacing.UNIFORM, true),
                new DdimSampler(g1000, 6, 0.5, DdimSampler.Spacing.QUADRATIC, false),
                new DdpmSampler(new GaussianDiffusion(Schedule.linear(6, 0.01, 0.5)), true),
                new DdpmSampler(g1000.respaced(DdimSampler.timesteps(1000, 5, DdimSampler.Spacing.UNIFORM)), false)};
        try (UNet g = new UNet(cfg, GPU, 7)) {
            try (UNet c = new UNet(cfg, Device.CPU, 7)) {
                SameWeights.perturbAndCopy(c, g, 3, 0.02);
            }
            g.eval();
            for (Sampler sampler : samplers) {
                for (boolean withLabels : new boolean[]{true, false}) {
                    float[][] out = new float[2][];
                    long[] offsets = new long[2];
                    int[] steps = new int[2];
                    for (int k = 0; k < 2; k++) {
                        CudaGraphs.enabled = k == 0;
                        try (Scope ignored = Scope.open()) {
                            Tensor x = Tensor.randn(new Rng(11), b, 3, res, res).to(GPU);
                            Tensor y = withLabels ? Tensor.ofInts(new int[]{2, 0}, GPU, b) : null;
                            boolean graphs = sampler instanceof DdimSampler d ? d.graphs(x, null) : ((DdpmSampler) sampler).graphs(x, null);
                            assertTrue(graphs == (k == 0), sampler + ": graph path " + (k == 0 ? "taken" : "off"));
                            int[] n = {0};
                            Rng rng = new Rng(5);
                            out[k] = sampler.sample(g::forward, x, y, rng, Sampler.Listener.progress((done, total) -> n[0] = done)).toFloats();
                            offsets[k] = rng.offset();
                            steps[k] = n[0];
                        }
                    }
                    String what = sampler + (withLabels ? "" : ", no labels");
                    assertEquals(sampler.steps(), steps[0], what + ": every step reported");
                    assertEquals(offsets[1], offsets[0], what + ": Rng offset after sampling");
                    assertArrayEquals(out[1], out[0], what + ": graph replay vs step by step");
                }
            }
        } finally {
            CudaGraphs.enabled = was;
        }
    }
    /**
     * At BF16, with bfloat16 activations (the commands' default there), the sampling forward runs the
     * fused norm + convolution kernels on BF16 inputs (the tiny U-Net's 16² level) and the linear
     * layers through float32 copies: recorded into the graph and replayed, they give the step-by-step
     * values bit for bit.
     */
    @Test void bf16SamplingWithTheNormsOnLoadReplaysBitForBit() {
        UNetConfig cfg = UNetConfig.tiny().withNumClasses(3);
        boolean was = CudaGraphs.enabled;
        DdimSampler sampler = new DdimSampler(new GaussianDiffusion(Schedule.linear(1000)), 3, 0.5, DdimSampler.Spacing.UNIFORM, true);
        Backend be = Backends.get(GPU);
        try (UNet g = new UNet(cfg, GPU, 7)) {
            try (UNet c = new UNet(cfg, Device.CPU, 7)) {
                SameWeights.perturbAndCopy(c, g, 3, 0.02);
            }
            g.eval();
            g.activations(ddpm.engine.DType.BF16);
            be.setPrecision(MathPrecision.BF16);
            float[][] out = new float[2][];
            for (int k = 0; k < 2; k++) {
                CudaGraphs.enabled = k == 0;
                long before = CudaBackend.kernelLaunches().getOrDefault("conv.conv_fwd_gnsilu_halo_bf16", 0L);
                try (Scope ignored = Scope.open()) {
                    Tensor x = Tensor.randn(new Rng(11), 2, 3, cfg.resolution, cfg.resolution).to(GPU);
                    Tensor y = Tensor.ofInts(new int[]{1, 2}, GPU, 2);
                    assertEquals(k == 0, sampler.graphs(x, null), "graph path");
                    out[k] = sampler.sample(g::forward, x, y, new Rng(5), Sampler.Listener.progress((done, total) -> { })).toFloats();
                }
                assertTrue(CudaBackend.kernelLaunches().getOrDefault("conv.conv_fwd_gnsilu_halo_bf16", 0L) > before,
                        "the fused kernel ran (graphs " + (k == 0) + ")");
            }
            assertArrayEquals(out[1], out[0], "bf16 DDIM with the norms on load: graph replay vs step by step");
        } finally {
            CudaGraphs.enabled = was;
            be.setPrecision(MathPrecision.FP32);
        }
    }
}
