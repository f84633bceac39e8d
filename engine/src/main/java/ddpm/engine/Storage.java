package ddpm.engine;

/** A block of device memory holding {@code length} elements of one dtype, shared by the tensors
 *  that view it and freed, deterministically, when the last of them is released. */
public abstract class Storage {
    public final Backend backend;
    public final DType dtype;
    public final long length;
    private int refs = 0;
    private boolean freed = false;

    protected Storage(Backend backend, DType dtype, long length) {
        this.backend = backend;
        this.dtype = dtype;
        this.length = length;
    }

    public final long bytes() { return length * dtype.bytes; }

    public final Device device() { return backend.device(); }

    public final boolean isFreed() { return freed; }

    final synchronized void retain() {
        if (freed) throw new IllegalStateException("storage already freed");
        refs++;
    }

    final synchronized void releaseRef() {
        if (--refs == 0) {
            freed = true;
            free();
        }
    }

    /** Returns the memory to its backend (or its pool). Called once, when the last view goes. */
    protected abstract void free();
}
