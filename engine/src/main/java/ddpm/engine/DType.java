package ddpm.engine;

/** Element types. F32 is the working type; F64 exists on the CPU for reference checks and
 *  gradient checks in double precision; I32 holds indices (timesteps, labels); BF16 stores
 *  activations in half the bytes ({@link BFloat16}: every op computes in float32 and rounds what
 *  it stores); F16 is reserved. */
public enum DType {
    F32(4), F64(8), I32(4), BF16(2), F16(2);

    public final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    public boolean isFloating() { return this != I32; }

    /** Computed in float32 arithmetic: F32, and BF16 (stored rounded). One call may mix the two. */
    public boolean isFloat32Math() { return this == F32 || this == BF16; }

    /** What this dtype's values are held in while computed on (and what statistics beside them keep):
     *  F32 for BF16, itself otherwise. */
    public DType widened() { return this == BF16 ? F32 : this; }
}
