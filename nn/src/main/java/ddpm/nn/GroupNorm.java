package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/** Group normalisation (default 32 groups, eps 1e-6) with affine γ ("weight", 1) and β ("bias", 0),
 *  optionally fused with a following SiLU (one kernel). */
public class GroupNorm extends Module {
    public static final int DEFAULT_GROUPS = 32;
    public static final double DEFAULT_EPS = 1e-6;

    public final int channels, groups;
    public final double eps;
    public final boolean silu;
    public final Parameter weight, bias;

    public GroupNorm(int channels) { this(channels, DEFAULT_GROUPS, DEFAULT_EPS, false); }

    public GroupNorm(int channels, int groups, double eps, boolean silu) {
        if (groups < 1 || channels % groups != 0)
            throw new IllegalArgumentException("GroupNorm: " + channels + " channels do not split into " + groups + " groups");
        this.channels = channels;
        this.groups = groups;
        this.eps = eps;
        this.silu = silu;
        this.weight = param("weight", Init.constant(1), channels);
        this.bias = param("bias", Init.zeros(), channels);
    }

    /** x [N, C, *] → same shape; SiLU applied when built with silu = true. */
    public Tensor forward(Tensor x) {
        return F.groupNorm(x, weight.get(), bias.get(), groups, eps, silu);
    }
}
