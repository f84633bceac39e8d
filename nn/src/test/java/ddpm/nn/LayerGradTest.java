package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Finite-difference gradient checks of every layer, in float64 on the CPU. */
class LayerGradTest {
    static final double TOL = 1e-6;

    static <M extends Module> M build(M m) { return m.build(Device.CPU, DType.F64, 1); }

    static Tensor input(long seed, int... shape) { return Fd.randn(seed, shape).requiresGrad(true); }

    static List<Tensor> withParams(Module m, Tensor... inputs) {
        List<Tensor> l = new ArrayList<>(List.of(inputs));
        l.addAll(m.parameters());
        return l;
    }

    @Test void linear() {
        try (Linear l = build(new Linear(5, 4))) {
            Tensor x = input(1, 3, 5);
            Fd.check("linear", l, () -> l.forward(x), withParams(l, x), 40, TOL);
            Tensor x3 = input(2, 2, 3, 5);
            Fd.check("linear rank 3", l, () -> l.forward(x3), withParams(l, x3), 40, TOL);
            x.close(); x3.close();
        }
    }

    @Test void conv2d() {
        for (int[] g : new int[][]{{3, 1, 1}, {3, 2, 1}, {1, 1, 0}}) {
            try (Conv2d c = build(new Conv2d(3, 4, g[0], g[1], g[2]))) {
                Tensor x = input(3, 2, 3, 5, 5);
                Fd.check("conv k" + g[0] + " s" + g[1], c, () -> c.forward(x), withParams(c, x), 30, TOL);
                x.close();
            }
        }
    }

    @Test void groupNorm() {
        for (boolean silu : new boolean[]{false, true}) {
            try (GroupNorm n = build(new GroupNorm(8, 4, 1e-6, silu))) {
                Fd.randomize(n, 5, 1.0);
                Tensor x = input(4, 2, 8, 3, 3);
                Fd.check("groupNorm silu=" + silu, n, () -> n.forward(x), withParams(n, x), 40, TOL);
                x.close();
            }
        }
    }

    @Test void upsampleAndDownsample() {
        try (Upsample u = build(new Upsample(3))) {
            Tensor x = input(5, 1, 3, 3, 3);
            Fd.check("upsample", u, () -> u.forward(x), withParams(u, x), 30, TOL);
            x.close();
        }
        for (UNetConfig.DownsamplePad pad : UNetConfig.DownsamplePad.values()) {
            try (Downsample d = build(new Downsample(3, pad))) {
                Tensor x = input(6, 1, 3, 6, 6);
                Fd.check("downsample " + pad, d, () -> d.forward(x), withParams(d, x), 30, TOL);
                x.close();
            }
        }
    }

    @Test void timestepEmbeddingAndLabelEmbedding() {
        try (TimestepEmbedding te = build(new TimestepEmbedding(8, 12))) {
            Tensor t = Tensor.ofInts(new int[]{0, 7, 999}, Device.CPU, 3);
            Fd.check("temb", te, () -> te.forward(t), te.parameters(), 40, TOL);
            t.close();
        }
        try (Embedding e = build(new Embedding(4, 6))) {
            Tensor idx = Tensor.ofInts(new int[]{3, 0, 3}, Device.CPU, 3);
            Fd.check("embedding", e, () -> e.forward(idx), e.parameters(), 24, TOL);
            idx.close();
        }
    }

    /**
     * The three forms of the block: the adds fused into the convolutions ({@link Fusion#convAdd}),
     * also the norms into their input loads ({@link Fusion#normConv}: where no gradient is recorded,
     * norm1 → conv1 in training with dropout, both in evaluation), and neither; gradients checked in
     * each, the same bits forward.
     */
    @Test void resBlockWithAndWithoutShortcutAndDropout() {
        boolean wasAdd = Fusion.convAdd, wasNorm = Fusion.normConv;
        boolean[][] modes = {{true, true}, {true, false}, {false, false}};
        try {
            for (int[] io : new int[][]{{4, 4}, {4, 8}})
                for (boolean training : new boolean[]{true, false}) {
                    try (ResBlock rb = build(new ResBlock(io[0], io[1], 6, 0.3, 2))) {
                        rb.train(training);
                        Fd.randomize(rb, 11, 0.5);
                        Tensor x = input(7, 2, io[0], 4, 4), temb = input(8, 2, 6);
                        double[][] out = new double[modes.length][];
                        for (int m = 0; m < modes.length; m++) {
                            Fusion.convAdd = modes[m][0];
                            Fusion.normConv = modes[m][1];
                            String name = "resblock " + io[0] + "->" + io[1] + (training ? "" : " eval")
                                    + (modes[m][1] ? " norms fused" : modes[m][0] ? " adds fused" : "");
                            // a fresh stream per evaluation, so every forward draws the same dropout mask
                            Fd.check(name, rb, () -> { rb.setDropoutRng(new Rng(3)); return rb.forward(x, temb); },
                                    withParams(rb, x, temb), 25, TOL);
                            try (Scope s = Scope.open(); Grad.Guard ng = Grad.noGrad()) {   // the fused op runs without a gradient
                                rb.setDropoutRng(new Rng(3));
                                out[m] = rb.forward(x, temb).toDoubles();
                            }
                        }
                        for (int m = 1; m < modes.length; m++)
                            assertArrayEquals(out[m], out[0], "fused and unfused ResBlock " + io[0] + "->" + io[1] + " mode " + m);
                        x.close(); temb.close();
                    }
                }
        } finally {
            Fusion.convAdd = wasAdd;
            Fusion.normConv = wasNorm;
        }
    }

    @Test void attnBlock() {
        try (AttnBlock ab = build(new AttnBlock(4, 2))) {
            Fd.randomize(ab, 12, 0.7);
            Tensor x = input(9, 2, 4, 3, 3);
            Fd.check("attn", ab, () -> ab.forward(x), withParams(ab, x), 30, TOL);
            x.close();
        }
    }

    @Test void microUNetEndToEnd() {
        UNetConfig cfg = new UNetConfig(8, 2, 2, 8, new int[]{1, 2}, 1, new int[]{4}, 0.0, 3, 4);
        try (UNet net = new UNet(cfg, Device.CPU, DType.F64, 5)) {
            Fd.randomize(net, 13, 0.3);
            Tensor x = input(10, 2, 2, 8, 8);
            Tensor t = Tensor.ofInts(new int[]{3, 500}, Device.CPU, 2);
            Tensor y = Tensor.ofInts(new int[]{2, UNet.NULL_LABEL}, Device.CPU, 2);
            // the input, and a sample of parameters across the network (all of them would take ~20 s)
            List<Tensor> wrt = new ArrayList<>(List.of(x));
            var named = net.namedParameters();
            for (String n : List.of("temb.0.weight", "temb.2.bias", "label_emb.weight", "conv_in.weight", "down.0.conv1.weight",
                    "down.0.temb_proj.weight", "down.2.skip.weight", "down.3.q.weight", "mid.1.k.weight", "mid.2.norm2.weight",
                    "up.0.conv2.weight", "up.4.conv.weight", "norm_out.bias", "conv_out.weight"))
                wrt.add(java.util.Objects.requireNonNull(named.get(n), n));
            Fd.check("unet", net, () -> net.forward(x, t, y), wrt, 3, 1e-5);
            x.close(); t.close(); y.close();
        }
    }
}
