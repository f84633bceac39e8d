package ddpm.nn;

import ddpm.nn.io.Json;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hyper-parameters of a {@link Classifier}: the U-Net's down path and middle (same meaning of
 * {@code ch}, {@code chMult}, {@code numResBlocks}, {@code attnResolutions}, {@code dropout},
 * {@code groups} as in {@link UNetConfig}) followed by a pooled linear head over
 * {@code numClasses}. {@code noiseConditional} adds the U-Net's time embedding, for a classifier of
 * noisy images x_t at timestep t (classifier guidance). Immutable.
 */
public final class ClassifierConfig {
    public final int resolution, inChannels, numClasses, ch, numResBlocks, groups;
    public final boolean noiseConditional;
    public final double dropout;
    private final int[] chMult, attnResolutions;

    public ClassifierConfig(int resolution, int inChannels, int numClasses, int ch, int[] chMult, int numResBlocks,
                            int[] attnResolutions, double dropout, int groups, boolean noiseConditional) {
        this.resolution = resolution;
        this.inChannels = inChannels;
        this.numClasses = numClasses;
        this.ch = ch;
        this.chMult = chMult.clone();
        this.numResBlocks = numResBlocks;
        this.attnResolutions = attnResolutions.clone();
        this.dropout = dropout;
        this.groups = groups;
        this.noiseConditional = noiseConditional;
        validate();
    }

    public int[] chMult() { return chMult.clone(); }

    public int[] attnResolutions() { return attnResolutions.clone(); }

    /** Width of the time embedding (4·ch), 0 without one. */
    public int tembDim() { return noiseConditional ? 4 * ch : 0; }

    /** Width of the pooled features (the penultimate layer): ch · the last multiplier. */
    public int featureDim() { return ch * chMult[chMult.length - 1]; }

    public ClassifierConfig withResolution(int r) {
        return new ClassifierConfig(r, inChannels, numClasses, ch, chMult, numResBlocks, attnResolutions, dropout, groups, noiseConditional);
    }

    public ClassifierConfig withInput(int channels, int classes) {
        return new ClassifierConfig(resolution, channels, classes, ch, chMult, numResBlocks, attnResolutions, dropout, groups, noiseConditional);
    }

    private void validate() {
        List<String> p = new ArrayList<>();
        if (inChannels < 1) p.add("inChannels must be >= 1, got " + inChannels);
        if (numClasses < 2) p.add("numClasses must be >= 2, got " + numClasses);
        if (ch < 4 || ch % 2 != 0) p.add("ch must be even and >= 4, got " + ch);
        if (chMult.length == 0) p.add("chMult must have at least one level");
        for (int m : chMult) if (m < 1) p.add("chMult entries must be >= 1, got " + Arrays.toString(chMult));
        if (numResBlocks < 1) p.add("numResBlocks must be >= 1, got " + numResBlocks);
        if (dropout < 0 || dropout >= 1) p.add("dropout must be in [0, 1), got " + dropout);
        if (groups < 1) p.add("groups must be >= 1, got " + groups);
        else for (int m : chMult) if ((ch * m) % groups != 0 || ch % groups != 0) {
            p.add("widths of ch " + ch + " × " + Arrays.toString(chMult) + " must divide by " + groups + " GroupNorm groups");
            break;
        }
        int down = 1 << Math.max(0, chMult.length - 1);
        if (resolution < 1 || resolution % down != 0)
            p.add("resolution " + resolution + " must be a positive multiple of 2^(levels−1) = " + down);
        else {
            List<Integer> valid = new ArrayList<>();
            for (int i = 0, r = resolution; i < chMult.length; i++, r /= 2) valid.add(r);
            for (int a : attnResolutions) if (!valid.contains(a)) p.add("attention resolution " + a + " is not one of " + valid);
        }
        if (!p.isEmpty()) throw new IllegalArgumentException("invalid ClassifierConfig: " + String.join("; ", p));
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("resolution", resolution);
        m.put("in_channels", inChannels);
        m.put("num_classes", numClasses);
        m.put("ch", ch);
        m.put("ch_mult", chMult.clone());
        m.put("num_res_blocks", numResBlocks);
        m.put("attn_resolutions", attnResolutions.clone());
        m.put("dropout", dropout);
        m.put("groups", groups);
        m.put("noise_conditional", noiseConditional);
        return m;
    }

    public String toJson() { return Json.write(toMap()); }

    public static ClassifierConfig fromJson(String json) {
        Map<String, Object> m = Json.parseObject(json);
        try {
            return new ClassifierConfig(i(m, "resolution"), i(m, "in_channels"), i(m, "num_classes"), i(m, "ch"), ia(m, "ch_mult"),
                    i(m, "num_res_blocks"), ia(m, "attn_resolutions"), ((Number) req(m, "dropout")).doubleValue(), i(m, "groups"),
                    (Boolean) req(m, "noise_conditional"));
        } catch (ClassCastException e) {
            throw new IllegalArgumentException("ClassifierConfig JSON has a field of the wrong type: " + json, e);
        }
    }

    private static Object req(Map<String, Object> m, String k) { return Json.required(m, k, "ClassifierConfig JSON"); }

    private static int i(Map<String, Object> m, String k) { return Json.requiredInt(m, k, "ClassifierConfig JSON"); }

    private static int[] ia(Map<String, Object> m, String k) { return Json.requiredInts(m, k, "ClassifierConfig JSON"); }

    @Override public boolean equals(Object o) { return o instanceof ClassifierConfig c && c.toJson().equals(toJson()); }

    @Override public int hashCode() { return toJson().hashCode(); }

    @Override public String toString() { return "ClassifierConfig" + toJson(); }
}
