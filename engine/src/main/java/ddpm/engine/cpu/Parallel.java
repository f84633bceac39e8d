package ddpm.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Splits index ranges over the common fork-join pool (all cores). The caller runs a share of the
 * work itself, so with the default common-pool parallelism (cores − 1) every core is busy.
 * {@code -Dddpm.threads=N} (or {@link #setThreads}) caps the number of threads the kernels split
 * their work into; 1 runs everything on the calling thread.
 */
public final class Parallel {
    private Parallel() {}

    /** Body over [lo, hi). */
    @FunctionalInterface
    public interface Range { void run(int lo, int hi); }

    /** Body of task {@code t} of a fixed number of tasks. */
    @FunctionalInterface
    public interface Task { void run(int t); }

    private static volatile int cap = Integer.getInteger("ddpm.threads", 0);

    /** The number of threads kernels split their work into. */
    public static int threads() {
        int c = cap;
        return c > 0 ? c : ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** Caps the thread count (benchmarks: 1 = single-threaded); 0 restores the default. */
    public static void setThreads(int n) {
        if (n < 0) throw new IllegalArgumentException("thread count must be >= 0, got " + n);
        cap = n;
    }

    /** Runs body over [0, n) in chunks of at least {@code grain}; inline when small. */
    public static void range(int n, int grain, Range body) {
        int t = threads();
        if (n <= grain || t == 1) { body.run(0, n); return; }
        int chunks = Math.min(t * 4, (n + grain - 1) / grain);
        int step = (n + chunks - 1) / chunks;
        new Split(0, chunks, step, n, body).invoke();
    }

    /** Runs tasks 0 … count−1, in parallel where count &gt; 1 (each task on one thread). */
    public static void tasks(int count, Task body) {
        if (count <= 0) return;
        if (count == 1) { body.run(0); return; }
        new Split(0, count, 1, count, (lo, hi) -> { for (int i = lo; i < hi; i++) body.run(i); }).invoke();
    }

    /** Body of item {@code i}, to be run on {@code threads} threads. */
    @FunctionalInterface
    public interface Item { void run(int i, int threads); }

    /**
     * Runs body(i, threadsForIt) for i in [0, count) (a batch of GEMMs, images, attention heads):
     * split over threads with one thread each when count divides evenly (or is large), else one
     * after another with all threads inside each.
     */
    public static void items(int count, Item body) {
        int t = threads();
        if (t > 1 && count >= t && (count % t == 0 || count >= 4 * t)) {
            tasks(count, i -> body.run(i, 1));   // one task per item: a thread that falls behind gets stolen from
        } else {
            for (int i = 0; i < count; i++) body.run(i, t);
        }
    }

    private static final class Split extends RecursiveAction {
        final int from, to, step, n;
        final Range body;

        Split(int from, int to, int step, int n, Range body) {
            this.from = from; this.to = to; this.step = step; this.n = n; this.body = body;
        }

        @Override protected void compute() {
            if (to - from == 1) {
                body.run(from * step, Math.min(n, (from + 1) * step));
                return;
            }
            int mid = (from + to) >>> 1;
            invokeAll(new Split(from, mid, step, n, body), new Split(mid, to, step, n, body));
        }
    }
}
