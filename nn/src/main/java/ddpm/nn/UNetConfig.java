package ddpm.nn;

import ddpm.nn.io.Json;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hyper-parameters of the DDPM U-Net. Immutable; change fields with the {@code with...} methods.
 * {@link #cifar10()} (= {@code new UNetConfig()}) is the paper's CIFAR-10 model (35,746,307 parameters).
 *
 * <ul>
 *   <li>{@code resolution}: input height = width; must be divisible by 2^(levels−1)</li>
 *   <li>{@code inChannels}, {@code outChannels}: image channels in and ε̂ channels out</li>
 *   <li>{@code ch}: base width; the time embedding MLP is 4·ch wide; ch must be even</li>
 *   <li>{@code chMult}: width multiplier per resolution level</li>
 *   <li>{@code numResBlocks}: ResBlocks per level on the way down (one more on the way up)</li>
 *   <li>{@code attnResolutions}: resolutions (in pixels) that get an AttnBlock after each ResBlock</li>
 *   <li>{@code dropout}: in every ResBlock, training mode only</li>
 *   <li>{@code numClasses}: 0 for unconditional; else a label embedding of numClasses + 1 rows
 *       (the last is the null label for classifier-free guidance)</li>
 *   <li>{@code groups}: GroupNorm groups (32); every width must divide by it</li>
 *   <li>{@code downsamplePad}: how the stride-2 Downsample conv pads: {@link DownsamplePad#SYMMETRIC}
 *       (one zero row/column on every side: the small presets, and configs that do not say) or
 *       {@link DownsamplePad#TF_SAME} (only at the bottom and right, TensorFlow's "SAME" padding,
 *       which the paper's network uses: {@link #cifar10()}); it changes no parameter, only which
 *       pixels each output sees</li>
 * </ul>
 */
public final class UNetConfig {
    public final int resolution, inChannels, outChannels, ch, numResBlocks, numClasses, groups;
    private final int[] chMult, attnResolutions;
    public final double dropout;
    public final DownsamplePad downsamplePad;

    /** Where the stride-2 3×3 convolution of a Downsample pads its (even-sized) input. */
    public enum DownsamplePad {
        /** One zero row and column on every side (output pixel i sees input rows 2i−1..2i+1). */
        SYMMETRIC("symmetric"),
        /** TensorFlow's "SAME" for stride 2 on even sizes: one zero row/column at the bottom/right only (rows 2i..2i+2). */
        TF_SAME("tf_same");

        /** The JSON spelling. */
        public final String json;

        DownsamplePad(String json) { this.json = json; }

        public static DownsamplePad parse(String s) {
            for (DownsamplePad p : values()) if (p.json.equals(s)) return p;
            throw new IllegalArgumentException("downsample_pad must be \"symmetric\" or \"tf_same\", got \"" + s + "\"");
        }
    }

    /**
     * The paper's CIFAR-10 model, to the last detail: its stride-2 downsampling pads as the
     * original TensorFlow code does ({@link DownsamplePad#TF_SAME}), so the released weights run
     * here unchanged and a model trained here is the paper's network.
     */
    public UNetConfig() { this(32, 3, 3, 128, new int[]{1, 2, 2, 2}, 2, new int[]{16}, 0.1, 0, 32, DownsamplePad.TF_SAME); }

    public UNetConfig(int resolution, int inChannels, int outChannels, int ch, int[] chMult, int numResBlocks,
                      int[] attnResolutions, double dropout, int numClasses, int groups) {
        this(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups,
                DownsamplePad.SYMMETRIC);
    }

    public UNetConfig(int resolution, int inChannels, int outChannels, int ch, int[] chMult, int numResBlocks,
                      int[] attnResolutions, double dropout, int numClasses, int groups, DownsamplePad downsamplePad) {
        this.resolution = resolution;
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.ch = ch;
        this.chMult = chMult.clone();
        this.numResBlocks = numResBlocks;
        this.attnResolutions = attnResolutions.clone();
        this.dropout = dropout;
        this.numClasses = numClasses;
        this.groups = groups;
        this.downsamplePad = java.util.Objects.requireNonNull(downsamplePad, "downsamplePad");
        validate();
    }

    /** ch 128, mult (1,2,2,2), 2 blocks, attention at 16, dropout 0.1, 3×32×32: 35,746,307 parameters. */
    public static UNetConfig cifar10() { return new UNetConfig(); }

    /** A CPU-sized model for tests: 3×16×16, ch 32, mult (1,2), 1 block, attention at 8, dropout 0.1. */
    public static UNetConfig tiny() { return new UNetConfig(16, 3, 3, 32, new int[]{1, 2}, 1, new int[]{8}, 0.1, 0, 32); }

    /** A small CPU model: 3×32×32, ch 64, mult (1,2,2), 2 blocks, attention at 8, dropout 0.1. */
    public static UNetConfig small() { return new UNetConfig(32, 3, 3, 64, new int[]{1, 2, 2}, 2, new int[]{8}, 0.1, 0, 32); }

    /** Greyscale digits: 1×28×28 (MNIST), ch 64, mult (1,2,2), 2 blocks, attention at 7. */
    public static UNetConfig digits28() { return digits(28); }

    /**
     * Greyscale digits at {@code resolution} (28 for MNIST, or 32 for padded digits): 1 channel,
     * ch 64, mult (1,2,2), 2 blocks, attention at resolution/4 (7 or 8), dropout 0.1.
     */
    public static UNetConfig digits(int resolution) {
        return new UNetConfig(resolution, 1, 1, 64, new int[]{1, 2, 2}, 2, new int[]{resolution / 4}, 0.1, 0, 32);
    }

    public int[] chMult() { return chMult.clone(); }

    public int[] attnResolutions() { return attnResolutions.clone(); }

    public int levels() { return chMult.length; }

    /** Width of the time embedding (4·ch). */
    public int tembDim() { return 4 * ch; }

    /** The row of the label table used as the null (unconditional) label: numClasses. */
    public int nullLabelRow() { return numClasses; }

    // ---------------------------------------------------------------- withers
    public UNetConfig withResolution(int r) { return new UNetConfig(r, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    /** Sets both in and out channels. */
    public UNetConfig withChannels(int c) { return new UNetConfig(resolution, c, c, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withOutChannels(int c) { return new UNetConfig(resolution, inChannels, c, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withCh(int c) { return new UNetConfig(resolution, inChannels, outChannels, c, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withChMult(int... m) { return new UNetConfig(resolution, inChannels, outChannels, ch, m, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withNumResBlocks(int n) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, n, attnResolutions, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withAttnResolutions(int... a) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, a, dropout, numClasses, groups, downsamplePad); }
    public UNetConfig withDropout(double d) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, d, numClasses, groups, downsamplePad); }
    public UNetConfig withNumClasses(int n) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, n, groups, downsamplePad); }
    public UNetConfig withDownsamplePad(DownsamplePad p) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, p); }
    public UNetConfig withGroups(int g) { return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, g, downsamplePad); }

    /** A builder starting from this config, for changing several fields at once (validated at build()). */
    public Builder toBuilder() { return new Builder(this); }

    public static Builder builder() { return new Builder(new UNetConfig()); }

    /** Mutable twin of UNetConfig; {@link #build()} validates. */
    public static final class Builder {
        private int resolution, inChannels, outChannels, ch, numResBlocks, numClasses, groups;
        private int[] chMult, attnResolutions;
        private double dropout;
        private DownsamplePad downsamplePad;

        private Builder(UNetConfig c) {
            resolution = c.resolution; inChannels = c.inChannels; outChannels = c.outChannels; ch = c.ch;
            numResBlocks = c.numResBlocks; numClasses = c.numClasses; groups = c.groups;
            chMult = c.chMult.clone(); attnResolutions = c.attnResolutions.clone(); dropout = c.dropout;
            downsamplePad = c.downsamplePad;
        }

        public Builder resolution(int v) { resolution = v; return this; }
        /** Sets both in and out channels. */
        public Builder channels(int v) { inChannels = v; outChannels = v; return this; }
        public Builder inChannels(int v) { inChannels = v; return this; }
        public Builder outChannels(int v) { outChannels = v; return this; }
        public Builder ch(int v) { ch = v; return this; }
        public Builder chMult(int... v) { chMult = v.clone(); return this; }
        public Builder numResBlocks(int v) { numResBlocks = v; return this; }
        public Builder attnResolutions(int... v) { attnResolutions = v.clone(); return this; }
        public Builder dropout(double v) { dropout = v; return this; }
        public Builder numClasses(int v) { numClasses = v; return this; }
        public Builder groups(int v) { groups = v; return this; }
        public Builder downsamplePad(DownsamplePad v) { downsamplePad = v; return this; }

        public UNetConfig build() {
            return new UNetConfig(resolution, inChannels, outChannels, ch, chMult, numResBlocks, attnResolutions, dropout, numClasses, groups, downsamplePad);
        }
    }

    // ---------------------------------------------------------------- validation
    private void validate() {
        List<String> p = new ArrayList<>();
        if (inChannels < 1) p.add("inChannels must be >= 1, got " + inChannels);
        if (outChannels < 1) p.add("outChannels must be >= 1, got " + outChannels);
        if (ch < 4 || ch % 2 != 0) p.add("ch must be even and >= 4 (it is the sinusoidal embedding width), got " + ch);
        if (chMult.length == 0) p.add("chMult must have at least one level");
        for (int m : chMult) if (m < 1) p.add("chMult entries must be >= 1, got " + Arrays.toString(chMult));
        if (numResBlocks < 1) p.add("numResBlocks must be >= 1, got " + numResBlocks);
        if (dropout < 0 || dropout >= 1) p.add("dropout must be in [0, 1), got " + dropout);
        if (numClasses < 0) p.add("numClasses must be >= 0, got " + numClasses);
        if (groups < 1) p.add("groups must be >= 1, got " + groups);
        else {
            if (ch % groups != 0) p.add("ch " + ch + " is not divisible by " + groups + " GroupNorm groups");
            for (int m : chMult) if ((ch * m) % groups != 0) { p.add("width " + ch * m + " (ch " + ch + " × " + m + ") is not divisible by " + groups + " GroupNorm groups"); break; }
        }
        int down = 1 << Math.max(0, chMult.length - 1);
        if (resolution < 1 || resolution % down != 0)
            p.add("resolution " + resolution + " must be a positive multiple of 2^(levels−1) = " + down + " for " + chMult.length + " levels");
        else {
            List<Integer> valid = new ArrayList<>();
            for (int i = 0, r = resolution; i < chMult.length; i++, r /= 2) valid.add(r);
            for (int a : attnResolutions) if (!valid.contains(a))
                p.add("attention resolution " + a + " is not one of the model's resolutions " + valid);
        }
        if (!p.isEmpty()) throw new IllegalArgumentException("invalid UNetConfig: " + String.join("; ", p));
    }

    // ---------------------------------------------------------------- JSON
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("resolution", resolution);
        m.put("in_channels", inChannels);
        m.put("out_channels", outChannels);
        m.put("ch", ch);
        m.put("ch_mult", chMult.clone());
        m.put("num_res_blocks", numResBlocks);
        m.put("attn_resolutions", attnResolutions.clone());
        m.put("dropout", dropout);
        m.put("num_classes", numClasses);
        m.put("groups", groups);
        m.put("downsample_pad", downsamplePad.json);
        return m;
    }

    public String toJson() { return Json.write(toMap()); }

    public static UNetConfig fromJson(String json) {
        Map<String, Object> m = Json.parseObject(json);
        try {
            return new UNetConfig(i(m, "resolution"), i(m, "in_channels"), i(m, "out_channels"), i(m, "ch"),
                    ia(m, "ch_mult"), i(m, "num_res_blocks"), ia(m, "attn_resolutions"),
                    ((Number) req(m, "dropout")).doubleValue(), i(m, "num_classes"), i(m, "groups"),
                    // absent in checkpoints written before the option existed: those models pad symmetrically
                    DownsamplePad.parse((String) m.getOrDefault("downsample_pad", DownsamplePad.SYMMETRIC.json)));
        } catch (ClassCastException e) {
            throw new IllegalArgumentException("UNetConfig JSON has a field of the wrong type: " + json, e);
        }
    }

    private static Object req(Map<String, Object> m, String k) { return Json.required(m, k, "UNetConfig JSON"); }

    private static int i(Map<String, Object> m, String k) { return Json.requiredInt(m, k, "UNetConfig JSON"); }

    private static int[] ia(Map<String, Object> m, String k) { return Json.requiredInts(m, k, "UNetConfig JSON"); }

    /**
     * The fields that differ between two configs, as "name: this vs other"; {@code architectureOnly}
     * ignores dropout (which changes no parameter).
     */
    public List<String> differences(UNetConfig o, boolean architectureOnly) {
        List<String> d = new ArrayList<>();
        Map<String, Object> a = toMap(), b = o.toMap();
        for (String k : a.keySet()) {
            if (architectureOnly && k.equals("dropout")) continue;
            String va = Json.write(a.get(k)), vb = Json.write(b.get(k));
            if (!va.equals(vb)) d.add(k + ": " + va + " vs " + vb);
        }
        return d;
    }

    @Override public boolean equals(Object o) { return o instanceof UNetConfig c && c.toJson().equals(toJson()); }

    @Override public int hashCode() { return toJson().hashCode(); }

    @Override public String toString() { return "UNetConfig" + toJson(); }
}
