package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.io.CheckpointException;
import ddpm.nn.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The InceptionV3 of FID (pytorch-fid's FID network: torchvision's Inception3 with the TensorFlow
 * FID blocks FIDInceptionA/C/E_1/E_2), inference only, up to the 2048-d pool3 features. Parameter
 * names are those of the FID weight file ({@code pt_inception-2015-12-05-6726825d.pth}) converted to
 * safetensors, e.g. {@code Mixed_6b.branch7x7_2.conv.weight}, {@code Mixed_6b.branch7x7_2.bn.running_var};
 * its {@code fc.*} and {@code *.num_batches_tracked} entries are ignored. Each conv + BatchNorm
 * (eps 0.001) is folded into one biased conv at load.
 *
 * <p>The engine's primitives only: 1×n and n×1 convolutions run as one 1×1 conv over n shifted
 * copies; max pooling is maxima of shifted slices, then every other row and column; average
 * pooling (count_include_pad = False) is sums of shifted slices over the per-position count.
 */
public class InceptionV3 extends Module {
    /** Feature width (pool3). */
    public static final int DIM = 2048;
    /** Input side the network was trained at; {@link #features} resizes to it. */
    public static final int SIZE = 299;

    /** Names of the fc layer and the BatchNorm counters, present in the weight file but not used. */
    static boolean ignored(String name) {
        return name.startsWith("fc.") || name.endsWith(".num_batches_tracked") || name.startsWith("AuxLogits.");
    }

    /** A conv without bias ("conv.weight") and its BatchNorm ("bn.*"), folded at load; then ReLU. */
    static final class BasicConv extends Module {
        final int in, out, kh, kw, stride, ph, pw;
        final Holder conv, bn;
        Tensor foldedWeight, foldedBias;

        BasicConv(int in, int out, int kh, int kw, int stride, int ph, int pw) {
            this.in = in;
            this.out = out;
            this.kh = kh;
            this.kw = kw;
            this.stride = stride;
            this.ph = ph;
            this.pw = pw;
            conv = child("conv", new Holder());
            conv.declare("weight", out, in, kh, kw);
            bn = child("bn", new Holder());
            for (String p : new String[]{"weight", "bias", "running_mean", "running_var"}) bn.declare(p, out);
        }

        static BasicConv square(int in, int out, int k, int stride, int pad) { return new BasicConv(in, out, k, k, stride, pad, pad); }

        void fold() {
            double[] w = conv.get("weight").toDoubles(), g = bn.get("weight").toDoubles(), b = bn.get("bias").toDoubles(),
                    m = bn.get("running_mean").toDoubles(), v = bn.get("running_var").toDoubles();
            double[] bias = new double[out];
            int per = w.length / out;
            for (int o = 0; o < out; o++) {
                double scale = g[o] / Math.sqrt(v[o] + 1e-3);
                for (int i = o * per; i < (o + 1) * per; i++) w[i] *= scale;
                bias[o] = b[o] - m[o] * scale;
            }
            Tensor ref = conv.get("weight");
            foldedWeight = Tensor.ofDoubles(ref.dtype(), ref.device(), w, out, in, kh, kw);
            foldedBias = Tensor.ofDoubles(ref.dtype(), ref.device(), bias, out);
            Scope.disown(foldedWeight);
            Scope.disown(foldedBias);
        }

        Tensor forward(Tensor x) { return conv(x, foldedWeight, foldedBias, stride, ph, pw).relu(); }

        void release() {
            if (foldedWeight != null) foldedWeight.release();
            if (foldedBias != null) foldedBias.release();
        }
    }

    /** A module holding named parameters only (so names match the weight file's). */
    static final class Holder extends Module {
        private final Map<String, Parameter> own = new java.util.LinkedHashMap<>();

        void declare(String name, int... shape) { own.put(name, param(name, Init.zeros(), shape)); }

        Tensor get(String name) { return own.get(name).get(); }
    }

