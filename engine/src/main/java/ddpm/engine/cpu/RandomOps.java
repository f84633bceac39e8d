package ddpm.engine.cpu;

import ddpm.engine.Philox;
import ddpm.engine.Tensor;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Random numbers of a Philox stream (seed, offset): uniform, standard normal, and the scaled
 * dropout mask. The double reference and the float kernels draw the very same numbers ({@link
 * Philox} documents the layout), the float ones in parallel over blocks of 4; the dropout mask
 * runs the Philox rounds on vectors of blocks ({@link VecMath#philoxBlocks}).
 */
final class RandomOps {
    private RandomOps() {}

    /** Philox blocks (of 4 elements) per parallel chunk. */
    private static final int BLOCKS = 1 << 11;

    static void randUniformRef(Tensor out, long seed, long offset) {
        double[] u = new double[n(out)];
        Philox.fillUniform(seed, offset, u, u.length);
        System.arraycopy(u, 0, d(out), off(out), u.length);
    }

    static void randUniform(Tensor out, long seed, long offset) {
        float[] z = f(out);
        int zo = off(out), n = n(out), blocks = (n + 3) / 4;
        Parallel.range(blocks, BLOCKS, (lo, hi) -> Philox.fillUniform(seed, offset, z, zo, n, lo, hi));
    }

    static void randNormalRef(Tensor out, long seed, long offset) {
        double[] g = new double[n(out)];
        Philox.fillNormal(seed, offset, g, g.length);
        System.arraycopy(g, 0, d(out), off(out), g.length);
    }

    static void randNormal(Tensor out, long seed, long offset) {
        float[] z = f(out);
        int zo = off(out), n = n(out), blocks = (n + 3) / 4;
        Parallel.range(blocks, BLOCKS / 2, (lo, hi) -> Philox.fillNormal(seed, offset, z, zo, n, lo, hi));
    }

    /** out = (u ≥ p) / (1 − p), u the uniforms of (seed, offset). */
    static void dropoutMaskRef(Tensor out, double p, long seed, long offset) {
        double[] u = new double[n(out)], z = d(out);
        Philox.fillUniform(seed, offset, u, u.length);
        double keep = 1.0 / (1.0 - p);
        for (int k = 0; k < u.length; k++) z[off(out) + k] = u[k] >= p ? keep : 0.0;
    }

    /**
     * The keep test u ≥ p on the word itself: u = (k + ½)·2⁻²⁴ with k = word >>> 8, so u ≥ p
     * exactly when k ≥ ⌈p·2²⁴ − ½⌉ (p·2²⁴ − ½ is exact in double for p in [0, 1)).
     */
    static long keepThreshold(double p) { return (long) Math.ceil(p * 0x1p24 - 0.5); }

    static void dropoutMask(Tensor out, double p, long seed, long offset) {
        float[] z = f(out);
        int zo = off(out), n = n(out), blocks = (n + 3) / 4;
        float keep = (float) (1.0 / (1.0 - p));
        long threshold = keepThreshold(p);
        int lanes = Sgemm.VECTOR ? VecMath.PHILOX_LANES : 1;
        Parallel.range(blocks, BLOCKS, (lo, hi) -> {
            long[] words = new long[4 * lanes];
            int[] w = new int[4];
            int j = lo;
            if (Sgemm.VECTOR)   // whole vectors of blocks, every element inside the tensor
                for (; j + lanes <= hi && (j + lanes) * 4 <= n; j += lanes) {
                    VecMath.philoxBlocks(seed, offset + j, words);
                    for (int b = 0; b < lanes; b++)
                        for (int l = 0; l < 4; l++)
                            z[zo + (j + b) * 4 + l] = (words[l * lanes + b] >>> 8) >= threshold ? keep : 0f;
                }
            for (; j < hi; j++) {
                Philox.block(seed, offset + j, w);
                for (int l = 0; l < 4 && j * 4 + l < n; l++) z[zo + j * 4 + l] = (w[l] >>> 8) >= threshold ? keep : 0f;
            }
        });
    }
}
