package ddpm.engine;

/**
 * bfloat16: float32's sign and 8-bit exponent with 7 mantissa bits, the storage type of BF16
 * tensors. Conversions round to nearest, ties to even, as CUDA's {@code __float2bfloat16_rn}:
 * values past the largest bfloat16 become ±infinity, infinities stay, and a NaN stays a (quiet)
 * NaN of the same sign. The CPU backend holds a BF16 tensor as floats that are exactly
 * representable in bfloat16, so every op on it is the float32 op followed by {@link #round}.
 */
public final class BFloat16 {
    private BFloat16() {}

    /** The bfloat16 bit pattern nearest to v. */
    public static short bits(float v) {
        int b = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((b >>> 16) | 0x0040);   // keep the sign, force a quiet NaN
        return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
    }

    /** The float value of a bfloat16 bit pattern (exact). */
    public static float value(short bits) { return Float.intBitsToFloat((bits & 0xFFFF) << 16); }

    /** v rounded to the nearest bfloat16, as a float. */
    public static float round(float v) { return value(bits(v)); }

    /** Rounds a[from, to) to bfloat16 in place. */
    public static void round(float[] a, int from, int to) {
        for (int k = from; k < to; k++) a[k] = round(a[k]);
    }
}
