package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

/**
 * An image classifier built from the U-Net's parts (guided-diffusion's encoder classifier):
 * optional time embedding; input conv; the down path (ResBlocks, AttnBlocks at the attention
 * resolutions, strided-conv Downsamples); the middle (ResBlock, AttnBlock, ResBlock); then
 * GroupNorm → SiLU → global average pool, which gives the {@link #features} (the penultimate
 * layer), and a linear head to the class logits.
 *
 * <p>Noise-conditional ({@link ClassifierConfig#noiseConditional}): it takes x_t and the timestep,
 * like the U-Net, and models p(y | x_t, t) for classifier guidance. Without: a plain classifier of
 * clean images, whose features the sample-quality metric compares.
 *
 * <p>Parameter names: {@code temb.*} (noise-conditional only), {@code conv_in.*}, {@code down.N.*},
 * {@code mid.{0,1,2}.*}, {@code norm_out.*}, {@code head.*}.
 */
public class Classifier extends Module {
    static final long DROPOUT_SALT = 0xC1A55L;

    public final ClassifierConfig config;
    public final TimestepEmbedding temb;
    public final Conv2d convIn;
    public final ModuleList down, mid;
    public final GroupNorm normOut;
    public final Linear head;

    /** A float32 classifier on {@code device}, initialised from {@code seed}, in training mode. */
    public Classifier(ClassifierConfig config, Device device, long seed) { this(config, device, DType.F32, seed); }

    public Classifier(ClassifierConfig config, Device device, DType dtype, long seed) {
        this(config);
        build(device, dtype, seed);
        setDropoutRng(new Rng(seed ^ DROPOUT_SALT));
    }

    /** Declares the tree without building it. */
    public Classifier(ClassifierConfig config) {
        this.config = config;
        int ch = config.ch, tdim = config.tembDim(), g = config.groups;
        int[] mult = config.chMult();
        temb = config.noiseConditional ? child("temb", new TimestepEmbedding(ch, tdim)) : null;
        convIn = child("conv_in", Conv2d.conv3x3(config.inChannels, ch));
        down = child("down", new ModuleList());
        int c = ch, r = config.resolution;
        for (int i = 0; i < mult.length; i++) {
            for (int j = 0; j < config.numResBlocks; j++) {
                down.add(new ResBlock(c, ch * mult[i], tdim, config.dropout, g));
                c = ch * mult[i];
                if (isAttn(r)) down.add(new AttnBlock(c, g));
            }
            if (i != mult.length - 1) {
                down.add(new Downsample(c));
                r /= 2;
            }
        }
        mid = child("mid", new ModuleList());
        mid.add(new ResBlock(c, c, tdim, config.dropout, g));
        mid.add(new AttnBlock(c, g));
        mid.add(new ResBlock(c, c, tdim, config.dropout, g));
        normOut = child("norm_out", new GroupNorm(c, g, GroupNorm.DEFAULT_EPS, true));
        head = child("head", new Linear(c, config.numClasses));
    }

    private boolean isAttn(int r) {
        for (int a : config.attnResolutions()) if (a == r) return true;
        return false;
    }

    /** The pooled features [B, featureDim] of images x [B, C, H, W] (t: int32 [B], required when noise-conditional). */
    public Tensor features(Tensor x, Tensor t) {
        requireBuilt();
        check(x, t);
        Tensor emb = temb == null ? null : temb.forward(t);
        Tensor h = convIn.forward(x);
        for (Module m : down.items()) {
            if (m instanceof ResBlock rb) h = rb.forward(h, emb);
            else if (m instanceof AttnBlock ab) h = ab.forward(h);
            else h = ((Downsample) m).forward(h);
        }
        h = ((ResBlock) mid.get(0)).forward(h, emb);
        h = ((AttnBlock) mid.get(1)).forward(h);
        h = ((ResBlock) mid.get(2)).forward(h, emb);
        return normOut.forward(h).mean(2, 3);
    }

    /** Class logits [B, numClasses]. */
    public Tensor forward(Tensor x, Tensor t) { return head.forward(features(x, t)); }

    /** Logits of a clean-image classifier. */
    public Tensor forward(Tensor x) { return forward(x, null); }

    private void check(Tensor x, Tensor t) {
        ClassifierConfig c = config;
        String want = "[B, " + c.inChannels + ", " + c.resolution + ", " + c.resolution + "]";
        if (x.rank() != 4 || x.dim(1) != c.inChannels || x.dim(2) != c.resolution || x.dim(3) != c.resolution)
            throw new IllegalArgumentException("Classifier: input must be " + want + ", got " + x.describe() + " " + Shapes.str(x.shape()));
        if (x.dtype() != dtype() || !x.device().equals(device()))
            throw new IllegalArgumentException("Classifier: input " + x.describe() + " on " + x.device() + " but the model is "
                    + dtype() + " on " + device());
        if (c.noiseConditional) {
            if (t == null || t.dtype() != DType.I32 || t.rank() != 1 || t.dim(0) != x.dim(0))
                throw new IllegalArgumentException("Classifier: a noise-conditional classifier needs int32 timesteps [" + x.dim(0)
                        + "], got " + (t == null ? "none" : t.describe()));
        } else if (t != null) {
            throw new IllegalArgumentException("Classifier: timesteps given (" + t.describe() + ") to a classifier of clean images");
        }
    }

    @Override public Classifier train(boolean on) { super.train(on); return this; }

    @Override public Classifier eval() { super.eval(); return this; }

    @Override public String toString() { return "Classifier(" + paramCount() + " parameters, " + config.toJson() + ")"; }
}
