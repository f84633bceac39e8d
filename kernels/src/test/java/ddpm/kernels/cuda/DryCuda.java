package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Shapes;
import ddpm.engine.Storage;
import ddpm.engine.Tensor;

import java.util.HashMap;
import java.util.Map;

/**
 * A {@link CudaBackend} in dry mode (no driver) plus tensors that start {@link #PAD} elements into
 * their storage, so a launcher that forgets {@code Tensor.offset()} points at the padding and is
 * caught. An H100 SXM is assumed: 132 SMs, 227 KB opt-in shared memory per block.
 */
final class DryCuda {
    static final int SMS = 132, MAX_SHARED_OPTIN = 232448, PAD = 3;

    final DryRun run;
    final CudaBackend be;
    /** Block base address -> the tensor whose storage it is (tensors made here). */
    final Map<Long, Tensor> tensorBlocks = new HashMap<>();

    DryCuda(boolean memory) {
        run = new DryRun(memory);
        be = new CudaBackend(Device.cuda(0), SMS, MAX_SHARED_OPTIN, run);
    }

    private static final class View extends Tensor {
        View(Storage s, long offset, int[] shape) { super(s, offset, shape); }
    }

    Tensor make(DType dtype, int... shape) {
        Storage s = be.allocate(dtype, Shapes.numel(shape) + PAD);
        Tensor t = new View(s, PAD, shape);
        tensorBlocks.put(((CudaStorage) s).block.address(), t);
        return t;
    }

    Tensor f32(int... shape) { return make(DType.F32, shape); }

    Tensor i32(int... shape) { return make(DType.I32, shape); }

    /** Device address of t's first element. */
    static long start(Tensor t) { return ((CudaStorage) t.storage()).address(t.offset()); }

    static long end(Tensor t) { return start(t) + t.numel() * t.dtype().bytes; }
}
