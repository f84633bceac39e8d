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

    @Test void small() { at(1001, false, 0); at(1001, false, 0.01); at(1001, true, 0.01); }

    /** The U-Net has ~36M parameters in one flat buffer; 8M here keeps the CPU side quick. */
    @Test void uNet() { at(pick(8 * 1024 * 1024, 256 * 1024) + 3, true, 0.0); }
}
