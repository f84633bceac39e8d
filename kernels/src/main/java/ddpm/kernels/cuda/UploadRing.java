package ddpm.kernels.cuda;

/**
 * Host-to-device uploads that do not wait for the stream. A copy from pageable memory
 * ({@code cuMemcpyHtoD}) first drains the stream, so every upload in a training or sampling step
 * (the batch, the timesteps, a sampler's step index) used to stop the host until the GPU had run all
 * it was given. Here each upload is staged in one of {@link #SLOTS} pinned host buffers and queued
 * with {@code cuMemcpyHtoDAsync} behind the stream's work; the caller's array is free again at once.
 * A slot is reused only after the copy that last used it has completed (its event), so the host runs
 * at most a ring's worth of uploads ahead of the GPU and never overwrites a buffer still being read.
 * Uploads above {@link #MAX_STAGED_BYTES} (parameter loads) take the synchronous path: pinning that
 * much memory for a one-off copy would cost more than the wait.
 *
 * <p>The ring's logic is driver-free ({@link Ops}) so that a test can check it with a fake stream;
 * {@link GpuDriver} supplies JCuda's calls.
 */
final class UploadRing implements AutoCloseable {
    static final int SLOTS = 8;
    static final long MAX_STAGED_BYTES = 16L << 20;
    static final long MIN_SLOT_BYTES = 64L << 10;

    /** The driver calls the ring makes. Handles are opaque longs. */
    interface Ops {
        long allocPinned(long bytes);

        void freePinned(long pinned);

        /** Copies {@code count} 4-byte values of a float[] or int[] into pinned memory. */
        void fill(long pinned, Object hostArray, int count);

        /** Queues a copy of {@code bytes} from pinned memory to device address {@code dst} on the stream. */
        void copyAsync(long dst, long pinned, long bytes);

        /** The synchronous path: waits for the stream, then copies. */
        void copySync(long dst, Object hostArray, int count);

        long createEvent();

        void destroyEvent(long event);

        /** Records {@code event} on the stream after the work queued so far. */
        void record(long event);

        /** Whether the work before {@code event}'s last record has completed (does not wait). */
        boolean done(long event);

        /** Waits until it has. */
        void waitFor(long event);
    }

    private static final class Slot {
        long pinned, capacity, event;
        boolean inFlight;
    }

    private final Ops ops;
    private final Slot[] slots = new Slot[SLOTS];
    private int next;
    private long staged, waited, synchronous;

    UploadRing(Ops ops) {
        this.ops = ops;
        for (int i = 0; i < SLOTS; i++) slots[i] = new Slot();
    }

    /** Queues the upload of {@code count} 4-byte values to {@code dst}; returns without waiting for the stream
     *  unless the copy is too large to stage or the slot's previous copy is still running. */
    synchronized void upload(long dst, Object hostArray, int count) {
        long bytes = 4L * count;
        if (bytes > MAX_STAGED_BYTES) {
            synchronous++;
            ops.copySync(dst, hostArray, count);
            return;
        }
        Slot s = slots[next];
        next = (next + 1) % SLOTS;
        if (s.inFlight && !ops.done(s.event)) {
            waited++;
            ops.waitFor(s.event);
        }
        s.inFlight = false;
        if (s.capacity < bytes) {
            if (s.pinned != 0) ops.freePinned(s.pinned);
            s.pinned = 0;
            s.capacity = 0;
            long size = Math.max(MIN_SLOT_BYTES, Long.highestOneBit(bytes - 1) << 1);   // next power of two
            s.pinned = ops.allocPinned(size);
            s.capacity = size;
        }
        if (s.event == 0) s.event = ops.createEvent();
        ops.fill(s.pinned, hostArray, count);
        ops.copyAsync(dst, s.pinned, bytes);
        ops.record(s.event);
        s.inFlight = true;
        staged++;
    }

    /** {staged uploads, of which waited for a slot, synchronous uploads}. */
    synchronized long[] counts() { return new long[]{staged, waited, synchronous}; }

    /** Waits for the copies in flight and frees the pinned buffers and events. */
    @Override public synchronized void close() {
        for (Slot s : slots) {
            if (s.inFlight) ops.waitFor(s.event);
            if (s.pinned != 0) ops.freePinned(s.pinned);
            if (s.event != 0) ops.destroyEvent(s.event);
            s.pinned = s.capacity = s.event = 0;
            s.inFlight = false;
        }
    }
}
