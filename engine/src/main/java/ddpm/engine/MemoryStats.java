package ddpm.engine;

/** A backend's memory counters: bytes in live storages, their peak, and (for pooling backends)
 *  bytes cached for reuse. */
public record MemoryStats(long liveBytes, long peakBytes, long liveStorages, long cachedBytes,
                          long allocations, long reuses) {
    @Override public String toString() {
        return String.format("live %.1f MiB in %d storages (peak %.1f MiB), cached %.1f MiB, %d allocations, %d reuses",
                liveBytes / 1048576.0, liveStorages, peakBytes / 1048576.0, cachedBytes / 1048576.0, allocations, reuses);
    }
}
