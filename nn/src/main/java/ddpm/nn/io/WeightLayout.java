package ddpm.nn.io;

import ddpm.nn.AttnBlock;
import ddpm.nn.Module;
import ddpm.nn.ResBlock;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names under which the DDPM U-Net's weights circulate, and how each maps onto jddpm's.
 *
 * <ul>
 *   <li>{@link #JDDPM}: jddpm's own ({@code temb.0.weight}, {@code down.3.q.weight}, {@code mid.1.*}),
 *       one flat list per path in forward order.</li>
 *   <li>{@link #PYTORCH_DIFFUSION}: the PyTorch port of the original TensorFlow checkpoints
 *       (pytorch_diffusion's {@code Model}, also what the DDIM code loads): {@code temb.dense.0.weight},
 *       {@code down.<level>.block.<i>.*} with {@code nin_shortcut}, {@code down.<level>.attn.<i>.{norm,q,k,v,proj_out}}
 *       (1×1 convs, [C, C, 1, 1]), {@code down.<level>.downsample.conv}, {@code mid.block_1/attn_1/block_2},
 *       {@code up.<level>.block.<i>} (numResBlocks + 1 per level; the list is indexed by level, so
 *       {@code up.3} runs first), {@code up.<level>.upsample.conv}, {@code norm_out}, {@code conv_out}.
 *       jddpm's {@code tools/torch/jddpm_unet.py} uses these names too, plus {@code label_emb.weight}
 *       for class-conditional models.</li>
 *   <li>{@link #DIFFUSERS}: diffusers' {@code UNet2DModel} ({@code google/ddpm-cifar10-32} and the
 *       other converted DDPM models): {@code time_embedding.linear_1/2}, {@code down_blocks.<level>.resnets.<i>}
 *       with {@code time_emb_proj} and {@code conv_shortcut}, {@code down_blocks.<level>.attentions.<i>}
 *       with {@code group_norm} and Linear ([C, C]) projections named {@code query/key/value/proj_attn}
 *       (before diffusers 0.15) or {@code to_q/to_k/to_v/to_out.0}, {@code downsamplers.0.conv},
 *       {@code mid_block.resnets.0/attentions.0/resnets.1}, {@code up_blocks.<k>} for level L−1−k
 *       (forward order), {@code upsamplers.0.conv}, {@code conv_norm_out}, {@code conv_out}.</li>
 * </ul>
 * Every mapping is a renaming; the only reshape is diffusers' attention [C, C] ↔ jddpm's [C, C, 1, 1],
 * which has the same bytes.
 */
public enum WeightLayout {
    JDDPM("jddpm", "temb.0.weight"),
    PYTORCH_DIFFUSION("pytorch_diffusion (the PyTorch port of the TF DDPM checkpoints)", "temb.dense.0.weight"),
    DIFFUSERS("diffusers UNet2DModel", "time_embedding.linear_1.weight");

    public final String description;
    /** A name every file in this layout holds (how {@link #detect} recognises it). */
    public final String marker;

    WeightLayout(String description, String marker) {
        this.description = description;
        this.marker = marker;
    }

    /** One parameter: its jddpm name, its name and shape in this layout. */
    public record Slot(String jddpmName, String name, int[] shape) {}

    /** What the tensor names and shapes of a file say about the network (not the image size or GroupNorm groups). */
    public record Architecture(int inChannels, int outChannels, int ch, int[] chMult, int numResBlocks, List<Integer> attnLevels,
                               int numClasses) {
        /** The paper's CIFAR-10 network (35,746,307 parameters at 32×32). */
        public boolean isCifar10() {
            return inChannels == 3 && outChannels == 3 && ch == 128 && Arrays.equals(chMult, new int[]{1, 2, 2, 2})
                    && numResBlocks == 2 && attnLevels.equals(List.of(1)) && numClasses == 0;
        }

        /** The paper's LSUN and CelebA-HQ network (256×256). */
        public boolean isLsun256() {
            return inChannels == 3 && outChannels == 3 && ch == 128 && Arrays.equals(chMult, new int[]{1, 1, 2, 2, 4, 4})
                    && numResBlocks == 2 && attnLevels.equals(List.of(4)) && numClasses == 0;
        }

        @Override public String toString() {
            return "ch " + ch + ", ch_mult " + Arrays.toString(chMult) + ", " + numResBlocks + " res blocks, attention at level(s) "
                    + attnLevels + ", " + inChannels + "→" + outChannels + " channels" + (numClasses > 0 ? ", " + numClasses + " classes" : "");
        }
    }

    /** The layout whose marker name is among {@code names}, or null. */
    public static WeightLayout detect(Collection<String> names) {
        for (WeightLayout l : values()) if (names.contains(l.marker)) return l;
        return null;
    }

    /** Diffusers files from 0.15 on name the attention projections to_q/to_k/to_v/to_out.0. */
    public static boolean newAttentionNames(Collection<String> names) {
        for (String n : names) if (n.endsWith(".to_q.weight")) return true;
        return false;
    }

    // ================================================================ names
    /**
     * Every parameter of a UNet with {@code cfg}, in jddpm's order, with its name and shape in this
     * layout ({@code newAttention}: diffusers' to_q/to_k/to_v/to_out.0 names, else query/key/value/proj_attn).
     */
    public List<Slot> slots(UNetConfig cfg, boolean newAttention) {
        if (this == DIFFUSERS && cfg.numClasses > 0)
            throw new CheckpointException("the diffusers layout has no class-conditional form here (jddpm's label table has a null row"
                    + " that UNet2DModel's class_embedding lacks)");
        UNet net = new UNet(cfg);
        Map<String, String> prefixes = new LinkedHashMap<>();   // jddpm module prefix → this layout's
        int levels = cfg.levels();
        prefixes.put("temb.0.", name("temb.0.", "temb.dense.0.", "time_embedding.linear_1."));
        prefixes.put("temb.2.", name("temb.2.", "temb.dense.1.", "time_embedding.linear_2."));
        prefixes.put("label_emb.", "label_emb.");
        prefixes.put("conv_in.", "conv_in.");
        pathPrefixes(prefixes, "down", net.down, levels);
        prefixes.put("mid.0.", name("mid.0.", "mid.block_1.", "mid_block.resnets.0."));
        prefixes.put("mid.1.", name("mid.1.", "mid.attn_1.", "mid_block.attentions.0."));
        prefixes.put("mid.2.", name("mid.2.", "mid.block_2.", "mid_block.resnets.1."));
        pathPrefixes(prefixes, "up", net.up, levels);
        prefixes.put("norm_out.", name("norm_out.", "norm_out.", "conv_norm_out."));
        prefixes.put("conv_out.", "conv_out.");

        List<Slot> out = new ArrayList<>();
        for (Map.Entry<String, int[]> e : net.parameterShapes().entrySet()) {
            String jn = e.getKey();
            String prefix = modulePrefix(jn, prefixes);
            String local = jn.substring(prefix.length());
            Module owner = ownerOf(net, prefix);
            int[] shape = e.getValue();
            String ln = local;
            if (owner instanceof ResBlock) ln = resBlockName(local);
            else if (owner instanceof AttnBlock) {
                ln = attnName(local, newAttention);
                if (this == DIFFUSERS && local.endsWith(".weight") && shape.length == 4) shape = new int[]{shape[0], shape[1]};
            }
            out.add(new Slot(jn, prefixes.get(prefix) + ln, shape));
        }
        return out;
    }

    /**
     * The prefixes of one path ("down" or "up"): jddpm's flat list index k → the level / block /
     * attention / resampler it is. The down path runs level 0 upwards, the up path from the top
     * level down; pytorch_diffusion indexes both by level, diffusers numbers up_blocks in forward order.
     */
    private void pathPrefixes(Map<String, String> prefixes, String path, ddpm.nn.ModuleList list, int levels) {
        boolean down = path.equals("down");
        int level = down ? 0 : levels - 1, block = 0, attn = 0;
        for (int k = 0; k < list.size(); k++) {
            Module m = list.get(k);
            String pd = path + "." + level + ".", df = path + "_blocks." + (down ? level : levels - 1 - level) + ".";
            String p = m instanceof ResBlock ? name(null, pd + "block." + block, df + "resnets." + block)
                    : m instanceof AttnBlock ? name(null, pd + "attn." + attn, df + "attentions." + attn)
                    : name(null, pd + (down ? "downsample" : "upsample"), df + (down ? "downsamplers.0" : "upsamplers.0"));
            prefixes.put(path + "." + k + ".", this == JDDPM ? path + "." + k + "." : p + ".");
            if (m instanceof ResBlock) block++;
            else if (m instanceof AttnBlock) attn++;
            else { level += down ? 1 : -1; block = 0; attn = 0; }   // a Downsample or Upsample ends the level
        }
    }

    private String name(String jddpm, String pytorchDiffusion, String diffusers) {
        return switch (this) {
            case JDDPM -> jddpm;
            case PYTORCH_DIFFUSION -> pytorchDiffusion;
            case DIFFUSERS -> diffusers;
        };
    }

    private static String modulePrefix(String jddpmName, Map<String, String> prefixes) {
        String best = null;
        for (String p : prefixes.keySet()) if (jddpmName.startsWith(p) && (best == null || p.length() > best.length())) best = p;
        if (best == null) throw new IllegalStateException("no layout prefix for '" + jddpmName + "'");
        return best;
    }

    private static Module ownerOf(UNet net, String prefix) {
        String[] parts = prefix.split("\\.");
        Module m = net;
        for (String part : parts) m = m.children().get(part);
        return m;
    }

    private String resBlockName(String local) {
        if (this == JDDPM) return local;
        if (local.startsWith("skip.")) return (this == DIFFUSERS ? "conv_shortcut." : "nin_shortcut.") + local.substring(5);
        if (local.startsWith("temb_proj.") && this == DIFFUSERS) return "time_emb_proj." + local.substring(10);
        return local;
    }

    private String attnName(String local, boolean newAttention) {
        if (this != DIFFUSERS) return local;
        int dot = local.indexOf('.');
        String module = local.substring(0, dot), rest = local.substring(dot);
        String renamed = switch (module) {
            case "norm" -> "group_norm";
            case "q" -> newAttention ? "to_q" : "query";
            case "k" -> newAttention ? "to_k" : "key";
            case "v" -> newAttention ? "to_v" : "value";
            case "proj_out" -> newAttention ? "to_out.0" : "proj_attn";
            default -> throw new IllegalStateException("unexpected attention parameter " + local);
        };
        return renamed + rest;
    }

    // ================================================================ inference
    private static final Pattern INDEX = Pattern.compile("^(down|down_blocks)\\.(\\d+)\\.");

    /**
     * The network a file's tensors describe, read from a few names and shapes (the full check is
     * {@link #slots} against every tensor). Throws CheckpointException naming the tensor it needed.
     */
    public Architecture infer(Map<String, int[]> shapes) {
        int[] in = need(shapes, "conv_in.weight", 4), out = need(shapes, "conv_out.weight", 4);
        int ch = in[0];
        String labelName = this == DIFFUSERS ? "class_embedding.weight" : "label_emb.weight";
        int classes = shapes.containsKey(labelName) ? Math.max(0, shapes.get(labelName)[0] - 1) : 0;
        List<Integer> attn = new ArrayList<>();
        List<Integer> mult = new ArrayList<>();
        int blocks;
        if (this == JDDPM) {
            // walk down.k: ResBlocks (conv1), AttnBlocks (q), Downsamples (conv) in forward order
            int level = 0, levelBlocks = 0;
            blocks = -1;
            for (int k = 0; ; k++) {
                String p = "down." + k + ".";
                if (shapes.containsKey(p + "conv1.weight")) {
                    if (levelBlocks == 0) mult.add(shapes.get(p + "conv1.weight")[0]);
                    levelBlocks++;
                } else if (shapes.containsKey(p + "q.weight")) {
                    if (!attn.contains(level)) attn.add(level);
                } else if (shapes.containsKey(p + "conv.weight")) {
                    if (blocks < 0) blocks = levelBlocks;
                    level++;
                    levelBlocks = 0;
                } else break;
            }
            if (mult.isEmpty()) throw new CheckpointException("no 'down.0.conv1.weight': not a jddpm U-Net");
            if (blocks < 0) blocks = levelBlocks;
        } else {
            TreeSet<Integer> levels = new TreeSet<>();
            for (String n : shapes.keySet()) {
                Matcher m = INDEX.matcher(n);
                if (m.find() && m.group(1).equals(this == DIFFUSERS ? "down_blocks" : "down")) levels.add(Integer.parseInt(m.group(2)));
            }
            if (levels.isEmpty() || levels.first() != 0 || levels.last() != levels.size() - 1)
                throw new CheckpointException("the " + description + " down path should have levels 0, 1, …; found " + levels);
            String res = this == DIFFUSERS ? ".resnets." : ".block.";
            String at = this == DIFFUSERS ? ".attentions.0.group_norm.weight" : ".attn.0.norm.weight";
            String downPrefix = this == DIFFUSERS ? "down_blocks." : "down.";
            blocks = 0;
            while (shapes.containsKey(downPrefix + "0" + res + blocks + ".conv1.weight")) blocks++;
            if (blocks == 0) throw new CheckpointException("missing '" + downPrefix + "0" + res + "0.conv1.weight'");
            for (int l : levels) {
                mult.add(need(shapes, downPrefix + l + res + "0.conv1.weight", 4)[0]);
                if (shapes.containsKey(downPrefix + l + at)) attn.add(l);
            }
        }
        int[] chMult = new int[mult.size()];
        for (int i = 0; i < chMult.length; i++) {
            if (mult.get(i) % ch != 0)
                throw new CheckpointException("level " + i + " is " + mult.get(i) + " channels wide, not a multiple of conv_in's " + ch);
            chMult[i] = mult.get(i) / ch;
        }
        return new Architecture(in[1], out[0], ch, chMult, blocks, attn, classes);
    }

    private static int[] need(Map<String, int[]> shapes, String name, int rank) {
        int[] s = shapes.get(name);
        if (s == null) throw new CheckpointException("missing '" + name + "'");
        if (s.length != rank) throw new CheckpointException("'" + name + "' has shape " + Arrays.toString(s) + ", expected rank " + rank);
        return s;
    }
}
