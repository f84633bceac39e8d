package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/**
 * 2-D convolution, square kernel, zero padding; weight [out, in, k, k] (PyTorch layout), bias [out].
 * Init: fan-avg uniform with fan_in = in·k², fan_out = out·k² (TF's variance_scaling), × initScale; bias 0.
 */
public class Conv2d extends Module {
    public final int in, out, kernel, stride, pad;
    public final Parameter weight, bias;

    /** 3×3, stride 1, padding 1 ("same"). */
    public static Conv2d conv3x3(int in, int out) { return new Conv2d(in, out, 3, 1, 1, true, 1.0); }

    public static Conv2d conv1x1(int in, int out) { return new Conv2d(in, out, 1, 1, 0, true, 1.0); }

    public Conv2d(int in, int out, int kernel, int stride, int pad) { this(in, out, kernel, stride, pad, true, 1.0); }

    public Conv2d(int in, int out, int kernel, int stride, int pad, boolean bias, double initScale) {
        if (in < 1 || out < 1 || kernel < 1 || stride < 1 || pad < 0)
            throw new IllegalArgumentException("Conv2d: bad geometry in=" + in + " out=" + out + " kernel=" + kernel
                    + " stride=" + stride + " pad=" + pad);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        this.weight = param("weight", Init.fanAvgUniform((double) in * kernel * kernel, (double) out * kernel * kernel, initScale),
                out, in, kernel, kernel);
        this.bias = bias ? param("bias", Init.zeros(), out) : null;
    }

    /** x [N, in, H, W] → [N, out, Ho, Wo]. */
    public Tensor forward(Tensor x) {
        return F.conv2d(x, weight.get(), bias == null ? null : bias.get(), stride, pad);
    }

    /**
     * forwardAdd(norm.forward(x), perImage, residual) in one op ({@code F.groupNormSiluConv2dAdd}):
     * the norm (a GroupNorm with SiLU) applied as the convolution loads x where the backend can.
     */
    public Tensor forwardNormedAdd(GroupNorm norm, Tensor x, Tensor perImage, Tensor residual) {
        if (!norm.silu) throw new IllegalArgumentException("forwardNormedAdd: the norm must apply SiLU (GroupNorm(" + norm.channels + ", silu = false))");
        return F.groupNormSiluConv2dAdd(x, norm.weight.get(), norm.bias.get(), norm.groups, norm.eps, weight.get(),
                bias == null ? null : bias.get(), perImage, residual, stride, pad);
    }

    /** forward(x) + perImage[:, :, None, None] + residual in one op ({@code F.conv2dAdd}); either addend may be null. */
    public Tensor forwardAdd(Tensor x, Tensor perImage, Tensor residual) {
        return F.conv2dAdd(x, weight.get(), bias == null ? null : bias.get(), perImage, residual, stride, pad);
    }
}
