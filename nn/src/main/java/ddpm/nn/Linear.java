package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/** y = x·Wᵀ + b; weight [out, in] (PyTorch layout), bias [out]. Init: fan-avg uniform × initScale, bias 0. */
public class Linear extends Module {
    public final int in, out;
    public final Parameter weight, bias;

    public Linear(int in, int out) { this(in, out, true, 1.0); }

    /** initScale 0 gives an all-zero layer (DDPM's zero-initialised output layers). */
    public Linear(int in, int out, boolean bias, double initScale) {
        if (in < 1 || out < 1) throw new IllegalArgumentException("Linear: features must be positive, got " + in + " -> " + out);
        this.in = in;
        this.out = out;
        this.weight = param("weight", Init.fanAvgUniform(in, out, initScale), out, in);
        this.bias = bias ? param("bias", Init.zeros(), out) : null;
    }

    /** x [..., in] (rank 2 or 3) → [..., out]. */
    public Tensor forward(Tensor x) {
        return F.linear(x, weight.get(), bias == null ? null : bias.get());
    }
}
