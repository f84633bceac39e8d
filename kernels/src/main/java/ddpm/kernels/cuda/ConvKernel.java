package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * conv2d as im2col + cuBLAS GEMM (conv.cu holds im2col, col2im, bias_fill, nop_to_onp).
 * With K = C·k·k, P = Ho·Wo:
 *   forward:        out[n] (O×P) = W (O×K) · col[n] (K×P), strided-batched over a chunk of images
 *                   (W broadcast with stride 0); bias pre-filled, GEMM with beta = 1.
 *   backward input: gcol[n] (K×P) = Wᵀ · gy[n], then col2im (a gather per input pixel, no atomics).
 *   backward weight: gw (O×K) = gy' (O × nb·P) · col'ᵀ (nb·P × K), one GEMM per chunk with the long
 *                   nb·P reduction, accumulating over chunks (beta = 1 after the first).
 * 1×1, stride 1, pad 0 convolutions skip im2col/col2im in forward and backward-input.
 * Workspace: chunks of images sized so the column buffers stay ≤ 256 MiB (pooled allocator).
 * Flops: 2·N·O·K·P per pass. Bytes: im2col writes 4·N·K·P and reads ~4·N·C·H·W; GEMM reads
 * 4·(O·K + N·K·P) and writes 4·N·O·P (a rough lower bound: cuBLAS tiles re-read from L2).
 */
public final class ConvKernel {
    /** Column-buffer budget per conv call; tests lower it to exercise chunking. */
    static volatile long workspaceBytes = 256L << 20;
    private final CudaBackend be;
    private final KernelModule mod;

    ConvKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "conv");
    }

    private record Geo(int n, int c, int h, int w, int o, int k, int ho, int wo, int stride, int pad) {
        int kk() { return c * k * k; }
        int p() { return ho * wo; }
        boolean pointwise() { return k == 1 && stride == 1 && pad == 0; }
        @Override public String toString() {
            return "x [" + n + "," + c + "," + h + "," + w + "] w [" + o + "," + c + "," + k + "," + k + "] -> ["
                    + n + "," + o + "," + ho + "," + wo + "] stride " + stride + " pad " + pad;
        }
    }

    private static Geo geo(Tensor x, Tensor w, Tensor y, int stride, int pad) {
        return new Geo(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), y.dim(2), y.dim(3), stride, pad);
    }

    /** Images per chunk so that the per-image workspace times the chunk stays within the budget. */
    private static int chunk(int n, long bytesPerImage) {
        long nb = Math.max(1, workspaceBytes / Math.max(1, bytesPerImage));
        nb = Math.min(nb, Math.max(1, (Integer.MAX_VALUE / 2) / Math.max(1, bytesPerImage / 4)));
        return (int) Math.min(n, nb);
    }

    private static long addr(Tensor t) { return ((CudaStorage) t.storage()).address(t.offset()); }

    private static long addr(Tensor t, long extraElems) { return addr(t) + 4 * extraElems; }

    private void im2col(long xAddr, long colAddr, Geo g, int nb, long sN, long sK, Supplier<String> what) {
        long count = (long) nb * g.kk() * g.p();
        mod.launch1d("im2col", count, new Args().addr(xAddr).addr(colAddr).i(nb).i(g.c()).i(g.h()).i(g.w()).i(g.k())
                .i(g.stride()).i(g.pad()).i(g.ho()).i(g.wo()).l(sN).l(sK), what);
    }

    void forward(Tensor x, Tensor w, Tensor bias, Tensor out, int stride, int pad) {
        CudaBackend.f32("conv2d", x, w, out);
        if (bias != null) CudaBackend.f32("conv2d (bias)", bias);
        Geo g = geo(x, w, out, stride, pad);
        Supplier<String> what = () -> "conv2d " + g;
        CudaBackend.checkIndexable(out.numel(), "conv2d", what);
        CudaBackend.checkIndexable(x.numel(), "conv2d", what);
        if (out.numel() == 0) return;
        float beta = 0f;
        if (bias != null) {
            mod.launch1d("bias_fill", out.numel(), new Args().ptr(out).ptr(bias).i((int) out.numel()).i(g.o()).i(g.p()), what);
            beta = 1f;
        }
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        if (g.pointwise()) {
            be.gemm().gemm(false, false, g.o(), p, kk, 1f, addr(w), kk, 0, addr(x), p, xImg,
                    beta, addr(out), p, yImg, g.n(), what);
            return;
        }
        int nb = chunk(g.n(), colImg * 4);
        CudaAllocator.Block ws = be.allocator().allocate((long) nb * colImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                im2col(addr(x) + n0 * xImg * 4, ws.address(), g, cnt, colImg, p, what);
                be.gemm().gemm(false, false, g.o(), p, kk, 1f, addr(w), kk, 0, ws.address(), p, colImg,
                        beta, addr(out, n0 * yImg), p, yImg, cnt, what);
            }
        } finally {
            be.allocator().release(ws);
        }
    }

    void backwardInput(Tensor gy, Tensor w, Tensor gx, int stride, int pad) {
        CudaBackend.f32("conv2dBackwardInput", gy, w, gx);
        Geo g = geo(gx, w, gy, stride, pad);
        Supplier<String> what = () -> "conv2dBackwardInput " + g;
        CudaBackend.checkIndexable(gx.numel(), "conv2dBackwardInput", what);
        CudaBackend.checkIndexable(gy.numel(), "conv2dBackwardInput", what);
        if (gx.numel() == 0) return;
        if (gy.numel() == 0) { be.fill(gx, 0); return; }
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        if (g.pointwise()) {
            be.gemm().gemm(true, false, kk, p, g.o(), 1f, addr(w), kk, 0, addr(gy), p, yImg,
                    0f, addr(gx), p, xImg, g.n(), what);
            return;
        }
        int nb = chunk(g.n(), colImg * 4);
        CudaAllocator.Block ws = be.allocator().allocate((long) nb * colImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                be.gemm().gemm(true, false, kk, p, g.o(), 1f, addr(w), kk, 0, addr(gy, n0 * yImg), p, yImg,
                        0f, ws.address(), p, colImg, cnt, what);
                mod.launch1d("col2im", (long) cnt * xImg, new Args().addr(ws.address()).addr(addr(gx) + n0 * xImg * 4)
                        .i(cnt).i(g.c()).i(g.h()).i(g.w()).i(g.k()).i(g.stride()).i(g.pad()).i(g.ho()).i(g.wo()), what);
            }
        } finally {
            be.allocator().release(ws);
        }
    }

    void backwardWeight(Tensor x, Tensor gy, Tensor gw, int stride, int pad) {
        CudaBackend.f32("conv2dBackwardWeight", x, gy, gw);
        Geo g = geo(x, gw, gy, stride, pad);
        Supplier<String> what = () -> "conv2dBackwardWeight " + g;
        CudaBackend.checkIndexable(x.numel(), "conv2dBackwardWeight", what);
        CudaBackend.checkIndexable(gy.numel(), "conv2dBackwardWeight", what);
        if (gw.numel() == 0) return;
        if (gy.numel() == 0) { be.fill(gw, 0); return; }
        int kk = g.kk(), p = g.p();
        long xImg = (long) g.c() * g.h() * g.w(), yImg = (long) g.o() * p, colImg = (long) kk * p;
        int nb = chunk(g.n(), (colImg + yImg) * 4);
        CudaAllocator.Block col = be.allocator().allocate((long) nb * colImg * 4);
        CudaAllocator.Block gyt = be.allocator().allocate((long) nb * yImg * 4);
        try {
            for (int n0 = 0; n0 < g.n(); n0 += nb) {
                int cnt = Math.min(nb, g.n() - n0);
                long np = (long) cnt * p;
                CudaBackend.checkIndexable(np, "conv2dBackwardWeight", what);
                im2col(addr(x) + n0 * xImg * 4, col.address(), g, cnt, p, np, what);   // [K, cnt·P]
                mod.launch1d("nop_to_onp", cnt * yImg, new Args().addr(addr(gy) + n0 * yImg * 4).addr(gyt.address())
                        .i(cnt).i(g.o()).i(p), what);                                   // [O, cnt·P]
                be.gemm().gemm(false, true, g.o(), kk, (int) np, 1f, gyt.address(), (int) np, 0, col.address(), (int) np, 0,
                        n0 == 0 ? 0f : 1f, addr(gw), kk, 0, 1, what);
            }
        } finally {
            be.allocator().release(col);
            be.allocator().release(gyt);
        }
    }
}
