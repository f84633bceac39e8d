package ddpm.engine;

/** Element types. F32 is the working type; F64 exists on the CPU for reference checks and
 *  gradient checks in double precision; I32 holds indices (timesteps, labels); BF16/F16 are
 *  reserved for GPU activation storage. */
public enum DType {
    F32(4), F64(8), I32(4), BF16(2), F16(2);

    public final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    public boolean isFloating() { return this != I32; }
}