    /** Branches of one Mixed block, concatenated along the channels. */
    abstract static class Mixed extends Module {
        abstract Tensor forward(Tensor x);
    }

    static final class BlockA extends Mixed {   // FIDInceptionA
        final BasicConv b1, b5a, b5b, b3a, b3b, b3c, pool;

        BlockA(int in, int poolFeatures) {
            b1 = child("branch1x1", BasicConv.square(in, 64, 1, 1, 0));
            b5a = child("branch5x5_1", BasicConv.square(in, 48, 1, 1, 0));
            b5b = child("branch5x5_2", BasicConv.square(48, 64, 5, 1, 2));
            b3a = child("branch3x3dbl_1", BasicConv.square(in, 64, 1, 1, 0));
            b3b = child("branch3x3dbl_2", BasicConv.square(64, 96, 3, 1, 1));
            b3c = child("branch3x3dbl_3", BasicConv.square(96, 96, 3, 1, 1));
            pool = child("branch_pool", BasicConv.square(in, poolFeatures, 1, 1, 0));
        }

        @Override Tensor forward(Tensor x) {
            return Tensor.concat(1, b1.forward(x), b5b.forward(b5a.forward(x)), b3c.forward(b3b.forward(b3a.forward(x))),
                    pool.forward(avgPool3(x)));
        }
    }

    static final class BlockB extends Mixed {   // InceptionB
        final BasicConv b3, d1, d2, d3;

        BlockB(int in) {
            b3 = child("branch3x3", BasicConv.square(in, 384, 3, 2, 0));
            d1 = child("branch3x3dbl_1", BasicConv.square(in, 64, 1, 1, 0));
            d2 = child("branch3x3dbl_2", BasicConv.square(64, 96, 3, 1, 1));
            d3 = child("branch3x3dbl_3", BasicConv.square(96, 96, 3, 2, 0));
        }

        @Override Tensor forward(Tensor x) {
            return Tensor.concat(1, b3.forward(x), d3.forward(d2.forward(d1.forward(x))), maxPool3Stride2(x));
        }
    }

    static final class BlockC extends Mixed {   // FIDInceptionC
        final BasicConv b1, s1, s2, s3, d1, d2, d3, d4, d5, pool;

        BlockC(int in, int c7) {
            b1 = child("branch1x1", BasicConv.square(in, 192, 1, 1, 0));
            s1 = child("branch7x7_1", BasicConv.square(in, c7, 1, 1, 0));
            s2 = child("branch7x7_2", new BasicConv(c7, c7, 1, 7, 1, 0, 3));
            s3 = child("branch7x7_3", new BasicConv(c7, 192, 7, 1, 1, 3, 0));
            d1 = child("branch7x7dbl_1", BasicConv.square(in, c7, 1, 1, 0));
            d2 = child("branch7x7dbl_2", new BasicConv(c7, c7, 7, 1, 1, 3, 0));
            d3 = child("branch7x7dbl_3", new BasicConv(c7, c7, 1, 7, 1, 0, 3));
            d4 = child("branch7x7dbl_4", new BasicConv(c7, c7, 7, 1, 1, 3, 0));
            d5 = child("branch7x7dbl_5", new BasicConv(c7, 192, 1, 7, 1, 0, 3));
            pool = child("branch_pool", BasicConv.square(in, 192, 1, 1, 0));
        }

        @Override Tensor forward(Tensor x) {
            Tensor d = d5.forward(d4.forward(d3.forward(d2.forward(d1.forward(x)))));
            return Tensor.concat(1, b1.forward(x), s3.forward(s2.forward(s1.forward(x))), d, pool.forward(avgPool3(x)));
        }
    }

    static final class BlockD extends Mixed {   // InceptionD
        final BasicConv a1, a2, s1, s2, s3, s4;

