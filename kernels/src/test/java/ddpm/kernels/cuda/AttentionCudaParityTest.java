package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * attention.cu forward (out, lse) and backward (gq, gk, gv): the float32 SIMT kernels (FP32) and
 * the tensor-core kernels (TF32, BF16).
 */
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

    // ---------------------------------------------------------------- tensor cores (TF32, BF16)
    /** Against the CPU's float32 result: within the precision's rounding of the operands. */
    static double loose(MathPrecision p) { return p == MathPrecision.TF32 ? 5e-3 : 3e-2; }

    /** Against the rounded reference: float32 accumulation (relative to the largest reference value). */
    static final double TIGHT = 1e-5;

    /**
     * Relative float32 error allowed for a value the kernel computes before rounding it into an
     * operand (P, dS): δ of every sum's absolute terms, about 80 float32 ulps (accumulation order,
     * tensor-core accumulation, __expf). An operand whose value ± that error rounds two ways is
     * ambiguous: either rounding is accepted (see {@link Rounded}).
     */
    static final double DELTA = 1e-5;

    /**
     * A reference result in double precision; per element, how far it may move because an operand
     * the kernel computes itself (P, dS) lies so close to a rounding boundary of the precision that
     * float32 arithmetic may round it the other way ({@code bound}: Σ |r(x + e) − r(x − e)|·|y| over
     * such operands x with partner y, e the error bound of x), and the mean magnitude of the terms
     * it sums ({@code meanTerm}): a wrong, missing or extra term moves an element by about that.
     */
    record Rounded(double[] value, double[] bound, double[] meanTerm) {
        Rounded(int n) { this(new double[n], new double[n], new double[n]); }

        /** Adds term x·y to element i, with ambiguity a of operand x. */
        void add(int i, double x, double y, double a, int terms) {
            value[i] += x * y;
            bound[i] += a * Math.abs(y);
            meanTerm[i] += Math.abs(x * y) / terms;
        }
    }

    /** |r(x + e) − r(x − e)|: what rounding x with error e may change (0 unless near a boundary). */
    static double ambiguity(MathPrecision p, double x, double e) {
        return Math.abs((double) p.round((float) (x + e)) - p.round((float) (x - e)));
    }

    /**
     * The forward in double precision from the operands rounded as the tensor-core kernels round
     * them (r = {@link MathPrecision#round}): s = scale·Σ r(q)·r(k); keys in tiles of
     * {@link AttentionKernel#TC_BN}, m_t the running maximum after the tile of key j; the operand
     * P = r(exp(s − m_t)) (rounded relative to the running maximum, as the online softmax holds it),
     * out = Σ_j P·exp(m_t − m)·r(v) / l with l = Σ exp(s − m) unrounded, lse = m + log l.
     */
    static Rounded[] roundedForward(MathPrecision p, float[] q, float[] k, float[] v, int nb, int l, int s, int d, int dv,
                                    double scale) {
        Rounded out = new Rounded(nb * l * dv), lse = new Rounded(nb * l);
        double[] sc = new double[s], es = new double[s], mt = new double[s];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                double m = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) {
                    double acc = 0, abs = 0;
                    for (int e = 0; e < d; e++) {
                        double t = (double) p.round(q[(b * l + i) * d + e]) * p.round(k[(b * s + j) * d + e]);
                        acc += t;
                        abs += Math.abs(t);
                    }
                    sc[j] = acc * scale;
                    es[j] = DELTA * (abs * scale + 1);
                }
                for (int t0 = 0; t0 < s; t0 += AttentionKernel.TC_BN) {
                    for (int j = t0; j < Math.min(s, t0 + AttentionKernel.TC_BN); j++) m = Math.max(m, sc[j]);
                    for (int j = t0; j < Math.min(s, t0 + AttentionKernel.TC_BN); j++) mt[j] = m;
                }
                double sum = 0;
                for (int j = 0; j < s; j++) sum += Math.exp(sc[j] - m);
                for (int j = 0; j < s; j++) {
                    double pj = Math.exp(sc[j] - mt[j]), w = Math.exp(mt[j] - m) / sum;
                    double pr = p.round((float) pj), amb = ambiguity(p, pj, pj * es[j]);
                    for (int c = 0; c < dv; c++) out.add((b * l + i) * dv + c, pr * w, p.round(v[(b * s + j) * dv + c]), amb * w, s);
                }
                lse.value()[b * l + i] = m + Math.log(sum);
            }
        return new Rounded[]{out, lse};
    }

    /**
     * The backward in double precision from rounded operands, given out and lse: Dvec = Σ dO·O
     * (unrounded), P = exp(scale·Σ r(q)·r(k) − lse), dP = Σ r(dO)·r(v), dS = P·(dP − Dvec)·scale;
     * dV = Σ r(P)·r(dO), dQ = Σ r(dS)·r(k), dK = Σ r(dS)·r(q). Returns {gq, gk, gv}.
     */
    static Rounded[] roundedBackward(MathPrecision p, float[] q, float[] k, float[] v, float[] o, float[] lse, float[] go,
                                     int nb, int l, int s, int d, int dv, double scale) {
        Rounded gq = new Rounded(nb * l * d), gk = new Rounded(nb * s * d), gv = new Rounded(nb * s * dv);
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                int qi = (b * l + i) * d, oi = (b * l + i) * dv;
                double dvec = 0, dvecAbs = 0;
                for (int c = 0; c < dv; c++) {
                    dvec += (double) go[oi + c] * o[oi + c];
                    dvecAbs += Math.abs((double) go[oi + c] * o[oi + c]);
                }
                for (int j = 0; j < s; j++) {
                    int kj = (b * s + j) * d, vj = (b * s + j) * dv;
                    double acc = 0, accAbs = 0, dp = 0, dpAbs = 0;
                    for (int e = 0; e < d; e++) {
                        double t = (double) p.round(q[qi + e]) * p.round(k[kj + e]);
                        acc += t;
                        accAbs += Math.abs(t);
                    }
                    for (int c = 0; c < dv; c++) {
                        double t = (double) p.round(go[oi + c]) * p.round(v[vj + c]);
                        dp += t;
                        dpAbs += Math.abs(t);
                    }
                    double pij = Math.exp(acc * scale - lse[b * l + i]), ds = pij * (dp - dvec) * scale;
                    double rel = DELTA * (accAbs * scale + 1);
                    double ambP = ambiguity(p, pij, pij * rel);
                    double ambS = ambiguity(p, ds, Math.abs(ds) * rel + pij * scale * DELTA * (dpAbs + dvecAbs));
                    double pr = p.round((float) pij), dsr = p.round((float) ds);
                    for (int c = 0; c < dv; c++) gv.add(vj + c, pr, p.round(go[oi + c]), ambP, l);
                    for (int e = 0; e < d; e++) {
                        gq.add(qi + e, dsr, p.round(k[kj + e]), ambS, s);
                        gk.add(kj + e, dsr, p.round(q[qi + e]), ambS, l);
                    }
                }
            }
        return new Rounded[]{gq, gk, gv};
    }

    /**
     * Asserts |got − ref| ≤ TIGHT·max|ref| + bound elementwise. Returns "e (±b, n%, t)": the largest
     * error beyond the element's ambiguity bound and the largest bound, both relative to max|ref|,
     * the share of elements with a bound, and the largest bound in units of its element's mean term.
     */
    static String assertTight(String what, Rounded ref, Tensor got) {
        float[] a = got.toFloats();
        double max = 1e-30, worst = 0, maxBound = 0, perTerm = 0;
        int at = 0, ambiguous = 0;
        for (double x : ref.value()) max = Math.max(max, Math.abs(x));
        for (int i = 0; i < a.length; i++) {
            if (ref.bound()[i] > 0) ambiguous++;
            maxBound = Math.max(maxBound, ref.bound()[i]);
            if (ref.bound()[i] > 0) perTerm = Math.max(perTerm, ref.bound()[i] / ref.meanTerm()[i]);
            double beyond = Float.isNaN(a[i]) ? Double.POSITIVE_INFINITY : Math.max(0, Math.abs(a[i] - ref.value()[i]) - ref.bound()[i]) / max;
            if (beyond > worst) { worst = beyond; at = i; }
        }
        if (!(worst <= TIGHT))
            fail(String.format("%s (rounded reference): error %.3g beyond the rounding ambiguity > %.3g (worst at %d: "
                    + "reference %s ± %s, gpu %s; seed %d)", what, worst, TIGHT, at, ref.value()[at], ref.bound()[at], a[at], seed));
        return String.format("%.2g (±%.1g, %d%%, %.2g)", worst, maxBound / max, Math.round(100.0 * ambiguous / a.length), perTerm);
    }

    /** Forward and backward at precision p: the tensor-core kernels (asserted launched) against the
     *  CPU (loose) and the rounded reference (tight); prints the errors. */
    void atTensorCores(MathPrecision p, int b, int l, int s, int d, int dv) {
        CudaBackend cb = (CudaBackend) gpu;
        assertTrue(AttentionKernel.tensorCores(p, l, s, d, dv, cb.maxSharedOptin()), "the tensor-core kernels apply");
        double scale = 1 / Math.sqrt(d);
        String w = "attention " + p + " B=" + b + " L=" + l + " S=" + s + " D=" + d + " Dv=" + dv;
        Map<String, Long> before = KernelModule.launchCounts();
        cb.setPrecision(p);
        try {
            P q = rand(b, l, d), k = rand(b, s, d), v = rand(b, s, dv);
            P o = out(b, l, dv), lse = out(b, l);
            cpu.attention(q.c(), k.c(), v.c(), scale, o.c(), lse.c());
            gpu.attention(q.g(), k.g(), v.g(), scale, o.g(), lse.g());
            float[] qf = q.c().toFloats(), kf = k.c().toFloats(), vf = v.c().toFloats();
            Rounded[] ref = roundedForward(p, qf, kf, vf, b, l, s, d, dv, scale);
            StringBuilder msg = new StringBuilder(w + ": max rel err against the CPU / the rounded reference (± its "
                    + "ambiguity bound, share of elements with one, largest bound in mean terms):");
            msg.append(String.format(" out %.2g / %s", assertClose(w + " out", o, loose(p)), assertTight(w + " out", ref[0], o.g())));
            msg.append(String.format(", lse %.2g / %s", assertClose(w + " lse", lse, loose(p)), assertTight(w + " lse", ref[1], lse.g())));

            P gout = rand(b, l, dv), gq = out(b, l, d), gk = out(b, s, d), gv = out(b, s, dv);
            cpu.attentionBackward(q.c(), k.c(), v.c(), o.c(), lse.c(), gout.c(), scale, gq.c(), gk.c(), gv.c());
            gpu.attentionBackward(q.g(), k.g(), v.g(), o.c().to(GPU), lse.c().to(GPU), gout.g(), scale, gq.g(), gk.g(), gv.g());
            Rounded[] g = roundedBackward(p, qf, kf, vf, o.c().toFloats(), lse.c().toFloats(), gout.c().toFloats(),
                    b, l, s, d, dv, scale);
            String[] names = {"gq", "gk", "gv"};
            P[] got = {gq, gk, gv};
            for (int i = 0; i < 3; i++)
                msg.append(String.format(", %s %.2g / %s", names[i], assertClose(w + " " + names[i], got[i], loose(p)),
                        assertTight(w + " " + names[i], g[i], got[i].g())));
            System.out.println(msg);
        } finally {
            cb.setPrecision(MathPrecision.FP32);
        }
        Map<String, Long> after = KernelModule.launchCounts();
        for (String kernel : new String[]{"attn_fwd", "attn_bwd_dq", "attn_bwd_dkv"}) {
            String tc = "attention." + kernel + "_tc_" + p;
            assertEquals(before.getOrDefault(tc, 0L) + 1, after.getOrDefault(tc, 0L), w + ": one launch of " + tc);
            assertEquals(before.getOrDefault("attention." + kernel, 0L), after.getOrDefault("attention." + kernel, 0L),
                    w + ": no SIMT " + kernel);
        }
    }

    /** Partial query and key tiles (one key, fewer keys than a tile, tile + 1), head dims that are
     *  not multiples of 16 (zero-padded in shared memory), odd batches. */
    @Test void tensorCoresOddShapes() {
        for (MathPrecision p : new MathPrecision[]{MathPrecision.TF32, MathPrecision.BF16}) {
            atTensorCores(p, 3, 37, 45, 19, 23);
            atTensorCores(p, 1, 70, 33, 48, 32);
            atTensorCores(p, 2, 5, 3, 16, 40);
        }
    }

    /** The U-Net's shapes, D = Dv = 256: 8×8 (L = S = 64) and 16×16 (L = S = 256; 128 on the host
     *  driver, where 256 takes it several seconds per precision: same kernels, half the tiles). */
    @Test void tensorCoresUNet() {
        for (MathPrecision p : new MathPrecision[]{MathPrecision.TF32, MathPrecision.BF16}) {
            atTensorCores(p, pick(128, 1), 64, 64, 256, 256);
            atTensorCores(p, pick(8, 1), pick(256, 128), pick(256, 128), 256, 256);
        }
    }

    /** Head dims above 256 at BF16 fall back to the float32 SIMT kernels: float32 accuracy, no
     *  tensor-core launch. */
    @Test void tensorCoreFallback() {
        CudaBackend cb = (CudaBackend) gpu;
        assertTrue(!AttentionKernel.tensorCores(MathPrecision.BF16, 9, 7, 272, 16, cb.maxSharedOptin()));
        assertTrue(!AttentionKernel.tensorCores(MathPrecision.BF16, 9, 7, 16, 264, cb.maxSharedOptin()));
        Map<String, Long> before = KernelModule.launchCounts();
        cb.setPrecision(MathPrecision.BF16);
        try {
            at(3, 9, 7, 272, 16);
            at(1, 9, 7, 16, 264);
        } finally {
            cb.setPrecision(MathPrecision.FP32);
        }
        Map<String, Long> after = KernelModule.launchCounts();
        for (String kernel : new String[]{"attn_fwd", "attn_bwd_dq", "attn_bwd_dkv"}) {
            assertEquals(before.getOrDefault("attention." + kernel + "_tc_bf16", 0L),
                    after.getOrDefault("attention." + kernel + "_tc_bf16", 0L), "no tensor-core " + kernel);
            assertEquals(before.getOrDefault("attention." + kernel, 0L) + 2, after.getOrDefault("attention." + kernel, 0L),
                    "two SIMT launches of " + kernel);
        }
    }
}
