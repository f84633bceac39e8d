package ddpm.bench;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Rng;
import ddpm.engine.Tensor;
import ddpm.engine.cpu.CpuBackend;
import ddpm.engine.cpu.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * F32 GEMM through the CPU backend (CpuBackend.matmul → Sgemm), at 1024³ and the U-Net's GEMM
 * shapes. shape = "M x N x K : transposes"; ops/s × 2·M·N·K = FLOP/s (see {@link #main}).
 * The same shapes run in bench/openblas/sgemm_bench.c for the OpenBLAS comparison.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
public class SgemmBench {
    /** name=M,N,K,TA,TB — conv shapes are the per-image GEMMs the conv kernels issue. */
    static final String[] SHAPES = {
            "square1024=1024,1024,1024,N,N",
            "conv3x3-128ch-32sq-fwd=128,1024,1152,N,N",      // W[128×1152] · col[1152×32²]
            "conv3x3-128ch-32sq-b8-asOne=128,8192,1152,N,N", // the batch-8 conv as one GEMM
            "conv3x3-256ch-16sq-fwd=256,256,2304,N,N",
            "conv3x3-256ch-8sq-fwd=256,64,2304,N,N",
            "conv3x3-128ch-32sq-bwdIn=1152,1024,128,T,N",    // Wᵀ · gy
            "conv3x3-128ch-32sq-bwdW=128,1152,1024,N,T",     // gy · colᵀ
            "attn256=256,256,256,N,N",
            "attn-qkT-256x64=256,256,64,N,T",
    };

    @Param({"square1024=1024,1024,1024,N,N"}) public String shape;
    @Param({"1"}) public int threads;

    private Tensor a, b, c;
    private boolean ta, tb;

    static int[] dims(String shape) {
        String[] f = shape.substring(shape.indexOf('=') + 1).split(",");
        return new int[]{Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                f[3].equals("T") ? 1 : 0, f[4].equals("T") ? 1 : 0};
    }

    static double flops(String shape) {
        int[] d = dims(shape);
        return 2.0 * d[0] * d[1] * d[2];
    }

    @Setup public void setup() {
        Parallel.setThreads(threads);
        int[] d = dims(shape);
        int m = d[0], n = d[1], k = d[2];
        ta = d[3] == 1;
        tb = d[4] == 1;
        Rng rng = new Rng(1);
        a = Tensor.randn(rng, DType.F32, Device.CPU, ta ? new int[]{k, m} : new int[]{m, k});
        b = Tensor.randn(rng, DType.F32, Device.CPU, tb ? new int[]{n, k} : new int[]{k, n});
        c = Tensor.zeros(DType.F32, Device.CPU, m, n);
    }

    @TearDown public void tearDown() {
        a.close(); b.close(); c.close();
        Parallel.setThreads(0);
    }

    @Benchmark public Tensor sgemm() {
        CpuBackend.INSTANCE.matmul(a, b, c, ta, tb, 1, 0);
        return c;
    }

    /** Runs the benchmark over {@link #SHAPES} and thread counts and prints GFLOP/s (see {@link CpuBenchSupport}). */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--shapes")) {   // for bench/cpu-vs-openblas.sh
            for (String s : SHAPES) System.out.println(s);
            return;
        }
        var results = CpuBenchSupport.run(SgemmBench.class, SHAPES);
        CpuBenchSupport.summary("jddpm SGEMM (JMH, ops/s × 2·M·N·K)", results,
                r -> flops(r.getParams().getParam("shape")));
    }
}
