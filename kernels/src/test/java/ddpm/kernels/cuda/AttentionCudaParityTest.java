package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** attention.cu forward (out, lse) and backward (gq, gk, gv). */
class AttentionCudaParityTest extends CudaTestBase {
    void at(int b, int l, int s, int d, int dv) {
        double scale = 1 / Math.sqrt(d);
        P q = rand(b, l, d), k = rand(b, s, d), v = rand(b, s, dv);
        P o = out(b, l, dv), lse = out(b, l);
        cpu.attention(q.c(), k.c(), v.c(), scale, o.c(), lse.c());
        gpu.attention(q.g(), k.g(), v.g(), scale, o.g(), lse.g());
        String w = "attention B=" + b + " L=" + l + " S=" + s + " D=" + d + " Dv=" + dv;
        assertClose(w + " out", o, 1e-5);
        assertClose(w + " lse", lse, 1e-5);
        P gout = rand(b, l, dv), gq = out(b, l, d), gk = out(b, s, d), gv = out(b, s, dv);
        cpu.attentionBackward(q.c(), k.c(), v.c(), o.c(), lse.c(), gout.c(), scale, gq.c(), gk.c(), gv.c());
        gpu.attentionBackward(q.g(), k.g(), v.g(), o.c().to(GPU), lse.c().to(GPU), gout.g(), scale, gq.g(), gk.g(), gv.g());
        assertClose(w + " gq", gq, 1e-4);
        assertClose(w + " gk", gk, 1e-4);
        assertClose(w + " gv", gv, 1e-4);
    }

    /** Odd shapes: partial row and column tiles, feature chunks below, at and above 64. */
    @Test void small() {
        at(3, 37, 45, 19, 23);
        at(2, 5, 3, 70, 129);          // (S = 1 would make gq, gk exactly 0: no scale for a relative error)
        at(1, 16, 32, 64, 64);
        at(2, 33, 65, 8, 8);
    }

    /** U-Net: 8×8 attention at full batch (L = S = 64, D = 256), and 16×16 (L = 256) on 8 samples. */
    @Test void uNet() { at(pick(128, 2), 64, 64, 256, 256); at(pick(8, 1), 256, 256, 256, 256); }
}
