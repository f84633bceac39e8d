package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The upload ring against a fake stream that runs its queued copies only when the test lets it (a
 * slow GPU) or when the ring waits: every upload must arrive with the values the array held when
 * it was uploaded (the caller may reuse the array at once), a pinned buffer is never refilled while
 * its copy is queued, the host waits only when all slots are in flight, large uploads go the
 * synchronous way, and close frees everything.
 */
class UploadRingTest {
    /** A stream of queued copies and event records, run in order. */
    static final class FakeStream implements UploadRing.Ops {
        final Map<Long, int[]> pinned = new HashMap<>();
        final Map<Long, int[]> device = new HashMap<>();
        final ArrayDeque<Runnable> queue = new ArrayDeque<>();
        final Map<Long, Integer> eventPending = new HashMap<>();   // queued records not yet run
        final Set<Long> events = new HashSet<>();
        final Set<Long> pinnedInFlight = new HashSet<>();
        long next = 1;
        int syncCopies, waits;

        void runOne() {
            Runnable r = queue.poll();
            if (r != null) r.run();
        }

        void drain() {
            while (!queue.isEmpty()) runOne();
        }

        @Override public long allocPinned(long bytes) {
            pinned.put(next, new int[(int) (bytes / 4)]);
            return next++;
        }

        @Override public void freePinned(long p) {
            if (pinnedInFlight.contains(p)) fail("pinned buffer " + p + " freed while its copy is queued");
            assertTrue(pinned.remove(p) != null, "freed twice");
        }

        @Override public void fill(long p, Object hostArray, int count) {
            if (pinnedInFlight.contains(p)) fail("pinned buffer " + p + " refilled while its copy is queued");
            int[] b = pinned.get(p);
            if (hostArray instanceof float[] f) for (int i = 0; i < count; i++) b[i] = Float.floatToRawIntBits(f[i]);
            else System.arraycopy((int[]) hostArray, 0, b, 0, count);
        }

        @Override public void copyAsync(long dst, long p, long bytes) {
            pinnedInFlight.add(p);
            queue.add(() -> {
                device.put(dst, Arrays.copyOf(pinned.get(p), (int) (bytes / 4)));
                pinnedInFlight.remove(p);
            });
        }

        @Override public void copySync(long dst, Object hostArray, int count) {
            drain();
            syncCopies++;
            device.put(dst, ((int[]) hostArray).clone());
        }

        @Override public long createEvent() {
            events.add(next);
            return next++;
        }

        @Override public void destroyEvent(long e) {
            assertTrue(events.remove(e));
        }

        @Override public void record(long e) {
            eventPending.merge(e, 1, Integer::sum);
            queue.add(() -> eventPending.merge(e, -1, Integer::sum));
        }

        @Override public boolean done(long e) {
            return eventPending.getOrDefault(e, 0) == 0;
        }

        @Override public void waitFor(long e) {
            waits++;
            while (!done(e)) runOne();
        }
    }

    @Test
    void uploadsArriveAsTheyWereWhenUploadedAndNeverOverwriteABufferInFlight() {
        FakeStream gpu = new FakeStream();
        Random rnd = new Random(7);
        List<int[]> expected = new ArrayList<>();
        try (UploadRing ring = new UploadRing(gpu)) {
            int[] reused = new int[40_000];   // the caller's one array, changed after every upload
            for (int i = 0; i < 50; i++) {
                int n = 1 + rnd.nextInt(i % 5 == 0 ? 40_000 : 300);   // sizes that make slots grow
                for (int j = 0; j < n; j++) reused[j] = rnd.nextInt();
                expected.add(Arrays.copyOf(reused, n));
                ring.upload(1000 + i, reused, n);
                Arrays.fill(reused, -1);
                if (rnd.nextInt(3) == 0) gpu.runOne();   // a GPU that falls behind
            }
            gpu.drain();
            for (int i = 0; i < 50; i++) assertArrayEquals(expected.get(i), gpu.device.get(1000L + i), "upload " + i);
            long[] c = ring.counts();
            assertEquals(50, c[0]);
            assertEquals(0, c[2]);
            assertEquals(c[1], gpu.waits, "the ring waits exactly when it says it does");
            assertTrue(c[1] > 0, "a GPU this far behind must make the ring wait for a slot");
        }
        assertTrue(gpu.pinned.isEmpty(), "close frees the pinned buffers");
        assertTrue(gpu.events.isEmpty(), "close destroys the events");
    }

    @Test
    void aGpuThatKeepsUpIsNeverWaitedFor() {
        FakeStream gpu = new FakeStream();
        try (UploadRing ring = new UploadRing(gpu)) {
            for (int i = 0; i < 100; i++) {
                ring.upload(i, new float[]{i, i + 0.5f}, 2);
                gpu.drain();   // the copy ran before the next step's upload
            }
            assertEquals(0, ring.counts()[1]);
            assertEquals(0, gpu.waits);
            assertEquals(Float.floatToRawIntBits(99.5f), gpu.device.get(99L)[1]);
        }
    }

    @Test
    void theHostRunsAtMostARingAhead() {
        FakeStream gpu = new FakeStream();
        try (UploadRing ring = new UploadRing(gpu)) {
            for (int i = 0; i < UploadRing.SLOTS; i++) ring.upload(i, new int[]{i}, 1);
            assertEquals(0, gpu.waits, "a free slot for each of the first " + UploadRing.SLOTS + " uploads");
            assertEquals(2 * UploadRing.SLOTS, gpu.queue.size(), "all copied asynchronously: nothing ran yet");
            ring.upload(99, new int[]{99}, 1);
            assertEquals(1, gpu.waits, "the ninth waits for the first slot's copy");
            assertFalse(gpu.device.containsKey(99L));
        }
    }

    @Test
    void largeUploadsGoTheSynchronousWay() {
        FakeStream gpu = new FakeStream();
        try (UploadRing ring = new UploadRing(gpu)) {
            ring.upload(5, new int[]{1}, 1);
            int n = (int) (UploadRing.MAX_STAGED_BYTES / 4) + 1;
            ring.upload(6, new int[n], n);
            assertEquals(1, gpu.syncCopies);
            assertArrayEquals(new int[]{1}, gpu.device.get(5L), "the synchronous copy waited for the queued one");
            assertEquals(1, ring.counts()[2]);
        }
    }
}
