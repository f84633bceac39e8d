package ddpm.engine.testing;

import ddpm.engine.DType;
import ddpm.engine.Grad;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Checks autograd against central finite differences in double precision.
 *
 * <p>The function is applied to fresh F64 copies of the inputs (marked {@code requiresGrad}); its
 * output y is projected on a fixed random weight tensor W (normal, seeded) to give the scalar loss
 * L = Σ y ⊙ W, and {@code L.backward()} gives the analytic gradients. Each element x of each
 * checked input is then perturbed by ±h with h = step · max(1, |x|) (step = 1e-6 by default) and
 * the numeric derivative is (L(x+h) − L(x−h)) / 2h, evaluated under {@link Grad#noGrad()}.
 *
 * <p>An element passes when |analytic − numeric| ≤ rtol · max(|analytic|, |numeric|), or when
 * |analytic − numeric| ≤ atol · max(1, max |analytic gradient of that input|) (defaults: rtol = 1e-6,
 * atol = 1e-8): the absolute floor is relative to the gradient's scale, because the finite
 * difference of a loss summed over many outputs carries roundoff of order 1e-16·|terms|/h. A failure names the input, the worst element's
 * multi-index, both values and the errors. Non-F64 inputs (I32 indices) are passed through
 * unchanged and not checked; {@link #skip} leaves an F64 input out (a constant).
 *
 * <pre>{@code
 * GradCheck.of("mul", in -> in[0].mul(in[1])).check(randn64(r, 3, 1, 5), randn64(r, 4, 1));
 * }</pre>
 */
public final class GradCheck {
    /** The function under test; inputs arrive in the order given to {@link #check}. */
    @FunctionalInterface
    public interface Fn {
        Tensor apply(Tensor[] inputs);
    }

    public static final double DEFAULT_RTOL = 1e-6, DEFAULT_ATOL = 1e-8, DEFAULT_STEP = 1e-6;

    private final String name;
    private final Fn fn;
    private double rtol = DEFAULT_RTOL, atol = DEFAULT_ATOL, step = DEFAULT_STEP;
    private long seed = 0x5EEDL;
    private int maxElements = 600;
    private final List<Integer> skipped = new ArrayList<>();

    private GradCheck(String name, Fn fn) { this.name = name; this.fn = fn; }

    public static GradCheck of(String name, Fn fn) { return new GradCheck(name, fn); }

    /** Shorthand: check every F64 input with the default tolerances. */
    public static void check(String name, Fn fn, Tensor... inputs) { of(name, fn).check(inputs); }

    public GradCheck tolerance(double rtol, double atol) { this.rtol = rtol; this.atol = atol; return this; }

    public GradCheck step(double step) { this.step = step; return this; }

    public GradCheck seed(long seed) { this.seed = seed; return this; }

    /** Per input, at most this many elements are checked (a seeded random subset beyond it). */
    public GradCheck maxElements(int n) { this.maxElements = n; return this; }

    /** Treats input {@code i} as a constant (not differentiated, not checked). */
    public GradCheck skip(int i) { skipped.add(i); return this; }

    /** One input's outcome. */
    public record Report(int input, int checked, double worstAbs, double worstRel, int[] worstIndex) {}

    /** Runs the check; throws AssertionError naming the worst element of the first failing input. */
    public List<Report> check(Tensor... inputs) {
        List<Report> reports = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            int n = inputs.length;
            double[][] base = new double[n][];
            boolean[] diff = new boolean[n];
            Tensor[] leaves = new Tensor[n];
            for (int i = 0; i < n; i++) {
                Tensor in = inputs[i];
                if (in != null && in.dtype() == DType.F64 && !skipped.contains(i)) {
                    diff[i] = true;
                    base[i] = in.toDoubles();
                    leaves[i] = Tensor.of(base[i], in.shape()).requiresGrad(true);
                } else {
                    leaves[i] = in;
                }
            }
            Tensor y = fn.apply(leaves.clone());
            if (y.dtype() != DType.F64)
                throw new AssertionError(name + ": output must be F64 for a gradient check, got " + y.describe());
            Random r = new Random(seed);
            double[] w = Reference.normal(r, (int) y.numel());
            Tensor wt = Tensor.of(w, y.shape());
            if (!y.requiresGrad())
                throw new AssertionError(name + ": output " + y.describe() + " recorded no graph (no input requires grad?)");
            Tensor loss = y.mul(wt).sum();
            double l0 = loss.item();
            loss.backward();
            double l0NoGrad = evaluate(leaves, -1, null, w);
            if (Math.abs(l0NoGrad - l0) > 1e-12 * Math.max(1, Math.abs(l0)))
                throw new AssertionError(name + ": forward differs between grad and no-grad mode: " + l0 + " vs " + l0NoGrad);

            for (int i = 0; i < n; i++) {
                if (!diff[i]) continue;
                Tensor g = leaves[i].grad();
                double[] analytic = g == null ? new double[base[i].length] : g.toDoubles();
                int[] shape = inputs[i].shape();
                int[] which = pick(base[i].length, r);
                double worstRatio = -1, worstAbs = 0, worstRel = 0;
                int worst = -1;
                double worstA = 0, worstN = 0;
                // the absolute floor scales with the gradient's size: finite differences of a loss
                // summed over many outputs carry roundoff ~ 1e-16·|terms|/h however small the element
                double floor = atol * Math.max(1, Reference.maxAbs(analytic));
                for (int e : which) {
                    double v = base[i][e], h = step * Math.max(1, Math.abs(v));
                    double[] p = base[i].clone();
                    p[e] = v + h;
                    double lp = evaluate(leaves, i, p, w);
                    p[e] = v - h;
                    double lm = evaluate(leaves, i, p, w);
                    double numeric = (lp - lm) / (2 * h), a = analytic[e];
                    double abs = Math.abs(a - numeric), mag = Math.max(Math.abs(a), Math.abs(numeric));
                    double rel = mag == 0 ? 0 : abs / mag;
                    // pass when abs <= atol or rel <= rtol: the ratio below is <= 1 exactly then
                    double ratio = Double.isNaN(abs) ? Double.POSITIVE_INFINITY : Math.min(abs / floor, rel / rtol);
                    if (ratio > worstRatio) {
                        worstRatio = ratio; worst = e; worstAbs = abs; worstRel = rel; worstA = a; worstN = numeric;
                    }
                }
                int[] idx = worst < 0 ? new int[0] : Reference.unravel(worst, shape);
                reports.add(new Report(i, which.length, worstAbs, worstRel, idx));
                if (worstRatio > 1)
                    throw new AssertionError(String.format(
                            "%s: gradient of input %d %s at %s: autograd %.12g, finite difference %.12g "
                                    + "(abs err %.3g > %.2g and rel err %.3g > %.1g; %d elements checked)%s",
                            name, i, Arrays.toString(shape), Arrays.toString(idx), worstA, worstN, worstAbs, floor,
                            worstRel, rtol, which.length, g == null ? "; autograd gave no gradient" : ""));
            }
        }
        return reports;
    }

    private int[] pick(int n, Random r) {
        if (n <= maxElements) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            return all;
        }
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = 0; i < maxElements; i++) {
            int j = i + r.nextInt(n - i);
            int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        return Arrays.copyOf(perm, maxElements);
    }

    /** Σ f(inputs with input i replaced by {@code values}) ⊙ w, without recording a graph. */
    private double evaluate(Tensor[] leaves, int i, double[] values, double[] w) {
        try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            Tensor[] ins = leaves.clone();
            if (i >= 0) ins[i] = Tensor.of(values, leaves[i].shape());
            double[] y = fn.apply(ins).toDoubles();
            double acc = 0;
            for (int k = 0; k < y.length; k++) acc += y[k] * w[k];
            return acc;
        }
    }
}
