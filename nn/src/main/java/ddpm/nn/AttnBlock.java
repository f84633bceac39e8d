package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/**
 * Single-head self-attention over the H·W positions, with a residual: h = GN(x);
 * q, k, v = 1×1 convs of h; out = x + proj_out(softmax(q kᵀ / √C) v). The 1×1 convs keep
 * PyTorch's conv layout [C, C, 1, 1] but are applied as matmuls on the [B, HW, C] token layout
 * that {@link F#attention} takes (one permute in, one out). proj_out is zero-initialised.
 * Children: norm, q, k, v, proj_out.
 */
public class AttnBlock extends Module {
    public final int channels;
    public final GroupNorm norm;
    public final Conv2d q, k, v, projOut;

    public AttnBlock(int channels, int groups) {
        this.channels = channels;
        norm = child("norm", new GroupNorm(channels, groups, GroupNorm.DEFAULT_EPS, false));
        q = child("q", Conv2d.conv1x1(channels, channels));
        k = child("k", Conv2d.conv1x1(channels, channels));
        v = child("v", Conv2d.conv1x1(channels, channels));
        projOut = child("proj_out", new Conv2d(channels, channels, 1, 1, 0, true, 0.0));
    }

    private static Tensor pointwise(Conv2d c, Tensor tokens) {
        return F.linear(tokens, c.weight.get().reshape(c.out, c.in), c.bias.get());
    }

    /** x [B, C, H, W] → [B, C, H, W]. */
    public Tensor forward(Tensor x) {
        if (x.rank() != 4 || x.dim(1) != channels)
            throw new IllegalArgumentException("AttnBlock(" + channels + "): input must be [B, " + channels + ", H, W], got " + x.describe());
        int b = x.dim(0), c = channels, hh = x.dim(2), ww = x.dim(3);
        Tensor tokens = norm.forward(x).reshape(b, c, hh * ww).transpose(1, 2);        // [B, HW, C]
        Tensor a = F.attention(pointwise(q, tokens), pointwise(k, tokens), pointwise(v, tokens), 1.0 / Math.sqrt(c));
        Tensor o = pointwise(projOut, a).transpose(1, 2).reshape(b, c, hh, ww);
        return x.add(o);
    }
}
