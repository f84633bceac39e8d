package ddpm.diffusion.data;

import ddpm.engine.Device;
import ddpm.engine.Scope;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BatchIteratorTest {
    static ImageDataset numbered(int n) {
        byte[] px = new byte[n * 4];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            px[i * 4] = (byte) i;          // left pixel = index, right = 200
            px[i * 4 + 1] = (byte) 200;
            px[i * 4 + 2] = (byte) i;
            px[i * 4 + 3] = (byte) 200;
            labels[i] = i % 3;
        }
        return new ImageDataset("n", px, labels, n, 1, 2, 2, List.of("a", "b", "c"));
    }

    @Test void everyEpochVisitsEachImageOnceInASeededOrder() {
        BatchIterator it = new BatchIterator(numbered(10), 4, 7, false);
        int[] seen = new int[10];
        int[] first = new int[20];
        for (int b = 0; b < 5; b++) {
            int[] idx = it.nextIndices(null);
            System.arraycopy(idx, 0, first, b * 4, 4);
        }
        for (int i = 0; i < 10; i++) seen[first[i]]++;
        for (int s : seen) assertEquals(1, s);
        Arrays.fill(seen, 0);
        for (int i = 10; i < 20; i++) seen[first[i]]++;
        for (int s : seen) assertEquals(1, s);
        assertFalse(Arrays.equals(Arrays.copyOf(first, 10), Arrays.copyOfRange(first, 10, 20)), "epochs reshuffle");
        assertEquals(2, it.epoch());
        BatchIterator same = new BatchIterator(numbered(10), 4, 7, false);
        BatchIterator other = new BatchIterator(numbered(10), 4, 8, false);
        assertArrayEquals(Arrays.copyOf(first, 4), same.nextIndices(null));
        assertFalse(Arrays.equals(Arrays.copyOf(first, 4), other.nextIndices(null)));
    }

    @Test void seekResumesTheSameSequence() {
        BatchIterator a = new BatchIterator(numbered(13), 5, 3, true);
        for (int i = 0; i < 7; i++) a.nextIndices(new boolean[5]);
        long e = a.epoch();
        int at = a.index();
        boolean[] fa = new boolean[5], fb = new boolean[5];
        int[] want = a.nextIndices(fa);
        BatchIterator b = new BatchIterator(numbered(13), 5, 3, true);
        b.seek(e, at);
        assertArrayEquals(want, b.nextIndices(fb));
        assertArrayEquals(fa, fb);
    }

    @Test void batchLargerThanTheSetWraps() {
        BatchIterator it = new BatchIterator(numbered(3), 8, 1, false);
        int[] idx = it.nextIndices(null);
        assertEquals(8, idx.length);
        assertEquals(2, it.epoch());
        assertEquals(2, it.index());
    }

    @Test void tensorsAreScaledFlippedAndLabelled() {
        BatchIterator it = new BatchIterator(numbered(64), 64, 11, true);
        try (Scope s = Scope.open()) {
            BatchIterator.Batch b = it.next(Device.CPU);
            assertArrayEquals(new int[]{64, 1, 2, 2}, b.images().shape());
            float[] x = b.images().toFloats();
            int[] y = b.labels().toInts();
            int flipped = 0;
            for (int i = 0; i < 64; i++) {
                float l = x[i * 4], r = x[i * 4 + 1];
                boolean f = l > r + 1e-6 && Math.abs(l - (200 / 127.5f - 1)) < 1e-6;
                if (f) flipped++;
                float idxVal = f ? r : l;
                int index = Math.round((idxVal + 1) * 127.5f);
                assertEquals(index % 3, y[i]);
                assertTrue(x[i * 4] >= -1 && x[i * 4] <= 1);
            }
            assertTrue(flipped > 16 && flipped < 48, "about half flipped: " + flipped);
        }
    }

    @Test void resizeAveragesBlocksAndRepeatsPixels() {
        byte[] px = new byte[16];
        for (int i = 0; i < 16; i++) px[i] = (byte) (i * 10);
        ImageDataset d = new ImageDataset("g", px, null, 1, 1, 4, 4, List.of());
        ImageDataset half = d.resized(2);
        assertEquals(2, half.height());
        assertEquals((0 + 10 + 40 + 50 + 2) / 4, half.pixels()[0] & 0xFF);
        ImageDataset twice = half.resized(4);
        assertEquals(half.pixels()[1], twice.pixels()[2]);
        assertThrows(DataException.class, () -> d.resized(3));
        assertSame(d, d.resized(4));
    }
}
