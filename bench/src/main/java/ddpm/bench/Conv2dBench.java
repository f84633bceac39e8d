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
 * F32 conv2d forward, backward-input and backward-weight through the CPU backend at the U-Net's
 * shapes with a small batch (the paper model's layers at batch 4, and the {@code small} CPU
 * model's at its training batch 16). shape = "name=N,Cin,Cout,H,W,k,stride,pad"; each pass is
 * 2·N·Cout·Cin·k²·Ho·Wo FLOP.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
public class Conv2dBench {
    static final String[] SHAPES = {
            "c128-32sq-k3=4,128,128,32,32,3,1,1",
            "c256-16sq-k3=4,256,256,16,16,3,1,1",
            "c256-8sq-k3=4,256,256,8,8,3,1,1",
            "c128-32sq-k3s2-down=4,128,128,32,32,3,2,1",
            "c256-4sq-k3=4,256,256,4,4,3,1,1",
            "c256to128-16sq-k1=4,256,128,16,16,1,1,0",
            "small-in-32sq=16,3,64,32,32,3,1,1",
            "small-c64-32sq=16,64,64,32,32,3,1,1",
            "small-down-32sq=16,64,64,32,32,3,2,1",
            "small-c128-16sq=16,128,128,16,16,3,1,1",
            "small-c128-8sq=16,128,128,8,8,3,1,1",
            "small-skip-16sq-k1=16,256,128,16,16,1,1,0",
    };

    @Param({"c128-32sq-k3=4,128,128,32,32,3,1,1"}) public String shape;
    @Param({"1"}) public int threads;

    private Tensor x, w, bias, y, gy, gx, gw;
    private int stride, pad;

    static int[] dims(String shape) {
        String[] f = shape.substring(shape.indexOf('=') + 1).split(",");
        int[] d = new int[f.length];
        for (int i = 0; i < f.length; i++) d[i] = Integer.parseInt(f[i]);
        return d;
    }

    static double flops(String shape) {
        int[] d = dims(shape);
        int ho = (d[3] + 2 * d[7] - d[5]) / d[6] + 1, wo = (d[4] + 2 * d[7] - d[5]) / d[6] + 1;
        return 2.0 * d[0] * d[2] * d[1] * d[5] * d[5] * ho * wo;
    }

    @Setup public void setup() {
        Parallel.setThreads(threads);
        int[] d = dims(shape);
        int n = d[0], c = d[1], o = d[2], h = d[3], wd = d[4], k = d[5];
        stride = d[6];
        pad = d[7];
        int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
        Rng rng = new Rng(2);
        x = Tensor.randn(rng, DType.F32, Device.CPU, n, c, h, wd);
        w = Tensor.randn(rng, DType.F32, Device.CPU, o, c, k, k);
        bias = Tensor.randn(rng, DType.F32, Device.CPU, o);
        y = Tensor.zeros(DType.F32, Device.CPU, n, o, ho, wo);
        gy = Tensor.randn(rng, DType.F32, Device.CPU, n, o, ho, wo);
        gx = Tensor.zeros(DType.F32, Device.CPU, n, c, h, wd);
        gw = Tensor.zeros(DType.F32, Device.CPU, o, c, k, k);
    }

    @TearDown public void tearDown() {
        for (Tensor t : new Tensor[]{x, w, bias, y, gy, gx, gw}) t.close();
        Parallel.setThreads(0);
    }

    @Benchmark public Tensor forward() {
        CpuBackend.INSTANCE.conv2d(x, w, bias, y, stride, pad);
        return y;
    }

    @Benchmark public Tensor backwardInput() {
        CpuBackend.INSTANCE.conv2dBackwardInput(gy, w, gx, stride, pad);
        return gx;
    }

    @Benchmark public Tensor backwardWeight() {
        CpuBackend.INSTANCE.conv2dBackwardWeight(x, gy, gw, stride, pad);
        return gw;
    }

    public static void main(String[] args) throws Exception {
        var results = CpuBenchSupport.run(Conv2dBench.class, SHAPES);
        CpuBenchSupport.summary("jddpm conv2d (JMH, ops/s × 2·N·Cout·Cin·k²·Ho·Wo)", results,
                r -> flops(r.getParams().getParam("shape")));
    }
}
