package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class UNetTest {
    @Test void paperConfigHasExactlyTheReferenceParameterCount() {
        assertEquals(35_746_307L, UNet.countParameters(UNetConfig.cifar10()));
        try (UNet net = new UNet(UNetConfig.cifar10(), Device.CPU, 0)) {
            assertEquals(35_746_307L, net.paramCount());
            long sum = 0;
            for (Tensor p : net.parameters()) sum += p.numel();
            assertEquals(35_746_307L, sum);
            assertTrue(net.flatParams().numel() >= 35_746_307L && net.flatParams().numel() < 35_746_307L + 16 * 400);
            Map<String, Tensor> sd = net.stateDict();
            assertArrayEquals(new int[]{512, 128}, sd.get("temb.0.weight").shape());
            assertArrayEquals(new int[]{128, 3, 3, 3}, sd.get("conv_in.weight").shape());
            assertArrayEquals(new int[]{128, 128, 3, 3}, sd.get("down.0.conv1.weight").shape());
            assertArrayEquals(new int[]{256, 128, 1, 1}, sd.get("down.3.skip.weight").shape());
            assertArrayEquals(new int[]{256, 256, 1, 1}, sd.get("down.4.q.weight").shape());
            assertArrayEquals(new int[]{256, 512}, sd.get("mid.0.temb_proj.weight").shape());
            assertArrayEquals(new int[]{3, 128, 3, 3}, sd.get("conv_out.weight").shape());
        }
    }

    static UNetConfig micro() { return OverfitTest.micro(); }

    @Test void tinyForwardShapeAndZeroOutputAtInit() {
        UNetConfig cfg = UNetConfig.tiny();
        assertEquals(16, cfg.resolution);
        assertEquals(32, cfg.ch);
        try (UNet net = new UNet(cfg, Device.CPU, 0); Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            Tensor x = Tensor.randn(new Rng(1), 2, 3, 16, 16);
            Tensor y = net.forward(x, Tensor.ofInts(new int[]{0, 999}, Device.CPU, 2));
            assertArrayEquals(new int[]{2, 3, 16, 16}, y.shape());
            for (float v : y.toFloats()) assertEquals(0f, v, "conv_out is zero-initialised");
        }
    }

    @Test void digitsLikeConfigsAndOtherShapes() {
        // 1-channel 28 px, three levels (28, 14, 7), attention at 7, narrow so it runs fast
        UNetConfig cfg = UNetConfig.digits28().toBuilder().ch(16).groups(8).numResBlocks(1).build();
        try (UNet net = new UNet(cfg, Device.CPU, 0); Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            Fd.randomize(net, 2, 0.05);
            Tensor y = net.forward(Tensor.randn(new Rng(1), 1, 1, 28, 28), Tensor.ofInts(new int[]{5}, Device.CPU, 1));
            assertArrayEquals(new int[]{1, 1, 28, 28}, y.shape());
        }
        assertEquals(1, UNetConfig.digits28().inChannels);
        assertEquals(UNet.countParameters(UNetConfig.digits(28)), UNet.countParameters(UNetConfig.digits(32)),
                "resolution changes no parameter");
        assertArrayEquals(new int[]{8}, UNetConfig.digits(32).attnResolutions());
        assertTrue(UNet.countParameters(UNetConfig.small()) > UNet.countParameters(UNetConfig.tiny()));
        assertEquals(UNetConfig.small(), UNetConfig.fromJson(UNetConfig.small().toJson()));
        assertEquals(UNetConfig.cifar10(), new UNetConfig());
        // the paper's network pads its downsampling as TensorFlow's SAME; a config that does not say (older checkpoints) is symmetric
        assertEquals(UNetConfig.DownsamplePad.TF_SAME, UNetConfig.cifar10().downsamplePad);
        assertEquals(UNetConfig.cifar10(), UNetConfig.fromJson(UNetConfig.cifar10().toJson()));
        assertEquals(UNetConfig.DownsamplePad.SYMMETRIC,
                UNetConfig.fromJson(UNetConfig.cifar10().toJson().replace(",\"downsample_pad\":\"tf_same\"", "")).downsamplePad);
        UNetConfig c2 = UNetConfig.cifar10().withNumClasses(10);
        assertEquals(35_746_307L + 11 * 512, UNet.countParameters(c2), "class table [numClasses + 1, 4·ch]");
    }

    @Test void badInputsNameTheShapes() {
        try (UNet net = new UNet(micro(), Device.CPU, 0); Scope s = Scope.open()) {
            Tensor t2 = Tensor.ofInts(new int[]{1, 2}, Device.CPU, 2);
            Tensor good = Tensor.zeros(2, 3, 8, 8);
            String m = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(2, 1, 8, 8), t2)).getMessage();
            assertTrue(m.contains("1 channels") && m.contains("[2, 1, 8, 8]") && m.contains("[B, 3, 8, 8]"), m);
            m = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(2, 3, 16, 16), t2)).getMessage();
            assertTrue(m.contains("resolution 16×16") && m.contains("8×8"), m);
            m = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(3, 8, 8), t2)).getMessage();
            assertTrue(m.contains("[3, 8, 8]"), m);
            m = assertThrows(IllegalArgumentException.class,
                    () -> net.forward(good, Tensor.ofInts(new int[]{1, 2, 3}, Device.CPU, 3))).getMessage();
            assertTrue(m.contains("length B = 2") && m.contains("[3]") && m.contains("[2, 3, 8, 8]"), m);
            m = assertThrows(IllegalArgumentException.class, () -> net.forward(good, Tensor.zeros(2))).getMessage();
            assertTrue(m.contains("int32"), m);
            m = assertThrows(IllegalArgumentException.class, () -> net.forward(good, t2, t2)).getMessage();
            assertTrue(m.contains("unconditional"), m);
            m = assertThrows(IllegalArgumentException.class,
                    () -> net.forward(Tensor.zeros(ddpm.engine.DType.F64, Device.CPU, 2, 3, 8, 8), t2)).getMessage();
            assertTrue(m.contains("F64"), m);
        }
        try (UNet net = new UNet(micro().withNumClasses(4), Device.CPU, 0); Scope s = Scope.open()) {
            String m = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(2, 3, 8, 8),
                    Tensor.ofInts(new int[]{1, 2}, Device.CPU, 2), Tensor.ofInts(new int[]{1}, Device.CPU, 1))).getMessage();
            assertTrue(m.contains("labels") && m.contains("[1]"), m);
        }
    }

    @Test void configValidation() {
        String m = assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withResolution(36)).getMessage();
        assertTrue(m.contains("resolution 36") && m.contains("2^(levels−1) = 8"), m);
        m = assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withAttnResolutions(12)).getMessage();
        assertTrue(m.contains("attention resolution 12") && m.contains("[32, 16, 8, 4]"), m);
        m = assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withCh(48)).getMessage();
        assertTrue(m.contains("not divisible by 32"), m);
        assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withDropout(1.0));
        assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withChMult());
        assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withChannels(0));
        assertThrows(IllegalArgumentException.class, () -> UNetConfig.cifar10().withNumClasses(-1));
        assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson("{\"ch\": 128}"));
    }

    @Test void classConditioningAndTheNullLabel() {
        try (UNet net = new UNet(micro().withNumClasses(3), Device.CPU, 0); Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            assertEquals(UNet.countParameters(micro()) + 4L * 64, net.paramCount());
            assertArrayEquals(new int[]{4, 64}, net.labelEmb.weight.get().shape());
            Fd.randomize(net, 3, 0.1);
            net.eval();
            Tensor x = Tensor.randn(new Rng(2), 2, 3, 8, 8);
            Tensor t = Tensor.ofInts(new int[]{10, 10}, Device.CPU, 2);
            float[] none = net.forward(x, t, null).toFloats();
            float[] nul = net.forward(x, t, Tensor.ofInts(new int[]{UNet.NULL_LABEL, 3}, Device.CPU, 2)).toFloats();
            float[] c0 = net.forward(x, t, Tensor.ofInts(new int[]{0, 0}, Device.CPU, 2)).toFloats();
            float[] c1 = net.forward(x, t, Tensor.ofInts(new int[]{1, 1}, Device.CPU, 2)).toFloats();
            assertArrayEquals(none, nul, "null label (−1 or numClasses) == labels null");
            assertFalse(Arrays.equals(c0, c1), "labels change the output");
            assertFalse(Arrays.equals(c0, none));
        }
    }

    @Test void float32MatchesFloat64AndSeedsAreDeterministic() {
        UNetConfig cfg = micro().withNumClasses(2);
        try (UNet a = new UNet(cfg, Device.CPU, ddpm.engine.DType.F32, 9); UNet b = new UNet(cfg, Device.CPU, ddpm.engine.DType.F64, 9);
             UNet c = new UNet(cfg, Device.CPU, 9); Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            float[] pa = a.flatParams().toFloats();
            assertArrayEquals(pa, c.flatParams().toFloats(), "same seed, same init");
            double[] pb = b.flatParams().toDoubles();
            for (int i = 0; i < pa.length; i++) assertEquals(pb[i], pa[i], 1e-6);
            Fd.randomize(a, 4, 0.1);
            b.flatParams().copyFrom(a.flatParams().to(ddpm.engine.DType.F64));
            a.eval(); b.eval();
            Tensor x = Tensor.randn(new Rng(5), 2, 3, 8, 8);
            Tensor t = Tensor.ofInts(new int[]{3, 900}, Device.CPU, 2), y = Tensor.ofInts(new int[]{1, -1}, Device.CPU, 2);
            float[] ya = a.forward(x, t, y).toFloats();
            double[] yb = b.forward(x.to(ddpm.engine.DType.F64), t, y).toDoubles();
            double maxAbs = 0;
            for (double v : yb) maxAbs = Math.max(maxAbs, Math.abs(v));
            assertTrue(maxAbs > 1e-3, "the randomised net is not trivial: " + maxAbs);
            for (int i = 0; i < ya.length; i++) assertEquals(yb[i], ya[i], 1e-4 * Math.max(1, maxAbs));
        }
    }

    @Test void modulesReleaseTheirMemoryOnClose() {
        var stats0 = ddpm.engine.Backends.cpu().memoryStats();
        UNet net = new UNet(micro(), Device.CPU, 0);
        ddpm.nn.optim.Adam opt = new ddpm.nn.optim.Adam(net);
        ddpm.nn.optim.Ema ema = new ddpm.nn.optim.Ema(net);
        assertTrue(ddpm.engine.Backends.cpu().memoryStats().liveBytes() > stats0.liveBytes() + 5 * 4 * net.paramCount());
        ema.close(); opt.close(); net.close();
        assertEquals(stats0.liveBytes(), ddpm.engine.Backends.cpu().memoryStats().liveBytes());
        assertThrows(IllegalStateException.class, net::flatParams);
    }

    @Test void stateDictRoundTripAndMismatchReport() {
        try (UNet a = new UNet(micro(), Device.CPU, 1); UNet b = new UNet(micro(), Device.CPU, 2);
             UNet other = new UNet(micro().withCh(32).withNumClasses(2), Device.CPU, 3)) {
            Map<String, Tensor> sd = a.stateDict();
            assertEquals(a.parameterSlots().size(), sd.size(), "no persistent buffers: the frequencies are not state");
            assertEquals(List.copyOf(a.parameterShapes().keySet()), List.copyOf(sd.keySet()));
            assertFalse(Arrays.equals(a.flatParams().toFloats(), b.flatParams().toFloats()));
            b.loadStateDict(sd, true);
            assertArrayEquals(a.flatParams().toFloats(), b.flatParams().toFloats());
            float[] before = other.flatParams().toFloats();
            String m = assertThrows(IllegalArgumentException.class, () -> other.loadStateDict(sd, true)).getMessage();
            assertTrue(m.contains("missing 'label_emb.weight'") && m.contains("'conv_in.weight': shape [16, 3, 3, 3] but the model has [32, 3, 3, 3]"), m);
            assertArrayEquals(before, other.flatParams().toFloats(), "nothing copied");
            assertTrue(a.namedBuffers().containsKey("temb.freqs"));
        }
    }
}
