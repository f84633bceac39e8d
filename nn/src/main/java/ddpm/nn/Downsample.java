package ddpm.nn;

import ddpm.engine.Tensor;

/** Strided 3×3 convolution (stride 2, padding 1; child "conv"): [N, C, H, W] → [N, C, ⌈H/2⌉, ⌈W/2⌉]. */
public class Downsample extends Module {
    public final Conv2d conv;

    public Downsample(int channels) { conv = child("conv", new Conv2d(channels, channels, 3, 2, 1)); }

    public Tensor forward(Tensor x) { return conv.forward(x); }
}
