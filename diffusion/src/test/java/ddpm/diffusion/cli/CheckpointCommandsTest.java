package ddpm.diffusion.cli;

import ddpm.diffusion.data.Npy;
import ddpm.diffusion.train.RunDir;
import ddpm.diffusion.train.RunLock;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.nn.UNet;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.io.SafeTensors;
import ddpm.nn.io.WeightLayout;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static ddpm.diffusion.cli.MainsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** Convert, foreign weights in Sample and EvalNll, corrupted checkpoints and busy run directories, as a user meets them. */
class CheckpointCommandsTest {
    @TempDir static Path shared;
    @TempDir Path tmp;
    static Path runDir, ckpt;

    /** One tiny trained run for every test here. */
    @BeforeAll static void train() {
        runDir = shared.resolve("run");
        MainsTest.Run t = run(TrainCifar::run, MainsTest.tinyTrain(runDir, "--steps", "2", "--sample-every", "0"));
        assertEquals(0, t.code(), t.out() + t.err());
        ckpt = RunDir.latest(runDir);
    }

    /** The run's EMA weights as a state dict in the pytorch_diffusion layout (what PyTorch would save). */
    static Path asPytorchDiffusion(Path out) throws IOException {
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        try (UNet net = Checkpoint.loadUNet(ckpt, Device.CPU, true)) {
            var params = net.namedParameters();
            for (WeightLayout.Slot s : WeightLayout.PYTORCH_DIFFUSION.slots(net.config, false))
                ts.add(new SafeTensors.HostTensor(s.name(), DType.F32, s.shape(), params.get(s.jddpmName()).toFloats(), 0));
        }
        SafeTensors.write(out, ts, null);
        return out;
    }

