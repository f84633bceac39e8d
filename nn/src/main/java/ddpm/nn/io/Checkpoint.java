package ddpm.nn.io;

import ddpm.engine.DType;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import ddpm.nn.Classifier;
import ddpm.nn.ClassifierConfig;
import ddpm.nn.Module;
import ddpm.nn.Parameter;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Training checkpoints as safetensors files. Tensors, one per parameter, with PyTorch-style names:
 * <ul>
 *   <li>{@code <name>}: the model parameters (e.g. {@code down.0.conv1.weight}), so the file loads
 *       one-to-one into an equivalent PyTorch module ({@code safetensors.torch.load_file} and
 *       {@code load_state_dict(..., strict=False)});</li>
 *   <li>{@code ema.<name>}: the EMA weights; {@code optim.m.<name>}, {@code optim.v.<name>}: Adam's moments.</li>
 * </ul>
 * Metadata (strings): {@code format}, {@code config} (the UNetConfig JSON), {@code model} (class),
 * {@code step}, {@code optimizer} (JSON: type, betas, eps, weight decay, step count),
 * {@code ema_decay}, {@code rng.<key>.seed} / {@code rng.<key>.offset} for every stream saved
 * (the UNet's dropout stream as key {@code dropout}), {@code tensor_crc32} (JSON: every tensor's
 * name → the CRC-32 of its bytes, 8 hex digits, as Python's {@code zlib.crc32}), and any extra
 * entries the caller adds.
 *
 * <p>{@link #save} writes a temporary file and renames it atomically over the target. {@link #load}
 * validates everything first — the file's integrity, the config, and every expected tensor's
 * presence, dtype and shape, listing every problem in one {@link CheckpointException} — and reads
 * all data to the host before writing anything, so a failed load changes nothing. While reading it
 * checks each tensor against its checksum (files written before checksums existed have none and
 * load without that check) and refuses any tensor holding NaN or ±Inf, naming the first.
 */
public final class Checkpoint {
    public static final String FORMAT = "jddpm-checkpoint-1";
    public static final String EMA_PREFIX = "ema.", M_PREFIX = "optim.m.", V_PREFIX = "optim.v.";
    /** Metadata key of the per-tensor checksums. */
    public static final String CRC32_KEY = "tensor_crc32";

    private Checkpoint() {}

    /** What {@link #load} restored besides the tensors. */
    public record Loaded(long step, Map<String, Rng> rngs, Map<String, String> metadata, UNetConfig config) {}

    // ================================================================ save
    /**
     * Saves the model's parameters, and when given the EMA weights and the optimizer's moments and
     * step count, the training step, the RNG streams (the UNet's dropout stream is added as
     * "dropout"), the model config and {@code extra} metadata. opt, ema, rngs and extra may be null.
     */
    public static void save(Path path, Module model, Adam opt, Ema ema, long step, Map<String, Rng> rngs,
                            Map<String, String> extra) throws IOException {
        Tensor flat = model.flatParams();
        checkOwners(model, opt, ema);
        DType dt = flat.dtype();
        if (ema != null && ema.isSwapped())
            throw new IllegalStateException("save: the EMA weights are swapped into the model; swap back first");
        Map<String, String> meta = new LinkedHashMap<>();
        if (extra != null) meta.putAll(extra);
        meta.put("format", FORMAT);
        meta.put("model", model.getClass().getSimpleName());
        if (model instanceof UNet u) meta.put("config", u.config.toJson());
        if (model instanceof Classifier c) meta.put(CLASSIFIER_CONFIG, c.config.toJson());
        meta.put("dtype", SafeTensors.dtypeName(dt));
        meta.put("step", Long.toString(step));
        Map<String, Rng> all = new LinkedHashMap<>();
        if (model instanceof UNet u && u.dropoutRng() != null) all.put("dropout", u.dropoutRng());
        if (rngs != null) all.putAll(rngs);
        for (Map.Entry<String, Rng> e : all.entrySet()) {
            meta.put("rng." + e.getKey() + ".seed", Long.toString(e.getValue().seed()));
            meta.put("rng." + e.getKey() + ".offset", Long.toString(e.getValue().offset()));
        }
        if (opt != null) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("type", opt.getClass().getSimpleName());
            o.put("beta1", opt.beta1);
            o.put("beta2", opt.beta2);
            o.put("eps", opt.eps);
            o.put("weight_decay", opt.weightDecay);
            o.put("decoupled", opt.decoupled());
            o.put("step", opt.stepCount());
            meta.put("optimizer", Json.write(o));
        }
        if (ema != null) meta.put("ema_decay", Double.toString(ema.decay));

        List<Parameter> slots = model.parameterSlots();
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        addAll(ts, "", slots, host(flat));
        if (ema != null) addAll(ts, EMA_PREFIX, slots, host(ema.flat()));
        if (opt != null) {
            addAll(ts, M_PREFIX, slots, host(opt.m()));
            addAll(ts, V_PREFIX, slots, host(opt.v()));
        }
        meta.put(CRC32_KEY, checksums(ts));
        SafeTensors.write(path, ts, meta);
    }

    /** The {@link #CRC32_KEY} metadata value for these tensors. */
    static String checksums(List<SafeTensors.HostTensor> ts) {
        Map<String, Object> crc = new LinkedHashMap<>();
        for (SafeTensors.HostTensor t : ts) crc.put(t.name(), SafeTensors.crc32(t));
        return Json.write(crc);
    }

    /** The checksums a file's metadata holds (name → 8 hex digits), null when it has none (an older file). */
    static Map<String, String> checksums(Map<String, String> meta, Path path) {
        String v = meta.get(CRC32_KEY);
        if (v == null) return null;
        Map<String, String> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Object> e : Json.parseObject(v).entrySet()) out.put(e.getKey(), (String) e.getValue());
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new CheckpointException(path + " is corrupt: its " + CRC32_KEY + " metadata is not a JSON map of names to hex strings");
        }
        return out;
    }

    /**
     * Throws a one-line CheckpointException when {@code numel} values of {@code array} from
     * {@code offset} (a float[] or double[]) hold a NaN or ±Inf, naming the tensor.
     */
    static void requireFinite(Path path, String name, int[] shape, Object array, int offset, long numel) {
        int first = -1, bad = 0;
        double value = 0;
        for (int i = 0; i < numel; i++) {
            double x = array instanceof float[] f ? f[offset + i] : ((double[]) array)[offset + i];
            if (!Double.isFinite(x)) {
                if (first < 0) { first = i; value = x; }
                bad++;
            }
        }
        if (first >= 0)
            throw new CheckpointException(path + " is unusable: tensor '" + name + "' " + Arrays.toString(shape) + " holds " + value
                    + " at element " + first + (bad > 1 ? " (" + bad + " non-finite values in all)" : "")
                    + "; the file is damaged or was saved from a diverged run");
    }

    /** Whether a file holds EMA weights (tensors named ema.*). */
    public static boolean hasEma(SafeTensors.Header h) {
        for (String n : h.entries().keySet()) if (n.startsWith(EMA_PREFIX)) return true;
        return false;
    }

    private static Object host(Tensor flat) {
        return flat.dtype() == DType.F64 ? flat.toDoubles() : flat.toFloats();
    }

    private static void addAll(List<SafeTensors.HostTensor> ts, String prefix, List<Parameter> slots, Object data) {
        DType dt = data instanceof double[] ? DType.F64 : DType.F32;
        for (Parameter p : slots)
            ts.add(new SafeTensors.HostTensor(prefix + p.name(), dt, p.shape(), data, Math.toIntExact(p.flatOffset())));
    }

    // ================================================================ load
    /** Loads parameters, and EMA / optimizer state when those objects are given (they must then be in the file). */
    public static Loaded load(Path path, Module model, Adam opt, Ema ema) throws IOException {
        return load(path, model, opt, ema, false);
    }

    /**
     * Loads only weights into {@code model}: the EMA weights when {@code useEma} (what sampling
     * wants), else the raw parameters. The dropout RNG is restored too.
     */
    public static Loaded loadWeights(Path path, Module model, boolean useEma) throws IOException {
        return load(path, model, null, null, useEma);
    }

    /** A UNet built from the checkpoint's config on {@code device} (F32), with its EMA or raw weights. */
    public static UNet loadUNet(Path path, ddpm.engine.Device device, boolean useEma) throws IOException {
        UNet net = new UNet(readConfig(path), device, 0);
        try {
            loadWeights(path, net, useEma);
            return net;
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /** Metadata key of a {@link Classifier}'s config (JSON). */
    public static final String CLASSIFIER_CONFIG = "classifier.config";

    /** A Classifier built from the checkpoint's config (metadata {@value #CLASSIFIER_CONFIG}) on {@code device} (F32), in eval mode. */
    public static Classifier loadClassifier(Path path, ddpm.engine.Device device) throws IOException {
        String c = readMetadata(path).get(CLASSIFIER_CONFIG);
        if (c == null) throw new CheckpointException(path + " holds no classifier (metadata '" + CLASSIFIER_CONFIG + "' is missing)");
        Classifier net = new Classifier(ClassifierConfig.fromJson(c), device, 0);
        try {
            loadWeights(path, net, false);
            return net.eval();
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
    }

    private static Loaded load(Path path, Module model, Adam opt, Ema ema, boolean emaIntoModel) throws IOException {
        checkOwners(model, opt, ema);
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "checkpoint not found");
        SafeTensors.Header h = SafeTensors.readHeader(path);
        Map<String, String> meta = h.metadata();
        List<String> problems = new ArrayList<>();
        if (!FORMAT.equals(meta.get("format")))
            problems.add("format is '" + meta.get("format") + "', expected '" + FORMAT + "'");
        UNetConfig cfg = null;
        if (meta.containsKey("config")) {
            try {
                cfg = UNetConfig.fromJson(meta.get("config"));
            } catch (RuntimeException e) {
                problems.add("config metadata is invalid: " + e.getMessage());
            }
        }
        if (model instanceof UNet u) {
            if (cfg == null && !meta.containsKey("config")) problems.add("the file has no model config");
            else if (cfg != null) for (String d : u.config.differences(cfg, true))
                problems.add("config differs: " + d + " (model vs checkpoint)");
        }
        Tensor flat = model.flatParams();
        String dt = SafeTensors.dtypeName(flat.dtype());
        List<Parameter> slots = model.parameterSlots();
        List<String> prefixes = new ArrayList<>();
        prefixes.add(emaIntoModel ? EMA_PREFIX : "");
        if (ema != null) prefixes.add(EMA_PREFIX);
        if (opt != null) { prefixes.add(M_PREFIX); prefixes.add(V_PREFIX); }
        List<SafeTensors.Entry> toRead = new ArrayList<>();
        List<Integer> which = new ArrayList<>(), offsets = new ArrayList<>();
        for (int pi = 0; pi < prefixes.size(); pi++) {
            String prefix = prefixes.get(pi);
            for (Parameter p : slots) {
                String name = prefix + p.name();
                SafeTensors.Entry e = h.entries().get(name);
                if (e == null) { problems.add("missing '" + name + "' " + Arrays.toString(p.shape())); continue; }
                boolean ok = true;
                if (!e.dtype().equals(dt)) { problems.add("'" + name + "': dtype " + e.dtype() + " but the model is " + dt); ok = false; }
                if (!Arrays.equals(e.shape(), p.shape())) {
                    problems.add("'" + name + "': shape " + Arrays.toString(e.shape()) + " but the model has " + Arrays.toString(p.shape()));
                    ok = false;
                }
                if (ok) { toRead.add(e); which.add(pi); offsets.add(Math.toIntExact(p.flatOffset())); }
            }
        }
        // names in the model's namespaces that the model does not have
        java.util.Set<String> known = new java.util.HashSet<>();
        for (Parameter p : slots) known.add(p.name());
        for (String name : h.entries().keySet()) {
            String base = name.startsWith(EMA_PREFIX) ? name.substring(EMA_PREFIX.length())
                    : name.startsWith(M_PREFIX) ? name.substring(M_PREFIX.length())
                    : name.startsWith(V_PREFIX) ? name.substring(V_PREFIX.length()) : name;
            if (!known.contains(base)) problems.add("unexpected '" + name + "' " + Arrays.toString(h.entries().get(name).shape()) + " (not in the model)");
        }
        long step = 0, optStep = 0;
        try {
            step = Long.parseLong(meta.getOrDefault("step", "0"));
        } catch (NumberFormatException e) {
            problems.add("bad step metadata '" + meta.get("step") + "'");
        }
        if (opt != null) {
            try {
                Map<String, Object> o = Json.parseObject(meta.getOrDefault("optimizer", "{}"));
                Object s = o.get("step");
                if (!(s instanceof Number)) problems.add("the file has no optimizer state (metadata 'optimizer')");
                else optStep = ((Number) s).longValue();
                if (o.get("decoupled") instanceof Boolean d && d != opt.decoupled())
                    problems.add("optimizer type differs: checkpoint " + o.get("type") + ", given " + opt.getClass().getSimpleName());
            } catch (IllegalArgumentException e) {
                problems.add("bad optimizer metadata: " + e.getMessage());
            }
        }
        Map<String, String> crc = null;
        try {
            crc = checksums(meta, path);
        } catch (CheckpointException e) {
            problems.add(e.getMessage());
        }
        if (crc != null) for (SafeTensors.Entry e : toRead)
            if (!crc.containsKey(e.name())) problems.add("'" + e.name() + "' has no checksum in the " + CRC32_KEY + " metadata");
        Map<String, Rng> rngs = new LinkedHashMap<>();
        for (String k : meta.keySet()) {
            if (!k.startsWith("rng.") || !k.endsWith(".seed")) continue;
            String key = k.substring(4, k.length() - 5);
            try {
                rngs.put(key, new Rng(Long.parseLong(meta.get(k)), Long.parseLong(meta.get("rng." + key + ".offset"))));
            } catch (NumberFormatException | NullPointerException e) {
                problems.add("bad RNG state for '" + key + "'");
            }
        }
        if (!problems.isEmpty())
            throw new CheckpointException("cannot load checkpoint " + path + " into " + model.getClass().getSimpleName()
                    + " (" + problems.size() + " problem" + (problems.size() == 1 ? "" : "s") + "):\n  " + String.join("\n  ", problems));

        // read everything to the host first: a read error leaves the model untouched
        boolean f64 = flat.dtype() == DType.F64;
        int n = Math.toIntExact(flat.numel());
        Object[] bufs = new Object[prefixes.size()];
        for (int i = 0; i < bufs.length; i++) bufs[i] = f64 ? new double[n] : new float[n];
        List<Object> arrays = new ArrayList<>();
        for (int w : which) arrays.add(bufs[w]);
        SafeTensors.readAll(path, h, toRead, arrays, offsets.stream().mapToInt(Integer::intValue).toArray(), crc);
        for (int i = 0; i < toRead.size(); i++)
            requireFinite(path, toRead.get(i).name(), toRead.get(i).shape(), arrays.get(i), offsets.get(i), toRead.get(i).numel());

        Tensor[] targets = new Tensor[prefixes.size()];
        for (int i = 0; i < prefixes.size(); i++) {
            String p = prefixes.get(i);
            targets[i] = i == 0 ? flat : p.equals(EMA_PREFIX) ? ema.flat() : p.equals(M_PREFIX) ? opt.m() : opt.v();
        }
        for (int i = 0; i < targets.length; i++) {
            if (f64) targets[i].copyFrom((double[]) bufs[i]);
            else targets[i].copyFrom((float[]) bufs[i]);
        }
        if (opt != null) opt.setStepCount(optStep);
        if (model instanceof UNet u && rngs.containsKey("dropout")) {
            Rng r = rngs.get("dropout");
            u.setDropoutRng(new Rng(r.seed(), r.offset()));
        }
        return new Loaded(step, rngs, meta, cfg);
    }

    private static void checkOwners(Module model, Adam opt, Ema ema) {
        if (opt != null && !opt.isFor(model)) throw new IllegalArgumentException("the optimizer belongs to another model");
        if (ema != null && ema.model() != model) throw new IllegalArgumentException("the EMA belongs to another model");
    }

    /** The metadata of a checkpoint (validates the file's structure). */
    public static Map<String, String> readMetadata(Path path) throws IOException {
        return SafeTensors.readHeader(path).metadata();
    }

    /** The UNetConfig a checkpoint was saved with. */
    public static UNetConfig readConfig(Path path) throws IOException {
        String c = readMetadata(path).get("config");
        if (c == null) throw new CheckpointException(path + " holds no model config");
        return UNetConfig.fromJson(c);
    }
}
