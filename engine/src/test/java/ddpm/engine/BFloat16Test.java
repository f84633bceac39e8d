package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** bfloat16 rounding against nearest-value search in double, and BF16 tensors on the CPU. */
class BFloat16Test {
    /** The value of a bfloat16 pattern in double, +∞ counted as 2^128 (where IEEE rounding sends overflow). */
    private static double valueForDistance(int pattern) {
        int mag = pattern & 0x7FFF;
        double v = mag == 0x7F80 ? Math.scalb(1.0, 128) : Float.intBitsToFloat(mag << 16);
        return (pattern & 0x8000) != 0 ? -v : v;
    }

    /** The nearest bfloat16 to a finite v, ties to the even pattern, by comparing the two neighbours. */
    private static int nearest(float v) {
        int bits = Float.floatToRawIntBits(v);
        int down = bits >>> 16, up = down + 1;   // toward zero, and one step away from it (same sign)
        if ((bits & 0xFFFF) == 0) return down;
        double dDown = Math.abs(valueForDistance(down) - v), dUp = Math.abs(valueForDistance(up) - v);
        if (dDown != dUp) return dDown < dUp ? down : up;
        return (down & 1) == 0 ? down : up;
    }

    private static void check(float v) {
        int want = nearest(v), got = BFloat16.bits(v) & 0xFFFF;
        assertEquals(Integer.toHexString(want), Integer.toHexString(got), "bits(" + v + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(v)) + ")");
        assertEquals(Float.intBitsToFloat(want << 16), BFloat16.round(v), 0, "round(" + v + ")");
    }

    @Test void roundsToNearestEvenEverywhere() {
        Random r = new Random(7);
        for (int i = 0; i < 200_000; i++) {
            float v = Float.intBitsToFloat(r.nextInt());
            if (Float.isFinite(v)) check(v);
        }
        // ties both ways, just under and over them, subnormals, the largest values, zeros
        for (int hi : new int[]{0x3F80, 0x3F81, 0xBF80, 0xBF81, 0x0001, 0x0080, 0x7F7E, 0x7F7F, 0xFF7F, 0x0000, 0x8000})
            for (int lo : new int[]{0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF})
                check(Float.intBitsToFloat(hi << 16 | lo));
    }

    @Test void overflowInfinityAndNaN() {
        assertEquals(Float.POSITIVE_INFINITY, BFloat16.round(Float.MAX_VALUE));
        assertEquals(Float.NEGATIVE_INFINITY, BFloat16.round(-Float.MAX_VALUE));
        assertEquals(Float.POSITIVE_INFINITY, BFloat16.round(Float.POSITIVE_INFINITY));
        assertEquals(Float.NEGATIVE_INFINITY, BFloat16.round(Float.NEGATIVE_INFINITY));
        // a NaN whose payload sits in the dropped bits must not become infinity
        assertTrue(Float.isNaN(BFloat16.round(Float.intBitsToFloat(0x7F800001))));
        assertTrue(Float.isNaN(BFloat16.round(Float.intBitsToFloat(0xFF800001))));
        assertTrue(Float.isNaN(BFloat16.round(Float.NaN)));
        assertEquals(-0.0f, BFloat16.round(-0.0f));
        assertEquals(0x8000, Float.floatToRawIntBits(BFloat16.round(-0.0f)) >>> 16);
    }

    @Test void bf16TensorsRoundWhatTheyStore() {
        try (Scope ignored = Scope.open()) {
            float[] v = {1.00390625f, 1.0117188f, -3.1415927f, 1e-40f, 65504.7f, Float.NaN};
            Tensor t = Tensor.empty(DType.BF16, Device.CPU, 2, 3).copyFrom(v);
            float[] got = t.toFloats();
            for (int i = 0; i < v.length; i++) assertEquals(BFloat16.round(v[i]), got[i], 0, "element " + i);
            assertEquals(1.0f, got[0], 0, "a tie rounds to the even pattern");
            assertEquals(1.015625f, got[1], 0, "a tie rounds to the even pattern");

            Tensor f = Tensor.ofDoubles(DType.F32, Device.CPU, new double[]{0.1, -2.7, 3.4e38}, 3);
            assertArrayEquals(new float[]{BFloat16.round(0.1f), BFloat16.round(-2.7f), Float.POSITIVE_INFINITY}, f.to(DType.BF16).toFloats());
            assertArrayEquals(new float[]{BFloat16.round(0.1f)}, Tensor.full(DType.BF16, Device.CPU, 0.1, 1).toFloats());
            assertArrayEquals(new int[]{3, -2}, Tensor.ofDoubles(DType.BF16, Device.CPU, new double[]{3.4, -2.9}, 2).to(DType.I32).toInts());
            assertEquals(2L * 6, t.storage().bytes(), "two bytes an element");
        }
    }

    @Test void gradientsCrossTheCastInTheirOwnDtype() {
        try (Scope ignored = Scope.open()) {
            Tensor x = Tensor.ofDoubles(DType.F32, Device.CPU, new double[]{0.3, -1.1, 2.05}, 3).requiresGrad(true);
            Tensor y = x.to(DType.BF16);
            Tensor loss = y.mul(y).sum().to(DType.F32);
            loss.backward();
            assertEquals(DType.BF16, y.dtype());
            assertEquals(DType.F32, x.grad().dtype());
            float[] g = x.grad().toFloats(), xv = {0.3f, -1.1f, 2.05f};
            for (int i = 0; i < 3; i++)   // d(y²)/dx = 2y, y = bf16(x), the product stored in bf16
                assertEquals(BFloat16.round(2 * BFloat16.round(xv[i])), g[i], 0, "element " + i);
        }
    }
}
