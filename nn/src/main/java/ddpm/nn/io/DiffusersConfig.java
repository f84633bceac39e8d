package ddpm.nn.io;

import ddpm.nn.UNetConfig;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A diffusers {@code UNet2DModel} {@code config.json} read as a jddpm config hint (see
 * {@link WeightFiles}). Absent keys take UNet2DModel's defaults. Settings that jddpm's U-Net does
 * not implement are refused, naming the key: jddpm's time embedding is DDPM's (sin then cos,
 * frequencies exp(−ln(10000)·i/(half−1))), which is diffusers' {@code flip_sin_to_cos: false,
 * freq_shift: 1}; its attention is single-head; its GroupNorm ε is 1e-6; it has no class embedding
 * in this layout. The published DDPM conversions ({@code google/ddpm-cifar10-32}, the LSUN and
 * CelebA-HQ ones) use exactly these settings, with {@code downsample_padding: 0} (TF "SAME").
 */
public final class DiffusersConfig {
    private DiffusersConfig() {}

    /** Whether a parsed JSON object is a diffusers config rather than jddpm's. */
    public static boolean looksLike(Map<String, Object> m) {
        return m.containsKey("_class_name") || m.containsKey("block_out_channels") || m.containsKey("down_block_types");
    }

    /** The jddpm config fields this diffusers config fixes; throws IllegalArgumentException naming an unsupported setting. */
    public static Map<String, Object> toHint(Map<String, Object> d) {
        String cls = str(d, "_class_name", "UNet2DModel");
        if (!cls.equals("UNet2DModel")) fail("_class_name", cls, "UNet2DModel");
        require(d, "flip_sin_to_cos", true, false, "jddpm's time embedding puts sin before cos, as DDPM does");
        if (num(d, "freq_shift", 0) != 1) fail("freq_shift", d.getOrDefault("freq_shift", 0L), "1 (DDPM's frequencies exp(-ln(10000)·i/(half-1)))");
        if (!str(d, "act_fn", "silu").equals("silu") && !str(d, "act_fn", "silu").equals("swish")) fail("act_fn", d.get("act_fn"), "silu");
        if (Math.abs(num(d, "norm_eps", 1e-5) - 1e-6) > 1e-12) fail("norm_eps", d.getOrDefault("norm_eps", 1e-5), "1e-06 (jddpm's GroupNorm ε)");
        require(d, "center_input_sample", false, false, "jddpm's U-Net takes x in [-1, 1] as it is");
        if (!str(d, "time_embedding_type", "positional").equals("positional")) fail("time_embedding_type", d.get("time_embedding_type"), "positional");
        if (num(d, "mid_block_scale_factor", 1) != 1) fail("mid_block_scale_factor", d.get("mid_block_scale_factor"), "1");
        if (!str(d, "resnet_time_scale_shift", "default").equals("default")) fail("resnet_time_scale_shift", d.get("resnet_time_scale_shift"), "default");
        require(d, "add_attention", true, true, "the DDPM middle block has attention");
        for (String k : new String[]{"class_embed_type", "num_class_embeds", "attn_norm_num_groups"})
            if (d.get(k) != null) fail(k, d.get(k), "null (class-conditional UNet2DModels and other attention norms are not read)");
        for (String k : new String[]{"downsample_type", "upsample_type"})
            if (!str(d, k, "conv").equals("conv")) fail(k, d.get(k), "conv");

        List<Integer> widths = ints(d, "block_out_channels", List.of(224, 448, 672, 896));
        int ch = widths.get(0), levels = widths.size();
        int[] mult = new int[levels];
        for (int i = 0; i < levels; i++) {
            if (widths.get(i) % ch != 0) fail("block_out_channels", widths, "multiples of the first width");
            mult[i] = widths.get(i) / ch;
        }
        List<String> down = strs(d, "down_block_types", List.of("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"));
        List<String> up = strs(d, "up_block_types", List.of("AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"));
        if (down.size() != levels || up.size() != levels)
            fail("down_block_types / up_block_types", down + " / " + up, levels + " entries each, one per block_out_channels entry");
        List<Integer> attnLevels = new ArrayList<>();
        for (int i = 0; i < levels; i++) {
            boolean a = kind(down.get(i), "DownBlock2D", "down_block_types");
            boolean b = kind(up.get(levels - 1 - i), "UpBlock2D", "up_block_types");
            if (a != b) fail("up_block_types", up, "the mirror of down_block_types " + down + " (DDPM attends at the same resolutions both ways)");
            if (a) attnLevels.add(i);
        }
        Object headDim = d.containsKey("attention_head_dim") ? d.get("attention_head_dim") : Long.valueOf(8);
        if (headDim != null && !attnLevels.isEmpty()) {
            int hd = ((Number) headDim).intValue();
            for (int l : attnLevels)
                if (widths.get(l) != hd) fail("attention_head_dim", headDim, "null or the attention blocks' width " + widths.get(l) + " (single-head attention)");
        }
        int pad = (int) num(d, "downsample_padding", 1);
        if (pad != 0 && pad != 1) fail("downsample_padding", pad, "0 (TF \"SAME\") or 1");

        Map<String, Object> h = new LinkedHashMap<>();
        Object size = d.get("sample_size");
        if (size instanceof List<?> l) {
            if (l.size() != 2 || !Objects.equals(l.get(0), l.get(1))) fail("sample_size", size, "square images");
            size = l.get(0);
        }
        if (size != null) {
            int r = ((Number) size).intValue();
            h.put("resolution", r);
            List<Integer> attn = new ArrayList<>();
            for (int l : attnLevels) attn.add(r >> l);
            h.put("attn_resolutions", attn);
        }
        h.put("in_channels", (int) num(d, "in_channels", 3));
        h.put("out_channels", (int) num(d, "out_channels", 3));
        h.put("ch", ch);
        h.put("ch_mult", mult);
        h.put("num_res_blocks", (int) num(d, "layers_per_block", 2));
        h.put("num_classes", 0);
        h.put("groups", (int) num(d, "norm_num_groups", 32));
        h.put("dropout", num(d, "dropout", 0.0));
        h.put("downsample_pad", (pad == 0 ? UNetConfig.DownsamplePad.TF_SAME : UNetConfig.DownsamplePad.SYMMETRIC).json);
        return h;
    }

