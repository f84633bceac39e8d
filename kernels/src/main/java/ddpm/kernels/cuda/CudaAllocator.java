package ddpm.kernels.cuda;

import ddpm.engine.MemoryStats;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.TreeMap;

/**
 * A caching device allocator. cuMemAlloc/cuMemFree are slow and cuMemFree synchronises the device,
 * so freed blocks go to free lists keyed by size class and are handed out again, within a step and
 * across steps (a training step allocates the same shapes every time).
 *
 * <p>Size classes: multiples of 512 B below 1 MiB, of 2 MiB above. A request takes a cached block
 * of its own class, or (at 1 MiB and above) the smallest cached block of at most 1/8 more bytes.
 * All work runs on the backend's one stream, so a block freed while kernels that use it are still
 * queued can be reused at once: later work on the same stream runs after them.
 *
 * <p>Out of memory: the cache is emptied (after a device synchronise) and the allocation retried
 * once; then {@link CudaException.OutOfMemory} says what was asked for and what the pool holds.
 */
public final class CudaAllocator {
    static final long SMALL_LIMIT = 1L << 20, SMALL_ROUND = 512, LARGE_ROUND = 2L << 20;

    /** A device block: its base address (0 for empty blocks) and rounded size. */
    record Block(long address, long bytes) {}

    private final TreeMap<Long, ArrayDeque<Block>> free = new TreeMap<>();
    private long liveBytes, peakBytes, liveBlocks, cachedBytes, allocations, reuses;
    private final CudaDriver driver;

    CudaAllocator(CudaDriver driver) { this.driver = driver; }

    /** The size class a request of {@code bytes} falls into. */
    static long roundUp(long bytes) {
        if (bytes <= 0) return 0;
        long r = bytes < SMALL_LIMIT ? SMALL_ROUND : LARGE_ROUND;
        return (bytes + r - 1) / r * r;
    }

    synchronized Block allocate(long requested) {
        long size = roundUp(requested);
        if (size == 0) { liveBlocks++; return new Block(0, 0); }
        Block b = takeCached(size);
        if (b != null) {
            reuses++;
        } else {
            b = new Block(deviceAlloc(size, requested), size);
            allocations++;
        }
        liveBytes += b.bytes();
        liveBlocks++;
        peakBytes = Math.max(peakBytes, liveBytes);
        return b;
    }

    synchronized void release(Block b) {
        liveBlocks--;
        if (b.bytes() == 0) return;
        liveBytes -= b.bytes();
        cachedBytes += b.bytes();
        free.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
    }

    private Block takeCached(long size) {
        long limit = size < SMALL_LIMIT ? size : size + size / 8;
        Map.Entry<Long, ArrayDeque<Block>> e = free.ceilingEntry(size);
        if (e == null || e.getKey() > limit) return null;
        Block b = e.getValue().pop();
        if (e.getValue().isEmpty()) free.remove(e.getKey());
        cachedBytes -= b.bytes();
        return b;
    }

    private long deviceAlloc(long size, long requested) {
        long p = driver.malloc(size);
        if (p == 0) {
            long had = cachedBytes;
            emptyCache();
            p = driver.malloc(size);
            if (p == 0) {
                long[] mem = driver.memInfo();
                throw new CudaException.OutOfMemory(String.format(
                        "CUDA out of memory: requested %d bytes (%s, rounded to %s); the pool holds %s in %d live blocks"
                                + " (peak %s) and had %s cached (released and retried); device free %s of %s",
                        requested, human(requested), human(size), human(liveBytes), liveBlocks, human(peakBytes),
                        human(had), human(mem[0]), human(mem[1])));
            }
        }
        return p;
    }

    /** Frees every cached block back to the driver (after the device has finished with them). */
    public synchronized void emptyCache() {
        if (free.isEmpty()) return;
        driver.synchronize();
        for (ArrayDeque<Block> q : free.values())
            for (Block b : q) driver.free(b.address());
        free.clear();
        cachedBytes = 0;
    }

    public synchronized MemoryStats stats() {
        return new MemoryStats(liveBytes, peakBytes, liveBlocks, cachedBytes, allocations, reuses);
    }

    /** Restarts the peak counter at the current live size (for per-phase measurements). */
    public synchronized void resetPeak() { peakBytes = liveBytes; }

    static String human(long b) {
        if (b >= 1L << 30) return String.format("%.2f GiB", b / (double) (1L << 30));
        if (b >= 1L << 20) return String.format("%.1f MiB", b / (double) (1L << 20));
        if (b >= 1L << 10) return String.format("%.1f KiB", b / 1024.0);
        return b + " B";
    }
}
