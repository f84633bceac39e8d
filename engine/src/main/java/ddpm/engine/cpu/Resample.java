package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/** Nearest-neighbour 2× upsampling of [N, C, H, W] and its backward (the sum of each 2×2 block):
 *  the double-precision reference beside the float32 kernels. */
final class Resample {
    private Resample() {}

    private static final int GRAIN = Elementwise.GRAIN;

    static void upsampleNearest2xRef(Tensor x, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < 2 * h; i++)
                for (int j = 0; j < 2 * w; j++)
                    z[zo + (p * 2 * h + i) * 2 * w + j] = a[ao + (p * h + i / 2) * w + j / 2];
    }

    static void upsampleNearest2x(Tensor x, Tensor out) {
        float[] a = f(x), z = f(out);
        int xo = off(x), zo = off(out), planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), w2 = 2 * w;
        Parallel.range(planes * h, Math.max(1, GRAIN / (4 * w)), (lo, hi) -> {
            for (int row = lo; row < hi; row++) {   // row = p·h + i → out rows 2i and 2i + 1 of plane p
                int src = xo + row * w, dst = zo + 2 * row * w2;
                for (int j = 0; j < w; j++) {
                    float v = a[src + j];
                    z[dst + 2 * j] = v;
                    z[dst + 2 * j + 1] = v;
                }
                System.arraycopy(z, dst, z, dst + w2, w2);
            }
        });
    }

    static void upsampleNearest2xBackwardRef(Tensor gy, Tensor gx) {
        double[] g = d(gy), z = d(gx);
        int go = off(gy), zo = off(gx), planes = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3);
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    int r = go + (p * 2 * h + 2 * i) * 2 * w + 2 * j;
                    z[zo + (p * h + i) * w + j] = g[r] + g[r + 1] + g[r + 2 * w] + g[r + 2 * w + 1];
                }
    }

    static void upsampleNearest2xBackward(Tensor gy, Tensor gx) {
        float[] g = f(gy), z = f(gx);
        int go = off(gy), dO = off(gx), planes = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3), w2 = 2 * w;
        Parallel.range(planes * h, Math.max(1, GRAIN / (4 * w)), (lo, hi) -> {
            for (int row = lo; row < hi; row++) {
                int r0 = go + 2 * row * w2, r1 = r0 + w2, out = dO + row * w;
                for (int j = 0; j < w; j++)
                    z[out + j] = (g[r0 + 2 * j] + g[r0 + 2 * j + 1]) + (g[r1 + 2 * j] + g[r1 + 2 * j + 1]);
            }
        });
    }
}
