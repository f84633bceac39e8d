package ddpm.engine;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Philox4x32-10 against the Random123 known-answer vectors, the stream layout, and statistics. */
class PhiloxTest {
    private static void kat(int[] ctr, int[] key, int[] expected) {
        int[] out = new int[4];
        Philox.block(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out);
        for (int i = 0; i < 4; i++)
            assertEquals(expected[i], out[i], String.format("word %d: got %08x, expected %08x", i, out[i], expected[i]));
    }

    @Test void knownAnswerZeros() {
        kat(new int[]{0, 0, 0, 0}, new int[]{0, 0}, new int[]{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
    }

    @Test void knownAnswerOnes() {
        int f = 0xffffffff;
        kat(new int[]{f, f, f, f}, new int[]{f, f}, new int[]{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
    }

    @Test void knownAnswerPi() {
        kat(new int[]{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, new int[]{0xa4093822, 0x299f31d0},
                new int[]{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
    }

    @Test void longBlockIsTheGeneralBlockWithHighWordsZero() {
        long seed = 0x0123456789abcdefL, counter = 0xfedcba9876543210L;
        int[] a = new int[4], b = new int[4];
        Philox.block(seed, counter, a);
        Philox.block((int) counter, (int) (counter >>> 32), 0, 0, (int) seed, (int) (seed >>> 32), b);
        assertArrayEquals(b, a);
        Philox.block(0, 0, a);
        assertArrayEquals(new int[]{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, a);
    }

    @Test void uniformMapping() {
        assertEquals(0.5 * 0x1p-24, Philox.uniform(0));
        assertEquals(1 - 0.5 * 0x1p-24, Philox.uniform(0xffffffff));
        assertTrue(Philox.uniform(0x80000000) > 0.5 - 1e-7 && Philox.uniform(0x80000000) < 0.5 + 1e-7);
    }

    @Test void streamLayout() {
        // element i of (seed, offset) is lane i % 4 of block offset + i / 4
        long seed = 42, offset = 7;
        double[] u = new double[10];
        Philox.fillUniform(seed, offset, u, 10);
        int[] w = new int[4];
        for (int i = 0; i < 10; i++) {
            Philox.block(seed, offset + i / 4, w);
            assertEquals(Philox.uniform(w[i % 4]), u[i], "element " + i);
        }
        double[] z = new double[6];
        Philox.fillNormal(seed, offset, z, 6);
        Philox.block(seed, offset, w);
        double r = Math.sqrt(-2 * Math.log(Philox.uniform(w[0]))), th = 2 * Math.PI * Philox.uniform(w[1]);
        assertEquals(r * Math.cos(th), z[0], 1e-15);
        assertEquals(r * Math.sin(th), z[1], 1e-15);
        r = Math.sqrt(-2 * Math.log(Philox.uniform(w[2])));
        th = 2 * Math.PI * Philox.uniform(w[3]);
        assertEquals(r * Math.cos(th), z[2], 1e-15);
        assertEquals(r * Math.sin(th), z[3], 1e-15);
        // an odd count gives the prefix of a longer draw
        double[] longer = new double[12];
        Philox.fillNormal(seed, offset, longer, 12);
        for (int i = 0; i < 6; i++) assertEquals(longer[i], z[i]);
        assertEquals(3, Philox.countersFor(9));
        assertEquals(0, Philox.countersFor(0));
    }

    @Test void uniformStatistics() {
        int n = 200_000;
        Rng rng = new Rng(1234);
        double[] u = Tensor.rand(rng, DType.F64, Device.CPU, n).toDoubles();
        double mean = 0, var = 0, min = 1, max = 0;
        for (double v : u) { mean += v; min = Math.min(min, v); max = Math.max(max, v); }
        mean /= n;
        for (double v : u) var += (v - mean) * (v - mean);
        var /= n - 1;
        assertTrue(min > 0 && max < 1, "uniforms must lie in (0, 1): " + min + " .. " + max);
        // mean: sd 1/sqrt(12 n); variance: sd sqrt(1/180 / n) for the uniform
        assertEquals(0.5, mean, 5 * Math.sqrt(1.0 / 12 / n), "uniform mean");
        assertEquals(1.0 / 12, var, 5 * Math.sqrt(1.0 / 180 / n), "uniform variance");
    }

    @Test void normalStatistics() {
        int n = 200_000;
        Rng rng = new Rng(99);
        double[] z = Tensor.randn(rng, DType.F64, Device.CPU, n).toDoubles();
        double mean = 0, var = 0, m4 = 0;
        for (double v : z) mean += v;
        mean /= n;
        for (double v : z) { double d = v - mean; var += d * d; m4 += d * d * d * d; }
        var /= n - 1;
        m4 /= n;
        assertEquals(0, mean, 5 / Math.sqrt(n), "normal mean");
        assertEquals(1, var, 5 * Math.sqrt(2.0 / n), "normal variance");
        assertEquals(3, m4, 5 * Math.sqrt(96.0 / n), "normal 4th moment");
        // the fraction beyond 2 sigma
        int beyond = 0;
        for (double v : z) if (Math.abs(v) > 2) beyond++;
        double p = 0.04550026389635842;
        assertEquals(p, beyond / (double) n, 5 * Math.sqrt(p * (1 - p) / n), "tail mass beyond 2σ");
    }

    @Test void reproducibleAndAdvancing() {
        Rng a = new Rng(5), b = new Rng(5);
        Tensor x = Tensor.randn(a, DType.F64, Device.CPU, 3, 5);
        Tensor y = Tensor.randn(b, DType.F64, Device.CPU, 3, 5);
        assertArrayEquals(x.toDoubles(), y.toDoubles());
        assertEquals(4, a.offset(), "15 elements take 4 counters");
        Tensor x2 = Tensor.randn(a, DType.F64, Device.CPU, 3, 5);
        assertFalse(java.util.Arrays.equals(x.toDoubles(), x2.toDoubles()), "the stream must advance");
        // F32 draws are the F64 draws rounded
        Tensor f = Tensor.randn(new Rng(5), DType.F32, Device.CPU, 3, 5);
        double[] fd = f.toDoubles(), xd = x.toDoubles();
        for (int i = 0; i < fd.length; i++) assertEquals((float) xd[i], fd[i]);
        // restoring the offset replays the stream
        Rng c = new Rng(5, 4);
        assertArrayEquals(x2.toDoubles(), Tensor.randn(c, DType.F64, Device.CPU, 3, 5).toDoubles());
        // different seeds differ
        assertFalse(java.util.Arrays.equals(x.toDoubles(), Tensor.randn(new Rng(6), DType.F64, Device.CPU, 3, 5).toDoubles()));
    }

    @Test void hostDraws() {
        Rng r = new Rng(3);
        int[] counts = new int[7];
        for (int i = 0; i < 7000; i++) counts[r.nextInt(7)]++;
        for (int c : counts) assertTrue(Math.abs(c - 1000) < 5 * Math.sqrt(1000 * 6.0 / 7), "nextInt counts " + java.util.Arrays.toString(counts));
        double d = new Rng(3).nextDouble();
        assertTrue(d > 0 && d < 1);
        assertThrows(IllegalArgumentException.class, () -> r.nextInt(0));
    }
}
