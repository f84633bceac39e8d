package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.Storage;

/** Device memory behind CUDA tensors; free() hands the block back to the caching allocator. */
public final class CudaStorage extends Storage {
    final CudaAllocator.Block block;
    private final CudaAllocator allocator;

    CudaStorage(CudaBackend backend, DType dtype, long length, CudaAllocator.Block block) {
        super(backend, dtype, length);
        this.block = block;
        this.allocator = backend.allocator();
    }

    /** Device address of element {@code index}. */
    long address(long index) { return block.address() + index * dtype.bytes; }

    @Override protected void free() { allocator.release(block); }
}
