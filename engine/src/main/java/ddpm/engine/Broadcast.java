package ddpm.engine;

import java.util.Arrays;

/**
 * The loop plan of an output and its broadcast operands, shared by every backend: the output's
 * dims and each operand's element strides over them (0 on broadcast axes), with size-1 axes
 * dropped and adjacent axes merged wherever every operand allows, so kernels do as little index
 * arithmetic as possible. The last dim is the innermost run; there each operand's stride is 0
 * (one repeated value) or 1 (contiguous). An output of one element plans as dims [1], strides 0.
 */
public final class Broadcast {
    /** Number of planned axes (at least 1). */
    public final int rank;
    /** The planned axes' sizes, outermost first. */
    public final int[] dims;
    /** strides[operand][axis]: element strides of each operand over {@link #dims}. */
    public final int[][] strides;
    /** Elements of the output. */
    public final long numel;

    private Broadcast(int rank, int[] dims, int[][] strides, long numel) {
        this.rank = rank;
        this.dims = dims;
        this.strides = strides;
        this.numel = numel;
    }

    /** The plan of {@code out} with operands of the given shapes (numpy rules, right-aligned). */
    public static Broadcast plan(int[] out, int[]... operands) {
        int r = out.length, k = operands.length;
        int[][] st = new int[k][r];
        for (int o = 0; o < k; o++) {
            int[] s = operands[o];
            if (s.length > r) throw new IllegalArgumentException("operand " + Arrays.toString(s)
                    + " has more axes than the output " + Arrays.toString(out));
            long stride = 1;
            for (int d = r - 1, e = s.length - 1; d >= 0; d--, e--) {
                int size = e >= 0 ? s[e] : 1;
                if (size != 1 && size != out[d]) throw new IllegalArgumentException("operand " + Arrays.toString(s)
                        + " does not broadcast to " + Arrays.toString(out));
                st[o][d] = size == 1 ? 0 : (int) stride;
                stride *= size;
            }
        }
        // drop size-1 output axes, then merge an axis into the one before it where every operand
        // steps through both as through one
        int[] dims = new int[Math.max(r, 1)];
        int[][] ms = new int[k][Math.max(r, 1)];
        int m = 0;
        for (int d = 0; d < r; d++) {
            if (out[d] == 1) continue;
            boolean merge = m > 0;
            for (int o = 0; o < k && merge; o++) merge = ms[o][m - 1] == (long) st[o][d] * out[d];
            if (merge) {
                dims[m - 1] *= out[d];
                for (int o = 0; o < k; o++) ms[o][m - 1] = st[o][d];
            } else {
                dims[m] = out[d];
                for (int o = 0; o < k; o++) ms[o][m] = st[o][d];
                m++;
            }
        }
        if (m == 0) { m = 1; dims[0] = 1; for (int o = 0; o < k; o++) ms[o][0] = 0; }
        int[][] strides = new int[k][];
        for (int o = 0; o < k; o++) strides[o] = Arrays.copyOf(ms[o], m);
        return new Broadcast(m, Arrays.copyOf(dims, m), strides, Shapes.numel(out));
    }

    /** Length of the innermost run. */
    public int inner() { return dims[rank - 1]; }

    /** Operand {@code o}'s stride in the innermost run: 0 or 1. */
    public int innerStride(int o) { return strides[o][rank - 1]; }

    /**
     * Element offsets of every operand at each output position, in order: {@code visit(i, offs)}
     * for i = 0 … numel−1, offs[o] relative to operand o's start. The plain walk the double-
     * precision reference uses; fast kernels walk runs instead.
     */
    public void forEach(Visitor visit) {
        int k = strides.length;
        int[] idx = new int[rank], offs = new int[k];
        for (long i = 0; i < numel; i++) {
            visit.at((int) i, offs);
            for (int d = rank - 1; d >= 0; d--) {
                idx[d]++;
                for (int o = 0; o < k; o++) offs[o] += strides[o][d];
                if (idx[d] < dims[d]) break;
                for (int o = 0; o < k; o++) offs[o] -= strides[o][d] * dims[d];
                idx[d] = 0;
            }
        }
    }

    /** One output position and the operands' offsets there. */
    @FunctionalInterface
    public interface Visitor { void at(int out, int[] offs); }

    @Override public String toString() {
        return "Broadcast(dims " + Arrays.toString(dims) + ", strides " + Arrays.deepToString(strides) + ")";
    }
}