    private static boolean kind(String type, String plain, String key) {
        if (type.equals(plain)) return false;
        if (type.equals("Attn" + plain)) return true;
        fail(key, type, plain + " or Attn" + plain);
        return false;
    }

    private static void fail(String key, Object got, String want) {
        throw new IllegalArgumentException("diffusers config: " + key + " is " + got + ", jddpm's U-Net needs " + want);
    }

    private static void require(Map<String, Object> d, String key, boolean def, boolean want, String why) {
        Object v = d.getOrDefault(key, def);
        if (!(v instanceof Boolean b) || b != want) fail(key, v, want + " (" + why + ")");
    }

    private static String str(Map<String, Object> d, String key, String def) {
        Object v = d.getOrDefault(key, def);
        return v == null ? def : v.toString();
    }

    private static double num(Map<String, Object> d, String key, double def) {
        Object v = d.getOrDefault(key, def);
        if (v == null) return def;
        if (!(v instanceof Number n)) throw new IllegalArgumentException("diffusers config: " + key + " is " + v + ", expected a number");
        return n.doubleValue();
    }

    private static List<Integer> ints(Map<String, Object> d, String key, List<Integer> def) {
        Object v = d.get(key);
        if (v == null) return def;
        List<Integer> out = new ArrayList<>();
        if (v instanceof List<?> l) for (Object o : l) if (o instanceof Number n) out.add(n.intValue());
        if (!(v instanceof List<?> l2) || out.size() != l2.size() || out.isEmpty())
            throw new IllegalArgumentException("diffusers config: " + key + " is " + v + ", expected a list of integers");
        return out;
    }

    private static List<String> strs(Map<String, Object> d, String key, List<String> def) {
        Object v = d.get(key);
        if (v == null) return def;
        List<String> out = new ArrayList<>();
        if (v instanceof List<?> l) for (Object o : l) out.add(String.valueOf(o));
        else throw new IllegalArgumentException("diffusers config: " + key + " is " + v + ", expected a list of block names");
        return out;
    }
}
