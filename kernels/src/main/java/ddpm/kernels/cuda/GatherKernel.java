package ddpm.kernels.cuda;

import ddpm.engine.Tensor;

/**
 * Launchers for gather.cu. index is I32 [B]; rows of table have inner = numel/T elements.
 * Out-of-range indices give NaN rows (gather) or are skipped (scatterAdd): the device cannot throw.
 * Bytes: gather 8·B·inner + 4·B; scatterAdd 12·B·inner (atomic read-modify-write) + 4·B.
 */
public final class GatherKernel {
    private final KernelModule mod;

    GatherKernel(CudaBackend be) { this.mod = new KernelModule(be, "gather"); }

    void gather(Tensor table, Tensor index, Tensor out) {
        CudaBackend.f32("gather", table, out);
        CudaBackend.i32("gather (index)", index);
        int t = table.dim(0), b = (int) index.numel();
        int inner = (int) (table.numel() / t);
        mod.launch1d("gather_rows", (long) b * inner, new Args().ptr(table).ptr(index).ptr(out).i(b).i(inner).i(t),
                () -> "gather " + table.describe() + " by " + index.describe());
    }

    void scatterAdd(Tensor gout, Tensor index, Tensor gtable) {
        CudaBackend.f32("scatterAdd", gout, gtable);
        CudaBackend.i32("scatterAdd (index)", index);
        int t = gtable.dim(0), b = (int) index.numel();
        int inner = (int) (gtable.numel() / t);
        mod.launch1d("scatter_add_rows", (long) b * inner, new Args().ptr(gout).ptr(index).ptr(gtable).i(b).i(inner).i(t),
                () -> "scatterAdd " + gout.describe() + " into " + gtable.describe());
    }
}
