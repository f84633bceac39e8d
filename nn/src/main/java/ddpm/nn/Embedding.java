package ddpm.nn;

import ddpm.engine.F;
import ddpm.engine.Tensor;

/**
 * A lookup table [rows, dim] ("weight"): int32 indices [B] → [B, dim]. Init: fan-avg uniform with
 * fan_in = rows, fan_out = dim (as a dense layer applied to a one-hot vector).
 */
public class Embedding extends Module {
    public final int rows, dim;
    public final Parameter weight;

    public Embedding(int rows, int dim) {
        if (rows < 1 || dim < 1) throw new IllegalArgumentException("Embedding: bad size " + rows + "×" + dim);
        this.rows = rows;
        this.dim = dim;
        weight = param("weight", Init.fanAvgUniform(rows, dim, 1.0), rows, dim);
    }

    public Tensor forward(Tensor index) { return F.gather(weight.get(), index); }
}
