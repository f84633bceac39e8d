package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.MemoryStats;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CUDA graphs: recorded device work (kernels, a GEMM, a fill, a copy) replays on new inputs in the
 *  same tensors; the graph keeps the memory of tensors made while capturing until it is closed;
 *  host transfers cannot be recorded. */
class GraphCudaTest extends CudaTestBase {
    @Test void replaysOnNewInputsAndKeepsItsMemory() {
        CudaBackend cb = (CudaBackend) gpu;
        int n = 37, k = 11;
        P x = rand(n, k), w = rand(k, 5), out = out(n, 5);
        Tensor acc = gpuEmpty(DType.F32, n, 5);
        long cachedBefore = cb.memoryStats().cachedBytes();
        CudaBackend.Graph g = cb.capture(() -> {
            Tensor h = Tensor.empty(DType.F32, GPU, n, k);            // an intermediate, made inside
            gpu.affine(x.g(), 2, -1, h);
            gpu.unary(Ops.Unary.SILU, h, h);
            gpu.matmul(h, w.g(), out.g(), false, false, 1, 0);
            gpu.fill(acc, 0.5);
            gpu.binary(Ops.Binary.ADD, out.g(), acc, out.g());
            gpu.copy(out.g(), acc);
            h.release();                                               // the graph keeps its block
        });
        try {
            for (int round = 0; round < 3; round++) {
                float[] fresh = data((long) n * k, 1 + round);
                gpu.write(x.g(), fresh);
                out.poison();
                g.replay();
                Tensor hc = Tensor.of(fresh, ddpm.engine.Device.CPU, n, k).mul(2.0).add(-1.0);
                Tensor ref = hc.mul(hc.sigmoid()).matmul(w.c()).add(0.5);
                assertClose("graph replay " + round, ref, out.g(), 1e-5);
                assertClose("graph replay " + round + " (copy)", ref, acc, 1e-5);
            }
            MemoryStats during = cb.memoryStats();
            Tensor other = Tensor.empty(DType.F32, GPU, n, k);         // must not get the graph's block
            gpu.fill(other, 7);
            g.replay();
            assertEquals(7f, other.toFloats()[0], "the graph's memory stays its own");
            other.release();
            assertTrue(during.cachedBytes() >= cachedBefore);
        } finally {
            g.close();
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cb.capture(() -> x.g().toFloats()));
        assertTrue(e.getMessage().contains("CUDA graph"), e.getMessage());
        // the backend works on after a failed capture
        P z = rand(n, k), y = out(n, k);
        cpu.affine(z.c(), 3, 0, y.c());
        gpu.affine(z.g(), 3, 0, y.g());
        assertClose("affine after a failed capture", y, 1e-6);
    }
}
