package ddpm.bench.ab;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Ops;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import ddpm.engine.cpu.Parallel;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * Single-thread CPU time of CPU-backend kernels, for A/B comparisons on a machine shared with
 * other work, where wall-clock benchmarks drown in the noise: all kernel work runs on the calling
 * thread ({@code Parallel.setThreads(1)}) and is timed with the thread's CPU clock; the median of
 * {@code -Dreps} (21) runs after {@code -Dwarm} (60) is printed. Run by {@code bench/cpu-ab.sh}.
 *
 * <p>Arguments: specs {@code op:d0,d1,...}: {@code convF|convBI|convBW:N,C,O,H,W,k,stride,pad},
 * and on a tensor of the given shape {@code copy, add, silu, siluBwd, where, dropout, permute}
 * (the last two axes swapped), {@code gn, gnBwd, gnSilu, gnSiluBwd} (32 groups). One line per
 * spec: {@code op shape ms unit-rate}.
 */
public final class CpuTime {
    private CpuTime() {}

    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    static double medianMs(Runnable r) {
        for (int i = 0, w = Integer.getInteger("warm", 60); i < w; i++) r.run();
        double[] t = new double[Integer.getInteger("reps", 21)];
        for (int i = 0; i < t.length; i++) {
            long a = MX.getCurrentThreadCpuTime();
            r.run();
            t[i] = (MX.getCurrentThreadCpuTime() - a) / 1e6;
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }

    private static Tensor randn(Rng rng, int... shape) { return Tensor.randn(rng, DType.F32, Device.CPU, shape); }

    private static Tensor zeros(int... shape) { return Tensor.zeros(DType.F32, Device.CPU, shape); }

    public static void main(String[] args) {
        Parallel.setThreads(1);
        Backend b = Backends.cpu();
        Rng rng = new Rng(1);
        for (String spec : args) {
            String op = spec.substring(0, spec.indexOf(':')), dims = spec.substring(spec.indexOf(':') + 1);
            int[] d = Arrays.stream(dims.split(",")).mapToInt(Integer::parseInt).toArray();
            if (op.startsWith("conv")) {
                int n = d[0], c = d[1], o = d[2], h = d[3], w = d[4], k = d[5], s = d[6], pad = d[7];
                int ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1;
                Tensor x = randn(rng, n, c, h, w), wt = randn(rng, o, c, k, k), bias = randn(rng, o), y = zeros(n, o, ho, wo),
                        gy = randn(rng, n, o, ho, wo), gx = zeros(n, c, h, w), gw = zeros(o, c, k, k);
                Runnable r = switch (op) {
                    case "convF" -> () -> b.conv2d(x, wt, bias, y, s, pad);
                    case "convBI" -> () -> b.conv2dBackwardInput(gy, wt, gx, s, pad);
                    case "convBW" -> () -> b.conv2dBackwardWeight(x, gy, gw, s, pad);
                    default -> throw new IllegalArgumentException("unknown op " + op + " in " + spec);
                };
                double ms = medianMs(r);
                System.out.printf("%s %s %.3f ms %.1f GFLOP/s%n", op, dims, ms, 2.0 * n * o * c * k * k * ho * wo / (ms * 1e6));
                continue;
            }
            int n = 1;
            for (int v : d) n *= v;
            Tensor x = randn(rng, d), g = randn(rng, d), out = zeros(d), y = x.silu();
            double bytes;
            Runnable r;
            switch (op) {
                case "copy" -> { r = () -> b.copy(x, out); bytes = 8.0 * n; }
                case "add" -> { r = () -> b.binary(Ops.Binary.ADD, x, g, out); bytes = 12.0 * n; }
                case "silu" -> { r = () -> b.unary(Ops.Unary.SILU, x, out); bytes = 8.0 * n; }
                case "siluBwd" -> { r = () -> b.unaryBackward(Ops.Unary.SILU, x, y, g, out); bytes = 12.0 * n; }
                case "where" -> { Tensor c = x.gt(0); r = () -> b.where(c, x, g, out); bytes = 16.0 * n; }
                case "dropout" -> { r = () -> b.dropoutMask(out, 0.1, 7, 0); bytes = 4.0 * n; }
                case "permute" -> {
                    int[] p = new int[d.length], s = d.clone();
                    for (int i = 0; i < p.length; i++) p[i] = i;
                    p[p.length - 1] = p.length - 2; p[p.length - 2] = p.length - 1;
                    s[s.length - 1] = d[d.length - 2]; s[s.length - 2] = d[d.length - 1];
                    Tensor o2 = zeros(s);
                    r = () -> b.permute(x, p, o2);
                    bytes = 8.0 * n;
                }
                case "gn", "gnBwd", "gnSilu", "gnSiluBwd" -> {
                    int c = d[1], groups = 32;
                    boolean silu = op.contains("Silu");
                    Tensor gm = randn(rng, c), bt = randn(rng, c), m = zeros(d[0], groups), rs = zeros(d[0], groups),
                            gg = zeros(c), gb = zeros(c);
                    b.groupNorm(x, gm, bt, groups, 1e-6, silu, out, m, rs);
                    if (op.endsWith("Bwd")) { r = () -> b.groupNormBackward(x, gm, bt, m, rs, groups, silu, g, out, gg, gb); bytes = 12.0 * n; }
                    else { r = () -> b.groupNorm(x, gm, bt, groups, 1e-6, silu, out, m, rs); bytes = 8.0 * n; }
                }
                default -> throw new IllegalArgumentException("unknown op " + op + " in " + spec);
            }
            double ms = medianMs(r);
            System.out.printf("%s %s %.3f ms %.2f GB/s%n", op, dims, ms, bytes / (ms * 1e6));
        }
    }
}
