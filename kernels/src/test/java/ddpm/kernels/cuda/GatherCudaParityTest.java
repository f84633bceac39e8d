package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** gather.cu: row gather (exact) and scatterAdd (atomics: order-dependent rounding only). */
class GatherCudaParityTest extends CudaTestBase {
    void at(int rows, int b, int... rowShape) {
        int[] ts = new int[rowShape.length + 1], os = new int[rowShape.length + 1];
        ts[0] = rows; os[0] = b;
        System.arraycopy(rowShape, 0, ts, 1, rowShape.length);
        System.arraycopy(rowShape, 0, os, 1, rowShape.length);
        P table = rand(ts), idx = index(b, rows), o = out(os);
        cpu.gather(table.c(), idx.c(), o.c());
        gpu.gather(table.g(), idx.g(), o.g());
        assertClose("gather", o, 0);
        P gout = rand(os), gt = out(ts);
        gt.c().fill(0);
        gt.g().fill(0);
        cpu.scatterAdd(gout.c(), idx.c(), gt.c());
        gpu.scatterAdd(gout.g(), idx.g(), gt.g());
        assertClose("scatterAdd", gt, 1e-6);
    }

    @Test void small() { at(11, 9, 3, 4); at(3, 17, 5); }   // 17 draws from 3 rows: duplicates

    /** U-Net: timestep embeddings, table [1000, 128], batch 128. */
    @Test void uNet() { at(1000, 128, 128); }
}
