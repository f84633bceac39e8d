package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.FusedOps;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** diffusion_step.cu: q_sample, q_sample with in-pass noise, DDPM posterior step, DDIM step. */
class DiffusionCudaParityTest extends CudaTestBase {
    void at(int T, int... shape) {
        int b = shape[0];
        P x0 = rand(shape), eps = rand(shape), t = index(b, T);
        P a = randPos(T), s = randPos(T), o = out(shape);
        FusedOps.of(cpu).qSample(x0.c(), eps.c(), t.c(), a.c(), s.c(), o.c());
        FusedOps.of(gpu).qSample(x0.g(), eps.g(), t.g(), a.g(), s.g(), o.g());
        assertClose("qSample", o, 1e-6);

        P c1 = randPos(T), c2 = randPos(T), sigma = randPos(T), z = rand(shape);
        FusedOps.of(cpu).posteriorStep(x0.c(), eps.c(), z.c(), t.c(), c1.c(), c2.c(), sigma.c(), o.c());
        FusedOps.of(gpu).posteriorStep(x0.g(), eps.g(), z.g(), t.g(), c1.g(), c2.g(), sigma.g(), o.g());
        assertClose("posteriorStep", o, 1e-6);
        o.poison();
        FusedOps.of(cpu).posteriorStep(x0.c(), eps.c(), null, t.c(), c1.c(), c2.c(), sigma.c(), o.c());
        FusedOps.of(gpu).posteriorStep(x0.g(), eps.g(), null, t.g(), c1.g(), c2.g(), sigma.g(), o.g());
        assertClose("posteriorStep (no z)", o, 1e-6);

        P coefs = randPos(T, 5);
        for (double clip : new double[]{0, 1}) {
            o.poison();
            FusedOps.of(cpu).ddimStep(x0.c(), eps.c(), z.c(), t.c(), coefs.c(), clip, o.c());
            FusedOps.of(gpu).ddimStep(x0.g(), eps.g(), z.g(), t.g(), coefs.g(), clip, o.g());
            assertClose("ddimStep clip " + clip, o, 1e-5);
            o.poison();
            FusedOps.of(cpu).ddimStep(x0.c(), eps.c(), null, t.c(), coefs.c(), clip, o.c());
            FusedOps.of(gpu).ddimStep(x0.g(), eps.g(), null, t.g(), coefs.g(), clip, o.g());
            assertClose("ddimStep (no z) clip " + clip, o, 1e-5);
        }

        // fused noise: eps must equal randNormal's stream and out the q_sample of it
        long seed = 99, offset = 12345;
        Tensor epsG = Tensor.empty(DType.F32, GPU, shape).fill(Double.NaN);
        o.poison();
        ((CudaBackend) gpu).diffusion().qSampleWithNoise(x0.g(), t.g(), a.g(), s.g(), seed, offset, epsG, o.g());
        Tensor epsC = Tensor.empty(DType.F32, ddpm.engine.Device.CPU, shape);
        cpu.randNormal(epsC, seed, offset);
        float[] e = epsC.toFloats(), g = epsG.toFloats();
        double worst = 0;
        for (int i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs((double) e[i] - g[i]));
        assertTrue(worst <= 1e-5, "qSampleWithNoise eps max abs err " + worst);
        FusedOps.of(cpu).qSample(x0.c(), epsC, t.c(), a.c(), s.c(), o.c());
        assertClose("qSampleWithNoise out", o, 1e-5);
    }

    @Test void small() { at(10, 5, 3, 7, 7); at(4, 3, 1); }

    @Test void uNet() { at(1000, pick(128, 8), 3, 32, 32); }
}
