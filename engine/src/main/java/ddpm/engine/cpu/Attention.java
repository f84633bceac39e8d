package ddpm.engine.cpu;

import ddpm.engine.Tensor;

import java.util.Arrays;

import static ddpm.engine.cpu.CpuStorage.d;
import static ddpm.engine.cpu.CpuStorage.f;
import static ddpm.engine.cpu.CpuStorage.off;

/**
 * Fused attention out = softmax(q kᵀ · scale) v with the log-sum-exp of each score row saved, and
 * its backward (P recomputed from the log-sum-exp): the double-precision reference beside the
 * float32 kernels, which run per batch item a score GEMM, a vectorised softmax and the value
 * GEMM on {@link Sgemm} (items split over threads).
 */
final class Attention {
    private Attention() {}

    static void attentionRef(Tensor tq, Tensor tk, Tensor tv, double scale, Tensor tout, Tensor tlse) {
        int nb = tq.dim(0), l = tq.dim(1), s = tk.dim(1), d = tq.dim(2), dv = tv.dim(2);
        double[] q = d(tq), k = d(tk), v = d(tv), out = d(tout), lse = d(tlse);
        int qo = off(tq), ko = off(tk), vo = off(tv), oo = off(tout), lo = off(tlse);
        double[] p = new double[s];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                double m = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) {
                    double acc = 0;
                    for (int e = 0; e < d; e++) acc += q[qo + (b * l + i) * d + e] * k[ko + (b * s + j) * d + e];
                    p[j] = acc * scale;
                    m = Math.max(m, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < s; j++) sum += (p[j] = Math.exp(p[j] - m));
                for (int e = 0; e < dv; e++) {
                    double acc = 0;
                    for (int j = 0; j < s; j++) acc += p[j] * v[vo + (b * s + j) * dv + e];
                    out[oo + (b * l + i) * dv + e] = acc / sum;
                }
                lse[lo + b * l + i] = m + Math.log(sum);
            }
    }

    static void attentionBackwardRef(Tensor tq, Tensor tk, Tensor tv, Tensor tout, Tensor tlse, Tensor tgo, double scale,
                                     Tensor tgq, Tensor tgk, Tensor tgv) {
        int nb = tq.dim(0), l = tq.dim(1), s = tk.dim(1), d = tq.dim(2), dv = tv.dim(2);
        double[] q = d(tq), k = d(tk), v = d(tv), out = d(tout), lse = d(tlse), go = d(tgo), gq = d(tgq), gk = d(tgk), gv = d(tgv);
        int qo = off(tq), ko = off(tk), vo = off(tv), oo = off(tout), lo = off(tlse), goo = off(tgo),
                gqo = off(tgq), gko = off(tgk), gvo = off(tgv);
        Arrays.fill(gk, gko, gko + nb * s * d, 0.0);
        Arrays.fill(gv, gvo, gvo + nb * s * dv, 0.0);
        double[] p = new double[s], dp = new double[s];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                int qi = qo + (b * l + i) * d, oi = (b * l + i) * dv;
                double rowDot = 0;   // D_i = dO_i · O_i = Σ_j P_ij dP_ij
                for (int e = 0; e < dv; e++) rowDot += go[goo + oi + e] * out[oo + oi + e];
                for (int j = 0; j < s; j++) {
                    double acc = 0;
                    for (int e = 0; e < d; e++) acc += q[qi + e] * k[ko + (b * s + j) * d + e];
                    p[j] = Math.exp(acc * scale - lse[lo + b * l + i]);
                    double g = 0;
                    for (int e = 0; e < dv; e++) g += go[goo + oi + e] * v[vo + (b * s + j) * dv + e];
                    dp[j] = g;
                    for (int e = 0; e < dv; e++) gv[gvo + (b * s + j) * dv + e] += p[j] * go[goo + oi + e];
                }
                for (int e = 0; e < d; e++) gq[gqo + (b * l + i) * d + e] = 0;
                for (int j = 0; j < s; j++) {
                    double ds = p[j] * (dp[j] - rowDot) * scale;
                    for (int e = 0; e < d; e++) {
                        gq[gqo + (b * l + i) * d + e] += ds * k[ko + (b * s + j) * d + e];
                        gk[gko + (b * s + j) * d + e] += ds * q[qi + e];
                    }
                }
            }
    }

    static void attention(Tensor q, Tensor k, Tensor v, double scaleD, Tensor out, Tensor lse) {
        float scale = (float) scaleD;
        int nb = q.dim(0), l = q.dim(1), s = k.dim(1), d = q.dim(2), dv = v.dim(2);
        float[] Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse);
        int qo = off(q), ko = off(k), vo = off(v), oo = off(out), lo = off(lse);
        Parallel.items(nb, (b, threads) -> {
            float[] p = Scratch.get(Scratch.SCORES, l * s);
            Sgemm.gemm(false, true, l, s, d, scale, Q, qo + b * l * d, d, K, ko + b * s * d, d, 0f, p, 0, s, threads);
            for (int i = 0; i < l; i++) {
                int r = i * s;
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) m = Math.max(m, p[r + j]);
                double sum = FastMath.expShiftSum(p, r, s, m);
                float inv = (float) (1.0 / sum);
                for (int j = 0; j < s; j++) p[r + j] *= inv;
                LSE[lo + b * l + i] = (float) (m + Math.log(sum));
            }
            Sgemm.gemm(false, false, l, dv, s, 1f, p, 0, s, V, vo + b * s * dv, dv, 0f, O, oo + b * l * dv, dv, threads);
        });
    }

    static void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gout, double scaleD,
                                  Tensor gq, Tensor gk, Tensor gv) {
        float scale = (float) scaleD;
        int nb = q.dim(0), l = q.dim(1), s = k.dim(1), d = q.dim(2), dv = v.dim(2);
        float[] Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse), GO = f(gout),
                GQ = f(gq), GK = f(gk), GV = f(gv);
        int qo = off(q), ko = off(k), vo = off(v), oo = off(out), lo = off(lse), goo = off(gout),
                gqo = off(gq), gko = off(gk), gvo = off(gv);
        Parallel.items(nb, (b, threads) -> {
            float[] p = Scratch.get(Scratch.SCORES, l * s), dp = Scratch.get(Scratch.SCORE_GRADS, l * s);
            int qb = qo + b * l * d, kb = ko + b * s * d, vb = vo + b * s * dv, ob = b * l * dv;
            // P = exp(scale·q kᵀ − lse), recomputed from the saved log-sum-exp
            Sgemm.gemm(false, true, l, s, d, scale, Q, qb, d, K, kb, d, 0f, p, 0, s, threads);
            for (int i = 0; i < l; i++) {
                int r = i * s;
                float li = LSE[lo + b * l + i];
                FastMath.expShiftSum(p, r, s, li);
            }
            // dV = Pᵀ dO, dP = dO Vᵀ
            Sgemm.gemm(true, false, s, dv, l, 1f, p, 0, s, GO, goo + ob, dv, 0f, GV, gvo + b * s * dv, dv, threads);
            Sgemm.gemm(false, true, l, s, dv, 1f, GO, goo + ob, dv, V, vb, dv, 0f, dp, 0, s, threads);
            // dS = P ⊙ (dP − rowdot(dO, O)) · scale
            for (int i = 0; i < l; i++) {
                int r = i * s, oi = ob + i * dv;
                // a float FMA chain in the order the SGEMM kernel accumulates dP, so that where
                // dP_ij and D_i are the same sum (one key: P = 1, O = V) they cancel exactly
                float di = 0;
                for (int e = 0; e < dv; e++) di = Math.fma(GO[goo + oi + e], O[oo + oi + e], di);
                for (int j = 0; j < s; j++) dp[r + j] = p[r + j] * (dp[r + j] - di) * scale;
            }
            // dQ = dS K, dK = dSᵀ Q
            Sgemm.gemm(false, false, l, d, s, 1f, dp, 0, s, K, kb, d, 0f, GQ, gqo + b * l * d, d, threads);
            Sgemm.gemm(true, false, s, d, l, 1f, dp, 0, s, Q, qb, d, 0f, GK, gko + b * s * d, d, threads);
        });
    }
}
