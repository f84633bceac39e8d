package ddpm.nn;

import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import ddpm.nn.optim.LinearWarmup;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A small U-Net memorises one batch of the DDPM objective: the loss falls 10× on the CPU. */
class OverfitTest {
    /** The tiny preset shrunk to 8 px and width 16 so that a few hundred CPU steps take seconds. */
    static UNetConfig micro() {
        return UNetConfig.tiny().toBuilder().resolution(8).ch(16).groups(8).dropout(0).build();
    }

    /** x_t = √ᾱ x0 + √(1−ᾱ) ε for the paper's linear β schedule, computed on the host. */
    static float[] noisy(float[] x0, float[] eps, int[] t, int per) {
        float[] out = new float[x0.length];
        for (int b = 0; b < t.length; b++) {
            double ab = 1;
            for (int s = 0; s <= t[b]; s++) ab *= 1 - (1e-4 + (0.02 - 1e-4) * s / 999.0);
            for (int k = 0; k < per; k++) out[b * per + k] = (float) (Math.sqrt(ab) * x0[b * per + k] + Math.sqrt(1 - ab) * eps[b * per + k]);
        }
        return out;
    }

    @Test void tinyUNetOverfitsOneBatch() {
        UNetConfig cfg = micro();
        int b = 2, c = cfg.inChannels, r = cfg.resolution, per = c * r * r;
        float[] x0 = new float[b * per];
        for (int i = 0; i < x0.length; i++) x0[i] = (float) Math.sin(0.3 * i) * 0.8f;   // a fixed smooth "image"
        float[] eps = Tensor.randn(new Rng(3), b, c, r, r).toFloats();
        int[] ts = {150, 700};
        try (UNet net = new UNet(cfg, Device.CPU, 1); Adam opt = new Adam(net); Ema ema = new Ema(net, 0.99)) {
            Tensor xt = Tensor.of(noisy(x0, eps, ts, per), b, c, r, r), target = Tensor.of(eps, b, c, r, r);
            Tensor t = Tensor.ofInts(ts, Device.CPU, b);
            LinearWarmup lr = new LinearWarmup(3e-3, 10);
            double first = Double.NaN, last = Double.NaN;
            int steps = 0;
            for (; steps < 300; steps++) {
                try (Scope s = Scope.open()) {
                    net.zeroGrad();
                    Tensor loss = F.mseLoss(net.forward(xt, t), target);
                    loss.backward();
                    last = loss.item();
                    if (steps == 0) first = last;
                    GradClip.Result clip = GradClip.compute(net.flatGrads(), 1.0);
                    opt.step(lr.lr(opt.stepCount() + 1), clip.scale());
                    ema.update();
                }
                if (last < first / 20) break;
            }
            System.out.printf("overfit: loss %.4f -> %.5f in %d steps%n", first, last, steps + 1);
            assertTrue(first > 0.5, "a fresh U-Net predicts ε̂ = 0, so the first loss is about E[ε²] = 1, got " + first);
            assertTrue(last < first / 10, "loss fell only from " + first + " to " + last + " in " + steps + " steps");
            xt.close(); target.close(); t.close();
        }
    }
}
