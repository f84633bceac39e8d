package ddpm.kernels.cuda;

/** A failed CUDA driver or cuBLAS call; the message names the call, the kernel and the shapes. */
public class CudaException extends RuntimeException {
    public CudaException(String message) { super(message); }

    public CudaException(String message, Throwable cause) { super(message, cause); }

    /** No usable CUDA here: natives missing, no driver, no device. The engine falls back to the CPU. */
    public static final class Unavailable extends CudaException {
        public Unavailable(String message, Throwable cause) { super(message, cause); }
    }

    /** Device memory exhausted even after the allocator emptied its cache. */
    public static final class OutOfMemory extends CudaException {
        public OutOfMemory(String message) { super(message); }
    }
}
