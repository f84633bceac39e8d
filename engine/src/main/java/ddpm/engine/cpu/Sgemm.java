package ddpm.engine.cpu;

import java.util.Arrays;

/**
 * Single-precision GEMM, row-major: C = alpha·op(A)·op(B) + beta·C, the BLIS/GotoBLAS way.
 *
 * <p>Loops, outside in: jc over NC columns of C; pc over KC of the k dimension, packing the
 * KC × NC block of op(B) into NR-wide column panels (p-major: panel[p·NR + j]); ic over MC rows,
 * packing the MC × KC block of alpha·op(A) into MR-high row panels (panel[p·MR + i]); then jr over
 * B panels and ir over A panels, each pair one call of the register-blocked micro-kernel
 * (MR × NR accumulators, {@link SgemmVec}), which adds its tile into C — or, in the first k block
 * of a GEMM with beta = 0, stores it with a per-row bias (zero unless the caller gives one: a
 * convolution's), so C is never zero-filled first. The transposes only change how the packing
 * reads A and B, so all four cases run the same kernel. Partial tiles at the edges run the
 * kernel on zero-padded panels into a scratch tile and add (or store) the valid part.
 *
 * <p>Threads: the M × N output is cut into pm × pn rectangles (pm·pn = threads, pieces as square
 * as MR/NR granularity allows), each a serial GEMM with its own packing buffers, so threads never
 * wait on each other. A beta other than 0 or 1 is applied to each thread's rectangle of C first.
 *
 * <p>Without the jdk.incubator.vector module (or with {@code -Dddpm.vector=false}) a scalar
 * kernel over the same packed layout runs instead.
 */
final class Sgemm {
    private Sgemm() {}

    static final boolean VECTOR = detectVector();
    /** The main kernel: MR rows × NV vectors of C in registers ({@code -Dddpm.sgemm.kernel=MRxNV}). */
    static final int NV = VECTOR ? parseKernel()[1] : 1;
    static final int MR = VECTOR ? parseKernel()[0] : 6;
    static final int NR = VECTOR ? NV * SgemmVec.VL : 16;
    /** Cache blocking: an MR × KC sliver of A and a KC × NR sliver of B per kernel call, an MC × KC
     *  block of A reused across a KC × NC block of B. */
    static final int KC = Integer.getInteger("ddpm.sgemm.kc", 384);
    static final int MC = roundUp(Integer.getInteger("ddpm.sgemm.mc", 98), MR);
    static final int NC = roundUp(Integer.getInteger("ddpm.sgemm.nc", 2048), NR);

    /** Below this many multiply-adds a GEMM runs on one thread. */
    static final long PARALLEL_MIN_FMA = 1L << 17;

    private static boolean detectVector() {
        if (!Boolean.parseBoolean(System.getProperty("ddpm.vector", "true"))) return false;
        try {
            return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() && SgemmVec.VL >= 4;
        } catch (Throwable t) {
            return false;
        }
    }

    private static int[] parseKernel() {
        String k = System.getProperty("ddpm.sgemm.kernel", "14x2");
        try {
            String[] f = k.split("x");
            int mr = Integer.parseInt(f[0]), nv = Integer.parseInt(f[1]);
            if (mr >= 1 && mr <= SgemmVec.maxRows(nv)) return new int[]{mr, nv};
        } catch (RuntimeException e) { /* fall through */ }
        throw new IllegalArgumentException("-Dddpm.sgemm.kernel=" + k + ": expected RxV with V = 2 and R <= 14, or V = 3 and R <= 8");
    }

    static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

    /** A description of the kernel configuration (for benchmark reports). */
    static String describe() {
        return (VECTOR ? "Vector API " + SgemmVec.S + ", kernel " + MR + "x" + NV + ", " : "scalar, ") + "MR=" + MR + " NR=" + NR
                + " KC=" + KC + " MC=" + MC + " NC=" + NC;
    }

