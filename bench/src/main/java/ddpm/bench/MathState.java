package ddpm.bench;

import ddpm.engine.MathPrecision;
import ddpm.kernels.cuda.ConvKernel;
import ddpm.kernels.cuda.CudaBackend;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * The state of a compute-bound benchmark with the CUDA backend's math precision ({@code precision}:
 * bf16, tf32, fp32) and convolution algorithm ({@code algo}: auto, igemm, gemm, and gather: igemm
 * without the halo-tile kernels, to compare them; see kernels/README.md, "Convolution"), set before {@link #build} and reset at tear-down. The CPU has one of each, so
 * there only fp32 / auto run: other values print why and skip ({@link Work#applies} tells the report).
 */
@State(Scope.Benchmark)
public abstract class MathState extends DeviceState {
    @Param({"bf16", "tf32", "fp32"})
    public String precision;

    @Param({"auto", "igemm", "gemm"})
    public String algo;

    @Override protected final void build() {
        if (b instanceof CudaBackend cuda) {
            cuda.setPrecision(MathPrecision.parse(precision));
            boolean gather = algo.equals("gather");   // igemm without the halo kernels
            cuda.conv().setAlgorithm(gather ? ConvKernel.Algorithm.IGEMM : ConvKernel.Algorithm.parse(algo));
            cuda.conv().setHalo(!gather);
        } else if (!Work.cpuMath(precision, algo)) {
            System.out.println("skipped: precision " + precision + " / algo " + algo + " apply to backend=cuda only");
            skip = true;
            return;
        }
        buildInputs();
    }

    /** Creates the inputs and outputs (after the precision and algorithm are set). */
    protected abstract void buildInputs();

    @Override protected final void release() {
        if (b instanceof CudaBackend cuda) {
            cuda.setPrecision(MathPrecision.FP32);
            cuda.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
            cuda.conv().setHalo(true);
        }
    }
}
