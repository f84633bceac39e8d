package ddpm.nn.io;

import ddpm.engine.Device;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Ema;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * U-Net weights from any file jddpm reads: its own checkpoints, and safetensors state dicts in the
 * layouts of {@link WeightLayout} (a PyTorch model's, the paper's converted CIFAR-10 / LSUN /
 * CelebA-HQ weights) — converted on load, or once by {@link #convert} into a jddpm checkpoint.
 *
 * <p>A state dict says the network's widths, depth, attention levels and classes, but not the image
 * size, the GroupNorm groups or the downsampling padding. Those come, in this order, from the
 * caller's {@code hint} (a partial config: jddpm's JSON keys, or translated from a diffusers
 * {@code config.json} by {@link DiffusersConfig}), the file's own {@code config} metadata (what
 * {@code tools/torch/jddpm_unet.py} writes), or defaults: 32 groups, the paper's image size for its
 * two published networks (32 for CIFAR-10, 256 for LSUN / CelebA-HQ), TF "SAME" downsampling for
 * the paper's layouts (the weights were trained with it), dropout 0.1 for CIFAR-10 and 0 otherwise.
 * Then every tensor is checked against the config, and the first name or shape that does not fit
 * is reported.
 */
public final class WeightFiles {
    private WeightFiles() {}

    /** A model ready for inference: its metadata, which weights it holds, and where they came from. */
    public record Loaded(UNet net, Map<String, String> metadata, String weights, String source, List<String> notes) {}

    /** What a state-dict file holds and how it maps onto jddpm's UNet. */
    public record Plan(Path file, WeightLayout layout, UNetConfig config, List<WeightLayout.Slot> slots, SafeTensors.Header header,
                       String strippedPrefix, List<String> notes) {}

    /** True for jddpm's own checkpoints (format metadata). */
    public static boolean isJddpmCheckpoint(SafeTensors.Header h) {
        return Checkpoint.FORMAT.equals(h.metadata().get("format"));
    }

