package ddpm.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs kernel work over the threads of the common fork-join pool (cores − 1 workers) and the
 * calling thread. Work is cut into a fixed set of pieces (chunks of a range, tasks, batch items)
 * and every thread, the caller included, takes the next unclaimed piece until none is left, so a
 * thread that falls behind (another process on its core) holds up only the piece it is on, not a
 * fixed share of the work. The pieces do not depend on timing, so neither do results.
 * {@code -Dddpm.threads=N} (or {@link #setThreads}) caps the number of threads; 1 runs everything
 * on the calling thread.
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

    /** Runs body over [0, n) in chunks of at least {@code grain} (up to 8 per thread); inline when small. */
    public static void range(int n, int grain, Range body) {
        int t = threads();
        if (n <= grain || t == 1) { body.run(0, n); return; }
        int chunks = Math.min(t * 8, (n + grain - 1) / grain);
        int step = (n + chunks - 1) / chunks;
        claim((n + step - 1) / step, c -> body.run(c * step, Math.min(n, (c + 1) * step)));
    }

    /** Runs tasks 0 … count−1, in parallel where count &gt; 1 (each task on one thread). */
    public static void tasks(int count, Task body) {
        if (count <= 0) return;
        if (count == 1 || threads() == 1) { for (int i = 0; i < count; i++) body.run(i); return; }
        claim(count, body);
    }

    /** Body of item {@code i}, to be run on {@code threads} threads. */
    @FunctionalInterface
    public interface Item { void run(int i, int threads); }

    /**
     * Runs body(i, threadsForIt) for i in [0, count) (a batch of GEMMs, images, attention heads):
     * one thread per item when there are at least as many items as threads and they divide evenly
     * (or are many), else one after another with all threads inside each.
     */
    public static void items(int count, Item body) {
        int t = threads();
        if (t > 1 && count >= t && (count % t == 0 || count >= 4 * t)) {
            tasks(count, i -> body.run(i, 1));
        } else {
            for (int i = 0; i < count; i++) body.run(i, t);
        }
    }

    /** Pieces 0 … count−1 over the caller and up to threads − 1 pool workers, each taking the next unclaimed piece. */
    private static void claim(int count, Task body) {
        Claims c = new Claims(count, body);
        for (int h = Math.min(threads(), count) - 1; h > 0; h--) ForkJoinPool.commonPool().execute(c);
        c.run();
        c.awaitIdle();
        c.rethrow();
    }

    /** The shared state of one {@link #claim}: the next piece, the threads inside a piece, the first failure. */
    private static final class Claims implements Runnable {
        final int count;
        final Task body;
        final AtomicInteger next = new AtomicInteger(), busy = new AtomicInteger();
        volatile Throwable failure;

        Claims(int count, Task body) { this.count = count; this.body = body; }

        /** Takes pieces until none is left (a late helper finds none and leaves at once). */
        @Override public void run() {
            busy.incrementAndGet();
            try {
                for (int i; (i = next.getAndIncrement()) < count; ) body.run(i);
            } catch (Throwable e) {
                if (failure == null) failure = e;
                next.set(count);
            } finally {
                busy.decrementAndGet();
            }
        }

        /** Waits for the helpers still inside a piece (every piece is claimed by now). */
        void awaitIdle() {
            for (int spins = 0; busy.get() > 0; spins++) {
                if (spins < 256) Thread.onSpinWait();
                else Thread.yield();
            }
        }

        void rethrow() {
            Throwable e = failure;
            if (e instanceof RuntimeException r) throw r;
            if (e instanceof Error r) throw r;
            if (e != null) throw new IllegalStateException(e);
        }
    }
}
