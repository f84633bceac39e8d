package ddpm.engine.cpu;

import java.util.Arrays;

/**
 * The GEMM operands of a convolution without the im2col matrix: the images are copied once,
 * zero-padded (and, for the weight gradient, channels-last), and the GEMM's B panels are then
 * packed straight from that copy as B[p][n] = src[rowOff[p] + colOff[n]]. Both offset tables
 * increase strictly, so a run of a panel whose column offsets step by exactly 1 is contiguous
 * in the copy and packs as one vector copy per k step; other runs (maps of 8 or 4 pixels a row,
 * stride 2) as one vector gather per k step with the run's offset pattern. No branches for the
 * borders: the padding is in the copy.
 *
 * <ul>
 *   <li>{@link #cols}: B = col(x) for the forward conv, k = (c, u, v), n = (image, i, j):
 *       rowOff = c·Hp·Wp + u·Wp + v, colOff = image base + i·s·Wp + j·s;</li>
 *   <li>{@link #colsT}: B = col(x)ᵀ for the weight gradient with its columns in (u, v, c) order
 *       (the caller permutes the result to [O][C][k][k]), k = (image, i, j), n = (u, v, c):
 *       rowOff = (image base + i·s·Wp + j·s)·C, colOff = (u·Wp + v)·C + c.</li>
 * </ul>
 */
final class ConvPack {
    private ConvPack() {}

    /** Columns per packing run: one vector of the SGEMM kernels (NR is a whole number of them). */
    static final int RUN = Sgemm.VECTOR ? SgemmVec.VL : Sgemm.NR;

    /**
     * The images x[b] (b &lt; imgs, {@code xImg} floats apart from xo), each [c][h][w], zero-padded
     * by pad on every side into dst[b][c][h + 2·pad][w + 2·pad]. Returns dst.
     */
    static float[] padded(float[] x, int xo, int xImg, int imgs, int c, int h, int w, int pad, float[] dst) {
        int hp = h + 2 * pad, wp = w + 2 * pad, plane = hp * wp;
        for (int b = 0; b < imgs; b++)
            for (int ch = 0; ch < c; ch++) {
                int d = (b * c + ch) * plane, s = xo + b * xImg + ch * h * w;
                Arrays.fill(dst, d, d + pad * wp + pad, 0f);
                for (int i = 0; i < h; i++) {
                    int row = d + (i + pad) * wp + pad;
                    System.arraycopy(x, s + i * w, dst, row, w);
                    Arrays.fill(dst, row + w, Math.min(row + w + 2 * pad, d + plane), 0f);
                }
                Arrays.fill(dst, d + (h + pad) * wp + pad, d + plane, 0f);
            }
        return dst;
    }

    /** Channel rows per block of the channels-last transpose (writes of this many floats are contiguous). */
    private static final int CB = 16;

