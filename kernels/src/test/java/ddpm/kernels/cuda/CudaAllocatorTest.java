package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.MemoryStats;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The caching allocator: reuse within size classes, statistics, and the out-of-memory message. */
class CudaAllocatorTest extends CudaTestBase {
    @Test void reusesFreedBlocks() {
        CudaBackend cb = (CudaBackend) gpu;
        MemoryStats s0 = cb.memoryStats();
        Tensor a = Tensor.empty(DType.F32, GPU, 1000);            // 4000 B -> 4096 B class
        MemoryStats s1 = cb.memoryStats();
        assertEquals(s0.liveBytes() + 4096, s1.liveBytes());
        assertEquals(s0.liveStorages() + 1, s1.liveStorages());
        a.close();   // the last view goes: the block returns to the pool
        MemoryStats s2 = cb.memoryStats();
        assertEquals(s0.liveBytes(), s2.liveBytes());
        assertTrue(s2.cachedBytes() >= 4096);
        Tensor b = Tensor.empty(DType.F32, GPU, 1020);            // 4080 B: same class, reused
        MemoryStats s3 = cb.memoryStats();
        assertEquals(s2.allocations(), s3.allocations(), "no new cuMemAlloc");
        assertEquals(s2.reuses() + 1, s3.reuses());
        b.close();
        // large blocks: a slightly smaller request reuses a cached larger block (≤ 1/8 waste)
        Tensor big = Tensor.empty(DType.F32, GPU, 5 << 20);      // 20 MiB
        big.close();
        MemoryStats s4 = cb.memoryStats();
        Tensor big2 = Tensor.empty(DType.F32, GPU, (9 << 20) / 2);   // 18 MiB class: 20 ≤ 18 + 18/8
        assertEquals(s4.allocations(), cb.memoryStats().allocations());
        assertTrue(cb.memoryStats().peakBytes() >= 20L << 20);
        big2.close();
        cb.allocator().emptyCache();
        assertEquals(0, cb.memoryStats().cachedBytes());
    }

    @Test void outOfMemoryMessage() {
        CudaException.OutOfMemory e = assertThrows(CudaException.OutOfMemory.class,
                () -> gpu.allocate(DType.F32, 1L << 38));   // 1 TiB
        String m = e.getMessage();
        assertTrue(m.contains("requested 1099511627776 bytes"), m);
        assertTrue(m.contains("pool holds"), m);
        // the backend still works afterwards
        P x = rand(10), y = out(10);
        cpu.affine(x.c(), 2, 1, y.c());
        gpu.affine(x.g(), 2, 1, y.g());
        assertClose("affine after OOM", y, 1e-6);
    }
}
