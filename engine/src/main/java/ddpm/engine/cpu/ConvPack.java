package ddpm.engine.cpu;

import java.util.Arrays;

/**
 * Implicit im2col: the column matrix of one image, col[(c·k + u)·k + v][i·wo + j] =
 * x[c][i·s − pad + u][j·s − pad + v] (0 outside), packed straight into SGEMM panels without
 * materialising it. {@link #cols} feeds B = col (forward conv: W · col), {@link #colsT} feeds
 * B = colᵀ (weight gradient: gy · colᵀ).
 */
final class ConvPack {
    final float[] x;
    final int xo, h, w, k, s, pad, ho, wo, kk, imgs, imgStride, hw;

    ConvPack(float[] x, int xo, int h, int w, int k, int s, int pad, int ho, int wo) {
        this(x, xo, h, w, k, s, pad, ho, wo, 1, 0);
    }

    /** {@code imgs} images {@code imgStride} floats apart side by side: pixel index
     *  img·ho·wo + i·wo + j (small feature maps batched into one GEMM). */
    ConvPack(float[] x, int xo, int h, int w, int k, int s, int pad, int ho, int wo, int imgs, int imgStride) {
        this.x = x; this.xo = xo; this.h = h; this.w = w; this.k = k; this.s = s; this.pad = pad;
        this.ho = ho; this.wo = wo; this.kk = k * k; this.imgs = imgs; this.imgStride = imgStride; this.hw = ho * wo;
    }

    /** B = col (k = C·k², n = ho·wo). */
    Sgemm.BPacker cols() {
        return (pc, kc, jc, nc, pb) -> {
            int nr = Sgemm.NR;
            for (int jr = 0; jr < nc; jr += nr) {
                int cols = Math.min(nr, nc - jr), base = jr * kc;
                for (int p = 0; p < kc; p++) {
                    int dst = base + p * nr;
                    row(pc + p, jc + jr, cols, pb, dst, 1);
                    if (cols < nr) Arrays.fill(pb, dst + cols, dst + nr, 0f);
                }
            }
        };
    }

    /** B = colᵀ (k = ho·wo, n = C·k²). */
    Sgemm.BPacker colsT() {
        return (pc, kc, jc, nc, pb) -> {
            int nr = Sgemm.NR;
            for (int jr = 0; jr < nc; jr += nr) {
                int cols = Math.min(nr, nc - jr), base = jr * kc;
                for (int p0 = 0; p0 < kc; p0 += 16) {   // chunks of 16 k steps keep the strided writes in L1
                    int pn = Math.min(16, kc - p0);
                    for (int t = 0; t < cols; t++) row(jc + jr + t, pc + p0, pn, pb, base + p0 * nr + t, nr);
                }
                if (cols < nr)
                    for (int p = 0; p < kc; p++) Arrays.fill(pb, base + p * nr + cols, base + p * nr + nr, 0f);
            }
        };
    }

    /** dst[off + t·ds] = col[row][pix0 + t] for t in [0, n), across images. */
    void row(int row, int pix0, int n, float[] dst, int off, int ds) {
        if (imgs == 1) { row(xo, row, pix0, n, dst, off, ds); return; }
        for (int done = 0; done < n; ) {
            int img = (pix0 + done) / hw, local = pix0 + done - img * hw, cnt = Math.min(n - done, hw - local);
            row(xo + img * imgStride, row, local, cnt, dst, off + done * ds, ds);
            done += cnt;
        }
    }

    private void row(int xo, int row, int pix0, int n, float[] dst, int off, int ds) {
        int ch = row / kk, r = row - ch * kk, u = r / k, v = r - u * k;
        int jlo = Math.max(0, -Math.floorDiv(v - pad, s)), jhi = Math.min(wo, Math.floorDiv(w - 1 + pad - v, s) + 1);
        if (jhi < jlo) jhi = jlo;
        int i = pix0 / wo, jj = pix0 - i * wo, done = 0;
        while (done < n) {
            int seg = Math.min(n - done, wo - jj), yy = i * s - pad + u;
            int o = off + done * ds;
            if (yy < 0 || yy >= h) {
                zero(dst, o, seg, ds);
            } else {
                int src = xo + (ch * h + yy) * w - pad + v;   // x index of output column j is src + j·s
                int a = Math.max(jj, jlo), b = Math.min(jj + seg, jhi);
                if (b < a) b = a;
                zero(dst, o, a - jj, ds);
                int oa = o + (a - jj) * ds;
                if (ds == 1 && s == 1) System.arraycopy(x, src + a, dst, oa, b - a);
                else for (int j = a, q = oa; j < b; j++, q += ds) dst[q] = x[src + j * s];
                zero(dst, o + (b - jj) * ds, jj + seg - b, ds);
            }
            done += seg;
            jj = 0;
            i++;
        }
    }

    private static void zero(float[] d, int o, int n, int ds) {
        if (n <= 0) return;
        if (ds == 1) Arrays.fill(d, o, o + n, 0f);
        else for (int t = 0, q = o; t < n; t++, q += ds) d[q] = 0f;
    }
}
