package ddpm.kernels.cuda;

import ddpm.engine.FusedOps;
import org.junit.jupiter.api.Test;

/** adam.cu: Adam (L2) and AdamW (decoupled) steps and EMA over flat buffers, several steps. */
class AdamCudaParityTest extends CudaTestBase {
    void at(int n, boolean decoupled, double wd) {
        P p = rand(n), m = rand(n), v = randPos(n);
        for (int step = 1; step <= 3; step++) {
            P g = rand(n);
            FusedOps.of(cpu).adam(p.c(), g.c(), m.c(), v.c(), 2e-4, 0.9, 0.999, 1e-8, wd, decoupled, step, 0.5);
            FusedOps.of(gpu).adam(p.g(), g.g(), m.g(), v.g(), 2e-4, 0.9, 0.999, 1e-8, wd, decoupled, step, 0.5);
        }
        String w = (decoupled ? "AdamW" : "Adam") + " wd=" + wd + " n=" + n;
        assertClose(w + " param", p, 1e-6);
        assertClose(w + " m", m, 1e-5);
        assertClose(w + " v", v, 1e-5);
        P e = rand(n);
        FusedOps.of(cpu).ema(e.c(), p.c(), 0.9999);
        FusedOps.of(gpu).ema(e.g(), p.g(), 0.9999);
        assertClose("ema n=" + n, e, 1e-6);
    }

    /**
     * adam_step_clipped: the clip factor from Σg² read on the device (clipping at 1 and 100, and
     * off) against the CPU's step with the factor computed on the host; a NaN or ∞ sum writes nothing.
     */
    @Test void clippedOnTheDevice() {
        int n = 4099;
        for (double maxNorm : new double[]{1.0, 100.0, 0.0}) {
            P p = rand(n), m = rand(n), v = randPos(n), g = rand(n);
            P ss = of(new float[]{(float) (g.c().sumSquares().item())}, 1);
            FusedOps.of(cpu).adamClipped(p.c(), g.c(), m.c(), v.c(), 2e-4, 0.9, 0.999, 1e-8, 0.01, true, 2, ss.c(), maxNorm);
            FusedOps.of(gpu).adamClipped(p.g(), g.g(), m.g(), v.g(), 2e-4, 0.9, 0.999, 1e-8, 0.01, true, 2, ss.g(), maxNorm);
            assertClose("clipped Adam maxNorm=" + maxNorm + " param", p, 1e-6);
            assertClose("clipped Adam maxNorm=" + maxNorm + " m", m, 1e-5);
            assertClose("clipped Adam maxNorm=" + maxNorm + " v", v, 1e-5);
        }
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
            P p = rand(n), m = rand(n), v = randPos(n), g = rand(n);
            P ss = of(new float[]{bad}, 1);
            float[] p0 = p.g().toFloats(), m0 = m.g().toFloats(), v0 = v.g().toFloats();
            FusedOps.of(gpu).adamClipped(p.g(), g.g(), m.g(), v.g(), 2e-4, 0.9, 0.999, 1e-8, 0.01, true, 2, ss.g(), 1.0);
            org.junit.jupiter.api.Assertions.assertArrayEquals(p0, p.g().toFloats(), "param after a step with Σg² = " + bad);
            org.junit.jupiter.api.Assertions.assertArrayEquals(m0, m.g().toFloats(), "m after a step with Σg² = " + bad);
            org.junit.jupiter.api.Assertions.assertArrayEquals(v0, v.g().toFloats(), "v after a step with Σg² = " + bad);
        }
    }

    /**
     * adam_step_scheduled: lr and the bias corrections read from the device ([lr, 1−β1^3, 1−β2^3] as
     * floats) against the CPU's clipped step at step 3; a NaN sum writes nothing.
     */
    @Test void scheduledOnTheDevice() {
        int n = 2053;
        double lr = 3e-4;
        long step = 3;
        P p = rand(n), m = rand(n), v = randPos(n), g = rand(n);
        P ss = of(new float[]{(float) (g.c().sumSquares().item())}, 1);
        P hyper = of(new float[]{(float) lr, (float) (1 - Math.pow(0.9, step)), (float) (1 - Math.pow(0.999, step))}, 3);
        FusedOps.of(cpu).adamClipped(p.c(), g.c(), m.c(), v.c(), lr, 0.9, 0.999, 1e-8, 0.01, true, step, ss.c(), 1.0);
        FusedOps.of(gpu).adamScheduled(p.g(), g.g(), m.g(), v.g(), hyper.g(), 0.9, 0.999, 1e-8, 0.01, true, ss.g(), 1.0);
        assertClose("scheduled Adam param", p, 1e-6);
        assertClose("scheduled Adam m", m, 1e-5);
        assertClose("scheduled Adam v", v, 1e-5);
        P nan = of(new float[]{Float.NaN}, 1);
        float[] p0 = p.g().toFloats();
        FusedOps.of(gpu).adamScheduled(p.g(), g.g(), m.g(), v.g(), hyper.g(), 0.9, 0.999, 1e-8, 0.01, true, nan.g(), 1.0);
        org.junit.jupiter.api.Assertions.assertArrayEquals(p0, p.g().toFloats(), "param after a scheduled step with a NaN sum");
    }

    @Test void small() { at(1001, false, 0); at(1001, false, 0.01); at(1001, true, 0.01); }

    /** The U-Net has ~36M parameters in one flat buffer; 8M here keeps the CPU side quick. */
    @Test void uNet() { at(pick(8 * 1024 * 1024, 256 * 1024) + 3, true, 0.0); }
}