    /** Per-thread packing buffers, grown on demand. */
    private static final class Scratch {
        float[] a = new float[0], b = new float[0];
        final float[] tile = new float[MR * NR];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * C[m × n] (leading dimension ldc, from co) = alpha·op(A)·op(B) + beta·C, where op(A) is m × k
     * (A stored m × k with lda, or k × m when ta) and op(B) is k × n (B stored k × n with ldb, or
     * n × k when tb). beta = 0 overwrites C (NaNs there do not propagate). Splits over up to
     * {@code threads} threads.
     */
    static void gemm(boolean ta, boolean tb, int m, int n, int k, float alpha,
                     float[] a, int ao, int lda, float[] b, int bo, int ldb,
                     float beta, float[] c, int co, int ldc, int threads) {
        gemm(ta, m, n, k, alpha, a, ao, lda, dense(tb, b, bo, ldb), beta, c, co, ldc, threads);
    }

    /** The packer of a dense op(B): B stored k × n (or n × k when tb) with leading dimension ldb. */
    static BPacker dense(boolean tb, float[] b, int bo, int ldb) {
        return (pc, kc, jc, nc, pb) -> packB(tb, b, bo, ldb, pc, kc, jc, nc, pb);
    }

    /**
     * Packs op(B)[pc : pc+kc, jc : jc+nc] into NR-column panels: panel q (columns jc + q·NR …)
     * at pb[q·NR·kc], element (p, j) at [p·NR + j], zero-padded past nc. Lets a caller feed
     * B from something that is not a dense matrix (implicit im2col for convolutions).
     */
    @FunctionalInterface
    interface BPacker { void pack(int pc, int kc, int jc, int nc, float[] pb); }

    /** As {@link #gemm(boolean, boolean, int, int, int, float, float[], int, int, float[], int, int, float, float[], int, int, int)}
     *  with op(B) (k × n) supplied by a packer. */
    static void gemm(boolean ta, int m, int n, int k, float alpha, float[] a, int ao, int lda, BPacker b,
                     float beta, float[] c, int co, int ldc, int threads) {
        gemm(ta, m, n, k, alpha, a, ao, lda, null, b, beta, null, 0, c, co, ldc, threads);
    }

    /**
     * alpha·op(A) packed once ({@link #packA(boolean, int, int, float, float[], int, int)}) for
     * several GEMMs with the same A (a conv's weights over the images of a batch): C = A·op(B) + beta·C.
     */
    static void gemmPacked(int m, int n, int k, float[] packedA, BPacker b, float beta, float[] c, int co, int ldc, int threads) {
        gemm(false, m, n, k, 1f, null, 0, 0, packedA, b, beta, null, 0, c, co, ldc, threads);
    }

    /** C = A·op(B) + bias[biasOff + row] with A packed as {@link #gemmPacked}: the bias in the kernels' epilogue. */
    static void gemmPackedBias(int m, int n, int k, float[] packedA, BPacker b, float[] bias, int biasOff, float[] c, int co,
                               int ldc, int threads) {
        gemm(false, m, n, k, 1f, null, 0, 0, packedA, b, 0f, bias, bias == null ? 0 : biasOff, c, co, ldc, threads);
    }

    /** All of alpha·op(A) (m × k) in the layout the serial loop reads: per KC block of k, the
     *  MR-row panels of all m rows (zero-padded), block pc at pc · roundUp(m, MR). */
    static float[] packA(boolean ta, int m, int k, float alpha, float[] a, int ao, int lda) {
        int mp = roundUp(m, MR);
        float[] p = new float[mp * k];
        for (int pc = 0; pc < k; pc += KC) packA(ta, a, ao, lda, 0, m, pc, Math.min(KC, k - pc), alpha, p, pc * mp);
        return p;
    }

