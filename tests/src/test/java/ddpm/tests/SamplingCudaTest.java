package ddpm.tests;

import ddpm.diffusion.DdimSampler;
import ddpm.diffusion.DdpmSampler;
import ddpm.diffusion.GaussianDiffusion;
import ddpm.diffusion.Sampler;
import ddpm.diffusion.Schedule;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.kernels.cuda.testing.CudaTests;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

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
            // perturb the weights: the zero-initialised output layer would make ε̂ = 0
            try (Scope s = Scope.open()) {
                float[] p = c.flatParams().toFloats();
                float[] noise = Tensor.randn(new Rng(3), p.length).toFloats();
                for (int i = 0; i < p.length; i++) p[i] += 0.02f * noise[i];
                c.flatParams().copyFrom(Tensor.of(p, Device.CPU, p.length));
                g.flatParams().copyFrom(Tensor.of(p, GPU, p.length));
            }
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
}
