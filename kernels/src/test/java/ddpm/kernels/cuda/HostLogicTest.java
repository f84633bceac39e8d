package ddpm.kernels.cuda;

import ddpm.engine.Broadcast;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Host-side planning that needs no GPU: broadcast plans and allocator size classes. */
class HostLogicTest {
    @Test
    void broadcastPlansMergeAxes() {
        Broadcast p = Bcast.plan(new int[]{4, 3, 5, 7}, new int[]{4, 3, 5, 7}, new int[]{1, 3, 1, 1});
        assertEquals(3, p.rank);
        assertArrayEquals(new int[]{4, 3, 35}, p.dims);
        assertArrayEquals(new int[]{105, 35, 1}, p.strides[0]);
        assertArrayEquals(new int[]{0, 1, 0}, p.strides[1]);

        Broadcast q = Bcast.plan(new int[]{2, 3, 4}, new int[]{3, 4}, new int[]{2, 1, 1});
        assertArrayEquals(new int[]{2, 12}, q.dims);
        assertArrayEquals(new int[]{0, 1}, q.strides[0]);
        assertArrayEquals(new int[]{1, 0}, q.strides[1]);

        Broadcast s = Bcast.plan(new int[]{1, 1}, new int[]{1}, new int[]{1, 1});
        assertEquals(1, s.rank);

        // rank 10 with alternating broadcast axes cannot merge below 9
        int[] out = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
        int[] alt = {2, 1, 2, 1, 2, 1, 2, 1, 2, 1};
        assertThrows(IllegalArgumentException.class, () -> Bcast.plan(out, out, alt));
        assertThrows(IllegalArgumentException.class, () -> Bcast.plan(new int[]{3}, new int[]{4}));
    }

    @Test
    void sizeClasses() {
        assertEquals(0, CudaAllocator.roundUp(0));
        assertEquals(512, CudaAllocator.roundUp(1));
        assertEquals(512, CudaAllocator.roundUp(512));
        assertEquals(1024, CudaAllocator.roundUp(513));
        assertEquals(1L << 20, CudaAllocator.roundUp((1L << 20) - 1));
        assertEquals(2L << 20, CudaAllocator.roundUp((1L << 20) + 1));
        assertEquals(4L << 20, CudaAllocator.roundUp((2L << 20) + 1));
    }

    @Test
    void reductionsSplitWhenTheyWouldNotFillTheGpu() {
        int h200 = 132;
        // the global gradient norm (one row of 35.7M) on an H200: about 4 blocks per SM
        assertEquals(528, ReduceKernel.chunks(1, 35_746_307, ReduceKernel.MIN_ROW_CHUNK, h200));
        // many rows already fill it; short rows are not worth splitting
        assertEquals(1, ReduceKernel.chunks(128 * 256, 256, ReduceKernel.MIN_ROW_CHUNK, h200));
        assertEquals(1, ReduceKernel.chunks(1, 3000, ReduceKernel.MIN_ROW_CHUNK, h200));
        // a chunk keeps at least its minimum length
        assertEquals(10, ReduceKernel.chunks(1, 20_480, ReduceKernel.MIN_ROW_CHUNK, h200));
    }

    @Test
    void sharedMemoryBudgets() {
        // the U-Net head (D = Dv = 256) fits an H100 block (227 KB opt-in)
        assertEquals(true, AttentionKernel.dkvShared(256, 256) < 227 * 1024);
        assertEquals(4 * (16 * 512 + 32 * 65 + 16 * 32 + 48), AttentionKernel.fwdShared(256, 256));
    }
}