    private static void gemm(boolean ta, int m, int n, int k, float alpha, float[] a, int ao, int lda, float[] packedA,
                             BPacker b, float beta, float[] bias, int biasOff, float[] c, int co, int ldc, int threads) {
        if (m <= 0 || n <= 0) return;
        if (threads <= 1 || (long) m * n * k < PARALLEL_MIN_FMA) {
            serial(ta, 0, m, 0, n, k, alpha, a, ao, lda, packedA, b, beta, bias, biasOff, c, co, ldc);
            return;
        }
        // the split of C into pm × pn rectangles with the least work on the busiest thread
        int mp = (m + MR - 1) / MR, np = (n + NR - 1) / NR;
        int bestM = 1;
        long best = Long.MAX_VALUE;
        for (int pm = 1; pm <= threads; pm++) {
            if (threads % pm != 0) continue;
            int pn = threads / pm;
            long rows = (long) ((mp + pm - 1) / pm) * MR, cols = (long) ((np + pn - 1) / pn) * NR;
            long cost = rows * cols * 64 + (rows + cols) * 8;   // compute, then packing
            if (cost < best) { best = cost; bestM = pm; }
        }
        final int pm = bestM, pn = threads / bestM;
        Parallel.tasks(pm * pn, t -> {
            int ti = t / pn, tj = t % pn;
            int m0 = split(mp, pm, ti) * MR, m1 = Math.min(m, split(mp, pm, ti + 1) * MR);
            int n0 = split(np, pn, tj) * NR, n1 = Math.min(n, split(np, pn, tj + 1) * NR);
            if (m0 < m1 && n0 < n1) serial(ta, m0, m1, n0, n1, k, alpha, a, ao, lda, packedA, b, beta, bias, biasOff, c, co, ldc);
        });
    }

    /** Start (in panels) of part i of {@code panels} split into {@code parts}. */
    private static int split(int panels, int parts, int i) { return (int) ((long) panels * i / parts); }

    /** Zeros for the rows' bias of a beta = 0 GEMM without one (read only; replaced when too short). */
    private static volatile float[] zeros = new float[256];

    private static float[] zeros(int n) {
        float[] z = zeros;
        if (z.length < n) zeros = z = new float[Math.max(n, 2 * z.length)];
        return z;
    }