    @Test void convertAndForeignWeightsSampleAlike() throws IOException {
        Path pd = asPytorchDiffusion(tmp.resolve("state.safetensors"));
        // the names do not say the image size of this small network
        MainsTest.Run r = run(Convert::run, "--weights", pd.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("do not say the image size: give it with --config '{\"resolution\": N}'"), r.err());
        r = run(Convert::run, "--weights", pd.toString(), "--config", "{\"resolutoin\": 8}");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--config: inline JSON: unknown config key 'resolutoin'"), r.err());
        // the config as a file, as written next to weights; groups are not in the names either
        Path cfg = Files.writeString(tmp.resolve("config.json"), "{\"resolution\": 8, \"groups\": 8, \"downsample_pad\": \"symmetric\"}");
        r = run(Convert::run, "--weights", pd.toString(), "--config", cfg.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("pytorch_diffusion (the PyTorch port of the TF DDPM checkpoints) layout") && r.out().contains("nothing written"), r.out());
        Path converted = tmp.resolve("converted.safetensors");
        r = run(Convert::run, "--weights", pd.toString(), "--config", cfg.toString(), "--out", converted.toString(), "--step", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("wrote " + converted.toAbsolutePath()), r.out());
        assertEquals(List.of(), Checkpoint.readConfig(ckpt).differences(Checkpoint.readConfig(converted), true));
        try (UNet a = Checkpoint.loadUNet(ckpt, Device.CPU, true); UNet b = Checkpoint.loadUNet(converted, Device.CPU, false)) {
            assertArrayEquals(a.flatParams().toFloats(), b.flatParams().toFloats(), "the run's EMA weights, converted");
        }
        r = run(Convert::run, "--weights", converted.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("is a jddpm checkpoint already"), r.err());

        // the same samples from the converted checkpoint and the state dict read directly (both T = 1000, linear)
        float[][] samples = new float[2][];
        String[][] ways = {{"--ckpt", converted.toString()}, {"--ckpt", pd.toString(), "--config", cfg.toString()}};
        for (int i = 0; i < 2; i++) {
            Path npy = tmp.resolve("s" + i + ".npy");
            List<String> args = new ArrayList<>(List.of(ways[i]));
            args.addAll(List.of("--sampler", "ddim", "--steps", "4", "--n", "2", "--out", "none", "--npy", npy.toString(), "--device", "cpu"));
            r = run(Sample::run, args.toArray(new String[0]));
            assertEquals(0, r.code(), r.out() + r.err());
            samples[i] = Npy.read(npy).floats();
        }
        assertArrayEquals(samples[0], samples[1], "state dict read directly");
        assertTrue(r.out().contains("weights: pytorch_diffusion"), r.out());
        assertTrue(r.out().contains("note: the file does not say how it was trained: T = 1000 steps, linear"), r.out());

        r = run(EvalNll::run, "--ckpt", pd.toString(), "--config", cfg.toString(), "--dataset", "synthetic", "--n", "2", "--batch", "2",
                "--device", "cpu");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("NLL bound:"), r.out());
    }

    /** Overwrites the first 4 bytes of a tensor's data with {@code value}. */
    static void poke(Path file, String tensor, float value) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(file);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(h.dataStart() + h.entries().get(tensor).begin());
            f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).array());
        }
    }

    @Test void corruptedCheckpointsAreRefusedNamingTheTensor() throws IOException {
        Path bad = Files.copy(ckpt, tmp.resolve("ckpt-000000002.safetensors"));
        poke(bad, "ema.down.0.conv1.weight", Float.NaN);
        MainsTest.Run r = run(Sample::run, "--ckpt", bad.toString(), "--n", "1", "--device", "cpu");
        assertEquals(1, r.code(), r.out() + r.err());
        assertEquals("Sample: error: cannot load checkpoint " + bad + ": " + bad + " is corrupt: tensor 'ema.down.0.conv1.weight' does not"
                + " match its checksum", r.err().strip().replaceAll(" \\(CRC-32 .*", ""));
        assertEquals(1, r.err().strip().lines().count(), r.err());
        // a file without checksums (written before they existed) is still read, and NaN/Inf are still refused
        Path old = tmp.resolve("old.safetensors");
        SafeTensors.Header h = SafeTensors.readHeader(ckpt);
        Map<String, String> meta = new java.util.LinkedHashMap<>(h.metadata());
        assertNotNull(meta.remove(Checkpoint.CRC32_KEY));
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        for (SafeTensors.Entry e : h.entries().values()) {
            float[] v = new float[(int) e.numel()];
            SafeTensors.readFloats(ckpt, h, e, v, 0);
            ts.add(new SafeTensors.HostTensor(e.name(), DType.F32, e.shape(), v, 0));
        }
        SafeTensors.write(old, ts, meta);
        r = run(Sample::run, "--ckpt", old.toString(), "--n", "1", "--sampler", "ddim", "--steps", "2", "--out", "none",
                "--npy", tmp.resolve("o.npy").toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.out() + r.err());
        poke(old, "ema.mid.1.q.bias", Float.POSITIVE_INFINITY);
        r = run(Sample::run, "--ckpt", old.toString(), "--n", "1", "--device", "cpu");
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(old + " is unusable: tensor 'ema.mid.1.q.bias' [16] holds Infinity at element 0; the file is damaged"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test void aSecondTrainerOnABusyRunDirectoryIsRefused() {
        Path busy = tmp.resolve("busy");
        try (RunLock held = RunLock.acquire(busy, System.out)) {
            MainsTest.Run r = run(TrainCifar::run, MainsTest.tinyTrain(busy, "--steps", "2"));
            assertEquals(1, r.code(), r.out() + r.err());
            assertTrue(r.err().startsWith("TrainCifar: error: run directory " + busy + " is in use by pid " + ProcessHandle.current().pid()
                    + " on host "), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(RunDir.checkpoints(busy).isEmpty(), "nothing written");
        }
        MainsTest.Run r = run(TrainCifar::run, MainsTest.tinyTrain(busy, "--steps", "1", "--sample-every", "0"));
        assertEquals(0, r.code(), r.out() + r.err());
    }
}
