package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Tensor;

/**
 * The DDPM time embedding: a sinusoidal embedding of the timestep (first half sin, second half
 * cos, frequencies exp(−ln(10000)·i/(half−1)), i = 0..half−1) of width {@code dim}, through a
 * two-layer MLP Linear(dim, width) → SiLU → Linear(width, width). Children are named "0", "1",
 * "2" like torch's {@code nn.Sequential}, so parameters are {@code temb.0.weight} ... {@code temb.2.bias}.
 */
public class TimestepEmbedding extends Module {
    public final int dim, width;
    public final Linear fc1;
    public final SiLU act;
    public final Linear fc2;
    private Tensor freqs;

    public TimestepEmbedding(int dim, int width) {
        if (dim < 4 || dim % 2 != 0)
            throw new IllegalArgumentException("TimestepEmbedding: dim must be even and >= 4, got " + dim);
        this.dim = dim;
        this.width = width;
        fc1 = child("0", new Linear(dim, width));
        act = child("1", new SiLU());
        fc2 = child("2", new Linear(width, width));
    }

    /** The frequencies exp(−ln(10000)·i/(half−1)), i = 0..half−1, in double precision. */
    public static double[] frequencies(int dim) {
        int half = dim / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) f[i] = Math.exp(-Math.log(10000.0) * i / (half - 1));
        return f;
    }

    @Override protected void onBuild(Device device, DType dtype) {
        freqs = buffer("freqs", Tensor.ofDoubles(dtype, device, frequencies(dim), 1, dim / 2), false);
    }

    /** The sinusoidal embedding [B, dim] of int32 timesteps t [B] (no MLP). */
    public Tensor sinusoidal(Tensor t) {
        requireBuilt();
        Tensor arg = t.to(freqs.dtype()).reshape(t.dim(0), 1).mul(freqs);   // [B, half]
        return Tensor.concat(1, arg.sin(), arg.cos());
    }

    /** t int32 [B] → [B, width]. */
    public Tensor forward(Tensor t) {
        return fc2.forward(act.forward(fc1.forward(sinusoidal(t))));
    }
}