    /** The rectangle [m0, m1) × [n0, n1) of C on the calling thread; with beta = 0, C = alpha·A·B + bias[row] (bias null: 0). */
    static void serial(boolean ta, int m0, int m1, int n0, int n1, int k, float alpha, float[] a, int ao, int lda,
                       float[] packedA, BPacker b, float beta, float[] bias, int biasOff, float[] c, int co, int ldc) {
        boolean store = beta == 0;
        float[] rowBias = !store ? null : bias != null ? bias : zeros(m1);
        int rb = bias != null ? biasOff : 0;
        if (k <= 0 || alpha == 0) {   // no product: C = beta·C, or the bias
            if (!store) { scale(c, co, ldc, m0, m1, n0, n1, beta); return; }
            for (int i = m0; i < m1; i++) Arrays.fill(c, co + i * ldc + n0, co + i * ldc + n1, rowBias[rb + i]);
            return;
        }
        if (!store) scale(c, co, ldc, m0, m1, n0, n1, beta);
        Scratch s = SCRATCH.get();
        int kcMax = Math.min(KC, k);
        int needA = roundUp(Math.min(MC, m1 - m0), MR) * kcMax, needB = roundUp(Math.min(NC, n1 - n0), NR) * kcMax;
        if (s.a.length < needA) s.a = new float[needA];
        if (s.b.length < needB) s.b = new float[needB];
        float[] pa = packedA != null ? packedA : s.a, pb = s.b, tile = s.tile;
        int packedRows = packedA != null ? packedA.length / k : 0;   // roundUp(m, MR), see packA(…)
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                b.pack(pc, kc, jc, nc, pb);
                float[] first = pc == 0 ? rowBias : null;   // the first k block stores (with the bias) instead of adding
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    int aBase;
                    if (packedA == null) { packA(ta, a, ao, lda, ic, mc, pc, kc, alpha, pa, 0); aBase = 0; }
                    else aBase = pc * packedRows + ic * kc;
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            int cOff = co + (ic + ir) * ldc + jc + jr;
                            int bi = rb + ic + ir;
                            if (nr == NR) {
                                kernel(mr, kc, pa, aBase + ir * kc, pb, jr * kc, c, cOff, ldc, first, bi);
                            } else if (VECTOR && nr % SgemmVec.VL == 0 && mr <= SgemmVec.maxRows(nr / SgemmVec.VL)) {
                                // a whole number of vectors (e.g. 16 columns of a 4×4 image): a narrower kernel
                                SgemmVec.kernel(mr, nr / SgemmVec.VL, kc, pa, aBase + ir * kc, MR, pb, jr * kc, NR, c, cOff, ldc, first, bi);
                            } else {
                                Arrays.fill(tile, 0f);
                                kernel(mr, kc, pa, aBase + ir * kc, pb, jr * kc, tile, 0, NR, null, 0);
                                for (int i = 0; i < mr; i++) {
                                    int r = cOff + i * ldc;
                                    if (first != null) for (int j = 0; j < nr; j++) c[r + j] = tile[i * NR + j] + first[bi + i];
                                    else for (int j = 0; j < nr; j++) c[r + j] += tile[i * NR + j];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Whether {@link #gemmImplicit} takes a B with these column offsets: the vector kernels with
     * two vectors a row are in use, n is a whole number of NR panels, and every run of VL columns
     * is contiguous (offsets step by 1).
     */
    static boolean implicitFits(int[] colOff, int n) {
        if (!VECTOR || NV != 2 || n % NR != 0) return false;
        int vl = SgemmVec.VL;
        for (int j = 0; j < n; j += vl) if (colOff[j + vl - 1] - colOff[j] != vl - 1) return false;
        return true;
    }

    /**
     * C[m × n] (ldc, from co) = A·B + bias[biasOff + row] (bias null: 0) with A packed by {@link
     * #packA} and B never packed: column j of B at k step p is x[koff[p] + colOff[j]] (a
     * convolution's padded image: koff the taps, colOff the output pixels; see {@link
     * #implicitFits}). The loops are the serial ones less the B packing: per KC block of k and MC
     * block of rows, each NR panel of columns runs the implicit kernels over the row panels.
     */
    static void gemmImplicit(int m, int n, int k, float[] packedA, float[] x, int[] koff, int[] colOff, float[] bias, int biasOff,
                             float[] c, int co, int ldc, int threads) {
        if (m <= 0 || n <= 0) return;
        if (threads <= 1 || (long) m * n * k < PARALLEL_MIN_FMA) {
            serialImplicit(0, m, 0, n, k, packedA, x, koff, colOff, bias, biasOff, c, co, ldc);
            return;
        }
        int np = n / NR, pn = Math.min(threads, np);
        Parallel.tasks(pn, t -> {
            int n0 = split(np, pn, t) * NR, n1 = split(np, pn, t + 1) * NR;
            if (n0 < n1) serialImplicit(0, m, n0, n1, k, packedA, x, koff, colOff, bias, biasOff, c, co, ldc);
        });
    }

    private static void serialImplicit(int m0, int m1, int n0, int n1, int k, float[] packedA, float[] x, int[] koff, int[] colOff,
                                       float[] bias, int biasOff, float[] c, int co, int ldc) {
        float[] rowBias = bias != null ? bias : zeros(m1);
        int rb = bias != null ? biasOff : 0, packedRows = packedA.length / Math.max(1, k), vl = SgemmVec.VL;
        if (k <= 0) {
            for (int i = m0; i < m1; i++) Arrays.fill(c, co + i * ldc + n0, co + i * ldc + n1, rowBias[rb + i]);
            return;
        }
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            float[] first = pc == 0 ? rowBias : null;
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = Math.min(MC, m1 - ic), aBase = pc * packedRows + ic * kc;
                for (int jr = n0; jr < n1; jr += NR) {
                    int x0 = colOff[jr], x1 = colOff[jr + vl];
                    for (int ir = 0; ir < mc; ir += MR)
                        SgemmVec.implicitKernel(Math.min(MR, mc - ir), kc, packedA, aBase + ir * kc, MR, x, koff, pc, x0, x1,
                                c, co + (ic + ir) * ldc + jr, ldc, first, rb + ic + ir);
                }
            }
        }
    }

    /** rows (≤ MR) rows of C += A panel (stride MR) · B panel, or C = A·B + bias[bi + row] when bias is not null. */
    private static void kernel(int rows, int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc,
                               float[] bias, int bi) {
        if (VECTOR) SgemmVec.kernel(rows, NV, kc, a, ao, MR, b, bo, NR, c, co, ldc, bias, bi);
        else scalarKernel(rows, kc, a, ao, b, bo, c, co, ldc, bias, bi);
    }

    /** The selected kernel, for tests. */
    static void kernelForTest(int rows, int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc,
                              float[] bias, int bi) {
        kernel(rows, kc, a, ao, b, bo, c, co, ldc, bias, bi);
    }

    /** C rectangle ·= beta (beta = 0 writes zeros). */
    private static void scale(float[] c, int co, int ldc, int m0, int m1, int n0, int n1, float beta) {
        if (beta == 1) return;
        for (int i = m0; i < m1; i++) {
            int r = co + i * ldc;
            if (beta == 0) Arrays.fill(c, r + n0, r + n1, 0f);
            else for (int j = n0; j < n1; j++) c[r + j] *= beta;
        }
    }

    /** Packs alpha·op(A)[ic : ic+mc, pc : pc+kc] into MR-row panels, zero-padded to a multiple of MR. */
    static void packA(boolean ta, float[] a, int ao, int lda, int ic, int mc, int pc, int kc, float alpha, float[] pa, int po) {
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir), base = po + ir * kc;
            if (!ta) {
                // A row-major m × k: row i is contiguous in p
                for (int i = 0; i < mr; i++) {
                    int src = ao + (ic + ir + i) * lda + pc, dst = base + i;
                    if (alpha == 1) for (int p = 0; p < kc; p++) pa[dst + p * MR] = a[src + p];
                    else for (int p = 0; p < kc; p++) pa[dst + p * MR] = alpha * a[src + p];
                }
            } else {
                // A stored k × m: op(A)[i][p] = a[p·lda + i], MR values contiguous per p
                for (int p = 0; p < kc; p++) {
                    int src = ao + (pc + p) * lda + ic + ir, dst = base + p * MR;
                    if (alpha == 1) for (int i = 0; i < mr; i++) pa[dst + i] = a[src + i];
                    else for (int i = 0; i < mr; i++) pa[dst + i] = alpha * a[src + i];
                }
            }
            if (mr < MR)
                for (int p = 0; p < kc; p++) for (int i = mr; i < MR; i++) pa[base + p * MR + i] = 0f;
        }
    }

