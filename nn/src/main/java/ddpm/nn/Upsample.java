package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/** Nearest-neighbour 2× upsampling followed by a 3×3 convolution (child "conv"). */
public class Upsample extends Module {
    public final Conv2d conv;

    public Upsample(int channels) { conv = child("conv", Conv2d.conv3x3(channels, channels)); }

    /** [N, C, H, W] → [N, C, 2H, 2W]. */
    public Tensor forward(Tensor x) { return conv.forward(F.upsampleNearest2x(x)); }
}
