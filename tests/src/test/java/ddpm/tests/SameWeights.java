package ddpm.tests;

import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.UNet;

/** For CPU/CUDA comparisons of whole networks. */
final class SameWeights {
    private SameWeights() {}

    /** Adds scale·N(0, 1) to the CPU net's weights and copies them into the CUDA one: a freshly
     *  initialised U-Net's zero output layer would make ε̂ = 0 on both sides and prove nothing. */
    static void perturbAndCopy(UNet cpu, UNet gpu, long seed, double scale) {
        try (Scope ignored = Scope.open()) {
            float[] p = cpu.flatParams().toFloats();
            float[] noise = Tensor.randn(new Rng(seed), p.length).toFloats();
            for (int i = 0; i < p.length; i++) p[i] += (float) (scale * noise[i]);
            cpu.flatParams().copyFrom(Tensor.of(p, Device.CPU, p.length));
            gpu.flatParams().copyFrom(Tensor.of(p, gpu.flatParams().device(), p.length));
        }
    }
}
