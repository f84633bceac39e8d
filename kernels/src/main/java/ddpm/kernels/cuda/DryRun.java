package ddpm.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Test seam (package-private): a {@link CudaBackend} built with a DryRun touches no driver, no
 * cuBLAS and no GPU. Allocations get fake, distinct, 256-byte-aligned device addresses; kernel
 * launches, cuBLAS GEMMs, memsets, device copies and shared-memory opt-ins are recorded as
 * {@link Call}s (and handed to {@link #onCall} when set, so a test can execute them on host
 * memory). With {@link #memory} on, each block is backed by host words so write/read/fill/copy
 * work and a test can emulate kernels on them.
 */
final class DryRun {
    enum Kind { LAUNCH, GEMM, ALLOW_SHARED, MEMSET, MEMCPY, MATH_MODE }

    /** One recorded device operation. For LAUNCH: family, kernel, args, grid, block, shared bytes.
     *  For GEMM: kernel = "cublasSgemm" / "cublasSgemmStridedBatched", ints = {opA, opB, m, n, k,
     *  lda, ldb, ldc, batch} in cuBLAS's (column-major) terms after the operand swap, ptrs = {A, B, C},
     *  longs = {strideA, strideB, strideC}, floats = {alpha, beta}. ALLOW_SHARED: kernel, shared.
     *  MEMSET: ptrs = {dst}, longs = {count}, ints = {bits}. MEMCPY: ptrs = {dst, src}, longs = {bytes}. */
    static final class Call {
        final Kind kind;
        final String family, kernel;
        final List<Args.Arg> args;
        final int[] grid, block;
        final int shared;
        final int[] ints;
        final long[] ptrs, longs;
        final float[] floats;

        Call(Kind kind, String family, String kernel, List<Args.Arg> args, int[] grid, int[] block, int shared,
             int[] ints, long[] ptrs, long[] longs, float[] floats) {
            this.kind = kind;
            this.family = family;
            this.kernel = kernel;
            this.args = args;
            this.grid = grid;
            this.block = block;
            this.shared = shared;
            this.ints = ints;
            this.ptrs = ptrs;
            this.longs = longs;
            this.floats = floats;
        }

        @Override public String toString() {
            return switch (kind) {
                case LAUNCH -> family + "." + kernel + " grid " + grid[0] + "x" + grid[1] + "x" + grid[2] + " block "
                        + block[0] + "x" + block[1] + "x" + block[2] + " shared " + shared + " args " + args;
                case GEMM -> kernel + " " + java.util.Arrays.toString(ints) + " ptrs " + java.util.Arrays.toString(ptrs)
                        + " strides " + java.util.Arrays.toString(longs) + " alpha/beta " + java.util.Arrays.toString(floats);
                default -> kind + " " + family + "." + kernel + " " + shared + " " + java.util.Arrays.toString(ptrs)
                        + java.util.Arrays.toString(longs) + java.util.Arrays.toString(ints);
            };
        }
    }

    /** First fake address; blocks are spaced with a gap so an overrun lands outside every block. */
    static final long BASE = 0x7f00_0000_0000L, GAP = 1L << 20;

    final boolean memory;
    final List<Call> calls = new ArrayList<>();
    /** Live and freed fake blocks: base address -> bytes. */
    final TreeMap<Long, Long> blocks = new TreeMap<>();
    /** Host backing of each block (when {@link #memory}): base address -> 32-bit words, lazily. */
    final Map<Long, int[]> words = new TreeMap<>();
    Consumer<Call> onCall;
    private long next = BASE;

    DryRun(boolean memory) { this.memory = memory; }

    synchronized long allocate(long bytes) {
        long a = next;
        blocks.put(a, bytes);
        next += (bytes + GAP + 255) / 256 * 256;
        return a;
    }

    void record(Call c) {
        calls.add(c);
        if (onCall != null) onCall.accept(c);
    }

    /** The host words behind the block holding {@code address}, and the word index of address in it. */
    int[] wordsAt(long address, int[] indexOut) {
        Map.Entry<Long, Long> e = blocks.floorEntry(address);
        if (e == null || address >= e.getKey() + Math.max(1, e.getValue()) || (address - e.getKey()) % 4 != 0)
            throw new IllegalStateException("address 0x" + Long.toHexString(address) + " is in no allocated block");
        int[] w = words.computeIfAbsent(e.getKey(), k -> new int[(int) ((e.getValue() + 3) / 4)]);
        indexOut[0] = (int) ((address - e.getKey()) / 4);
        return w;
    }
}
