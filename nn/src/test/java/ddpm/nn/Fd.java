package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A small finite-difference gradient checker in double precision (the engine's test-jar has no
 * GradCheck yet). The loss is L = Σ f() ⊙ R for a fixed random R; analytic gradients come from one
 * backward, numeric ones from central differences on up to {@code samples} elements per tensor.
 */
final class Fd {
    private Fd() {}

    /** Random F64 values U(−a, a) written into every parameter (so zero-initialised layers get gradients too). */
    static void randomize(Module m, long seed, double a) {
        try (Scope s = Scope.open()) {
            Tensor flat = m.flatParams();
            Tensor u = Tensor.rand(new Rng(seed), flat.dtype(), flat.device(), (int) flat.numel());
            flat.copyFrom(u.affine(2 * a, -a));
        }
    }

    static Tensor randn(long seed, int... shape) {
        return Tensor.randn(new Rng(seed), DType.F64, Device.CPU, shape);
    }

    /**
     * Checks d(Σ f ⊙ R)/d(each tensor in wrt). wrt entries must be F64 leaves with requiresGrad
     * (inputs) or parameters of {@code model} (whose grads are views into its flat grad buffer).
     */
    static void check(String what, Module model, Supplier<Tensor> f, List<Tensor> wrt, int samples, double tol) {
        Tensor r;
        try (Scope s = Scope.open()) {
            Tensor out0 = f.get();
            r = s.keep(Tensor.randn(new Rng(99), DType.F64, Device.CPU, out0.shape()));
        }
        Scope.disown(r);
        // analytic
        if (model != null) model.zeroGrad();
        for (Tensor t : wrt) if (model == null || !isParam(model, t)) t.setGrad(null);
        double[][] analytic = new double[wrt.size()][];
        try (Scope s = Scope.open()) {
            f.get().mul(r).sum().backward();
            for (int i = 0; i < wrt.size(); i++) {
                Tensor g = wrt.get(i).grad();
                if (g == null) throw new AssertionError(what + ": no gradient reached input " + i + " " + wrt.get(i).describe());
                analytic[i] = g.toDoubles();
            }
        }
        Rng pick = new Rng(7);
        double h = 1e-6;
        for (int i = 0; i < wrt.size(); i++) {
            Tensor t = wrt.get(i);
            double[] v = t.toDoubles();
            int n = v.length;
            int m = Math.min(samples, n);
            for (int s = 0; s < m; s++) {
                int k = m == n ? s : pick.nextInt(n);
                double old = v[k];
                v[k] = old + h;
                t.copyFrom(v);
                double lp = loss(f, r);
                v[k] = old - h;
                t.copyFrom(v);
                double lm = loss(f, r);
                v[k] = old;
                t.copyFrom(v);
                double num = (lp - lm) / (2 * h);
                double an = analytic[i][k];
                double err = Math.abs(num - an) / Math.max(1.0, Math.abs(num) + Math.abs(an));
                assertTrue(err < tol, what + ": d/d" + describe(model, t) + "[" + k + "] analytic " + an + " vs numeric " + num + " (rel err " + err + ")");
            }
        }
        r.release();
    }

    private static boolean isParam(Module m, Tensor t) {
        for (Tensor p : m.namedParameters().values()) if (p == t) return true;
        return false;
    }

    private static String describe(Module m, Tensor t) {
        if (m != null) for (var e : m.namedParameters().entrySet()) if (e.getValue() == t) return e.getKey();
        return t.describe();
    }

    private static double loss(Supplier<Tensor> f, Tensor r) {
        try (Scope s = Scope.open(); ddpm.engine.Grad.Guard g = ddpm.engine.Grad.noGrad()) {
            return f.get().mul(r).sum().item();
        }
    }
}
