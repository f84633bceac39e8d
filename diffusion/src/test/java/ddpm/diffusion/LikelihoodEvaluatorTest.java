package ddpm.diffusion;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The bpd loop's bookkeeping: reproducibility, batch-size independence, composition of the total, progress. */
class LikelihoodEvaluatorTest {
    static final Schedule S50 = Schedule.linear(50);

    static Tensor images(int n, int... chw) {
        int d = chw[0] * chw[1] * chw[2];
        double[] x = Tensor.randn(new Rng(3), DType.F64, Device.CPU, n * d).toDoubles();
        for (int i = 0; i < x.length; i++) x[i] = Math.max(-1, Math.min(1, Math.round((0.3 * x[i] + 1) * 127.5) / 127.5 - 1));
        return Tensor.ofDoubles(DType.F64, Device.CPU, x, n, chw[0], chw[1], chw[2]);
    }

    @Test void perImageResultsDoNotDependOnBatchingAndAreSeeded() {
        GaussianDiffusion g = new GaussianDiffusion(S50);
        GaussianDataModel model = new GaussianDataModel(S50, 0.0, 0.09);
        for (int[] chw : new int[][]{{1, 2, 2}, {1, 3, 3}}) {   // D = 4 (one draw per batch) and D = 9 (per image)
            Tensor x = images(6, chw);
            LikelihoodEvaluator ev = new LikelihoodEvaluator(g, 5);
            var all = ev.evaluate(model, x, null, 6, null);
            var split = ev.evaluate(model, x, null, 4, null);
            var single = ev.evaluate(model, x, null, 1, null);
            assertArrayEquals(all.perImageBpd(), split.perImageBpd(), 1e-12, "batch 6 vs 4+2");
            assertArrayEquals(all.perImageBpd(), single.perImageBpd(), 1e-12, "batch 6 vs 1 at a time");
            assertArrayEquals(all.vbPerT(), split.vbPerT(), 1e-12);
            assertArrayEquals(all.epsMsePerT(), single.epsMsePerT(), 1e-12);
            var again = new LikelihoodEvaluator(g, 5).evaluate(model, x, null, 3, null);
            assertArrayEquals(all.perImageBpd(), again.perImageBpd(), 1e-12, "same seed, same result");
            var other = new LikelihoodEvaluator(g, 6).evaluate(model, x, null, 6, null);
            assertNotEquals(all.bpd(), other.bpd(), "another seed, other noise");
            assertEquals(all.bpd(), other.bpd(), 0.5, "but the same bound up to noise");
        }
    }

    @Test void totalsComposeFromTheTermsAndProgressCounts() {
        GaussianDiffusion g = new GaussianDiffusion(S50);
        GaussianDataModel model = new GaussianDataModel(S50, 0.0, 0.09);
        Tensor x = images(5, 3, 2, 2);
        LikelihoodEvaluator ev = new LikelihoodEvaluator(g, 1);
        List<long[]> seen = new ArrayList<>();
        var r = ev.evaluate(model, x, null, 2, (d, t) -> seen.add(new long[]{d, t}));
        assertEquals(3 * 50, seen.size(), "ceil(5/2) batches × T steps");
        for (int i = 0; i < seen.size(); i++) assertArrayEquals(new long[]{i + 1, 150}, seen.get(i));
        var b = ev.evaluateBatch(model, x.slice(0, 0, 2), null, 0, null);
        for (int i = 0; i < 2; i++) {
            double sum = b.priorBpd()[i];
            for (int t = 0; t < 50; t++) sum += b.vb()[i][t];
            assertEquals(sum, b.totalBpd()[i], 1e-12);
            assertEquals(b.vb()[i][0], b.decoderNll(i));
            assertEquals(r.perImageBpd()[i], b.totalBpd()[i], 1e-12);
        }
        double kl = 0;
        for (int t = 1; t < 50; t++) kl += r.vbPerT()[t];
        assertEquals(r.bpd(), r.priorBpd() + r.decoderNll() + kl, 1e-9);
        assertEquals(kl, r.klBpd(), 1e-12);
        assertEquals(5, r.images());
        // the optimal model's x̂0 MSE is ≈ Var(x0 | x_t) = v(1−ᾱ)/(ᾱv + 1 − ᾱ) (20 pixels: within 50%)
        for (int t : new int[]{0, 10, 49})
            assertEquals(model.posteriorX0Var(t), r.x0MsePerT()[t], 0.5 * model.posteriorX0Var(t), "x0 mse at t=" + t);
        assertFalse(r.summary().isEmpty());
    }

    @Test void conditionalModelsGetTheirLabels() {
        GaussianDiffusion g = new GaussianDiffusion(S50);
        Tensor x = images(4, 1, 2, 2);
        Tensor y = Tensor.ofInts(new int[]{0, 1, 2, 3}, Device.CPU, 4);
        List<int[]> got = new ArrayList<>();
        EpsModel spy = (xt, t, labels) -> {
            got.add(labels.toInts());
            return xt.mul(0.0);
        };
        new LikelihoodEvaluator(g, 1).evaluate(spy, x, y, 3, null);
        assertArrayEquals(new int[]{0, 1, 2}, got.get(0));
        assertArrayEquals(new int[]{3}, got.get(50));
    }
}
