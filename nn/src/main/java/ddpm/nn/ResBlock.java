package ddpm.nn;

import ddpm.engine.Tensor;

/**
 * The DDPM residual block: h = conv1(SiLU(GN(x))) + temb_proj(SiLU(temb))[:, :, None, None];
 * h = conv2(dropout(SiLU(GN(h)))); out = skip(x) + h, where skip is a 1×1 conv when the channel
 * count changes (else identity). conv2 is zero-initialised, so a fresh block is the identity (or
 * the shortcut). Children: norm1, conv1, temb_proj, norm2, dropout, conv2[, skip].
 */
public class ResBlock extends Module {
    public final int in, out;
    public final GroupNorm norm1, norm2;
    public final Conv2d conv1, conv2, skip;
    public final Linear tembProj;
    public final Dropout dropout;

    public ResBlock(int in, int out, int tembDim, double dropout, int groups) {
        this.in = in;
        this.out = out;
        norm1 = child("norm1", new GroupNorm(in, groups, GroupNorm.DEFAULT_EPS, true));
        conv1 = child("conv1", Conv2d.conv3x3(in, out));
        tembProj = tembDim > 0 ? child("temb_proj", new Linear(tembDim, out)) : null;
        norm2 = child("norm2", new GroupNorm(out, groups, GroupNorm.DEFAULT_EPS, true));
        this.dropout = child("dropout", new Dropout(dropout));
        conv2 = child("conv2", new Conv2d(out, out, 3, 1, 1, true, 0.0));
        skip = in != out ? child("skip", Conv2d.conv1x1(in, out)) : null;
    }

    /** x [B, in, H, W], temb [B, tembDim] (or null when built without one) → [B, out, H, W]. */
    public Tensor forward(Tensor x, Tensor temb) {
        if (x.rank() != 4 || x.dim(1) != in)
            throw new IllegalArgumentException("ResBlock(" + in + "->" + out + "): input must be [B, " + in + ", H, W], got " + x.describe());
        Tensor t = null;
        if (tembProj != null) {
            if (temb == null) throw new IllegalArgumentException("ResBlock: a time embedding is required");
            t = tembProj.forward(temb.silu());   // [B, out]
        }
        Tensor shortcut = skip != null ? skip.forward(x) : x;
        if (Fusion.convAdd) {   // the two adds in the convolutions' epilogue
            boolean n = Fusion.normConv;   // and the norms in their input loads
            Tensor h = n ? conv1.forwardNormedAdd(norm1, x, t, null) : conv1.forwardAdd(norm1.forward(x), t, null);
            if (n && !dropout.active()) return conv2.forwardNormedAdd(norm2, h, null, shortcut);
            return conv2.forwardAdd(dropout.forward(norm2.forward(h)), null, shortcut);
        }
        Tensor h = conv1.forward(norm1.forward(x));
        if (t != null) h = h.add(t.reshape(x.dim(0), out, 1, 1));
        return shortcut.add(conv2.forward(dropout.forward(norm2.forward(h))));
    }
}