    /**
     * The images x[b], each [c][h][w], zero-padded by pad and channels-last into
     * dst[b][h + 2·pad][w + 2·pad][c]. Returns dst.
     */
    static float[] paddedChannelsLast(float[] x, int xo, int xImg, int imgs, int c, int h, int w, int pad, float[] dst) {
        int hp = h + 2 * pad, wp = w + 2 * pad, hw = h * w;
        for (int b = 0; b < imgs; b++) {
            int d = b * hp * wp * c, s0 = xo + b * xImg;
            if (pad > 0) {   // the border rows and columns
                Arrays.fill(dst, d, d + (pad * wp + pad) * c, 0f);
                for (int i = 0; i < h; i++) {
                    int e = d + ((i + pad) * wp + pad + w) * c;
                    Arrays.fill(dst, e, Math.min(e + 2 * pad * c, d + hp * wp * c), 0f);
                }
                Arrays.fill(dst, d + ((h + pad) * wp + pad) * c, d + hp * wp * c, 0f);
            }
            for (int c0 = 0; c0 < c; c0 += CB) {
                int cn = Math.min(CB, c - c0);
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++) {
                        int dst0 = d + ((i + pad) * wp + j + pad) * c + c0, src0 = s0 + c0 * hw + i * w + j;
                        for (int q = 0; q < cn; q++) dst[dst0 + q] = x[src0 + q * hw];
                    }
            }
        }
        return dst;
    }

    /** The offset tables of a B operand: B[p][n] = src[rowOff[p] + colOff[n]]. */
    record Offsets(float[] src, int[] rowOff, int[] colOff) {
        Sgemm.BPacker packer() { return offsets(src, rowOff, colOff); }
    }

    /**
     * B = col(x) of a forward conv from the padded images {@code xp} ([imgs][c][hp][wp] at 0, or
     * unpadded ones when pad was 0: then wp = w, images {@code imgStride} apart from {@code base}).
     */
    static Offsets cols(float[] xp, int base, int imgStride, int imgs, int c, int hp, int wp, int k, int s,
                        int ho, int wo) {
        int[] rowOff = new int[c * k * k], colOff = new int[imgs * ho * wo];
        for (int ch = 0, r = 0; ch < c; ch++)
            for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++) rowOff[r++] = ch * hp * wp + u * wp + v;
        for (int b = 0, n = 0; b < imgs; b++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) colOff[n++] = base + b * imgStride + i * s * wp + j * s;
        return new Offsets(xp, rowOff, colOff);
    }

    /** B = col(x)ᵀ with columns (u, v, c) from the padded channels-last images {@code xt} ([imgs][hp][wp][c] at 0). */
    static Sgemm.BPacker colsT(float[] xt, int imgs, int c, int hp, int wp, int k, int s, int ho, int wo) {
        int[] rowOff = new int[imgs * ho * wo], colOff = new int[k * k * c];
        for (int b = 0, p = 0; b < imgs; b++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) rowOff[p++] = ((b * hp + i * s) * wp + j * s) * c;
        for (int u = 0, n = 0; u < k; u++)
            for (int v = 0; v < k; v++)
                for (int ch = 0; ch < c; ch++) colOff[n++] = (u * wp + v) * c + ch;
        return offsets(xt, rowOff, colOff);
    }

    /** The packer of B[p][n] = src[rowOff[p] + colOff[n]] (both tables strictly increasing). */
    static Sgemm.BPacker offsets(float[] src, int[] rowOff, int[] colOff) {
        return (pc, kc, jc, nc, pb) -> {
            int nr = Sgemm.NR;
            int[] rel = Sgemm.VECTOR ? new int[RUN] : null;
            for (int jr = 0; jr < nc; jr += nr) {
                int cols = Math.min(nr, nc - jr), panel = jr * kc;
                for (int t0 = 0; t0 < nr; t0 += RUN) {
                    int len = Math.min(RUN, cols - t0), n0 = jc + jr + t0, dst = panel + t0, c0 = len > 0 ? colOff[n0] : 0;
                    if (len == RUN && rel != null) {
                        if (colOff[n0 + RUN - 1] - c0 == RUN - 1) {   // contiguous: one vector copy per k step
                            VecMath.copyRuns(src, rowOff, pc, kc, c0, pb, dst, nr);
                        } else {   // rows of 8 or 4 pixels, stride 2: one vector gather per k step
                            for (int t = 0; t < RUN; t++) rel[t] = colOff[n0 + t] - c0;
                            VecMath.gatherRuns(src, rowOff, pc, kc, c0, rel, pb, dst, nr);
                        }
                        continue;
                    }
                    for (int p = 0; p < kc; p++) {
                        int r = rowOff[pc + p], d = dst + p * nr, t = 0;
                        for (; t < len; t++) pb[d + t] = src[r + colOff[n0 + t]];
                        for (; t < RUN; t++) pb[d + t] = 0f;
                    }
                }
            }
        };
    }
}
