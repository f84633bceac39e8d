package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.MathPrecision;
import ddpm.engine.Ops;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.Locale;

/**
 * Quick wall-clock timings of the main kernels at the U-Net's shapes, with achieved GB/s and
 * GFLOP/s from the byte/flop formulas documented on each launcher (README.md lists them).
 * Not a JMH benchmark: a sanity check that a GPU session can run in seconds.
 *
 * <p>usage: {@code bash .device/run.sh java ddpm.kernels.cuda.KernelTimings [iterations] [fp32|tf32|bf16]}
 */
public final class KernelTimings {
    private KernelTimings() {}

    interface Body { void run(); }

    static Backend be;
    static int iters;

    static void time(String name, double bytes, double flops, Body body) {
        body.run();                      // warm-up (module load, JIT, allocator)
        be.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < iters; i++) body.run();
        be.synchronize();
        double s = (System.nanoTime() - t0) / 1e9 / iters;
        System.out.printf(Locale.ROOT, "%-44s %9.3f ms %9.1f GB/s %9.1f GFLOP/s%n", name, s * 1e3,
                bytes / s / 1e9, flops / s / 1e9);
    }

    static Tensor randn(long seed, int... shape) {
        Tensor t = Tensor.empty(DType.F32, be.device(), shape);
        be.randNormal(t, seed, 0);
        return t;
    }

    static Tensor empty(int... shape) { return Tensor.empty(DType.F32, be.device(), shape); }

    public static void main(String[] args) {
        iters = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        be = Backends.get(Device.cuda(0));
        CudaBackend cb = (CudaBackend) be;
        if (args.length > 1) cb.setPrecision(MathPrecision.parse(args[1]));
        System.out.println(cb.describe() + ", precision " + cb.precision() + ", " + iters + " iterations");
        try (Scope ignored = Scope.open()) {
            int n = 128;
            // diffusion
            Tensor x0 = randn(1, n, 3, 32, 32), eps = randn(2, n, 3, 32, 32), out = empty(n, 3, 32, 32);
            int[] ts = new int[n];
            for (int i = 0; i < n; i++) ts[i] = (i * 7919) % 1000;
            Tensor t = Tensor.ofInts(ts, be.device(), n), a = randn(3, 1000), s = randn(4, 1000);
            double el = x0.numel();
            time("qSample [128,3,32,32]", 12 * el, 3 * el, () -> FusedOps.of(be).qSample(x0, eps, t, a, s, out));
            time("qSampleWithNoise [128,3,32,32]", 12 * el, 3 * el,
                    () -> cb.diffusion().qSampleWithNoise(x0, t, a, s, 5, 0, eps, out));
            time("randNormal [128,3,32,32]", 4 * el, 0, () -> be.randNormal(out, 9, 0));
            // group norm + SiLU
            for (int[] sh : new int[][]{{n, 128, 32, 32}, {n, 256, 16, 16}, {n, 512, 8, 8}}) {
                try (Scope inner = Scope.open()) {
                    Tensor x = randn(5, sh), g = randn(6, sh[1]), b = randn(7, sh[1]), y = empty(sh);
                    Tensor mean = empty(n, 32), rstd = empty(n, 32), gy = randn(8, sh), gx = empty(sh),
                            gg = empty(sh[1]), gb = empty(sh[1]);
                    double e = x.numel();
                    String tag = "[" + sh[0] + "," + sh[1] + "," + sh[2] + "," + sh[3] + "]";
                    time("groupNorm+SiLU fwd " + tag, 8 * e, 10 * e,
                            () -> be.groupNorm(x, g, b, 32, 1e-5, true, y, mean, rstd));
                    time("groupNorm+SiLU bwd " + tag, 12 * e, 20 * e,
                            () -> be.groupNormBackward(x, g, b, mean, rstd, 32, true, gy, gx, gg, gb));
                    // the same with bfloat16 activations (x, y, gy, gx): half the activation bytes
                    Tensor xh = x.to(DType.BF16), yh = Tensor.empty(DType.BF16, be.device(), sh), gyh = gy.to(DType.BF16),
                            gxh = Tensor.empty(DType.BF16, be.device(), sh);
                    time("groupNorm+SiLU fwd bf16 " + tag, 4 * e, 10 * e,
                            () -> be.groupNorm(xh, g, b, 32, 1e-5, true, yh, mean, rstd));
                    time("groupNorm+SiLU bwd bf16 " + tag, 6 * e, 20 * e,
                            () -> be.groupNormBackward(xh, g, b, mean, rstd, 32, true, gyh, gxh, gg, gb));
                    time("add (residual) " + tag, 12 * e, e, () -> be.binary(Ops.Binary.ADD, x, gy, y));
                    time("add (residual) bf16 " + tag, 6 * e, e, () -> be.binary(Ops.Binary.ADD, xh, gyh, yh));
                }
            }
            // attention
            for (int l : new int[]{64, 256}) {
                try (Scope inner = Scope.open()) {
                    int d = 256;
                    Tensor q = randn(10, n, l, d), k = randn(11, n, l, d), v = randn(12, n, l, d), o = empty(n, l, d),
                            lse = empty(n, l), go = randn(13, n, l, d), gq = empty(n, l, d), gk = empty(n, l, d),
                            gv = empty(n, l, d);
                    double scale = 1 / Math.sqrt(d);
                    double bytes = 4.0 * n * (4.0 * l * d + l);
                    double f = 2.0 * n * l * l * (2.0 * d);
                    time("attention fwd B=128 L=S=" + l + " D=256", bytes, f, () -> be.attention(q, k, v, scale, o, lse));
                    time("attention bwd B=128 L=S=" + l + " D=256", 2 * bytes, 2.0 * n * l * l * (6.0 * d),
                            () -> be.attentionBackward(q, k, v, o, lse, go, scale, gq, gk, gv));
                }
            }
            // convolutions: FP32 (im2col + cuBLAS), then TF32 and BF16 on each algorithm (igemm with and without
            // the halo kernels), the group norm + SiLU applied on load, and what auto keeps
            int[][] convs = {{128, 32, 128, 3, 1, 1}, {256, 16, 256, 3, 1, 1}, {256, 8, 256, 3, 1, 1},
                    {128, 32, 128, 3, 2, 1}, {384, 32, 128, 1, 1, 0}};
            MathPrecision given = cb.precision();
            for (int[] c : convs) {
                try (Scope inner = Scope.open()) {
                    int ci = c[0], h = c[1], co = c[2], k = c[3], st = c[4], pad = c[5];
                    int ho = (h + 2 * pad - k) / st + 1;
                    Tensor x = randn(20, n, ci, h, h), w = randn(21, co, ci, k, k), b = randn(22, co),
                            y = empty(n, co, ho, ho), gy = randn(23, n, co, ho, ho), gx = empty(n, ci, h, h),
                            gw = empty(co, ci, k, k), nAdd = randn(24, n, co), res = randn(25, n, co, ho, ho);
                    double f = 2.0 * n * co * ci * k * k * ho * ho;
                    double bytes = 4.0 * (x.numel() + w.numel() + y.numel());
                    Tensor gamma = randn(26, ci), beta = randn(27, ci), mean = empty(n, 32), rstd = empty(n, 32);
                    // igemm with the halo kernels where the shape takes them, and without ("gather")
                    String[] variants = {"igemm", "gather", "gemm", "auto"};
                    for (MathPrecision p : MathPrecision.values())
                        for (String v : p == MathPrecision.FP32 ? new String[]{"gemm"} : variants) {
                            cb.setPrecision(p);
                            cb.conv().setAlgorithm(ConvKernel.Algorithm.parse(v.equals("gather") ? "igemm" : v));
                            cb.conv().setHalo(!v.equals("gather"));
                            String tag = "C=" + ci + " " + h + "x" + h + " O=" + co + " k" + k + " s" + st + " " + p + " " + v;
                            time("conv2d fwd " + tag, bytes, f, () -> be.conv2d(x, w, b, y, st, pad));
                            time("conv2dAdd (bias, t, residual) " + tag, bytes + 4.0 * (y.numel() + nAdd.numel()), f,
                                    () -> cb.conv2dAdd(x, w, b, nAdd, res, y, st, pad));
                            time("GN+SiLU -> conv2dAdd " + tag, bytes + 4.0 * (x.numel() + y.numel() + nAdd.numel()), f,
                                    () -> cb.groupNormSiluConv2dAdd(x, gamma, beta, 32, 1e-6, w, b, nAdd, res, y, mean, rstd, st, pad));
                            time("conv2d bwd-input " + tag, bytes, f, () -> be.conv2dBackwardInput(gy, w, gx, st, pad));
                            time("conv2d bwd-weight " + tag, bytes, f, () -> be.conv2dBackwardWeight(x, gy, gw, st, pad));
                        }
                    cb.conv().setHalo(true);
                }
            }
            cb.setPrecision(given);
            cb.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
            for (ConvKernel.Choice c : cb.conv().choices()) System.out.println("conv auto: " + c);
            // elementwise, layout, reductions, optimiser
            try (Scope inner = Scope.open()) {
                Tensor x = randn(30, n, 256, 16, 16), bias = randn(31, 1, 256, 1, 1), y = empty(n, 256, 16, 16);
                double e = x.numel();
                time("binary ADD bias [128,256,16,16]", 8 * e, e, () -> be.binary(Ops.Binary.ADD, x, bias, y));
                time("unary SILU [128,256,16,16]", 8 * e, 4 * e, () -> be.unary(Ops.Unary.SILU, x, y));
                Tensor r = empty(1, 256 * 256);
                time("reduce SUM over batch [1,128,65536]", 4 * e, e, () -> be.reduce(Ops.Reduce.SUM, x, 1, n, 256 * 256, r));
                Tensor up = empty(n, 256, 32, 32);
                time("upsample2x [128,256,16,16]", 20 * e, 0, () -> be.upsampleNearest2x(x, up));
                Tensor pm = empty(n, 256, 256);
                Tensor x3 = x.reshape(n, 256, 256);
                time("permute [128,256,256] (0,2,1)", 8 * e, 0, () -> be.permute(x3, new int[]{0, 2, 1}, pm));
                time("softmax [128,256,256]", 8 * e, 4 * e, () -> be.softmax(x3, pm));
            }
            try (Scope inner = Scope.open()) {
                int np = 36_000_000;
                Tensor p = randn(40, np), g = randn(41, np), m = randn(42, np), v = empty(np), ema = randn(43, np);
                be.fill(v, 0.01);
                time("adamW 36M params", 28.0 * np, 14.0 * np,
                        () -> FusedOps.of(be).adam(p, g, m, v, 2e-4, 0.9, 0.999, 1e-8, 0.01, true, 10, 1));
                time("ema 36M params", 12.0 * np, 3.0 * np, () -> FusedOps.of(be).ema(ema, p, 0.9999));
            }
            try (Scope inner = Scope.open()) {
                Tensor a2 = randn(50, 128 * 256, 256), b2 = randn(51, 256, 768), c2 = empty(128 * 256, 768);
                double f = 2.0 * 128 * 256 * 256 * 768;
                time("matmul [32768,256]x[256,768]", 4.0 * (a2.numel() + b2.numel() + c2.numel()), f,
                        () -> be.matmul(a2, b2, c2, false, false, 1, 0));
            }
        }
        System.out.println(be.memoryStats());
    }
}
