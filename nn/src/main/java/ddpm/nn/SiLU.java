package ddpm.nn;

import ddpm.engine.Tensor;

/** x·σ(x) (swish). */
public class SiLU extends Module {
    public Tensor forward(Tensor x) { return x.silu(); }
}