    // ================================================================ load
    /**
     * A UNet (F32, on {@code device}, in eval mode) from {@code file}: a jddpm checkpoint (its EMA
     * weights when {@code useEma} and it has them, else its raw ones) or a state dict in a known layout.
     */
    public static Loaded load(Path file, Device device, boolean useEma, Map<String, Object> hint) throws IOException {
        SafeTensors.Header h = readHeader(file);
        if (isJddpmCheckpoint(h)) {
            UNetConfig cfg = Checkpoint.readConfig(file);
            if (hint != null) checkHint(cfg, hint, file);
            boolean ema = useEma && Checkpoint.hasEma(h);
            UNet net = Checkpoint.loadUNet(file, device, ema);
            net.eval();
            String source = h.metadata().getOrDefault("source", "jddpm checkpoint");
            return new Loaded(net, h.metadata(), ema ? "EMA" : useEma ? "its only set of" : "raw", source, List.of());
        }
        Plan p = plan(file, h, hint);
        UNet net = new UNet(p.config, device, 0);
        try {
            float[] host = read(p, net);
            net.flatParams().backend().write(net.flatParams(), host);
            net.eval();
            Map<String, String> meta = new LinkedHashMap<>(h.metadata());
            return new Loaded(net, meta, "its only set of", p.layout.description + " state dict", p.notes);
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /**
     * Writes {@code weights} (and, when given, {@code emaWeights}: the same network's EMA weights,
     * which sampling then uses) as a jddpm checkpoint {@code out}, with {@code extra} metadata.
     * Returns the plan of {@code weights}.
     */
    public static Plan convert(Path weights, Path emaWeights, Path out, Map<String, Object> hint, Map<String, String> extra) throws IOException {
        SafeTensors.Header h = readHeader(weights);
        if (isJddpmCheckpoint(h)) throw new CheckpointException(weights + " is a jddpm checkpoint already: Sample, EvalNll and TrainCifar read it as it is");
        Plan p = plan(weights, h, hint);
        Plan pe = null;
        if (emaWeights != null) {
            pe = plan(emaWeights, readHeader(emaWeights), hint);
            if (!pe.config.equals(p.config))
                throw new CheckpointException(emaWeights + " holds another network than " + weights + ": "
                        + String.join(", ", p.config.differences(pe.config, false)));
        }
        try (UNet net = new UNet(p.config, Device.CPU, 0)) {
            net.flatParams().backend().write(net.flatParams(), read(p, net));
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("source", p.layout.description + " state dict " + weights.getFileName()
                    + (pe != null ? " (EMA: " + emaWeights.getFileName() + ")" : ""));
            if (extra != null) meta.putAll(extra);
            if (pe == null) {
                Checkpoint.save(out, net, null, null, stepOf(extra), null, meta);
            } else {
                try (Ema ema = new Ema(net)) {
                    ema.flat().backend().write(ema.flat(), read(pe, net));
                    Checkpoint.save(out, net, null, ema, stepOf(extra), null, meta);
                }
            }
        }
        return p;
    }

    private static long stepOf(Map<String, String> extra) {
        return extra != null && extra.containsKey("step") ? Long.parseLong(extra.get("step")) : 0;
    }

    // ================================================================ plan
    /** Reads the header and works out the layout, the config and the mapping (no tensor data is read). */
    public static Plan plan(Path file, Map<String, Object> hint) throws IOException {
        SafeTensors.Header h = readHeader(file);
        if (isJddpmCheckpoint(h)) throw new CheckpointException(file + " is a jddpm checkpoint already: Sample, EvalNll and TrainCifar read it as it is");
        return plan(file, h, hint);
    }

    static Plan plan(Path file, SafeTensors.Header h, Map<String, Object> hint) {
        List<String> notes = new ArrayList<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        String strip = "module.";   // torch.nn.DataParallel's prefix, when every name has it
        for (String n : h.entries().keySet()) if (!n.startsWith(strip)) { strip = ""; break; }
        if (h.entries().isEmpty()) strip = "";
        for (SafeTensors.Entry e : h.entries().values()) shapes.put(e.name().substring(strip.length()), e.shape());
        WeightLayout layout = WeightLayout.detect(shapes.keySet());
        if (layout == null) {
            String first = shapes.isEmpty() ? "(no tensors)" : "'" + shapes.keySet().iterator().next() + "' "
                    + Arrays.toString(shapes.values().iterator().next());
            throw new CheckpointException(file + " is not a DDPM U-Net in a layout jddpm reads (jddpm, pytorch_diffusion, diffusers"
                    + " UNet2DModel): it has none of temb.0.weight, temb.dense.0.weight, time_embedding.linear_1.weight; its first tensor is " + first);
        }
        UNetConfig cfg;
        List<WeightLayout.Slot> slots;
        try {
            cfg = config(layout, shapes, h.metadata(), hint, notes);
            slots = layout.slots(cfg, WeightLayout.newAttentionNames(shapes.keySet()));
        } catch (IllegalArgumentException | CheckpointException e) {
            throw new CheckpointException(file + " (" + layout.description + "): " + e.getMessage());
        }
        verify(file, layout, cfg, slots, h, strip);
        return new Plan(file, layout, cfg, slots, h, strip, notes);
    }

    private static UNetConfig config(WeightLayout layout, Map<String, int[]> shapes, Map<String, String> meta,
                                     Map<String, Object> hint, List<String> notes) {
        Map<String, Object> hints = hint == null ? Map.of() : hint;
        String saved = meta.get("config");
        if (saved != null) {
            Map<String, Object> m = new LinkedHashMap<>(UNetConfig.fromJson(saved).toMap());
            m.putAll(hints);
            return UNetConfig.fromJson(Json.write(m));
        }
        WeightLayout.Architecture a = layout.infer(shapes);
        Map<String, Object> m = new LinkedHashMap<>();
        Object res = hints.get("resolution");
        if (res == null) {
            if (a.isCifar10()) {
                res = 32;
                notes.add("the paper's CIFAR-10 network: 32×32 images");
            } else if (a.isLsun256()) {
                res = 256;
                notes.add("the paper's LSUN / CelebA-HQ network: 256×256 images");
            } else {
                throw new CheckpointException("the weights (" + a + ") do not say the image size: give it with"
                        + " --config '{\"resolution\": N}' (or a config JSON file)");
            }
        }
        int r = ((Number) res).intValue();
        m.put("resolution", r);
        m.put("in_channels", a.inChannels());
        m.put("out_channels", a.outChannels());
        m.put("ch", a.ch());
        m.put("ch_mult", a.chMult());
        m.put("num_res_blocks", a.numResBlocks());
        List<Integer> attn = new ArrayList<>();
        for (int l : a.attnLevels()) attn.add(r >> l);
        m.put("attn_resolutions", attn);
        m.put("dropout", a.isCifar10() ? 0.1 : 0.0);
        m.put("num_classes", a.numClasses());
        m.put("groups", GROUPS);
        m.put("downsample_pad", layout == WeightLayout.JDDPM ? UNetConfig.DownsamplePad.SYMMETRIC.json : UNetConfig.DownsamplePad.TF_SAME.json);
        if (layout == WeightLayout.DIFFUSERS && !hints.containsKey("downsample_pad"))
            notes.add("no config.json given: assuming the settings of diffusers' DDPM conversions (flip_sin_to_cos false, freq_shift 1,"
                    + " downsample_padding 0, norm_eps 1e-6, one attention head); pass it with --config to have them checked");
        m.putAll(hints);
        return UNetConfig.fromJson(Json.write(m));
    }

    private static final int GROUPS = 32;

    /** Every slot present with its shape, in a float dtype, and nothing else in the file; the first problem throws. */
    private static void verify(Path file, WeightLayout layout, UNetConfig cfg, List<WeightLayout.Slot> slots, SafeTensors.Header h, String strip) {
        List<String> problems = new ArrayList<>();
        Set<String> expected = new java.util.HashSet<>();
        for (WeightLayout.Slot s : slots) {
            expected.add(s.name());
            SafeTensors.Entry e = h.entries().get(strip + s.name());
            if (e == null) problems.add("'" + s.name() + "' " + Arrays.toString(s.shape()) + " is missing");
            else if (!Arrays.equals(e.shape(), s.shape()))
                problems.add("'" + s.name() + "' has shape " + Arrays.toString(e.shape()) + " where " + Arrays.toString(s.shape()) + " is needed");
            else if (!Set.of("F32", "F16", "BF16", "F64").contains(e.dtype()))
                problems.add("'" + s.name() + "' is " + e.dtype() + ", not a floating-point tensor");
        }
        for (SafeTensors.Entry e : h.entries().values()) {
            String n = e.name().substring(strip.length());
            if (!expected.contains(n)) problems.add("'" + n + "' " + Arrays.toString(e.shape()) + " is not part of this network");
        }
        if (!problems.isEmpty())
            throw new CheckpointException(file + " (" + layout.description + ") does not fit a U-Net with " + summary(cfg) + ": "
                    + problems.get(0) + (problems.size() > 1 ? " (" + problems.size() + " problems in all)" : ""));
    }

    static String summary(UNetConfig c) {
        return c.inChannels + "×" + c.resolution + "×" + c.resolution + ", ch " + c.ch + ", ch_mult " + Arrays.toString(c.chMult())
                + ", " + c.numResBlocks + " res blocks, attention at " + Arrays.toString(c.attnResolutions())
                + (c.numClasses > 0 ? ", " + c.numClasses + " classes" : "");
    }

    /** All of a plan's tensors, converted to float32, in the flat-buffer layout of {@code net} (built from the plan's config). */
    static float[] read(Plan p, UNet net) throws IOException {
        Map<String, Integer> offsets = new LinkedHashMap<>();
        for (ddpm.nn.Parameter q : net.parameterSlots()) offsets.put(q.name(), Math.toIntExact(q.flatOffset()));
        float[] flat = new float[Math.toIntExact(net.flatParams().numel())];
        List<SafeTensors.Entry> entries = new ArrayList<>();
        List<Object> arrays = new ArrayList<>();
        int[] at = new int[p.slots.size()];
        for (int i = 0; i < at.length; i++) {
            WeightLayout.Slot s = p.slots.get(i);
            entries.add(p.header.entries().get(p.strippedPrefix + s.name()));
            arrays.add(flat);
            at[i] = offsets.get(s.jddpmName());
        }
        SafeTensors.readAll(p.file, p.header, entries, arrays, at, Checkpoint.checksums(p.header.metadata(), p.file));
        for (int i = 0; i < at.length; i++)
            Checkpoint.requireFinite(p.file, entries.get(i).name(), entries.get(i).shape(), flat, at[i], entries.get(i).numel());
        return flat;
    }

    // ================================================================ helpers
    /**
     * A config hint from a command-line value: inline JSON (starting with '{') or a JSON file,
     * holding jddpm's config keys (some or all) or a diffusers config.json. Throws
     * IllegalArgumentException naming what is wrong.
     */
    public static Map<String, Object> configHint(String arg) throws IOException {
        String text = arg.strip();
        String where = "inline JSON";
        if (!text.startsWith("{")) {
            Path p = Path.of(arg);
            if (!Files.isRegularFile(p)) throw new NoSuchFileException(p.toAbsolutePath().toString(), null, "config file not found");
            text = Files.readString(p);
            where = p.toString();
        }
        Map<String, Object> m;
        try {
            m = Json.parseObject(text.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + " is not a JSON object: " + e.getMessage());
        }
        if (DiffusersConfig.looksLike(m)) return DiffusersConfig.toHint(m);
        Set<String> known = new UNetConfig().toMap().keySet();
        for (String k : m.keySet())
            if (!known.contains(k)) throw new IllegalArgumentException(where + ": unknown config key '" + k + "' (known: " + String.join(", ", known) + ")");
        return m;
    }

    private static SafeTensors.Header readHeader(Path file) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "weights file not found");
        byte[] head = new byte[8];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, 8);
        }
        boolean zip = n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        boolean pickle = n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5;
        if (zip || pickle)
            throw new CheckpointException(file + " is a PyTorch pickle (torch.save) file, which jddpm does not read (unpickling runs code);"
                    + " convert it to safetensors where PyTorch is installed: python3 tools/torch/jddpm_unet.py to-safetensors "
                    + file + " " + file.getFileName().toString().replaceAll("\\.[A-Za-z]+$", "") + ".safetensors");
        return SafeTensors.readHeader(file);
    }

    /** A hint given with a jddpm checkpoint must agree with its config (dropout aside). */
    private static void checkHint(UNetConfig cfg, Map<String, Object> hint, Path file) {
        Map<String, Object> m = new LinkedHashMap<>(cfg.toMap());
        m.putAll(hint);
        List<String> d = cfg.differences(UNetConfig.fromJson(Json.write(m)), true);
        if (!d.isEmpty())
            throw new CheckpointException("the config given differs from the one in " + file + " (checkpoint vs given): " + String.join(", ", d));
    }
}
