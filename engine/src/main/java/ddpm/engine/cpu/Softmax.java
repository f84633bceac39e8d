package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Softmax over the last axis and its backward gx = y ⊙ (gy − Σ gy ⊙ y): the double-precision
 * reference beside the float32 kernels (vectorised expf, about 2 ulp, summed in double).
 */
final class Softmax {
    private Softmax() {}

    private static final int GRAIN = Elementwise.GRAIN;

    private static int rows(Tensor t) { return n(t) / Math.max(1, t.dim(-1)); }

    static void softmaxRef(Tensor x, Tensor out) {
        double[] a = d(x), z = d(out);
        int ao = off(x), zo = off(out), rows = rows(x), n = x.dim(-1);
        for (int r = 0; r < rows; r++) {
            int b = r * n;
            double m = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < n; k++) m = Math.max(m, a[ao + b + k]);
            double s = 0;
            for (int k = 0; k < n; k++) s += (z[zo + b + k] = Math.exp(a[ao + b + k] - m));
            for (int k = 0; k < n; k++) z[zo + b + k] /= s;
        }
    }

    /** Float exponentials summed in double, scaled by 1/Σ. */
    static void softmax(Tensor x, Tensor out) {
        float[] a = f(x), z = f(out);
        int xo = off(x), zo = off(out), rows = rows(x), n = x.dim(-1);
        if (n == 0) return;
        Parallel.range(rows, Math.max(1, GRAIN / (4 * n)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int b = xo + r * n, ob = zo + r * n;
                float m = FastMath.max(a, b, n);
                float inv = (float) (1.0 / FastMath.expShiftSum(a, b, z, ob, n, m));
                for (int k = ob; k < ob + n; k++) z[k] *= inv;
            }
        });
    }

    static void softmaxBackwardRef(Tensor y, Tensor gy, Tensor gx) {
        double[] a = d(y), g = d(gy), z = d(gx);
        int ao = off(y), go = off(gy), zo = off(gx), rows = rows(y), n = y.dim(-1);
        for (int r = 0; r < rows; r++) {
            int b = r * n;
            double dot = 0;
            for (int k = 0; k < n; k++) dot += g[go + b + k] * a[ao + b + k];
            for (int k = 0; k < n; k++) z[zo + b + k] = a[ao + b + k] * (g[go + b + k] - dot);
        }
    }

    /** The dot product per row in double. */
    static void softmaxBackward(Tensor y, Tensor gy, Tensor gx) {
        float[] a = f(y), g = f(gy), z = f(gx);
        int yo = off(y), go = off(gy), dO = off(gx), rows = rows(y), n = y.dim(-1);
        if (n == 0) return;
        Parallel.range(rows, Math.max(1, GRAIN / (2 * n)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int yb = yo + r * n, gb = go + r * n, db = dO + r * n;
                double dot = 0;
                for (int k = 0; k < n; k++) dot += (double) g[gb + k] * a[yb + k];
                float dt = (float) dot;
                for (int k = 0; k < n; k++) z[db + k] = a[yb + k] * (g[gb + k] - dt);
            }
        });
    }
}
