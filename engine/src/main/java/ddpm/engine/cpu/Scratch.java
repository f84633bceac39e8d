package ddpm.engine.cpu;

/** Per-thread scratch arrays of the float kernels, grown on demand and kept for the thread's life. */
final class Scratch {
    private Scratch() {}

    /** Slots: the GEMM output of a group of images or attention scores; attention dP; partial sums
     *  and gathered operands; a convolution's padded copy of its input. */
    static final int SCORES = 0, SCORE_GRADS = 1, PARTIALS = 2, PADDED = 3;

    private static final ThreadLocal<float[][]> SLOTS = ThreadLocal.withInitial(() -> new float[4][0]);

    /** This thread's array of slot {@code slot}, at least {@code n} long (its contents are left over from earlier use). */
    static float[] get(int slot, int n) {
        float[][] s = SLOTS.get();
        if (s[slot].length < n) s[slot] = new float[n];
        return s[slot];
    }
}
