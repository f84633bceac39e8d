package ddpm.diffusion.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticTest {
    @Test void generatesExactProportionsAndScoresSamples() {
        Synthetic s = Synthetic.shapes(16);
        ImageDataset d = s.generate(1000, 5);
        int[] c = new int[3];
        for (int i = 0; i < d.size(); i++) c[d.label(i)]++;
        assertArrayEquals(new int[]{500, 300, 200}, c);
        float[] x = new float[d.size() * d.imageBytes()];
        for (int i = 0; i < d.size(); i++) d.imageTo(i, x, i * d.imageBytes(), false);
        int[] counts = s.modeCounts(x, d.size(), 0.05);
        assertArrayEquals(new int[]{500, 300, 200, 0}, counts);
        for (int i = 0; i < 20; i++) assertEquals(d.label(i), s.nearestMode(x, i));
        assertEquals(d.size(), s.generate(1000, 5).size());
    }

    @Test void farSamplesAreCountedApart() {
        Synthetic s = Synthetic.flatColors(4, new double[][]{{1, -1, -1}, {-1, -1, 1}}, new double[]{3, 1}, new String[]{"r", "b"});
        assertEquals(0.75, s.weights()[0], 1e-12);
        float[] x = new float[2 * 48];                      // one gray (far), one red
        for (int i = 0; i < 48; i++) x[i] = 0;
        for (int i = 0; i < 16; i++) { x[48 + i] = 1; x[64 + i] = -1; x[80 + i] = -1; }
        assertArrayEquals(new int[]{1, 0, 1}, s.modeCounts(x, 2, 0.3));
    }
}
