package ddpm.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** Splits index ranges over the common fork-join pool (all cores). */
public final class Parallel {
    private Parallel() {}

    /** Body over [lo, hi). */
    @FunctionalInterface
    public interface Range { void run(int lo, int hi); }

    public static int threads() { return ForkJoinPool.getCommonPoolParallelism() + 1; }

    /** Runs body over [0, n) in chunks of at least {@code grain}; inline when small. */
    public static void range(int n, int grain, Range body) {
        if (n <= grain || threads() == 1) { body.run(0, n); return; }
        int chunks = Math.min(threads() * 4, (n + grain - 1) / grain);
        int step = (n + chunks - 1) / chunks;
        new Split(0, chunks, step, n, body).invoke();
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
