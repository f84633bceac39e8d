package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.ints;
import static ddpm.engine.cpu.CpuStorage.n;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Row gather out[b] = table[index[b]] (embeddings, per-timestep coefficients) and its backward
 * scatter-add: the double-precision reference beside the float32 kernels. Both check every index
 * first, with the same message.
 */
final class Gather {
    private Gather() {}

    private static final int GRAIN = Elementwise.GRAIN;
    /** Columns per task of the scatter-add. */
    private static final int COLS = 1024;

    static void checkIndex(int[] idx, int rows, String op) {
        for (int i : idx)
            if (i < 0 || i >= rows) throw new IndexOutOfBoundsException(op + ": index " + i + " out of range [0, " + rows + ")");
    }

    private static int rowLength(Tensor table) { return n(table) / Math.max(1, table.dim(0)); }

    static void gatherRef(Tensor table, Tensor index, Tensor out) {
        int[] idx = ints(index);
        int rows = table.dim(0), row = rowLength(table);
        checkIndex(idx, rows, "gather");
        for (int b = 0; b < idx.length; b++) System.arraycopy(d(table), off(table) + idx[b] * row, d(out), off(out) + b * row, row);
    }

    static void gather(Tensor table, Tensor index, Tensor out) {
        int[] idx = ints(index);
        int rows = table.dim(0), row = rowLength(table), to = off(table), zo = off(out);
        float[] t = f(table), z = f(out);
        checkIndex(idx, rows, "gather");
        if (row == 0) return;
        Parallel.range(idx.length, Math.max(1, GRAIN / row), (lo, hi) -> {
            for (int b = lo; b < hi; b++) System.arraycopy(t, to + idx[b] * row, z, zo + b * row, row);
        });
    }

    static void scatterAddRef(Tensor gout, Tensor index, Tensor gtable) {
        int[] idx = ints(index);
        int rows = gtable.dim(0), row = rowLength(gtable);
        double[] g = d(gout), t = d(gtable);
        int go = off(gout), to = off(gtable);
        checkIndex(idx, rows, "scatterAdd");
        for (int b = 0; b < idx.length; b++)
            for (int e = 0; e < row; e++) t[to + idx[b] * row + e] += g[go + b * row + e];
    }

    /**
     * table[idx[b]] += g[b]: the contributions to each row are summed in double in the order of b,
     * starting from the row's value, and rounded once (as the reference); rows in parallel.
     */
    static void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        int[] idx = ints(index);
        int rows = gtable.dim(0), row = rowLength(gtable);
        float[] g = f(gout), t = f(gtable);
        int go = off(gout), to = off(gtable);
        checkIndex(idx, rows, "scatterAdd");
        if (row == 0 || idx.length == 0) return;
        // counting sort of the samples by row, stable in b
        int[] start = new int[rows + 1];
        for (int i : idx) start[i + 1]++;
        for (int r = 0; r < rows; r++) start[r + 1] += start[r];
        int[] order = new int[idx.length], fill = Arrays.copyOf(start, rows);
        for (int b = 0; b < idx.length; b++) order[fill[idx[b]]++] = b;
        int[] hit = new int[rows];
        int nh = 0;
        for (int r = 0; r < rows; r++) if (start[r + 1] > start[r]) hit[nh++] = r;
        int blocks = (row + COLS - 1) / COLS, hits = nh;
        Parallel.range(nh * blocks, Math.max(1, GRAIN / Math.min(row, COLS) / Math.max(1, idx.length / hits)), (lo, hi) -> {
            double[] acc = new double[Math.min(row, COLS)];
            for (int task = lo; task < hi; task++) {
                int r = hit[task / blocks], e0 = (task % blocks) * COLS, w = Math.min(COLS, row - e0);
                int tb = to + r * row + e0;
                for (int e = 0; e < w; e++) acc[e] = t[tb + e];
                for (int q = start[r]; q < start[r + 1]; q++) {
                    int gb = go + order[q] * row + e0;
                    for (int e = 0; e < w; e++) acc[e] += g[gb + e];
                }
                for (int e = 0; e < w; e++) t[tb + e] = (float) acc[e];
            }
        });
    }
}
