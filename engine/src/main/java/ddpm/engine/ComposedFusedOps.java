package ddpm.engine;

import java.util.Arrays;

/**
 * The fused ops written in core primitives (through {@link Tensor} and {@link F}, without
 * autograd, temporaries released before returning): what {@link FusedOps#of} gives for a backend
 * that does not implement them, and the executable statement of what the fused kernels compute
 * (ComposedFusedOpsTest holds them to each other).
 */
public final class ComposedFusedOps implements FusedOps {
    public static final ComposedFusedOps INSTANCE = new ComposedFusedOps();

    private ComposedFusedOps() {}

    /** Per-sample coefficients table[steps[b]] as [B, 1, …, 1] to broadcast against x. */
    private static Tensor perSample(Tensor table, Tensor t, Tensor x) {
        int[] s = new int[x.rank()];
        Arrays.fill(s, 1);
        s[0] = x.dim(0);
        return F.gather(table, t).reshape(s);
    }

    @Override public void qSample(Tensor x0, Tensor eps, Tensor t, Tensor a, Tensor s, Tensor out) {
        FusedOps.checkSteps("qSample", t.toInts(), 1, a, s);
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            out.copyFrom(x0.mul(perSample(a, t, x0)).add(eps.mul(perSample(s, t, x0))));
        }
    }

    @Override public void posteriorStep(Tensor xt, Tensor epsHat, Tensor z, Tensor t, Tensor c1, Tensor c2, Tensor sigma,
                                        Tensor out) {
        FusedOps.checkSteps("posteriorStep", t.toInts(), 1, c1, c2, sigma);
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            Tensor mean = xt.sub(epsHat.mul(perSample(c2, t, xt))).mul(perSample(c1, t, xt));
            out.copyFrom(z == null ? mean : mean.add(z.mul(perSample(sigma, t, xt))));
        }
    }

    @Override public void ddimStep(Tensor xt, Tensor epsHat, Tensor z, Tensor idx, Tensor coefs, double clip, Tensor out) {
        FusedOps.checkSteps("ddimStep", idx.toInts(), 5, coefs);
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            int[] s = new int[xt.rank()];
            Arrays.fill(s, 1);
            s[0] = xt.dim(0);
            Tensor rows = F.gather(coefs, idx);   // [B, 5]
            Tensor[] c = new Tensor[5];
            for (int j = 0; j < 5; j++) c[j] = rows.slice(1, j, j + 1).reshape(s);
            Tensor x0 = xt.sub(epsHat.mul(c[1])).div(c[0]);
            Tensor eps = epsHat;
            if (clip > 0) {
                x0 = x0.clamp(-clip, clip);
                eps = xt.sub(x0.mul(c[0])).div(c[1]);   // the ε that the clipped x̂0 implies
            }
            Tensor next = x0.mul(c[2]).add(eps.mul(c[3]));
            out.copyFrom(z == null ? next : next.add(z.mul(c[4])));
        }
    }

    @Override public void adam(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                               double eps, double weightDecay, boolean decoupled, long step, double gradScale) {
        double c1 = 1 - Math.pow(beta1, step), c2 = 1 - Math.pow(beta2, step);
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            Tensor g = grad.mul(gradScale);
            if (!decoupled && weightDecay != 0) g = g.add(param.mul(weightDecay));
            m.copyFrom(m.mul(beta1).add(g.mul(1 - beta1)));
            v.copyFrom(v.mul(beta2).add(g.square().mul(1 - beta2)));
            Tensor update = m.mul(lr / c1).div(v.mul(1 / c2).sqrt().add(eps));
            if (decoupled && weightDecay != 0) update = update.add(param.mul(lr * weightDecay));
            param.copyFrom(param.sub(update));
        }
    }

    @Override public void ema(Tensor ema, Tensor param, double decay) {
        try (Grad.Guard ng = Grad.noGrad(); Scope scope = Scope.open()) {
            ema.copyFrom(ema.mul(decay).add(param.mul(1 - decay)));
        }
    }
}
