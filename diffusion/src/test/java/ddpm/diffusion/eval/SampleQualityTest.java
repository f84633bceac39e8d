package ddpm.diffusion.eval;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The report: FD of samples to the reference, the split-half floor, the class accuracy. */
class SampleQualityTest {
    static SampleQuality.Features gaussian(Random r, int n, int d, double shift, int[] predicted) {
        double[] v = new double[n * d];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian() + shift;
        return new SampleQuality.Features(n, d, v, predicted);
    }

    @Test void reportsDistanceFloorAndClassAccuracy() {
        Random r = new Random(3);
        int d = 3;
        SampleQuality.Features ref = gaussian(r, 4000, d, 0, null);
        SampleQuality.Features same = gaussian(r, 1000, d, 0, pred(1000));
        SampleQuality.Features shifted = gaussian(r, 1000, d, 1, pred(1000));
        int[] asked = new int[1000];
        for (int i = 0; i < asked.length; i++) asked[i] = i % 3;
        SampleQuality.Report a = SampleQuality.report("FD", same, ref, asked), b = SampleQuality.report("FD", shifted, ref, null);
        // a mean shift of 1 in each of 3 dimensions adds 3 to d²; same-distribution samples stay near the floor
        assertEquals(3, b.distance(), 0.15);
        assertTrue(a.distance() < 0.05 && a.floor() < 0.05, a.summary());
        FrechetDistance.Stats h1 = ref.rows(0, 2000).stats(), h2 = ref.rows(2000, 4000).stats();
        assertEquals(FrechetDistance.distance(h1, h2), a.floor(), 0, "the floor is the two halves of the reference");
        // predictions: sample i predicted as (i % 3) for i < 600, else (i + 1) % 3: 600 of 1000 as asked
        assertEquals(0.6, a.classAccuracy(), 0);
        assertTrue(Double.isNaN(b.classAccuracy()));
        assertTrue(a.summary().contains("class accuracy: 0.6000") && a.summary().contains("0: 200/334"), a.summary());
        assertThrows(IllegalArgumentException.class, () -> SampleQuality.report("FID", gaussian(r, 10, d, 0, null), ref, new int[10]));
    }

    static int[] pred(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i < 600 ? i % 3 : (i + 1) % 3;
        return p;
    }
}
