package ddpm.nn;

import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

/**
 * Not a test: CPU timings of forward and forward+backward per image.
 * {@code java -cp ... ddpm.nn.UNetTiming [tiny|small|cifar10] batch iters}
 */
public final class UNetTiming {
    public static void main(String[] args) {
        String which = args.length > 0 ? args[0] : "tiny";
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int iters = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        UNetConfig cfg = switch (which) {
            case "small" -> UNetConfig.small();
            case "cifar10" -> UNetConfig.cifar10();
            case "micro" -> UNetConfig.tiny().toBuilder().resolution(8).ch(16).groups(8).dropout(0).build();
            default -> UNetConfig.tiny();
        };
        try (UNet net = new UNet(cfg, Device.CPU, 0)) {
            Fd.class.getName();
            Rng rng = new Rng(1);
            int r = cfg.resolution, c = cfg.inChannels;
            double fwd = Double.MAX_VALUE, both = Double.MAX_VALUE;
            int warm = iters > 1 ? 1 : 0;   // one untimed warm-up run unless a single run is asked for
            for (int i = 0; i < iters + warm; i++) {
                try (Scope s = Scope.open()) {
                    Tensor x = Tensor.randn(rng, batch, c, r, r);
                    Tensor t = Tensor.ofInts(new int[batch], Device.CPU, batch);
                    long t0 = System.nanoTime();
                    try (Grad.Guard g = Grad.noGrad()) { net.forward(x, t).sum().item(); }
                    long t1 = System.nanoTime();
                    net.zeroGrad();
                    F.mseLoss(net.forward(x, t), x).backward();
                    long t2 = System.nanoTime();
                    if (i >= warm) { fwd = Math.min(fwd, (t1 - t0) / 1e6); both = Math.min(both, (t2 - t1) / 1e6); }
                }
            }
            System.out.printf("%s (%d params) batch %d: forward %.1f ms (%.1f ms/img), fwd+bwd %.1f ms (%.1f ms/img) [best of %d]%n",
                    which, net.paramCount(), batch, fwd, fwd / batch, both, both / batch, iters);
        }
    }
}
