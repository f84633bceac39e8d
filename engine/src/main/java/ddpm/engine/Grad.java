package ddpm.engine;

/** Thread-local autograd switches: no-grad scopes and anomaly detection. */
public final class Grad {
    private static final ThreadLocal<int[]> NO_GRAD = ThreadLocal.withInitial(() -> new int[1]);
    private static final ThreadLocal<boolean[]> ANOMALY = ThreadLocal.withInitial(() -> new boolean[1]);

    private Grad() {}

    /** A handle whose close throws nothing, for try-with-resources. */
    public interface Guard extends AutoCloseable {
        @Override void close();
    }

    /** While the returned guard is open, ops record no graph. */
    public static Guard noGrad() {
        int[] depth = NO_GRAD.get();
        depth[0]++;
        return new Guard() {
            private boolean closed;

            @Override public void close() {
                // idempotent: a second close must not switch grad mode off for good
                if (closed) return;
                closed = true;
                depth[0]--;
            }
        };
    }

    /**
     * While the returned guard is open, ops record the graph even inside no-grad scopes (a gradient
     * taken in the middle of sampling, e.g. classifier guidance); closing restores the mode before.
     */
    public static Guard enableGrad() {
        int[] depth = NO_GRAD.get();
        int saved = depth[0];
        depth[0] = 0;
        return new Guard() {
            private boolean closed;

            @Override public void close() {
                if (closed) return;
                closed = true;
                depth[0] = saved;
            }
        };
    }

    public static boolean enabled() { return NO_GRAD.get()[0] == 0; }

    /** Anomaly mode: every op checks its output (and every backward its gradients) for NaN/Inf and
     *  throws naming the first op that produced one. Slow: it reads each result back. */
    public static Guard detectAnomaly() {
        boolean[] on = ANOMALY.get();
        boolean before = on[0];
        on[0] = true;
        return () -> on[0] = before;
    }

    public static boolean anomalyDetection() { return ANOMALY.get()[0]; }
}
