package ddpm.diffusion;

import ddpm.diffusion.GaussianDiffusion.MeanType;
import ddpm.diffusion.GaussianDiffusion.VarianceType;
import ddpm.diffusion.Schedule.Coef;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Classification;
import ddpm.nn.Classifier;
import ddpm.nn.ClassifierConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Classifier guidance: the autograd gradient of log p(y | x_t, t), and how each sampler uses it. */
class ClassifierGuidanceTest {
    /** A small noise-conditional classifier in float64 with every weight random (no zero-initialised path). */
    static Classifier smallClassifier() {
        ClassifierConfig c = new ClassifierConfig(8, 1, 3, 8, new int[]{1, 2}, 1, new int[]{4}, 0.0, 4, true);
        Classifier net = new Classifier(c, Device.CPU, DType.F64, 3);
        try (Grad.Guard g = Grad.noGrad(); Scope s = Scope.open()) {
            net.flatParams().copyFrom(Tensor.randn(new Rng(9), DType.F64, Device.CPU, (int) net.flatParams().numel()).mul(0.3));
        }
        return net.eval();
    }

    static double sumLogProb(Classifier net, Tensor x, Tensor t, Tensor y) {
        try (Grad.Guard g = Grad.noGrad(); Scope s = Scope.open()) {
            return Classification.logProbOf(net.forward(x, t), y).sum().item();
        }
    }

    @Test void gradientOfLogProbMatchesFiniteDifferencesInDoublePrecision() {
        try (Classifier net = smallClassifier(); Scope scope = Scope.open()) {
            net.requiresGrad(false);   // as when sampling: only the input gradient is wanted
            Tensor x = Tensor.randn(new Rng(4), DType.F64, Device.CPU, 2, 1, 8, 8);
            Tensor t = Tensor.ofInts(new int[]{17, 640}, Device.CPU, 2), y = Tensor.ofInts(new int[]{2, 0}, Device.CPU, 2);
            ClassifierGuidance guidance = new ClassifierGuidance(net::forward, 1.0);
            double[] g;
            try (Grad.Guard off = Grad.noGrad()) {   // samplers run without gradients: the guidance turns them on itself
                g = guidance.gradLogProb(x, t, y).toDoubles();
            }
            double[] xv = x.toDoubles();
            double h = 1e-5, worst = 0, scale = 0;
            for (double gi : g) scale = Math.max(scale, Math.abs(gi));
            for (int i = 0; i < xv.length; i++) {
                double[] p = xv.clone(), m = xv.clone();
                p[i] += h;
                m[i] -= h;
                double num = (sumLogProb(net, Tensor.of(p, 2, 1, 8, 8), t, y) - sumLogProb(net, Tensor.of(m, 2, 1, 8, 8), t, y)) / (2 * h);
                worst = Math.max(worst, Math.abs(num - g[i]));
            }
            assertTrue(scale > 1e-3, "the gradient is not trivially zero: max |g| = " + scale);
            assertTrue(worst < 1e-7 * Math.max(1, scale), "max |autograd − finite difference| = " + worst + " (max |g| " + scale + ")");
            for (double pg : net.flatGrads().toDoubles()) assertEquals(0.0, pg, "a frozen classifier accumulates no parameter gradients");
        }
    }

    @Test void ancestralSamplingShiftsTheMeanBySigmaSquaredTimesTheGradient() {
        Schedule s = Schedule.linear(100);
        GaussianDataModel model = new GaussianDataModel(s, 0.1, 0.04);
        try (Classifier net = smallClassifier(); Scope scope = Scope.open()) {
            net.requiresGrad(false);
            Tensor x = Tensor.randn(new Rng(1), DType.F64, Device.CPU, 2, 1, 8, 8), z = Tensor.randn(new Rng(2), DType.F64, Device.CPU, 2, 1, 8, 8);
            Tensor y = Tensor.ofInts(new int[]{1, 2}, Device.CPU, 2);
            double scale = 2.5;
            ClassifierGuidance cg = new ClassifierGuidance(net::forward, scale);
            for (VarianceType vt : new VarianceType[]{VarianceType.FIXED_LARGE, VarianceType.FIXED_SMALL}) {
                GaussianDiffusion g = new GaussianDiffusion(s, MeanType.EPSILON, vt);
                DdpmSampler plain = new DdpmSampler(g, true), guided = plain.withGuidance(cg);
                int t = 40;
                double[] a = plain.step(model, x, t, null, z, false).next().toDoubles();
                double[] b = guided.step(model, x, t, y, z, false).next().toDoubles();
                double[] grad = cg.gradLogProb(x, Tensor.ofInts(new int[]{t, t}, Device.CPU, 2), y).toDoubles();
                double var = s.at(g.varianceCoef(), t);
                for (int i = 0; i < a.length; i++) assertEquals(a[i] + scale * var * grad[i], b[i], 1e-12, vt + " element " + i);
            }
            // DDIM: ε̂ ← ε̂ − s·√(1−ᾱ_t)·∇ log p, then the usual step
            GaussianDiffusion g = new GaussianDiffusion(s);
            DdimSampler ddim = new DdimSampler(g, 10, 0.5, DdimSampler.Spacing.UNIFORM, true), guided = ddim.withGuidance(cg);
            int i = 6, t = ddim.timesteps()[i];
            Tensor tt = Tensor.ofInts(new int[]{t, t}, Device.CPU, 2);
            Tensor eps = model.predictEps(x, tt, null).sub(cg.gradLogProb(x, tt, y).mul(scale * s.at(Coef.SQRT_ONE_MINUS_ALPHA_BAR, t)));
            assertArrayEquals(ddim.step(x, eps, z, i).toDoubles(), guided.step(model, x, i, y, z).next().toDoubles(), 1e-12);
        }
    }

    /**
     * A two-class classifier with logits ±k·mean(x) on Gaussian data: steering towards class 0
     * raises the samples' mean, more with a larger scale, for both samplers.
     */
    @Test void guidanceMovesSamplesTowardsTheClassMoreWithALargerScale() {
        Schedule s = Schedule.linear(100);
        GaussianDataModel model = new GaussianDataModel(s, 0.0, 0.04);
        GaussianDiffusion g = new GaussianDiffusion(s);
        ClassifierGuidance.NoisyClassifier toy = (x, t) -> {
            Tensor m = x.mean(1, 2, 3).reshape(x.dim(0), 1).mul(20.0);
            return Tensor.concat(1, m, m.neg());
        };
        int n = 64;
        Tensor y = Tensor.ofInts(new int[n], Device.CPU, n);   // all class 0
        for (Sampler base : new Sampler[]{new DdpmSampler(g, true), new DdimSampler(g, 20)}) {
            double previous = Double.NEGATIVE_INFINITY;
            for (double scale : new double[]{0, 1, 3}) {
                ClassifierGuidance cg = new ClassifierGuidance(toy, scale);
                Sampler sampler = base instanceof DdpmSampler d ? d.withGuidance(cg) : ((DdimSampler) base).withGuidance(cg);
                double mean;
                try (Scope sc = Scope.open()) {
                    mean = sampler.sample(model, new int[]{n, 1, 2, 2}, Device.CPU, y, new Rng(5), null).mean().item();
                }
                assertTrue(mean > previous + 0.01, base + " scale " + scale + ": mean " + mean + " after " + previous);
                previous = mean;
            }
        }
    }
}