        BlockD(int in) {
            a1 = child("branch3x3_1", BasicConv.square(in, 192, 1, 1, 0));
            a2 = child("branch3x3_2", BasicConv.square(192, 320, 3, 2, 0));
            s1 = child("branch7x7x3_1", BasicConv.square(in, 192, 1, 1, 0));
            s2 = child("branch7x7x3_2", new BasicConv(192, 192, 1, 7, 1, 0, 3));
            s3 = child("branch7x7x3_3", new BasicConv(192, 192, 7, 1, 1, 3, 0));
            s4 = child("branch7x7x3_4", BasicConv.square(192, 192, 3, 2, 0));
        }

        @Override Tensor forward(Tensor x) {
            return Tensor.concat(1, a2.forward(a1.forward(x)), s4.forward(s3.forward(s2.forward(s1.forward(x)))), maxPool3Stride2(x));
        }
    }

    static final class BlockE extends Mixed {   // FIDInceptionE_1 (average pool) and E_2 (max pool)
        final boolean maxPool;
        final BasicConv b1, a1, a2a, a2b, d1, d2, d3a, d3b, pool;

        BlockE(int in, boolean maxPool) {
            this.maxPool = maxPool;
            b1 = child("branch1x1", BasicConv.square(in, 320, 1, 1, 0));
            a1 = child("branch3x3_1", BasicConv.square(in, 384, 1, 1, 0));
            a2a = child("branch3x3_2a", new BasicConv(384, 384, 1, 3, 1, 0, 1));
            a2b = child("branch3x3_2b", new BasicConv(384, 384, 3, 1, 1, 1, 0));
            d1 = child("branch3x3dbl_1", BasicConv.square(in, 448, 1, 1, 0));
            d2 = child("branch3x3dbl_2", BasicConv.square(448, 384, 3, 1, 1));
            d3a = child("branch3x3dbl_3a", new BasicConv(384, 384, 1, 3, 1, 0, 1));
            d3b = child("branch3x3dbl_3b", new BasicConv(384, 384, 3, 1, 1, 1, 0));
            pool = child("branch_pool", BasicConv.square(in, 192, 1, 1, 0));
        }

        @Override Tensor forward(Tensor x) {
            Tensor a = a1.forward(x), d = d2.forward(d1.forward(x));
            Tensor p = maxPool ? maxPool3Stride1(x) : avgPool3(x);
            return Tensor.concat(1, b1.forward(x), a2a.forward(a), a2b.forward(a), d3a.forward(d), d3b.forward(d), pool.forward(p));
        }
    }

    private final List<BasicConv> stem = new ArrayList<>();
    private final List<String> stemNames = new ArrayList<>();
    private final List<Mixed> mixed = new ArrayList<>();
    private final List<String> mixedNames = new ArrayList<>();

    /** Declares the network (unbuilt); {@link #load} builds it and reads the weights. */
    public InceptionV3() {
        stem("Conv2d_1a_3x3", BasicConv.square(3, 32, 3, 2, 0));
        stem("Conv2d_2a_3x3", BasicConv.square(32, 32, 3, 1, 0));
        stem("Conv2d_2b_3x3", BasicConv.square(32, 64, 3, 1, 1));
        stem("Conv2d_3b_1x1", BasicConv.square(64, 80, 1, 1, 0));
        stem("Conv2d_4a_3x3", BasicConv.square(80, 192, 3, 1, 0));
        mixed("Mixed_5b", new BlockA(192, 32));
        mixed("Mixed_5c", new BlockA(256, 64));
        mixed("Mixed_5d", new BlockA(288, 64));
        mixed("Mixed_6a", new BlockB(288));
        mixed("Mixed_6b", new BlockC(768, 128));
        mixed("Mixed_6c", new BlockC(768, 160));
        mixed("Mixed_6d", new BlockC(768, 160));
        mixed("Mixed_6e", new BlockC(768, 192));
        mixed("Mixed_7a", new BlockD(768));
        mixed("Mixed_7b", new BlockE(1280, false));
        mixed("Mixed_7c", new BlockE(2048, true));
    }

