package ddpm.engine.cpu;

import ddpm.engine.DType;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The CPU backend's caching allocator: arrays of released storages are kept by dtype and size
 * class and handed to the next storage of that class, so a training step does not allocate (and
 * the JVM zero) fresh arrays for every intermediate. Size classes are 4, 5, 6 or 7 times a power
 * of two (at most 25 % over the request); arrays under {@link #MIN_POOLED} elements are not pooled.
 * The cache holds at most {@code ddpm.cpu.pool.bytes} (default a third of the heap); past that,
 * released arrays go to the garbage collector, as does the whole cache when an allocation
 * would otherwise run out of memory. {@code -Dddpm.cpu.pool=false} turns pooling off.
 *
 * <p>Contents are uninitialised (whatever the last user left), as the backend contract allows;
 * {@code -Dddpm.cpu.poison=true} (the test suites set it) fills every array handed out with NaN
 * (floats) or {@link Integer#MIN_VALUE} (ints), so a kernel that reads an output before writing
 * it fails its tests.
 */
final class ArrayPool {
    static final int MIN_POOLED = 4096;
    private static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("ddpm.cpu.pool", "true"));
    static final boolean POISON = Boolean.getBoolean("ddpm.cpu.poison");

    private final long capacity = Long.getLong("ddpm.cpu.pool.bytes", Runtime.getRuntime().maxMemory() / 3);
    private final Map<Long, ArrayDeque<Object>> free = new HashMap<>();
    private long cachedBytes, reuses;

    /** The size class of a request: the least c·2^k ≥ n with c in 4…7 (n itself below MIN_POOLED). */
    static int sizeClass(int n) {
        if (n < MIN_POOLED || !ENABLED) return n;
        int shift = 31 - Integer.numberOfLeadingZeros(n) - 2;   // n < 8·2^shift
        long step = 1L << shift, c = (n + step - 1) / step * step;
        return (int) Math.min(c, Integer.MAX_VALUE - 16);
    }

    private static long key(DType dtype, int length) { return (long) length << 3 | dtype.ordinal(); }

    /** An array of dtype's element type with at least n elements. */
    Object take(DType dtype, int n) {
        dtype = dtype.widened();   // BF16 tensors are float[] of bfloat16 values
        int length = sizeClass(n);
        Object a = null;
        if (ENABLED && n >= MIN_POOLED) {
            synchronized (this) {
                ArrayDeque<Object> q = free.get(key(dtype, length));
                if (q != null && !q.isEmpty()) {
                    a = q.pop();
                    cachedBytes -= (long) length * dtype.bytes;
                    reuses++;
                }
            }
        }
        if (a == null) a = allocate(dtype, length);
        if (POISON) poison(a);
        return a;
    }

    private Object allocate(DType dtype, int length) {
        try {
            return newArray(dtype, length);
        } catch (OutOfMemoryError e) {
            clear();
            return newArray(dtype, length);
        }
    }

    private static Object newArray(DType dtype, int length) {
        return switch (dtype) {
            case F32 -> new float[length];
            case F64 -> new double[length];
            case I32 -> new int[length];
            default -> throw new IllegalArgumentException("the CPU backend stores F32, F64 and I32, not " + dtype);
        };
    }

    private static void poison(Object a) {
        if (a instanceof float[] f) Arrays.fill(f, Float.NaN);
        else if (a instanceof double[] d) Arrays.fill(d, Double.NaN);
        else Arrays.fill((int[]) a, Integer.MIN_VALUE);
    }

    /** Takes back the array of a released storage (or lets it go when it is small or the cache is full). */
    synchronized void give(DType dtype, Object array, int length) {
        dtype = dtype.widened();
        if (!ENABLED || length < MIN_POOLED || length != sizeClass(length)) return;
        long bytes = (long) length * dtype.bytes;
        if (cachedBytes + bytes > capacity) return;
        free.computeIfAbsent(key(dtype, length), k -> new ArrayDeque<>()).push(array);
        cachedBytes += bytes;
    }

    /** Drops every cached array. */
    synchronized void clear() {
        free.clear();
        cachedBytes = 0;
    }

    synchronized long cachedBytes() { return cachedBytes; }

    synchronized long reuses() { return reuses; }
}
