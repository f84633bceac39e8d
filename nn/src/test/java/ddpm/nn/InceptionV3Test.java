package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.io.CheckpointException;
import ddpm.nn.io.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The FID InceptionV3 on a synthetic weight file in the layout of pytorch-fid's weights, against the
 * per-stage outputs PyTorch computes for the same weights and inputs (tools/torch/fid_inception.py
 * wrote the layout and the expected values into the test resources); and its pooling and 1×n
 * convolutions against plain loops.
 */
class InceptionV3Test {
    @TempDir Path tmp;

    static List<String> resource(String name) throws IOException {
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                InceptionV3Test.class.getResourceAsStream("/ddpm/nn/" + name), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) if (!l.isBlank() && !l.startsWith("#")) lines.add(l);
        }
        return lines;
    }

    /** The layout: tensor name → shape, in the weight file's order. */
    static Map<String, int[]> layout() throws IOException {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (String l : resource("inception-fid-layout.txt")) {
            String[] p = l.trim().split("\\s+");
            int[] s = new int[p.length - 1];
            for (int i = 1; i < p.length; i++) s[i - 1] = Integer.parseInt(p[i]);
            m.put(p[0], s);
        }
        return m;
    }

    /** The synthetic values of the reference script (see its docstring). */
    static float[] synthetic(String name, int[] shape) {
        long h = 0;
        for (char c : name.toCharArray()) h = (h * 131 + c) % (1L << 31);
        int n = 1, fanIn = 1;
        for (int d : shape) n *= d;
        for (int i = 1; i < shape.length; i++) fanIn *= shape[i];
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            long v = ((long) i * 2654435761L + h * 40503L) & 0xFFFFFFFFL;
            double u = v / 4294967296.0 - 0.5, x;
            if (name.endsWith("conv.weight")) x = u * Math.sqrt(24.0 / fanIn);
            else if (name.endsWith("bn.weight")) x = 1 + 0.2 * u;
            else if (name.endsWith("bn.bias") || name.endsWith("running_mean")) x = 0.1 * u;
            else if (name.endsWith("running_var")) x = 1 + 0.5 * (u + 0.5);
            else x = u;
            out[i] = (float) x;
        }
        return out;
    }

    /** Writes the synthetic weight file, plus an fc layer the loader must ignore. */
    Path syntheticWeights(Map<String, int[]> layout) throws IOException {
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        for (Map.Entry<String, int[]> e : layout.entrySet())
            ts.add(new SafeTensors.HostTensor(e.getKey(), DType.F32, e.getValue(), synthetic(e.getKey(), e.getValue()), 0));
        ts.add(new SafeTensors.HostTensor("fc.bias", DType.F32, new int[]{1008}, new float[1008], 0));
        Path p = tmp.resolve("pt_inception.safetensors");
        SafeTensors.write(p, ts, Map.of());
        return p;
    }

    @Test void forwardMatchesPyTorchStageByStage() throws IOException {
        Map<String, int[]> layout = layout();
        assertEquals(470, layout.size(), "470 tensors in the FID weight file (without fc and the BatchNorm counters)");
        assertEquals(layout.keySet(), new InceptionV3().parameterShapes().keySet(), "the network's names are the weight file's");
        long params = 0;
        for (Map.Entry<String, int[]> e : layout.entrySet())
            if (!e.getKey().contains("running_")) params += java.util.Arrays.stream(e.getValue()).asLongStream().reduce(1, (a, b) -> a * b);
        assertEquals(21_785_568L, params, "torchvision's Inception3 without fc and aux: 21,785,568 conv and BatchNorm parameters");
        // the two synthetic images of the reference script, in [0, 1]
        float[] img = new float[2 * 28 * 28];
        for (int p = 0; p < 784; p++) {
            img[p] = ((p * 7919L) % 256) / 255f;
            double v = ((p * 7919L + 104729L) % 256) * 0.25 + 9 * (p % 28);
            img[784 + p] = (float) (Math.rint(Math.max(0, Math.min(255, v))) / 255.0);   // numpy rounds half to even
        }
        Map<String, double[][]> got = new LinkedHashMap<>();
        try (InceptionV3 net = InceptionV3.load(syntheticWeights(layout), Device.CPU); Scope s = Scope.open()) {
            Tensor f = net.forward(net.preprocess(img, 2, 1, 28, 28), (name, t) -> {
                double[] v = t.toDoubles();
                int n = v.length / 2;
                got.put(name, new double[][]{java.util.Arrays.copyOfRange(v, 0, n), java.util.Arrays.copyOfRange(v, n, 2 * n)});
            });
            assertArrayEquals(new int[]{2, InceptionV3.DIM}, f.shape());
        }
        List<String> expected = resource("inception-fid-expected.txt");
        assertEquals(expected.size(), got.size(), "stages: " + got.keySet());
        for (String line : expected) {
            String[] p = line.trim().split("\\s+");
            String name = p[0];
            double[][] a = got.get(name);
            assertNotNull(a, "stage " + name);
            int n = Integer.parseInt(p[1]);
            assertEquals(n, a[0].length, name + " size");
            double norm0 = norm(a[0]), norm1 = norm(a[1]), diff = 0;
            for (int i = 0; i < n; i++) diff += (a[0][i] - a[1][i]) * (a[0][i] - a[1][i]);
            diff = Math.sqrt(diff);
            assertEquals(Double.parseDouble(p[2]), norm0, 1e-4 * norm0, name + " norm of image 0");
            assertEquals(Double.parseDouble(p[3]), norm1, 1e-4 * norm1, name + " norm of image 1");
            assertEquals(Double.parseDouble(p[4]), sum(a[0]), 1e-4 * norm0 * Math.sqrt(n), name + " sum of image 0");
            assertEquals(Double.parseDouble(p[5]), sum(a[1]), 1e-4 * norm1 * Math.sqrt(n), name + " sum of image 1");
            double wantDiff = Double.parseDouble(p[6]);
            if (wantDiff > 1e-3 * norm0) assertEquals(wantDiff, diff, 1e-3 * wantDiff, name + " difference between the images");
            double scale = Math.max(norm0, norm1) / Math.sqrt(n);
            for (int k = 0; k < 8; k++) {
                int idx = (int) ((k * 7919L) % n);
                assertEquals(Double.parseDouble(p[7 + k]), a[0][idx], 1e-4 * scale + 1e-5 * Math.abs(a[0][idx]), name + " image 0 [" + idx + "]");
                assertEquals(Double.parseDouble(p[15 + k]), a[1][idx], 1e-4 * scale + 1e-5 * Math.abs(a[1][idx]), name + " image 1 [" + idx + "]");
            }
        }
    }

    static double norm(double[] v) {
        double s = 0;
        for (double x : v) s += x * x;
        return Math.sqrt(s);
    }

    static double sum(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s;
    }

    @Test void aFileOfAnotherLayoutIsRefusedNamingEveryProblem() throws IOException {
        Map<String, int[]> layout = new LinkedHashMap<>();
        layout.put("Conv2d_1a_3x3.conv.weight", new int[]{32, 3, 5, 5});
        layout.put("something.else", new int[]{3});
        Path p = tmp.resolve("bad.safetensors");
        List<SafeTensors.HostTensor> ts = new ArrayList<>();
        for (Map.Entry<String, int[]> e : layout.entrySet())
            ts.add(new SafeTensors.HostTensor(e.getKey(), DType.F32, e.getValue(), synthetic(e.getKey(), e.getValue()), 0));
        SafeTensors.write(p, ts, Map.of());
        CheckpointException e = assertThrows(CheckpointException.class, () -> InceptionV3.load(p, Device.CPU));
        assertTrue(e.getMessage().contains("'Conv2d_1a_3x3.conv.weight': shape [32, 3, 5, 5], expected [32, 3, 3, 3]"), e.getMessage());
        assertTrue(e.getMessage().contains("missing 'Mixed_7c.branch_pool.bn.running_var'") || e.getMessage().contains("..."), e.getMessage());
        assertTrue(e.getMessage().contains("unexpected 'something.else'") || e.getMessage().contains("..."), e.getMessage());
    }

    /** Plain-loop references on odd sizes: pools, 1×n / n×1 convolutions and the bilinear resize. */
    @Test void poolingAndRectangularConvolutionsMatchLoops() {
        try (Scope s = Scope.open()) {
            int n = 2, c = 3, h = 9, w = 7;
            Tensor x = Tensor.randn(new Rng(1), DType.F64, Device.CPU, n, c, h, w);
            double[] xv = x.toDoubles();
            double[] mp2 = InceptionV3.maxPool3Stride2(x).toDoubles(), mp1 = InceptionV3.maxPool3Stride1(x).toDoubles(),
                    ap = InceptionV3.avgPool3(x).toDoubles();
            int oh = (h - 3) / 2 + 1, ow = (w - 3) / 2 + 1;
            assertEquals(n * c * oh * ow, mp2.length);
            for (int b = 0; b < n * c; b++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++) {
                        double mx = Double.NEGATIVE_INFINITY, sm = 0;
                        int cnt = 0;
                        for (int di = -1; di <= 1; di++)
                            for (int dj = -1; dj <= 1; dj++) {
                                int ii = i + di, jj = j + dj;
                                if (ii < 0 || jj < 0 || ii >= h || jj >= w) continue;
                                double v = xv[(b * h + ii) * w + jj];
                                mx = Math.max(mx, v);
                                sm += v;
                                cnt++;
                            }
                        assertEquals(mx, mp1[(b * h + i) * w + j], 0, "max pool stride 1");
                        assertEquals(sm / cnt, ap[(b * h + i) * w + j], 1e-14, "average pool, padding not counted");
                        if (i < oh && j < ow) {
                            double m2 = Double.NEGATIVE_INFINITY;
                            for (int di = 0; di < 3; di++) for (int dj = 0; dj < 3; dj++) m2 = Math.max(m2, xv[(b * h + 2 * i + di) * w + 2 * j + dj]);
                            assertEquals(m2, mp2[(b * oh + i) * ow + j], 0, "max pool 3 stride 2");
                        }
                    }
            for (int[] k : new int[][]{{1, 7}, {7, 1}, {1, 3}, {3, 1}}) {
                int o = 4, ph = (k[0] - 1) / 2, pw = (k[1] - 1) / 2;
                Tensor wt = Tensor.randn(new Rng(2), DType.F64, Device.CPU, o, c, k[0], k[1]), bias = Tensor.randn(new Rng(3), DType.F64, Device.CPU, o);
                double[] y = InceptionV3.conv(x, wt, bias, 1, ph, pw).toDoubles(), wv = wt.toDoubles(), bv = bias.toDoubles();
                for (int b = 0; b < n; b++)
                    for (int oc = 0; oc < o; oc++)
                        for (int i = 0; i < h; i++)
                            for (int j = 0; j < w; j++) {
                                double acc = bv[oc];
                                for (int ic = 0; ic < c; ic++)
                                    for (int u = 0; u < k[0]; u++)
                                        for (int v = 0; v < k[1]; v++) {
                                            int ii = i + u - ph, jj = j + v - pw;
                                            if (ii >= 0 && jj >= 0 && ii < h && jj < w)
                                                acc += wv[((oc * c + ic) * k[0] + u) * k[1] + v] * xv[((b * c + ic) * h + ii) * w + jj];
                                        }
                                assertEquals(acc, y[((b * o + oc) * h + i) * w + j], 1e-12, k[0] + "×" + k[1] + " conv");
                            }
            }
        }
        // bilinear, align_corners = False: 2 → 4 pixels gives 1, 1.25, 1.75, 2 (torch.nn.functional.interpolate)
        float[] dst = new float[4];
        InceptionV3.resizeBilinear(new float[]{1, 2}, 0, 1, 2, dst, 1, 4);
        assertArrayEquals(new float[]{1f, 1.25f, 1.75f, 2f}, dst, 1e-7f);
    }
}
