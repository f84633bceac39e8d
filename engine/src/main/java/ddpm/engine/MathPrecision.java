package ddpm.engine;

/**
 * The math precision of a backend's compute-bound kernels (matmul, convolution, attention), set
 * with {@link Backend#setPrecision}: the CUDA backend has all three, the CPU backend FP32 only.
 * Storage stays float32 in every mode; what changes is what the multiply-accumulate sees:
 * <ul>
 * <li>FP32: float32 products and sums (CUDA cores; cuBLAS's default math);</li>
 * <li>TF32: inputs rounded to TF32 (10 mantissa bits), tensor cores, float32 accumulation
 *     (PyTorch's default for convolutions);</li>
 * <li>BF16: inputs rounded to bfloat16 (7 mantissa bits), tensor cores, float32 accumulation
 *     (what bf16 autocast computes).</li>
 * </ul>
 * Group-norm statistics, softmax, losses and optimiser state are float32 in every mode.
 */
public enum MathPrecision {
    FP32, TF32, BF16;

    /** Rounds v as the tensor cores take it in this mode (nearest, ties to even). */
    public float round(float v) {
        if (this == FP32 || !Float.isFinite(v)) return v;
        if (this == BF16) return BFloat16.round(v);
        int bits = Float.floatToRawIntBits(v);   // TF32: drop 13 mantissa bits
        bits = (bits + 0xFFF + ((bits >> 13) & 1)) & -(1 << 13);
        return Float.intBitsToFloat(bits);
    }

    /** "fp32" / "tf32" / "bf16" (as --precision takes it). */
    public static MathPrecision parse(String s) {
        return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "fp32" -> FP32;
            case "tf32" -> TF32;
            case "bf16" -> BF16;
            default -> throw new IllegalArgumentException("precision '" + s + "': expected fp32, tf32 or bf16");
        };
    }

    @Override public String toString() { return name().toLowerCase(java.util.Locale.ROOT); }
}
