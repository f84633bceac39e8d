package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The DDPM noise-prediction U-Net (Ho et al. 2020), mirroring {@code UNet} of the reference
 * {@code torch_ddpm.py}: time-embedding MLP; input conv; down path (ResBlocks, an AttnBlock after
 * each at the attention resolutions, a strided-conv Downsample between levels, padded as
 * {@link UNetConfig#downsamplePad} says); middle (ResBlock,
 * AttnBlock, ResBlock); up path (numResBlocks + 1 ResBlocks per level, each taking the
 * channel-concatenation of the running features and a skip, AttnBlocks at the attention
 * resolutions, an Upsample between levels); output GroupNorm → SiLU → 3×3 conv.
 *
 * <p>Parameter names (flat-buffer order): {@code temb.0.*, temb.2.*, label_emb.weight} (class-
 * conditional only), {@code conv_in.*, down.N.*, mid.{0,1,2}.*, up.N.*, norm_out.*, conv_out.*};
 * inside ResBlocks {@code norm1, conv1, temb_proj, norm2, conv2, skip}; inside AttnBlocks
 * {@code norm, q, k, v, proj_out}; Down/Upsample hold {@code conv}. The reference's fused
 * {@code qkv} conv is {@code cat(q, k, v)} along the output axis.
 *
 * <p>The model builds itself in the constructor (flat buffers on {@code device}, initialised from
 * {@code seed}) and starts in training mode with a dropout stream {@code Rng(seed ^ DROPOUT_SALT)}.
 * {@link #close()} releases its memory.
 */
public class UNet extends Module {
    /**
     * The label value meaning "no class" (classifier-free guidance's unconditional branch). Any label
     * &lt; 0 — and also the value {@code numClasses} itself — selects the table's last row, the null
     * embedding. Passing {@code labels = null} to a class-conditional model is the same as all-null.
     * Valid class labels are 0..numClasses−1.
     */
    public static final int NULL_LABEL = -1;
    static final long DROPOUT_SALT = 0x5DEECE66DL;

    public final UNetConfig config;
    public final TimestepEmbedding temb;
    public final Embedding labelEmb;
    public final Conv2d convIn, convOut;
    public final ModuleList down, mid, up;
    public final GroupNorm normOut;
    private volatile DType activations;

    /**
     * The dtype of the activations between the input and output convolutions: null (the default)
     * for the model's own dtype, or BF16 with a float32 model: bf16 autocast. The input is cast to
     * BF16 before conv_in, as is the timestep embedding after its MLP, and every layer then keeps
     * its output in BF16 (float32 parameters meet BF16 activations; group-norm statistics, dropout's
     * scale, softmax inside attention stay float32), and ε̂ is cast back to float32 after conv_out,
     * so the loss and the samplers see float32. Gradients of the parameters are float32.
     */
    public UNet activations(DType dtype) {
        if (dtype != null && dtype != DType.BF16 && dtype != dtype())
            throw new IllegalArgumentException("UNet activations: BF16 or the model's dtype " + dtype() + ", not " + dtype);
        if (dtype == DType.BF16 && dtype() != DType.F32)
            throw new IllegalArgumentException("UNet activations: BF16 needs a float32 model, this one is " + dtype());
        activations = dtype == dtype() ? null : dtype;
        return this;
    }

    /** The activations' dtype (the model's own unless {@link #activations(DType)} set BF16). */
    public DType activations() { return activations == null ? dtype() : activations; }

    /** A float32 model on {@code device}. */
    public UNet(UNetConfig config, Device device, long seed) { this(config, device, DType.F32, seed); }

    public UNet(UNetConfig config, Device device, DType dtype, long seed) {
        this(config);
        build(device, dtype, seed);
        setDropoutRng(new Rng(seed ^ DROPOUT_SALT));
    }

    /** Declares the tree without building it (for counting parameters or listing names). */
    public UNet(UNetConfig config) {
        this.config = config;
        int ch = config.ch, tdim = config.tembDim(), g = config.groups;
        double p = config.dropout;
        int[] mult = config.chMult();
        temb = child("temb", new TimestepEmbedding(ch, tdim));
        labelEmb = config.numClasses > 0 ? child("label_emb", new Embedding(config.numClasses + 1, tdim)) : null;
        convIn = child("conv_in", Conv2d.conv3x3(config.inChannels, ch));
        down = child("down", new ModuleList());
        List<Integer> chans = new ArrayList<>();
        chans.add(ch);
        int c = ch, r = config.resolution;
        for (int i = 0; i < mult.length; i++) {
            for (int j = 0; j < config.numResBlocks; j++) {
                down.add(new ResBlock(c, ch * mult[i], tdim, p, g));
                c = ch * mult[i];
                if (isAttn(r)) down.add(new AttnBlock(c, g));
                chans.add(c);
            }
            if (i != mult.length - 1) {
                down.add(new Downsample(c, config.downsamplePad));
                chans.add(c);
                r /= 2;
            }
        }
        mid = child("mid", new ModuleList());
        mid.add(new ResBlock(c, c, tdim, p, g));
        mid.add(new AttnBlock(c, g));
        mid.add(new ResBlock(c, c, tdim, p, g));
        up = child("up", new ModuleList());
        for (int i = mult.length - 1; i >= 0; i--) {
            for (int j = 0; j < config.numResBlocks + 1; j++) {
                up.add(new ResBlock(c + chans.remove(chans.size() - 1), ch * mult[i], tdim, p, g));
                c = ch * mult[i];
                if (isAttn(r)) up.add(new AttnBlock(c, g));
            }
            if (i != 0) {
                up.add(new Upsample(c));
                r *= 2;
            }
        }
        normOut = child("norm_out", new GroupNorm(c, g, GroupNorm.DEFAULT_EPS, true));
        convOut = child("conv_out", new Conv2d(c, config.outChannels, 3, 1, 1, true, 0.0));
    }

    private boolean isAttn(int r) {
        for (int a : config.attnResolutions()) if (a == r) return true;
        return false;
    }

    /** Parameter count of a config without allocating anything. */
    public static long countParameters(UNetConfig config) { return new UNet(config).paramCount(); }

    /** ε̂ for x [B, C, H, W] at int32 timesteps t [B], unconditional (or all-null labels). */
    public Tensor forward(Tensor x, Tensor t) { return forward(x, t, null); }

    /**
     * ε̂ [B, outChannels, H, W] for x [B, inChannels, H, W] at int32 timesteps t [B], with int32
     * class labels [B] (see {@link #NULL_LABEL}) or null. Throws IllegalArgumentException naming the
     * shapes when they do not fit the config.
     */
    public Tensor forward(Tensor x, Tensor t, Tensor labels) {
        requireBuilt();
        checkInputs(x, t, labels);
        int b = x.dim(0);
        DType act = activations();
        Tensor emb = temb.forward(t);
        if (labelEmb != null) emb = emb.add(labelEmb.forward(labelRows(labels, b)));
        emb = emb.to(act);
        Tensor h = convIn.forward(x.to(act));
        List<Tensor> hs = new ArrayList<>();
        hs.add(h);
        for (Module m : down.items()) {
            if (m instanceof ResBlock rb) { h = rb.forward(h, emb); hs.add(h); }
            else if (m instanceof AttnBlock ab) { h = ab.forward(h); hs.set(hs.size() - 1, h); }
            else { h = ((Downsample) m).forward(h); hs.add(h); }
        }
        h = ((ResBlock) mid.get(0)).forward(h, emb);
        h = ((AttnBlock) mid.get(1)).forward(h);
        h = ((ResBlock) mid.get(2)).forward(h, emb);
        for (Module m : up.items()) {
            if (m instanceof ResBlock rb) h = rb.forward(Tensor.concat(1, h, hs.remove(hs.size() - 1)), emb);
            else if (m instanceof AttnBlock ab) h = ab.forward(h);
            else h = ((Upsample) m).forward(h);
        }
        Tensor eps = Fusion.convAdd && Fusion.normConv ? convOut.forwardNormedAdd(normOut, h, null, null) : convOut.forward(normOut.forward(h));
        return eps.to(x.dtype());
    }

    /** Row indices into the label table: labels, with negatives (and null) mapped to the null row. */
    private Tensor labelRows(Tensor labels, int b) {
        int nullRow = config.nullLabelRow();
        if (labels == null) return Tensor.ofInts(filled(b, nullRow), device(), b);
        // on the device, in float: rows = labels < 0 ? nullRow : labels (exact for |label| < 2^24)
        Tensor lf = labels.to(DType.F32);
        Tensor rows = Tensor.where(lf.lt(0), lf.scalarLike(nullRow), lf);
        return rows.to(DType.I32);
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private void checkInputs(Tensor x, Tensor t, Tensor labels) {
        UNetConfig c = config;
        String want = "[B, " + c.inChannels + ", " + c.resolution + ", " + c.resolution + "]";
        if (x.rank() != 4)
            throw new IllegalArgumentException("UNet: input must be " + want + ", got " + x.describe());
        if (x.dim(1) != c.inChannels)
            throw new IllegalArgumentException("UNet: input has " + x.dim(1) + " channels but the model takes " + c.inChannels
                    + ": expected " + want + ", got " + Shapes.str(x.shape()));
        if (x.dim(2) != c.resolution || x.dim(3) != c.resolution)
            throw new IllegalArgumentException("UNet: input resolution " + x.dim(2) + "×" + x.dim(3) + " does not match the model's "
                    + c.resolution + "×" + c.resolution + ": expected " + want + ", got " + Shapes.str(x.shape()));
        if (x.dtype() != dtype())
            throw new IllegalArgumentException("UNet: input dtype " + x.dtype() + " but the model is " + dtype() + " (" + x.describe() + ")");
        if (!x.device().equals(device()))
            throw new IllegalArgumentException("UNet: input is on " + x.device() + " but the model is on " + device());
        if (t == null) throw new IllegalArgumentException("UNet: timesteps t are required (int32 [" + x.dim(0) + "])");
        if (t.dtype() != DType.I32 || t.rank() != 1 || t.dim(0) != x.dim(0))
            throw new IllegalArgumentException("UNet: timesteps must be an int32 vector of length B = " + x.dim(0)
                    + " (input " + Shapes.str(x.shape()) + "), got " + t.describe() + " " + Shapes.str(t.shape()));
        if (!t.device().equals(device()))
            throw new IllegalArgumentException("UNet: timesteps are on " + t.device() + " but the model is on " + device());
        if (labels != null) {
            if (c.numClasses == 0)
                throw new IllegalArgumentException("UNet: labels given (" + labels.describe() + ") but the model is unconditional (numClasses = 0)");
            if (labels.dtype() != DType.I32 || labels.rank() != 1 || labels.dim(0) != x.dim(0))
                throw new IllegalArgumentException("UNet: labels must be an int32 vector of length B = " + x.dim(0)
                        + " (input " + Shapes.str(x.shape()) + "), got " + labels.describe() + " " + Shapes.str(labels.shape()));
            if (!labels.device().equals(device()))
                throw new IllegalArgumentException("UNet: labels are on " + labels.device() + " but the model is on " + device());
        }
    }

    /** The dropout stream (its state is what checkpoints save as "rng.dropout"). */
    public Rng dropoutRng() {
        for (Module m : down.items()) if (m instanceof ResBlock rb) return rb.dropout.rng();
        return ((ResBlock) mid.get(0)).dropout.rng();
    }

    @Override public UNet train(boolean on) { super.train(on); return this; }

    @Override public UNet eval() { super.eval(); return this; }

    @Override public String toString() { return "UNet(" + paramCount() + " parameters, " + config.toJson() + ")"; }
}
