package ddpm.nn;

import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.io.CheckpointException;
import ddpm.nn.io.Json;
import ddpm.nn.io.SafeTensors;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import ddpm.nn.optim.LinearWarmup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {
    @TempDir Path dir;

    /** Small, with dropout (so the dropout stream matters) and class labels. */
    static UNetConfig cfg() {
        return UNetConfig.tiny().toBuilder().resolution(8).ch(16).groups(8).dropout(0.1).numClasses(3).build();
    }

    static final LinearWarmup LR = new LinearWarmup(1e-3, 3);

    /** n DDPM-style training steps: random x0, ε, t and labels from {@code data}, clip 1, Adam, EMA. */
    static void train(UNet net, Adam opt, Ema ema, Rng data, int n) {
        int b = 2, r = net.config.resolution, c = net.config.inChannels;
        for (int i = 0; i < n; i++) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.randn(data, b, c, r, r);
                Tensor eps = Tensor.randn(data, b, c, r, r);
                Tensor t = Tensor.ofInts(new int[]{data.nextInt(1000), data.nextInt(1000)}, Device.CPU, b);
                Tensor y = Tensor.ofInts(new int[]{data.nextInt(3), UNet.NULL_LABEL}, Device.CPU, b);
                Tensor xt = x.mul(0.8).add(eps.mul(0.6));
                net.zeroGrad();
                F.mseLoss(net.forward(xt, t, y), eps).backward();
                double scale = GradClip.compute(net.flatGrads(), 1.0).scale();
                opt.step(LR.lr(opt.stepCount() + 1), scale);
                ema.update();
            }
        }
    }

    static float[] f(Tensor t) { return t.toFloats(); }

    @Test void bitIdenticalResume() throws IOException {
        int n = 6;
        float[] straightP, straightE, straightM, straightV;
        long straightOffset;
        try (UNet net = new UNet(cfg(), Device.CPU, 7); Adam opt = new Adam(net); Ema ema = new Ema(net, 0.9)) {
            Rng data = new Rng(11);
            train(net, opt, ema, data, n);
            straightP = f(net.flatParams()); straightE = f(ema.flat()); straightM = f(opt.m()); straightV = f(opt.v());
            straightOffset = net.dropoutRng().offset();
        }
        Path ck = dir.resolve("half.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 7); Adam opt = new Adam(net); Ema ema = new Ema(net, 0.9)) {
            Rng data = new Rng(11);
            train(net, opt, ema, data, n / 2);
            Checkpoint.save(ck, net, opt, ema, n / 2, Map.of("data", data), Map.of("note", "half way"));
        }
        try (UNet net = new UNet(cfg(), Device.CPU, 999); Adam opt = new Adam(net); Ema ema = new Ema(net, 0.9)) {
            Checkpoint.Loaded l = Checkpoint.load(ck, net, opt, ema);
            assertEquals(n / 2, l.step());
            assertEquals(n / 2, opt.stepCount());
            assertEquals("half way", l.metadata().get("note"));
            assertEquals(cfg(), l.config());
            Rng data = l.rngs().get("data");
            train(net, opt, ema, data, n - n / 2);
            assertArrayEquals(straightP, f(net.flatParams()), "parameters");
            assertArrayEquals(straightE, f(ema.flat()), "EMA");
            assertArrayEquals(straightM, f(opt.m()), "Adam m");
            assertArrayEquals(straightV, f(opt.v()), "Adam v");
            assertEquals(straightOffset, net.dropoutRng().offset());
        }
    }

    @Test void roundTripAndSafetensorsLayout() throws IOException {
        Path ck = dir.resolve("sub/ck.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 3); Adam opt = new Adam(net); Ema ema = new Ema(net, 0.5)) {
            train(net, opt, ema, new Rng(1), 2);
            Checkpoint.save(ck, net, opt, ema, 2, null, null);
            Checkpoint.save(ck, net, opt, ema, 2, null, null);   // overwrite in place
            try (Ema.Swap s = ema.swap()) {
                assertThrows(IllegalStateException.class, () -> Checkpoint.save(ck, net, opt, ema, 2, null, null));
            }
            try (UNet back = new UNet(cfg(), Device.CPU, 4); Adam o2 = new Adam(back); Ema e2 = new Ema(back, 0.5)) {
                Checkpoint.load(ck, back, o2, e2);
                assertArrayEquals(f(net.flatParams()), f(back.flatParams()));
                assertArrayEquals(f(ema.flat()), f(e2.flat()));
                assertArrayEquals(f(opt.m()), f(o2.m()));
                assertArrayEquals(f(opt.v()), f(o2.v()));
                assertEquals(net.dropoutRng().offset(), back.dropoutRng().offset());
                assertEquals(net.dropoutRng().seed(), back.dropoutRng().seed());
            }
            // sampling: a UNet straight from the file, with the EMA weights
            try (UNet s = Checkpoint.loadUNet(ck, Device.CPU, true)) {
                assertEquals(cfg(), s.config);
                assertArrayEquals(f(ema.flat()), f(s.flatParams()));
            }
            // the file itself: safetensors framing, names, dtypes, shapes, offsets, raw LE data
            byte[] bytes = Files.readAllBytes(ck);
            long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8);
            Map<String, Object> h = Json.parseObject(new String(bytes, 8, (int) n, StandardCharsets.UTF_8).strip());
            @SuppressWarnings("unchecked") Map<String, String> meta = (Map<String, String>) h.get("__metadata__");
            assertEquals(Checkpoint.FORMAT, meta.get("format"));
            assertEquals(cfg(), UNetConfig.fromJson(meta.get("config")));
            assertEquals("2", meta.get("step"));
            long total = 0;
            int tensors = 0;
            for (Map.Entry<String, Object> e : h.entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                @SuppressWarnings("unchecked") Map<String, Object> en = (Map<String, Object>) e.getValue();
                assertEquals("F32", en.get("dtype"));
                List<?> off = (List<?>) en.get("data_offsets");
                total += ((Number) off.get(1)).longValue() - ((Number) off.get(0)).longValue();
                tensors++;
            }
            assertEquals(4 * net.parameterSlots().size(), tensors, "params, ema, m, v");
            assertEquals(8 + n + total, bytes.length);
            assertEquals(4 * 4 * net.paramCount(), total);
            @SuppressWarnings("unchecked") Map<String, Object> w = (Map<String, Object>) h.get("conv_in.weight");
            assertEquals(List.of(16L, 3L, 3L, 3L), w.get("shape"));
            long start = ((Number) ((List<?>) w.get("data_offsets")).get(0)).longValue();
            float first = ByteBuffer.wrap(bytes, (int) (8 + n + start), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
            assertEquals(net.convIn.weight.get().toFloats()[0], first);
            assertTrue(h.containsKey("ema.down.0.conv1.weight") && h.containsKey("optim.m.label_emb.weight")
                    && h.containsKey("optim.v.conv_out.bias"));
            // no temporary files left behind
            try (var files = Files.list(ck.getParent())) {
                assertEquals(List.of(ck.getFileName().toString()), files.map(p -> p.getFileName().toString()).toList());
            }
        }
    }

    @Test void wrongConfigIsReportedInFullAndChangesNothing() throws IOException {
        Path ck = dir.resolve("ck.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 3)) {
            Checkpoint.save(ck, net, null, null, 0, null, null);
        }
        UNetConfig other = cfg().toBuilder().ch(24).numClasses(0).build();
        try (UNet net = new UNet(other, Device.CPU, 5)) {
            float[] before = f(net.flatParams());
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, net, null, null));
            String m = e.getMessage();
            assertTrue(m.contains("config differs: ch: 24 vs 16"), m);
            assertTrue(m.contains("config differs: num_classes: 0 vs 3"), m);
            assertTrue(m.contains("'conv_in.weight': shape [16, 3, 3, 3] but the model has [24, 3, 3, 3]"), m);
            assertTrue(m.contains("unexpected 'label_emb.weight'"), m);
            assertTrue(m.lines().count() > 20, "every mismatch is listed");
            assertArrayEquals(before, f(net.flatParams()), "nothing overwritten");
        }
        // optimizer or EMA state asked for but not saved
        try (UNet net = new UNet(cfg(), Device.CPU, 5); Adam opt = new Adam(net); Ema ema = new Ema(net)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, net, opt, ema));
            assertTrue(e.getMessage().contains("missing 'optim.m.conv_in.weight'"), e.getMessage());
            assertTrue(e.getMessage().contains("missing 'ema.conv_in.weight'"), e.getMessage());
            assertTrue(e.getMessage().contains("no optimizer state"), e.getMessage());
            Checkpoint.load(ck, net, null, null);   // weights alone are fine
        }
    }

    @Test void truncatedOrCorruptFilesAreRejectedAndChangeNothing() throws IOException {
        Path ck = dir.resolve("ck.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 3)) {
            Checkpoint.save(ck, net, null, null, 0, null, null);
        }
        byte[] bytes = Files.readAllBytes(ck);
        try (UNet net = new UNet(cfg(), Device.CPU, 5)) {
            float[] before = f(net.flatParams());
            for (int cut : new int[]{bytes.length - 1, bytes.length / 2, 100, 5, 0}) {
                Path bad = dir.resolve("cut" + cut + ".safetensors");
                Files.write(bad, Arrays.copyOf(bytes, cut));
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(bad, net, null, null));
                assertTrue(e.getMessage().contains("truncated"), cut + ": " + e.getMessage());
            }
            byte[] junk = bytes.clone();
            junk[12] = '#';
            Path bad = dir.resolve("junk.safetensors");
            Files.write(bad, junk);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(bad, net, null, null));
            assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
            assertArrayEquals(before, f(net.flatParams()), "nothing overwritten");
            assertThrows(java.nio.file.NoSuchFileException.class, () -> Checkpoint.load(dir.resolve("nope"), net, null, null));
        }
    }

    @Test void checksumsAreVerifiedAndNonFiniteWeightsRefused() throws IOException {
        Path ck = dir.resolve("ck.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 3); Ema ema = new Ema(net, 0.5)) {
            Checkpoint.save(ck, net, null, ema, 0, null, null);
        }
        // every tensor has the CRC-32 (zlib's) of its bytes
        SafeTensors.Header h = SafeTensors.readHeader(ck);
        Map<String, Object> crc = Json.parseObject(h.metadata().get(Checkpoint.CRC32_KEY));
        assertEquals(h.entries().keySet(), crc.keySet());
        byte[] bytes = Files.readAllBytes(ck);
        SafeTensors.Entry w = h.entries().get("conv_in.weight");
        java.util.zip.CRC32 c = new java.util.zip.CRC32();
        c.update(bytes, (int) (h.dataStart() + w.begin()), (int) (w.end() - w.begin()));
        assertEquals(String.format("%08x", c.getValue()), crc.get("conv_in.weight"));
        // one flipped bit in a raw tensor: loading the raw weights names it; the EMA weights alone still load
        bytes[(int) (h.dataStart() + w.begin() + 1)] ^= 1;
        Path flipped = Files.write(dir.resolve("flipped.safetensors"), bytes);
        try (UNet net = new UNet(cfg(), Device.CPU, 5)) {
            float[] before = f(net.flatParams());
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.loadWeights(flipped, net, false));
            assertTrue(e.getMessage().startsWith(flipped + " is corrupt: tensor 'conv_in.weight' does not match its checksum (CRC-32 "), e.getMessage());
            assertArrayEquals(before, f(net.flatParams()), "nothing overwritten");
            Checkpoint.loadWeights(flipped, net, true);
        }
        // a NaN saved with a valid checksum (a diverged model) is refused naming the tensor
        Path nan = dir.resolve("nan.safetensors");
        try (UNet net = new UNet(cfg(), Device.CPU, 3)) {
            float[] p = f(net.flatParams());
            Parameter target = net.parameterSlots().stream().filter(q -> q.name().equals("down.0.conv1.weight")).findFirst().orElseThrow();
            p[(int) target.flatOffset() + 5] = Float.NaN;
            p[(int) target.flatOffset() + 6] = Float.NEGATIVE_INFINITY;
            net.flatParams().backend().write(net.flatParams(), p);
            Checkpoint.save(nan, net, null, null, 0, null, null);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(nan, net, null, null));
            assertEquals(nan + " is unusable: tensor 'down.0.conv1.weight' " + Arrays.toString(target.shape()) + " holds NaN at element 5"
                    + " (2 non-finite values in all); the file is damaged or was saved from a diverged run", e.getMessage());
        }
        // files written before checksums existed load as before
        Map<String, String> meta = new java.util.LinkedHashMap<>(h.metadata());
        meta.remove(Checkpoint.CRC32_KEY);
        List<SafeTensors.HostTensor> ts = new java.util.ArrayList<>();
        for (SafeTensors.Entry e : h.entries().values()) {
            float[] v = new float[(int) e.numel()];
            SafeTensors.readFloats(ck, h, e, v, 0);
            ts.add(new SafeTensors.HostTensor(e.name(), ddpm.engine.DType.F32, e.shape(), v, 0));
        }
        Path old = dir.resolve("old.safetensors");
        SafeTensors.write(old, ts, meta);
        try (UNet net = Checkpoint.loadUNet(old, Device.CPU, true); UNet ref = Checkpoint.loadUNet(ck, Device.CPU, true)) {
            assertArrayEquals(f(ref.flatParams()), f(net.flatParams()));
        }
    }

    @Test void safetensorsWriterReaderRoundTrip() throws IOException {
        Path p = dir.resolve("t.safetensors");
        float[] a = {1, -2.5f, 3e-7f, Float.MAX_VALUE, 0, 6};
        double[] d = {Math.PI, -1e300};
        int[] ints = {7, -8, 9};
        SafeTensors.write(p, List.of(
                new SafeTensors.HostTensor("a", ddpm.engine.DType.F32, new int[]{2, 2}, a, 2),
                new SafeTensors.HostTensor("d", ddpm.engine.DType.F64, new int[]{2}, d, 0),
                new SafeTensors.HostTensor("i.j", ddpm.engine.DType.I32, new int[]{3}, ints, 0),
                new SafeTensors.HostTensor("scalar", ddpm.engine.DType.F32, new int[]{}, a, 5)), Map.of("k", "v \"quoted\"\n"));
        SafeTensors.Header h = SafeTensors.readHeader(p);
        assertEquals(List.of("a", "d", "i.j", "scalar"), List.copyOf(h.entries().keySet()));
        assertEquals("v \"quoted\"\n", h.metadata().get("k"));
        float[] ra = new float[4];
        SafeTensors.readFloats(p, h, h.entries().get("a"), ra, 0);
        assertArrayEquals(Arrays.copyOfRange(a, 2, 6), ra);
        double[] rd = new double[2];
        SafeTensors.readDoubles(p, h, h.entries().get("d"), rd, 0);
        assertArrayEquals(d, rd);
        int[] ri = new int[3];
        SafeTensors.readInts(p, h, h.entries().get("i.j"), ri, 0);
        assertArrayEquals(ints, ri);
        float[] rs = new float[1];
        SafeTensors.readFloats(p, h, h.entries().get("scalar"), rs, 0);
        assertEquals(6f, rs[0]);
        assertArrayEquals(new int[0], h.entries().get("scalar").shape());
    }
}
