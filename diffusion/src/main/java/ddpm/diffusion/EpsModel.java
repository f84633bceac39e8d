package ddpm.diffusion;

import ddpm.engine.Tensor;

/** A noise-prediction network ε_θ(x_t, t[, y]): what the diffusion maths needs of a model. The
 *  U-Net of module nn is one; tests use analytic ones. */
public interface EpsModel {
    /**
     * ε̂ for noisy images x [B, C, H, W] at int32 timesteps t [B] (0-based: t = 0 is the paper's
     * t = 1), with int32 class labels [B] or null for an unconditional model / the null label.
     */
    Tensor predictEps(Tensor x, Tensor t, Tensor labels);
}
