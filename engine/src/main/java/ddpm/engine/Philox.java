package ddpm.engine;

/**
 * Philox 4x32-10 (Salmon et al., SC'11), the counter-based generator that every backend uses so
 * that the CPU and the GPU draw the same numbers for the same (seed, offset).
 *
 * <p>The stream: element i of a call with (seed, offset) comes from block j = i / 4, lane i % 4,
 * where block j is Philox(counter = (offset + j) as 64 bits in words 0–1, words 2–3 zero;
 * key = (low, high) 32 bits of seed). A 32-bit word u maps to the uniform ((u >>> 8) + 0.5)·2⁻²⁴
 * in (0, 1); normals come from Box–Muller on lanes (0, 1) and (2, 3):
 * r = √(−2 ln u₀), θ = 2π u₁, n₀ = r cos θ, n₁ = r sin θ. A call of n elements consumes
 * ⌈n/4⌉ counters, which {@link Rng} advances.
 */
public final class Philox {
    private static final int M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    private Philox() {}

    /** The four 32-bit words of block {@code counter} under {@code seed}, written into out[0..3]. */
    public static void block(long seed, long counter, int[] out) {
        block((int) counter, (int) (counter >>> 32), 0, 0, (int) seed, (int) (seed >>> 32), out);
    }

    /** The general Philox4x32-10 bijection of counter (c0, c1, c2, c3) under key (k0, k1), as in
     *  Random123's philox4x32(ctr, key); {@link #block(long, long, int[])} is the case c2 = c3 = 0. */
    public static void block(int c0, int c1, int c2, int c3, int k0, int k1, int[] out) {
        for (int round = 0; round < 10; round++) {
            if (round > 0) { k0 += W0; k1 += W1; }
            long p0 = (M0 & 0xFFFFFFFFL) * (c0 & 0xFFFFFFFFL);
            long p1 = (M1 & 0xFFFFFFFFL) * (c2 & 0xFFFFFFFFL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0, hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
    }

    /** The uniform in (0, 1) that word u maps to. */
    public static double uniform(int u) {
        return ((u >>> 8) + 0.5) * 0x1p-24;
    }

    /** Element i's uniform of stream (seed, offset). */
    public static void fillUniform(long seed, long offset, double[] out, int n) {
        int[] w = new int[4];
        for (int j = 0; j * 4 < n; j++) {
            block(seed, offset + j, w);
            for (int l = 0; l < 4 && j * 4 + l < n; l++) out[j * 4 + l] = uniform(w[l]);
        }
    }

    /** The standard normals of stream (seed, offset). */
    public static void fillNormal(long seed, long offset, double[] out, int n) {
        int[] w = new int[4];
        for (int j = 0; j * 4 < n; j++) {
            block(seed, offset + j, w);
            for (int pair = 0; pair < 2; pair++) {
                double r = Math.sqrt(-2.0 * Math.log(uniform(w[2 * pair])));
                double theta = 2.0 * Math.PI * uniform(w[2 * pair + 1]);
                int i = j * 4 + 2 * pair;
                if (i < n) out[i] = r * Math.cos(theta);
                if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
            }
        }
    }

    /**
     * Elements [4·fromBlock, min(n, 4·toBlock)) of the uniform stream (seed, offset) rounded to
     * float, into out[off + i]: the values of {@link #fillUniform(long, long, double[], int)} cast
     * to float, for filling a buffer block range by block range (in parallel).
     */
    public static void fillUniform(long seed, long offset, float[] out, int off, int n, int fromBlock, int toBlock) {
        int[] w = new int[4];
        for (int j = fromBlock; j < toBlock && j * 4 < n; j++) {
            block(seed, offset + j, w);
            for (int l = 0; l < 4 && j * 4 + l < n; l++) out[off + j * 4 + l] = (float) uniform(w[l]);
        }
    }

    /** The normals of {@link #fillNormal(long, long, double[], int)} cast to float, for blocks
     *  [fromBlock, toBlock) only, into out[off + i] (see the float {@code fillUniform}). */
    public static void fillNormal(long seed, long offset, float[] out, int off, int n, int fromBlock, int toBlock) {
        int[] w = new int[4];
        for (int j = fromBlock; j < toBlock && j * 4 < n; j++) {
            block(seed, offset + j, w);
            for (int pair = 0; pair < 2; pair++) {
                double r = Math.sqrt(-2.0 * Math.log(uniform(w[2 * pair])));
                double theta = 2.0 * Math.PI * uniform(w[2 * pair + 1]);
                int i = j * 4 + 2 * pair;
                if (i < n) out[off + i] = (float) (r * Math.cos(theta));
                if (i + 1 < n) out[off + i + 1] = (float) (r * Math.sin(theta));
            }
        }
    }

    /** Counters a call of n elements consumes. */
    public static long countersFor(long n) {
        return (n + 3) / 4;
    }
}
