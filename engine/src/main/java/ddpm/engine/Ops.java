package ddpm.engine;

/** The closed sets of elementwise and reduction operators that backends implement. */
public final class Ops {
    private Ops() {}

    /** y = f(x). Backward (gx = gy · f'(x)) is {@link Backend#unaryBackward}. */
    public enum Unary { NEG, EXP, LOG, SQRT, RSQRT, SQUARE, ABS, SILU, SIGMOID, TANH, RELU, SIN, COS }

    /** out = f(a, b) with broadcasting. Comparisons give 1 or 0. */
    public enum Binary { ADD, SUB, MUL, DIV, POW, MAX, MIN, LT, LE, GT, GE, EQ }

    /** Reduction of the middle axis of an [outer, n, inner] view. SUMSQ is Σx². */
    public enum Reduce { SUM, MAX, MIN, SUMSQ }
}