    /** Packs op(B)[pc : pc+kc, jc : jc+nc] into NR-column panels, zero-padded to a multiple of NR. */
    static void packB(boolean tb, float[] b, int bo, int ldb, int pc, int kc, int jc, int nc, float[] pb) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr), base = jr * kc;
            if (!tb) {
                // B row-major k × n: NR values contiguous per p
                for (int p = 0; p < kc; p++) {
                    int src = bo + (pc + p) * ldb + jc + jr, dst = base + p * NR;
                    System.arraycopy(b, src, pb, dst, nr);
                    if (nr < NR) Arrays.fill(pb, dst + nr, dst + NR, 0f);
                }
            } else {
                // B stored n × k: op(B)[p][j] = b[j·ldb + p], column j contiguous in p; in chunks of
                // 16 k steps so the strided writes stay within a few L1 lines
                for (int p0 = 0; p0 < kc; p0 += 16) {
                    int pn = Math.min(16, kc - p0);
                    for (int j = 0; j < nr; j++) {
                        int src = bo + (jc + jr + j) * ldb + pc + p0, dst = base + p0 * NR + j;
                        for (int p = 0; p < pn; p++) pb[dst + p * NR] = b[src + p];
                    }
                }
                if (nr < NR)
                    for (int p = 0; p < kc; p++) for (int j = nr; j < NR; j++) pb[base + p * NR + j] = 0f;
            }
        }
    }

    /** The portable micro-kernel (MR = 6, NR = 16 without the Vector API): same packed layout, plain loops. */
    static void scalarKernel(int rows, int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc,
                             float[] bias, int bi) {
        float[] acc = new float[MR * NR];
        for (int p = 0; p < kc; p++) {
            int ap = ao + p * MR, bp = bo + p * NR;
            for (int i = 0; i < rows; i++) {
                float ai = a[ap + i];
                int r = i * NR;
                for (int j = 0; j < NR; j++) acc[r + j] = Math.fma(ai, b[bp + j], acc[r + j]);
            }
        }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < NR; j++) {
                if (bias != null) c[co + i * ldc + j] = acc[i * NR + j] + bias[bi + i];
                else c[co + i * ldc + j] += acc[i * NR + j];
            }
    }
}
