package ddpm.nn;

import ddpm.engine.*;

public final class OpTiming {
    interface Op { Tensor run(); }
    static void time(String name, Op op) {
        double best = 1e18;
        for (int i = 0; i < 6; i++) {
            try (Scope s = Scope.open()) {
                long t0 = System.nanoTime();
                op.run();
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
        }
        System.out.printf("%-40s %8.2f ms%n", name, best);
    }
    public static void main(String[] a) {
        Rng r = new Rng(1);
        Tensor x = Tensor.randn(r, 4, 32, 16, 16), w = Tensor.randn(r, 32, 32, 3, 3), b = Tensor.randn(r, 32);
        Tensor g = Tensor.ones(32), be = Tensor.zeros(32);
        Tensor tok = Tensor.randn(r, 4, 64, 64), wl = Tensor.randn(r, 64, 64);
        try (Grad.Guard ng = Grad.noGrad()) {
            time("conv3x3 4x32x16x16", () -> F.conv2d(x, w, b, 1, 1));
            time("groupnorm+silu", () -> F.groupNorm(x, g, be, 32, 1e-6, true));
            time("concat ch", () -> Tensor.concat(1, x, x));
            time("permute/transpose", () -> x.reshape(4, 32, 256).transpose(1, 2));
            time("add same", () -> x.add(x));
            time("add bcast", () -> x.add(b.reshape(1, 32, 1, 1)));
            time("silu", () -> x.silu());
            time("upsample", () -> F.upsampleNearest2x(x));
            time("attention 4x64x64", () -> F.attention(tok, tok, tok, 0.125));
            time("linear 4x64x64", () -> F.linear(tok, wl, null));
            time("sum", () -> x.sum());
            time("sum axes 0,2,3", () -> x.sum(0, 2, 3));
            time("mul", () -> x.mul(x));
        }
        Tensor xg = x.copy().requiresGrad(true), wg = w.copy().requiresGrad(true), bg = b.copy().requiresGrad(true);
        time("conv fwd+bwd", () -> { Tensor y = F.conv2d(xg, wg, bg, 1, 1); y.backward(y.zerosLike().fill(1)); return y; });
        time("gn fwd+bwd", () -> { Tensor y = F.groupNorm(xg, g.copy().requiresGrad(true), be.copy().requiresGrad(true), 32, 1e-6, true); y.backward(y.zerosLike().fill(1)); return y; });
    }
}
