package ddpm.nn;

import ddpm.engine.Tensor;

/**
 * Strided 3×3 convolution (stride 2; child "conv"): [N, C, H, W] → [N, C, H/2, W/2] for even H, W.
 * Padding is {@link UNetConfig.DownsamplePad#SYMMETRIC} (one zero row/column on every side) or
 * {@link UNetConfig.DownsamplePad#TF_SAME} (one zero row at the bottom and one column at the right,
 * as TensorFlow's "SAME" does for stride 2 on even sizes, so output pixel i sees input rows 2i..2i+2).
 */
public class Downsample extends Module {
    public final Conv2d conv;
    public final UNetConfig.DownsamplePad pad;

    public Downsample(int channels) { this(channels, UNetConfig.DownsamplePad.SYMMETRIC); }

    public Downsample(int channels, UNetConfig.DownsamplePad pad) {
        this.pad = pad;
        conv = child("conv", new Conv2d(channels, channels, 3, 2, pad == UNetConfig.DownsamplePad.SYMMETRIC ? 1 : 0));
    }

    public Tensor forward(Tensor x) {
        if (pad == UNetConfig.DownsamplePad.SYMMETRIC) return conv.forward(x);
        if (x.rank() != 4 || x.dim(2) % 2 != 0 || x.dim(3) % 2 != 0)
            throw new IllegalArgumentException("Downsample (tf_same): input must be [N, C, H, W] with even H and W, got " + x.describe());
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        // the bottom row and right column of zeros, as copies (the engine's tensors are always dense)
        Tensor rows = Tensor.concat(2, x, Tensor.zeros(x.dtype(), x.device(), n, c, 1, w));
        Tensor padded = Tensor.concat(3, rows, Tensor.zeros(x.dtype(), x.device(), n, c, h + 1, 1));
        return conv.forward(padded);
    }
}
