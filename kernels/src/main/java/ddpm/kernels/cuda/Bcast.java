package ddpm.kernels.cuda;

import java.util.Arrays;

/** Broadcast plans: the output's dims and each operand's element strides (0 on broadcast axes),
 *  with size-1 axes dropped and adjacent axes merged wherever every operand allows, so kernels do
 *  as little index arithmetic as possible and ranks above 8 usually fold below it. */
final class Bcast {
    final int rank;
    final int[] dims;
    final int[][] strides;

    private Bcast(int rank, int[] dims, int[][] strides) {
        this.rank = rank;
        this.dims = dims;
        this.strides = strides;
    }

    static Bcast plan(int[] out, int[]... operands) {
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
        // drop size-1 output axes, then merge from the innermost outwards
        int[] dims = new int[r];
        int[][] ms = new int[k][r];
        int n = 0;
        for (int d = 0; d < r; d++) {
            if (out[d] == 1) continue;
            dims[n] = out[d];
            for (int o = 0; o < k; o++) ms[o][n] = st[o][d];
            n++;
        }
        int m = 0;
        for (int d = 0; d < n; d++) {
            if (m > 0) {
                boolean ok = true;
                for (int o = 0; o < k && ok; o++) ok = ms[o][m - 1] == (long) ms[o][d] * dims[d];
                if (ok) {
                    dims[m - 1] *= dims[d];
                    for (int o = 0; o < k; o++) ms[o][m - 1] = ms[o][d];
                    continue;
                }
            }
            dims[m] = dims[d];
            for (int o = 0; o < k; o++) ms[o][m] = ms[o][d];
            m++;
        }
        if (m == 0) { m = 1; dims[0] = 1; for (int o = 0; o < k; o++) ms[o][0] = 0; }
        if (m > 8) throw new IllegalArgumentException("broadcast of rank " + m + " after merging axes exceeds 8: "
                + Arrays.toString(out));
        int[][] outStrides = new int[k][];
        for (int o = 0; o < k; o++) outStrides[o] = Arrays.copyOf(ms[o], m);
        return new Bcast(m, Arrays.copyOf(dims, m), outStrides);
    }
}
