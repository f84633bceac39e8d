package ddpm.engine;

/** A Philox stream position: a seed and the next unused counter. Every draw advances the offset,
 *  so the same call sequence gives the same numbers on every backend, and the state fits in a
 *  checkpoint as two longs. */
public final class Rng {
    private final long seed;
    private long offset;

    public Rng(long seed) { this(seed, 0); }

    public Rng(long seed, long offset) { this.seed = seed; this.offset = offset; }

    public long seed() { return seed; }

    public long offset() { return offset; }

    public void setOffset(long offset) { this.offset = offset; }

    /** Reserves the counters for {@code n} elements and returns the offset they start at. */
    public synchronized long next(long n) {
        long o = offset;
        offset += Philox.countersFor(n);
        return o;
    }

    /** A host-side uniform integer in [0, bound), also drawn from the Philox stream. */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        int[] w = new int[4];
        Philox.block(seed, next(4), w);
        long u = ((w[0] & 0xFFFFFFFFL) << 32) | (w[1] & 0xFFFFFFFFL);
        return (int) Long.remainderUnsigned(u, bound);
    }

    /** A host-side uniform double in (0, 1). */
    public double nextDouble() {
        int[] w = new int[4];
        Philox.block(seed, next(4), w);
        return Philox.uniform(w[0]);
    }

    @Override public String toString() { return "Rng(seed=" + seed + ", offset=" + offset + ")"; }
}
