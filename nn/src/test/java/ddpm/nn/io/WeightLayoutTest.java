package ddpm.nn.io;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The two layouts the paper's weights circulate in, checked against name lists written here from
 * the original architecture (not from {@link WeightLayout}): every name and shape of the CIFAR-10
 * model in the pytorch_diffusion and diffusers (both attention namings) layouts, 35,746,307
 * parameters; loading synthetic files in each layout puts every value where the other layout and
 * jddpm's own names put it; and wrong files are refused naming the first bad name or shape.
 * (That the mapped network computes the same ε̂ as the original structure is TorchParityTest's part.)
 */
class WeightLayoutTest {
    @TempDir Path dir;

    // ================================================================ names written from the architecture
    /** pytorch_diffusion's Model: names and shapes in state_dict order. */
    static LinkedHashMap<String, int[]> pytorchDiffusion(int ch, int[] mult, int nb, List<Integer> attnLevels, int in, int out) {
        LinkedHashMap<String, int[]> m = new LinkedHashMap<>();
        int temb = 4 * ch;
        linear(m, "temb.dense.0", ch, temb);
        linear(m, "temb.dense.1", temb, temb);
        conv(m, "conv_in", in, ch, 3);
        int[] inMult = new int[mult.length + 1];
        inMult[0] = 1;
        System.arraycopy(mult, 0, inMult, 1, mult.length);
        int blockIn = ch;
        for (int i = 0; i < mult.length; i++) {
            blockIn = ch * inMult[i];
            int blockOut = ch * mult[i];
            for (int j = 0; j < nb; j++) {
                resBlock(m, "down." + i + ".block." + j, blockIn, blockOut, temb, "nin_shortcut", "temb_proj");
                blockIn = blockOut;
            }
            if (attnLevels.contains(i)) for (int j = 0; j < nb; j++) attn(m, "down." + i + ".attn." + j, blockIn, false, false);
            if (i != mult.length - 1) conv(m, "down." + i + ".downsample.conv", blockIn, blockIn, 3);
        }
        resBlock(m, "mid.block_1", blockIn, blockIn, temb, "nin_shortcut", "temb_proj");
        attn(m, "mid.attn_1", blockIn, false, false);
        resBlock(m, "mid.block_2", blockIn, blockIn, temb, "nin_shortcut", "temb_proj");
        // torch orders state_dict by registration: the up list was built from the top level down and
        // prepended, so up.0 comes first in the list but was registered last; order does not matter here
        for (int i = mult.length - 1; i >= 0; i--) {
            int blockOut = ch * mult[i];
            for (int j = 0; j <= nb; j++) {
                int skip = j == nb ? ch * inMult[i] : ch * mult[i];
                resBlock(m, "up." + i + ".block." + j, blockIn + skip, blockOut, temb, "nin_shortcut", "temb_proj");
                blockIn = blockOut;
            }
            if (attnLevels.contains(i)) for (int j = 0; j <= nb; j++) attn(m, "up." + i + ".attn." + j, blockIn, false, false);
            if (i != 0) conv(m, "up." + i + ".upsample.conv", blockIn, blockIn, 3);
        }
        norm(m, "norm_out", blockIn);
        conv(m, "conv_out", blockIn, out, 3);
        return m;
    }

    /** diffusers' UNet2DModel (DownBlock2D / AttnDownBlock2D, UpBlock2D / AttnUpBlock2D). */
    static LinkedHashMap<String, int[]> diffusers(int ch, int[] mult, int nb, List<Integer> attnLevels, int in, int out, boolean toQ) {
        LinkedHashMap<String, int[]> m = new LinkedHashMap<>();
        int temb = 4 * ch, levels = mult.length;
        conv(m, "conv_in", in, ch, 3);
        linear(m, "time_embedding.linear_1", ch, temb);
        linear(m, "time_embedding.linear_2", temb, temb);
        int c = ch;
        for (int i = 0; i < levels; i++) {
            int o = ch * mult[i];
            for (int j = 0; j < nb; j++) {
                if (attnLevels.contains(i)) attn(m, "down_blocks." + i + ".attentions." + j, o, true, toQ);
                resBlock(m, "down_blocks." + i + ".resnets." + j, j == 0 ? c : o, o, temb, "conv_shortcut", "time_emb_proj");
            }
            c = o;
            if (i != levels - 1) conv(m, "down_blocks." + i + ".downsamplers.0.conv", o, o, 3);
        }
        attn(m, "mid_block.attentions.0", c, true, toQ);
        resBlock(m, "mid_block.resnets.0", c, c, temb, "conv_shortcut", "time_emb_proj");
        resBlock(m, "mid_block.resnets.1", c, c, temb, "conv_shortcut", "time_emb_proj");
        for (int k = 0; k < levels; k++) {
            int level = levels - 1 - k, o = ch * mult[level];
            int prevOut = c;
            for (int j = 0; j <= nb; j++) {
                int skip = j == nb ? ch * mult[Math.max(level - 1, 0)] : o;
                int resIn = j == 0 ? prevOut : o;
                if (attnLevels.contains(level)) attn(m, "up_blocks." + k + ".attentions." + j, o, true, toQ);
                resBlock(m, "up_blocks." + k + ".resnets." + j, resIn + skip, o, temb, "conv_shortcut", "time_emb_proj");
            }
            c = o;
            if (level != 0) conv(m, "up_blocks." + k + ".upsamplers.0.conv", o, o, 3);
        }
        norm(m, "conv_norm_out", c);
        conv(m, "conv_out", c, out, 3);
        return m;
    }

    static void linear(Map<String, int[]> m, String p, int in, int out) {
        m.put(p + ".weight", new int[]{out, in});
        m.put(p + ".bias", new int[]{out});
    }

    static void conv(Map<String, int[]> m, String p, int in, int out, int k) {
        m.put(p + ".weight", new int[]{out, in, k, k});
        m.put(p + ".bias", new int[]{out});
    }

    static void norm(Map<String, int[]> m, String p, int c) {
        m.put(p + ".weight", new int[]{c});
        m.put(p + ".bias", new int[]{c});
    }

    static void resBlock(Map<String, int[]> m, String p, int in, int out, int temb, String shortcut, String tembProj) {
        norm(m, p + ".norm1", in);
        conv(m, p + ".conv1", in, out, 3);
        linear(m, p + "." + tembProj, temb, out);
        norm(m, p + ".norm2", out);
        conv(m, p + ".conv2", out, out, 3);
        if (in != out) conv(m, p + "." + shortcut, in, out, 1);
    }

    static void attn(Map<String, int[]> m, String p, int c, boolean linear, boolean toQ) {
        norm(m, p + (linear ? ".group_norm" : ".norm"), c);
        String[] names = !linear ? new String[]{"q", "k", "v", "proj_out"}
                : toQ ? new String[]{"to_q", "to_k", "to_v", "to_out.0"} : new String[]{"query", "key", "value", "proj_attn"};
        for (String n : names) {
            if (linear) linear(m, p + "." + n, c, c);
            else conv(m, p + "." + n, c, c, 1);
        }
    }

    static final int[] CIFAR_MULT = {1, 2, 2, 2};

    static long total(Map<String, int[]> m) {
        long n = 0;
        for (int[] s : m.values()) n += Arrays.stream(s).asLongStream().reduce(1, (a, b) -> a * b);
        return n;
    }

    /** Same names and shapes (any order); a failure names the first difference rather than printing both maps. */
    static void assertSameShapes(Map<String, int[]> expected, Map<String, int[]> actual, String what) {
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            assertTrue(actual.containsKey(e.getKey()), what + ": missing " + e.getKey());
            assertArrayEquals(e.getValue(), actual.get(e.getKey()), what + ": shape of " + e.getKey());
        }
        for (String k : actual.keySet()) assertTrue(expected.containsKey(k), what + ": unexpected " + k);
    }

    static Map<String, int[]> slotShapes(List<WeightLayout.Slot> slots) {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (WeightLayout.Slot s : slots) m.put(s.name(), s.shape());
        return m;
    }

    // ================================================================ every name, every shape
    @Test void theCifar10ModelInBothLayoutsNameForName() {
        UNetConfig paper = UNetConfig.cifar10().withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME);
        Map<String, int[]> pd = pytorchDiffusion(128, CIFAR_MULT, 2, List.of(1), 3, 3);
        assertEquals(35_746_307L, total(pd));
        assertSameShapes(pd, slotShapes(WeightLayout.PYTORCH_DIFFUSION.slots(paper, false)), "pytorch_diffusion");
        for (boolean toQ : new boolean[]{false, true}) {
            Map<String, int[]> df = diffusers(128, CIFAR_MULT, 2, List.of(1), 3, 3, toQ);
            assertEquals(35_746_307L, total(df));
            assertEquals(pd.size(), df.size());
            assertSameShapes(df, slotShapes(WeightLayout.DIFFUSERS.slots(paper, toQ)), "diffusers, to_q names: " + toQ);
        }
        assertEquals(35_746_307L, total(slotShapes(WeightLayout.JDDPM.slots(paper, false))));
        assertEquals(UNet.countParameters(paper), total(pd));
        // the names the issue and the published files show
        List<String> names = WeightLayout.PYTORCH_DIFFUSION.slots(paper, false).stream().map(WeightLayout.Slot::name).toList();
        for (String n : List.of("temb.dense.0.weight", "down.0.block.0.norm1.weight", "down.1.attn.0.q.weight", "mid.block_1.conv1.weight",
                "up.3.upsample.conv.weight", "up.0.block.2.nin_shortcut.weight", "norm_out.weight", "conv_out.bias"))
            assertTrue(names.contains(n), n);
    }

    @Test void architectureIsReadFromTheNames() {
        for (WeightLayout l : WeightLayout.values()) {
            Map<String, int[]> shapes = l == WeightLayout.PYTORCH_DIFFUSION ? pytorchDiffusion(128, CIFAR_MULT, 2, List.of(1), 3, 3)
                    : l == WeightLayout.DIFFUSERS ? diffusers(128, CIFAR_MULT, 2, List.of(1), 3, 3, true)
                    : slotShapes(l.slots(UNetConfig.cifar10(), false));
            assertEquals(l, WeightLayout.detect(shapes.keySet()));
            WeightLayout.Architecture a = l.infer(shapes);
            assertTrue(a.isCifar10(), l + ": " + a);
        }
        // LSUN / CelebA-HQ: 256 px, ch_mult 1,1,2,2,4,4, attention at 16 px = level 4 (only the names are needed)
        Map<String, int[]> lsun = pytorchDiffusion(128, new int[]{1, 1, 2, 2, 4, 4}, 2, List.of(4), 3, 3);
        WeightLayout.Architecture a = WeightLayout.PYTORCH_DIFFUSION.infer(lsun);
        assertTrue(a.isLsun256(), a.toString());
        UNetConfig lsunCfg = new UNetConfig(256, 3, 3, 128, new int[]{1, 1, 2, 2, 4, 4}, 2, new int[]{16}, 0.0, 0, 32,
                UNetConfig.DownsamplePad.TF_SAME);
        assertSameShapes(lsun, slotShapes(WeightLayout.PYTORCH_DIFFUSION.slots(lsunCfg, false)), "LSUN pytorch_diffusion");
        assertSameShapes(diffusers(128, new int[]{1, 1, 2, 2, 4, 4}, 2, List.of(4), 3, 3, false),
                slotShapes(WeightLayout.DIFFUSERS.slots(lsunCfg, false)), "LSUN diffusers");
    }

    // ================================================================ files
    /** Writes a safetensors file with these names and shapes; values from {@code rng} (null: a sparse all-zero file). */
    static Path write(Path p, Map<String, int[]> shapes, Rng rng, Map<String, String> meta) throws IOException {
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        if (rng == null) {
            // header only, data section left as a hole: fast and takes no disk even at 35.7M parameters
            Map<String, Object> h = new LinkedHashMap<>();
            if (meta != null) h.put("__metadata__", meta);
            long at = 0;
            for (Map.Entry<String, int[]> e : shapes.entrySet()) {
                long bytes = 4 * Arrays.stream(e.getValue()).asLongStream().reduce(1, (a, b) -> a * b);
                h.put(e.getKey(), Map.of("dtype", "F32", "shape", e.getValue(), "data_offsets", new long[]{at, at + bytes}));
                at += bytes;
            }
            byte[] json = Json.write(h).getBytes(StandardCharsets.UTF_8);
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
                f.write(json);
                f.setLength(8 + json.length + at);
            }
            return p;
        }
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            int n = Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (2 * rng.nextDouble() - 1);
            ts.add(new SafeTensors.HostTensor(e.getKey(), DType.F32, e.getValue(), v, 0));
        }
        SafeTensors.write(p, ts, meta);
        return p;
    }

    static Map<String, float[]> read(Path p) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(p);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (SafeTensors.Entry e : h.entries().values()) {
            float[] v = new float[(int) e.numel()];
            SafeTensors.readFloats(p, h, e, v, 0);
            out.put(e.name(), v);
        }
        return out;
    }

    /** The diffusers conversion, as the public conversion script does it, by renaming rules on pytorch_diffusion names. */
    static String toDiffusers(String n, int levels, boolean toQ) {
        n = n.replace("temb.dense.0.", "time_embedding.linear_1.").replace("temb.dense.1.", "time_embedding.linear_2.")
                .replace("norm_out.", "conv_norm_out.").replace("mid.block_1.", "mid_block.resnets.0.")
                .replace("mid.attn_1.", "mid_block.attentions.0.").replace("mid.block_2.", "mid_block.resnets.1.")
                .replace(".nin_shortcut.", ".conv_shortcut.").replace(".temb_proj.", ".time_emb_proj.")
                .replace(".downsample.conv.", ".downsamplers.0.conv.").replace(".upsample.conv.", ".upsamplers.0.conv.");
        Matcher m = Pattern.compile("^down\\.(\\d+)\\.(block|attn)\\.").matcher(n);
        if (m.find()) n = "down_blocks." + m.group(1) + (m.group(2).equals("block") ? ".resnets." : ".attentions.") + n.substring(m.end());
        m = Pattern.compile("^down\\.(\\d+)\\.downsamplers").matcher(n);
        if (m.find()) n = "down_blocks." + m.group(1) + ".downsamplers" + n.substring(m.end());
        m = Pattern.compile("^up\\.(\\d+)\\.(block\\.|attn\\.|upsamplers)").matcher(n);
        if (m.find()) {
            int k = levels - 1 - Integer.parseInt(m.group(1));
            String what = m.group(2).equals("block.") ? "resnets." : m.group(2).equals("attn.") ? "attentions." : "upsamplers";
            n = "up_blocks." + k + "." + what + n.substring(m.end());
        }
        if (n.contains(".attentions.")) {
            n = n.replace(".norm.", ".group_norm.");
            n = n.replaceAll("\\.q\\.", toQ ? ".to_q." : ".query.").replaceAll("\\.k\\.", toQ ? ".to_k." : ".key.")
                    .replaceAll("\\.v\\.", toQ ? ".to_v." : ".value.").replaceAll("\\.proj_out\\.", toQ ? ".to_out.0." : ".proj_attn.");
        }
        return n;
    }

    @Test void bothLayoutsLoadTheSameValuesIntoTheSameJddpmParameters() throws IOException {
        // a small network with every feature: two levels, attention at the second, shortcuts, 2 blocks
        int ch = 32;
        int[] mult = {1, 2};
        Map<String, int[]> pdShapes = pytorchDiffusion(ch, mult, 2, List.of(1), 3, 3);
        Path pd = write(dir.resolve("pd.safetensors"), pdShapes, new Rng(5), null);
        Map<String, float[]> pdValues = read(pd);
        Map<String, Object> hint = Map.of("resolution", 16);
        float[] fromPd, fromDf = null;
        try (UNet net = WeightFiles.load(pd, Device.CPU, true, hint).net()) {
            assertEquals(new UNetConfig(16, 3, 3, 32, mult, 2, new int[]{8}, 0.0, 0, 32, UNetConfig.DownsamplePad.TF_SAME), net.config);
            fromPd = net.flatParams().toFloats();
            // spot checks by hand: jddpm's flat lists against the level/block names
            assertArrayEquals(pdValues.get("down.1.attn.0.q.weight"), net.namedParameters().get("down.4.q.weight").toFloats());
            assertArrayEquals(pdValues.get("down.0.downsample.conv.bias"), net.namedParameters().get("down.2.conv.bias").toFloats());
            assertArrayEquals(pdValues.get("up.1.block.0.conv1.weight"), net.namedParameters().get("up.0.conv1.weight").toFloats());
            assertArrayEquals(pdValues.get("up.0.block.2.nin_shortcut.weight"), net.namedParameters().get("up.9.skip.weight").toFloats());
            assertArrayEquals(pdValues.get("temb.dense.1.bias"), net.namedParameters().get("temb.2.bias").toFloats());
        }
        for (boolean toQ : new boolean[]{false, true}) {
            Map<String, float[]> dfValues = new LinkedHashMap<>();
            Map<String, int[]> dfShapes = new LinkedHashMap<>();
            pdValues.forEach((k, v) -> {
                String d = toDiffusers(k, mult.length, toQ);
                int[] s = pdShapes.get(k);
                dfShapes.put(d, d.contains(".attentions.") && s.length == 4 ? new int[]{s[0], s[1]} : s);   // 1×1 conv → Linear
                dfValues.put(d, v);
            });
            assertSameShapes(diffusers(ch, mult, 2, List.of(1), 3, 3, toQ), dfShapes, "the renaming rules give diffusers' names");
            List<SafeTensors.HostTensor> ts = new ArrayList<>();
            dfValues.forEach((k, v) -> ts.add(new SafeTensors.HostTensor(k, DType.F32, dfShapes.get(k), v, 0)));
            Path df = dir.resolve("df" + toQ + ".safetensors");
            SafeTensors.write(df, ts, null);
            try (UNet net = WeightFiles.load(df, Device.CPU, true, hint).net()) {
                fromDf = net.flatParams().toFloats();
            }
            assertArrayEquals(fromPd, fromDf, "diffusers (to_q: " + toQ + ") and pytorch_diffusion agree value for value");
        }
        // DataParallel's "module." prefix is stripped
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        pdValues.forEach((k, v) -> ts.add(new SafeTensors.HostTensor("module." + k, DType.F32, pdShapes.get(k), v, 0)));
        Path wrapped = dir.resolve("wrapped.safetensors");
        SafeTensors.write(wrapped, ts, null);
        try (UNet net = WeightFiles.load(wrapped, Device.CPU, true, hint).net()) {
            assertArrayEquals(fromPd, net.flatParams().toFloats());
        }
    }

    @Test void paperSizeFilesInEveryLayoutLoadWithoutHints() throws IOException {
        // sparse files: the full CIFAR-10 header, a 143 MB hole for data
        Map<String, Map<String, int[]>> files = new LinkedHashMap<>();
        files.put("pd", pytorchDiffusion(128, CIFAR_MULT, 2, List.of(1), 3, 3));
        files.put("df-old", diffusers(128, CIFAR_MULT, 2, List.of(1), 3, 3, false));
        files.put("df-new", diffusers(128, CIFAR_MULT, 2, List.of(1), 3, 3, true));
        for (Map.Entry<String, Map<String, int[]>> f : files.entrySet()) {
            Path p = write(dir.resolve(f.getKey() + ".safetensors"), f.getValue(), null, null);
            WeightFiles.Plan plan = WeightFiles.plan(p, null);
            assertEquals(UNetConfig.cifar10().withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME), plan.config(), f.getKey());
            assertEquals("the paper's CIFAR-10 network: 32×32 images", plan.notes().get(0));
            assertEquals(f.getKey().startsWith("df") ? 2 : 1, plan.notes().size(), plan.notes().toString());
            assertEquals(35_746_307L, plan.slots().stream().mapToLong(s -> Arrays.stream(s.shape()).asLongStream().reduce(1, (a, b) -> a * b)).sum());
            if (f.getKey().equals("df-old")) continue;   // converting writes 143 MB: two layouts suffice
            Path out = dir.resolve(f.getKey() + "-jddpm.safetensors");
            WeightFiles.convert(p, null, out, null, Map.of("step", "790000"));
            try (UNet net = Checkpoint.loadUNet(out, Device.CPU, false)) {
                assertEquals(35_746_307L, net.paramCount());
            }
            assertTrue(Checkpoint.readMetadata(out).get("source").contains(f.getKey().startsWith("pd") ? "pytorch_diffusion" : "diffusers"));
            assertEquals("790000", Checkpoint.readMetadata(out).get("step"));
            Files.delete(out);
        }
    }

    @Test void halfPrecisionTensorsAreReadAsFloat32() throws IOException {
        short[] f16 = {0x3C00, (short) 0xC100, 0x7BFF, 0x0001, (short) 0x8000, 0x3555};
        float[] f16Want = {1f, -2.5f, 65504f, 0x1p-24f, -0f, 0.33325195f};
        short[] bf16 = {0x3F80, (short) 0xC020, 0x4049};
        float[] bf16Want = {1f, -2.5f, 3.140625f};
        String json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[6],\"data_offsets\":[0,12]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}";
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + j.length + 18).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(j.length).put(j);
        for (short v : f16) b.putShort(v);
        for (short v : bf16) b.putShort(v);
        Path p = Files.write(dir.resolve("half.safetensors"), b.array());
        SafeTensors.Header h = SafeTensors.readHeader(p);
        float[] out = new float[9];
        SafeTensors.readAll(p, h, List.of(h.entries().get("h"), h.entries().get("b")), List.of(out, out), new int[]{0, 6}, null);
        float[] want = new float[9];
        System.arraycopy(f16Want, 0, want, 0, 6);
        System.arraycopy(bf16Want, 0, want, 6, 3);
        assertArrayEquals(want, out);
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(out[4]), "negative zero");
    }

    // ================================================================ refusals
    static String refusal(Path p, Map<String, Object> hint) {
        return assertThrows(CheckpointException.class, () -> WeightFiles.plan(p, hint)).getMessage();
    }

    @Test void aWrongFileIsRefusedNamingTheFirstBadNameOrShape() throws IOException {
        Map<String, Object> hint = Map.of("resolution", 16);
        Map<String, int[]> good = pytorchDiffusion(32, new int[]{1, 2}, 2, List.of(1), 3, 3);

        Map<String, int[]> shape = new LinkedHashMap<>(good);
        shape.put("down.1.attn.0.q.weight", new int[]{64, 64});
        String m = refusal(write(dir.resolve("shape.safetensors"), shape, null, null), hint);
        assertTrue(m.contains("'down.1.attn.0.q.weight' has shape [64, 64] where [64, 64, 1, 1] is needed"), m);
        assertFalse(m.contains("\n"), "one line: " + m);

        Map<String, int[]> missing = new LinkedHashMap<>(good);
        missing.remove("mid.attn_1.proj_out.bias");
        m = refusal(write(dir.resolve("missing.safetensors"), missing, null, null), hint);
        assertTrue(m.contains("'mid.attn_1.proj_out.bias' [64] is missing"), m);

        Map<String, int[]> extra = new LinkedHashMap<>(good);
        extra.put("up.1.block.3.norm1.weight", new int[]{128});
        m = refusal(write(dir.resolve("extra.safetensors"), extra, null, null), hint);
        assertTrue(m.contains("'up.1.block.3.norm1.weight' [128] is not part of this network"), m);

        m = refusal(write(dir.resolve("other.safetensors"), Map.of("encoder.weight", new int[]{4, 4}), null, null), hint);
        assertTrue(m.contains("not a DDPM U-Net in a layout jddpm reads") && m.contains("'encoder.weight' [4, 4]"), m);

        // no image size and not a published network: ask for it
        m = refusal(write(dir.resolve("nosize.safetensors"), good, null, null), null);
        assertTrue(m.contains("do not say the image size") && m.contains("--config '{\"resolution\": N}'"), m);

        // a hint that contradicts the weights
        m = refusal(write(dir.resolve("good.safetensors"), good, null, null), Map.of("resolution", 16, "ch", 64));
        assertTrue(m.contains("'temb.dense.0.weight' has shape [128, 32] where [256, 64] is needed"), m);

        // a torch.save file: say how to convert it
        Path pickle = dir.resolve("model-790000.ckpt");
        Files.write(pickle, new byte[]{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0});
        m = assertThrows(CheckpointException.class, () -> WeightFiles.load(pickle, Device.CPU, true, null)).getMessage();
        assertTrue(m.contains("PyTorch pickle") && m.contains("jddpm_unet.py to-safetensors"), m);
    }

    // ================================================================ diffusers config.json
    static final String CIFAR10_CONFIG = """
            {"_class_name": "UNet2DModel", "_diffusers_version": "0.1.0", "act_fn": "silu", "attention_head_dim": null,
             "block_out_channels": [128, 256, 256, 256], "center_input_sample": false,
             "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"], "downsample_padding": 0,
             "flip_sin_to_cos": false, "freq_shift": 1, "in_channels": 3, "layers_per_block": 2, "mid_block_scale_factor": 1,
             "norm_eps": 1e-06, "norm_num_groups": 32, "out_channels": 3, "sample_size": 32, "time_embedding_type": "positional",
             "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]}""";

    @Test void diffusersConfigsAreReadOrRefusedByName() throws IOException {
        Map<String, Object> hint = WeightFiles.configHint(CIFAR10_CONFIG);
        Map<String, Object> m = new LinkedHashMap<>(UNetConfig.cifar10().toMap());
        m.putAll(hint);
        assertEquals(UNetConfig.cifar10().withDropout(0).withDownsamplePad(UNetConfig.DownsamplePad.TF_SAME),
                UNetConfig.fromJson(Json.write(m)));
        String[][] bad = {
                {"\"flip_sin_to_cos\": false", "\"flip_sin_to_cos\": true", "flip_sin_to_cos is true"},
                {"\"freq_shift\": 1", "\"freq_shift\": 0", "freq_shift is 0"},
                {"\"attention_head_dim\": null", "\"attention_head_dim\": 8", "attention_head_dim is 8"},
                {"\"norm_eps\": 1e-06", "\"norm_eps\": 1e-05", "norm_eps is 1.0E-5"},
                {"\"AttnUpBlock2D\", \"UpBlock2D\"]", "\"UpBlock2D\", \"AttnUpBlock2D\"]", "the mirror of down_block_types"},
        };
        for (String[] b : bad) {
            assertTrue(CIFAR10_CONFIG.contains(b[0]), b[0]);
            String e = assertThrows(IllegalArgumentException.class, () -> WeightFiles.configHint(CIFAR10_CONFIG.replace(b[0], b[1]))).getMessage();
            assertTrue(e.contains(b[2]), e);
        }
        // absent keys take UNet2DModel's defaults (flip_sin_to_cos true), which jddpm refuses
        String e = assertThrows(IllegalArgumentException.class,
                () -> WeightFiles.configHint(CIFAR10_CONFIG.replace("\"flip_sin_to_cos\": false,", ""))).getMessage();
        assertTrue(e.contains("flip_sin_to_cos is true"), e);
        // jddpm keys, partial; unknown keys are named
        assertEquals(Map.of("resolution", 256L), WeightFiles.configHint("{\"resolution\": 256}"));
        e = assertThrows(IllegalArgumentException.class, () -> WeightFiles.configHint("{\"resolutoin\": 256}")).getMessage();
        assertTrue(e.contains("unknown config key 'resolutoin'"), e);
        // a config.json file next to the weights
        Path cfg = Files.writeString(dir.resolve("config.json"), CIFAR10_CONFIG);
        assertEquals(Json.write(hint), Json.write(WeightFiles.configHint(cfg.toString())));
    }
}
