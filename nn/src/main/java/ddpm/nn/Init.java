package ddpm.nn;

/**
 * How a parameter is initialised when its model is built. {@link #fanAvgUniform} is the DDPM
 * TensorFlow code's {@code variance_scaling(scale, 'fan_avg', 'uniform')}: U(±√(3·scale/((fan_in+fan_out)/2))).
 */
public record Init(Kind kind, double value, double fanIn, double fanOut, double scale) {
    public enum Kind { ZEROS, CONSTANT, FAN_AVG_UNIFORM }

    public static Init zeros() { return new Init(Kind.ZEROS, 0, 0, 0, 0); }

    public static Init constant(double v) { return new Init(Kind.CONSTANT, v, 0, 0, 0); }

    public static Init fanAvgUniform(double fanIn, double fanOut, double scale) {
        if (fanIn <= 0 || fanOut <= 0) throw new IllegalArgumentException("fan_in " + fanIn + " and fan_out " + fanOut + " must be positive");
        return new Init(Kind.FAN_AVG_UNIFORM, 0, fanIn, fanOut, scale);
    }

    /** The bound of the uniform (FAN_AVG_UNIFORM), 0 when scale is 0. */
    public double limit() {
        return Math.sqrt(3.0 * scale / ((fanIn + fanOut) / 2.0));
    }

    /** True when this init draws random numbers (so it consumes the build RNG). */
    public boolean isRandom() { return kind == Kind.FAN_AVG_UNIFORM && scale != 0; }
}