    private void stem(String name, BasicConv c) {
        stem.add(child(name, c));
        stemNames.add(name);
    }

    private void mixed(String name, Mixed m) {
        mixed.add(child(name, m));
        mixedNames.add(name);
    }

    /**
     * The network with the weights of a safetensors file in the FID weight file's layout (float32
     * or float64 tensors), on {@code device}. Every missing or mis-shaped tensor, and every
     * unexpected one (other than {@code fc.*}, {@code AuxLogits.*} and {@code *.num_batches_tracked}),
     * is reported in one {@link CheckpointException}.
     */
    public static InceptionV3 load(Path weights, Device device) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(weights);
        InceptionV3 net = new InceptionV3();
        Map<String, int[]> want = net.parameterShapes();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, int[]> e : want.entrySet()) {
            SafeTensors.Entry got = h.entries().get(e.getKey());
            if (got == null) problems.add("missing '" + e.getKey() + "' " + Arrays.toString(e.getValue()));
            else if (!Arrays.equals(got.shape(), e.getValue()))
                problems.add("'" + e.getKey() + "': shape " + Arrays.toString(got.shape()) + ", expected " + Arrays.toString(e.getValue()));
            else if (!got.dtype().equals("F32") && !got.dtype().equals("F64"))
                problems.add("'" + e.getKey() + "': dtype " + got.dtype() + ", expected F32 or F64");
        }
        for (String name : h.entries().keySet())
            if (!want.containsKey(name) && !ignored(name)) problems.add("unexpected '" + name + "'");
        if (!problems.isEmpty())
            throw new CheckpointException(weights + " is not the FID InceptionV3 weights (" + problems.size() + " problem"
                    + (problems.size() == 1 ? "" : "s") + "):\n  " + String.join("\n  ", problems.subList(0, Math.min(20, problems.size())))
                    + (problems.size() > 20 ? "\n  ..." : ""));
        net.build(device, DType.F32, 0);
        try {
            try (Grad.Guard g = Grad.noGrad()) {
                for (Map.Entry<String, Tensor> e : net.namedParameters().entrySet()) {
                    SafeTensors.Entry got = h.entries().get(e.getKey());
                    float[] v = new float[Math.toIntExact(got.numel())];
                    if (got.dtype().equals("F32")) SafeTensors.readFloats(weights, h, got, v, 0);
                    else {
                        double[] d = new double[v.length];
                        SafeTensors.readDoubles(weights, h, got, d, 0);
                        for (int i = 0; i < v.length; i++) v[i] = (float) d[i];
                    }
                    e.getValue().backend().write(e.getValue(), v);
                }
                for (Module m : net.allBasicConvs()) ((BasicConv) m).fold();
            }
            net.eval();
            return net;
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
    }

    private List<Module> allBasicConvs() {
        List<Module> out = new ArrayList<>();
        collectConvs(this, out);
        return out;
    }

    private static void collectConvs(Module m, List<Module> out) {
        if (m instanceof BasicConv) out.add(m);
        for (Module c : m.children().values()) collectConvs(c, out);
    }

    /**
     * pool3 features [N, 2048] of x [N, 3, 299, 299] already scaled to [−1, 1] (pytorch-fid's
     * normalized input); {@code probe} (may be null) sees the output of every stage, by name.
     */
    public Tensor forward(Tensor x, BiConsumer<String, Tensor> probe) {
        requireBuilt();
        if (x.rank() != 4 || x.dim(1) != 3)
            throw new IllegalArgumentException("InceptionV3: input must be [N, 3, H, W], got " + x.describe());
        try (Grad.Guard g = Grad.noGrad()) {
            if (probe != null) probe.accept("input", x);
            for (int i = 0; i < stem.size(); i++) {
                x = stem.get(i).forward(x);
                if (probe != null) probe.accept(stemNames.get(i), x);
                if (i == 2 || i == 4) {
                    x = maxPool3Stride2(x);
                    if (probe != null) probe.accept(i == 2 ? "maxpool1" : "maxpool2", x);
                }
            }
            for (int i = 0; i < mixed.size(); i++) {
                x = mixed.get(i).forward(x);
                if (probe != null) probe.accept(mixedNames.get(i), x);
            }
            Tensor pooled = x.mean(2, 3);
            if (probe != null) probe.accept("pool3", pooled);
            return pooled;
        }
    }

    /**
     * pool3 features [N, 2048] of images given as floats in [0, 1], [N, C, H, W] row-major with C = 1
     * (repeated to RGB) or 3, at any size (see {@link #preprocess}).
     */
    public Tensor features(float[] images01, int n, int c, int h, int w) {
        return forward(preprocess(images01, n, c, h, w), null);
    }

    /**
     * The network's input [N, 3, 299, 299] on its device from images in [0, 1]: resized bilinearly
     * (torch's {@code interpolate(..., mode='bilinear', align_corners=False)}), grey repeated to RGB,
     * scaled to [−1, 1], as pytorch-fid does.
     */
    public Tensor preprocess(float[] images01, int n, int c, int h, int w) {
        if (c != 1 && c != 3) throw new IllegalArgumentException("InceptionV3: images need 1 or 3 channels, got " + c);
        if (images01.length != n * c * h * w) throw new IllegalArgumentException("InceptionV3: " + images01.length + " values for "
                + n + "×" + c + "×" + h + "×" + w);
        float[] x = new float[n * 3 * SIZE * SIZE];
        float[] plane = new float[SIZE * SIZE];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < 3; ch++) {
                resizeBilinear(images01, (b * c + (c == 1 ? 0 : ch)) * h * w, h, w, plane, SIZE, SIZE);
                int dst = (b * 3 + ch) * SIZE * SIZE;
                for (int i = 0; i < plane.length; i++) x[dst + i] = 2 * plane[i] - 1;
            }
        return Tensor.of(x, device(), n, 3, SIZE, SIZE);
    }

    /** torch's bilinear resize with align_corners = False (no antialiasing) of one plane. */
    static void resizeBilinear(float[] src, int off, int h, int w, float[] dst, int oh, int ow) {
        float sh = (float) h / oh, sw = (float) w / ow;
        for (int y = 0; y < oh; y++) {
            float fy = Math.max(0f, sh * (y + 0.5f) - 0.5f);
            int y0 = (int) fy, y1 = y0 < h - 1 ? y0 + 1 : y0;
            float ly = fy - y0;
            for (int xx = 0; xx < ow; xx++) {
                float fx = Math.max(0f, sw * (xx + 0.5f) - 0.5f);
                int x0 = (int) fx, x1 = x0 < w - 1 ? x0 + 1 : x0;
                float lx = fx - x0;
                float top = (1 - lx) * src[off + y0 * w + x0] + lx * src[off + y0 * w + x1];
                float bottom = (1 - lx) * src[off + y1 * w + x0] + lx * src[off + y1 * w + x1];
                dst[y * ow + xx] = (1 - ly) * top + ly * bottom;
            }
        }
    }

    // ---------------------------------------------------------------- convolution and pooling in primitives
    /** A conv with padding (ph, pw): square kernels directly, 1×n and n×1 as a 1×1 conv over shifted copies. */
    static Tensor conv(Tensor x, Tensor w, Tensor b, int stride, int ph, int pw) {
        int o = w.dim(0), c = w.dim(1), kh = w.dim(2), kw = w.dim(3);
        if (kh == kw && ph == pw) return F.conv2d(x, w, b, stride, ph);
        if (stride != 1 || (kh != 1 && kw != 1) || (kh == 1 ? ph != 0 || 2 * pw != kw - 1 : pw != 0 || 2 * ph != kh - 1))
            throw new IllegalArgumentException("InceptionV3: unsupported conv " + kh + "×" + kw + " stride " + stride + " pad " + ph + "," + pw);
        int axis = kh == 1 ? 3 : 2, k = Math.max(kh, kw), pad = (k - 1) / 2;
        Tensor[] shifted = new Tensor[k];
        for (int j = 0; j < k; j++) shifted[j] = shift(x, axis, j - pad, 0);   // shifted[j][i] = x[i + j − pad]
        Tensor cols = Tensor.concat(1, shifted);                                 // channel index j·C + c
        Tensor w1 = w.reshape(o, c, k).permute(0, 2, 1).reshape(o, k * c, 1, 1);
        return F.conv2d(cols, w1, b, 1, 0);
    }

    /** y[…, i, …] = x[…, i + off, …] along {@code axis}, {@code fill} outside. */
    static Tensor shift(Tensor x, int axis, int off, double fill) {
        if (off == 0) return x;
        int n = x.dim(axis), m = Math.min(Math.abs(off), n);
        int[] s = x.shape();
        s[axis] = m;
        Tensor pad = Tensor.full(x.dtype(), x.device(), fill, s);
        if (m == n) return pad;
        return off > 0 ? Tensor.concat(axis, x.slice(axis, m, n), pad) : Tensor.concat(axis, pad, x.slice(axis, 0, n - m));
    }

    /** Every other element along {@code axis}, starting with the first: ⌈n/2⌉ of n. */
    static Tensor everyOther(Tensor x, int axis) {
        int n = x.dim(axis);
        if (n % 2 == 1) {
            int[] s = x.shape();
            s[axis] = 1;
            x = Tensor.concat(axis, x, Tensor.zeros(x.dtype(), x.device(), s));
        }
        int[] s = x.shape(), split = new int[s.length + 1];
        for (int i = 0, j = 0; i < s.length; i++) {
            if (i == axis) { split[j++] = s[i] / 2; split[j++] = 2; }
            else split[j++] = s[i];
        }
        int[] out = x.shape();
        out[axis] = (n + 1) / 2;
        return x.reshape(split).slice(axis + 1, 0, 1).reshape(out);
    }

    /** Max pooling 3×3, stride 2, no padding (⌊(n − 3)/2⌋ + 1 per axis). */
    static Tensor maxPool3Stride2(Tensor x) {
        Tensor m = x;
        for (int axis = 2; axis <= 3; axis++) {
            int n = m.dim(axis);
            m = m.slice(axis, 0, n - 2).maximum(m.slice(axis, 1, n - 1)).maximum(m.slice(axis, 2, n));
            m = everyOther(m, axis);
        }
        return m;
    }

    /** Max pooling 3×3, stride 1, padding 1 (padding never wins: −∞). */
    static Tensor maxPool3Stride1(Tensor x) {
        Tensor m = x;
        for (int axis = 2; axis <= 3; axis++)
            m = m.maximum(shift(m, axis, -1, Double.NEGATIVE_INFINITY)).maximum(shift(m, axis, 1, Double.NEGATIVE_INFINITY));
        return m;
    }

    /** Average pooling 3×3, stride 1, padding 1, count_include_pad = False. */
    static Tensor avgPool3(Tensor x) {
        Tensor s = x;
        for (int axis = 2; axis <= 3; axis++) s = s.add(shift(s, axis, -1, 0)).add(shift(s, axis, 1, 0));
        int h = x.dim(2), w = x.dim(3);
        double[] inv = new double[h * w];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                inv[i * w + j] = 1.0 / (window(i, h) * window(j, w));
        return s.mul(Tensor.ofDoubles(x.dtype(), x.device(), inv, 1, 1, h, w));
    }

    private static int window(int i, int n) { return Math.min(i + 1, n - 1) - Math.max(i - 1, 0) + 1; }

    @Override public void close() {
        if (isBuilt()) for (Module m : allBasicConvs()) ((BasicConv) m).release();
        super.close();
    }

    @Override public String toString() { return "InceptionV3(FID, " + paramCount() + " parameters)"; }
}
