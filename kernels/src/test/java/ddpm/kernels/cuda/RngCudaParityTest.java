package ddpm.kernels.cuda;

import ddpm.engine.Philox;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** rng.cu reproduces ddpm.engine.Philox: uniforms bit for bit, normals to 1e-5, dropout masks exactly. */
class RngCudaParityTest extends CudaTestBase {
    static final long[] SEEDS = {0L, 42L, -1L, 0x9E3779B97F4A7C15L};
    static final long[] OFFSETS = {0L, 7L, 1L << 40};

    @Test void uniformsBitExact() {
        for (long seed : SEEDS)
            for (long off : OFFSETS)
                for (int n : new int[]{1, 3, 4, 13, 1 << 20}) {
                    P o = out(n);
                    cpu.randUniform(o.c(), seed, off);
                    gpu.randUniform(o.g(), seed, off);
                    float[] e = o.c().toFloats(), a = o.g().toFloats();
                    for (int i = 0; i < n; i++)
                        if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i]))
                            fail("uniform seed " + seed + " offset " + off + " n " + n + " element " + i + ": cpu " + e[i] + " gpu " + a[i]);
                }
    }

    @Test void uniformsMatchPhiloxDirectly() {
        double[] ref = new double[10];
        Philox.fillUniform(123, 5, ref, 10);
        Tensor g = Tensor.empty(ddpm.engine.DType.F32, GPU, 10);
        gpu.randUniform(g, 123, 5);
        float[] a = g.toFloats();
        for (int i = 0; i < 10; i++) assertEquals((float) ref[i], a[i], 0f, "element " + i);
    }

    @Test void normalsClose() {
        for (long seed : SEEDS)
            for (long off : OFFSETS)
                for (int n : new int[]{1, 2, 5, 13, 1 << 20}) {
                    P o = out(n);
                    cpu.randNormal(o.c(), seed, off);
                    gpu.randNormal(o.g(), seed, off);
                    float[] e = o.c().toFloats(), a = o.g().toFloats();
                    double worst = 0;
                    for (int i = 0; i < n; i++) worst = Math.max(worst, Math.abs((double) a[i] - e[i]));
                    if (worst > 1e-5) fail("normal seed " + seed + " offset " + off + " n " + n + ": max abs err " + worst);
                }
    }

    @Test void dropoutMasksExact() {
        for (double p : new double[]{0.1, 0.5, 0.9}) {
            P o = out(100_001);
            cpu.dropoutMask(o.c(), p, 77, 1234);
            gpu.dropoutMask(o.g(), p, 77, 1234);
            assertClose("dropout p=" + p, o, 0);
        }
    }
}
