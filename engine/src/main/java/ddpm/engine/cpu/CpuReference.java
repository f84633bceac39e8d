package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Shapes;
import ddpm.engine.cpu.CpuBackend.Buf;

/**
 * The specification of every primitive: plain loops in double precision, written for clarity,
 * not speed. F64 tensors run these directly (gradient checks); fast kernels and the CUDA backend
 * are tested against them.
 */
final class CpuReference {
    private CpuReference() {}

    // ---------------------------------------------------------------- elementwise
    static double unary(Ops.Unary op, double x) {
        return switch (op) {
            case NEG -> -x;
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RSQRT -> 1.0 / Math.sqrt(x);
            case SQUARE -> x * x;
            case ABS -> Math.abs(x);
            case SILU -> x / (1.0 + Math.exp(-x));
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case RELU -> x > 0 ? x : 0.0;
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
        };
    }

    /** dy/dx at x, where y = op(x). */
    static double derivative(Ops.Unary op, double x, double y) {
        return switch (op) {
            case NEG -> -1.0;
            case EXP -> y;
            case LOG -> 1.0 / x;
            case SQRT -> 0.5 / y;
            case RSQRT -> -0.5 * y * y * y;
            case SQUARE -> 2.0 * x;
            case ABS -> Math.signum(x);
            case SILU -> {
                double s = 1.0 / (1.0 + Math.exp(-x));
                yield s * (1.0 + x * (1.0 - s));
            }
            case SIGMOID -> y * (1.0 - y);
            case TANH -> 1.0 - y * y;
            case RELU -> x > 0 ? 1.0 : 0.0;
            case SIN -> Math.cos(x);
            case COS -> -Math.sin(x);
        };
    }

    static void unary(Ops.Unary op, Buf x, Buf out, int n) {
        for (int k = 0; k < n; k++) out.a()[out.o() + k] = unary(op, x.a()[x.o() + k]);
    }

    static void unaryBackward(Ops.Unary op, Buf x, Buf y, Buf gy, Buf gx, int n) {
        for (int k = 0; k < n; k++)
            gx.a()[gx.o() + k] = gy.a()[gy.o() + k] * derivative(op, x.a()[x.o() + k], y.a()[y.o() + k]);
    }

    static double binary(Ops.Binary op, double a, double b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case LT -> a < b ? 1 : 0;
            case LE -> a <= b ? 1 : 0;
            case GT -> a > b ? 1 : 0;
            case GE -> a >= b ? 1 : 0;
            case EQ -> a == b ? 1 : 0;
        };
    }

    /** Visits every output index with the flat positions of the broadcast inputs. */
    interface Broadcast3 { void at(int o, int a, int b, int c); }

    static void forEachBroadcast(int[] outShape, int[] sa, int[] sb, int[] sc, Broadcast3 f) {
        int r = outShape.length;
        long[] ta = Shapes.broadcastStrides(sa, outShape), tb = Shapes.broadcastStrides(sb, outShape),
                tc = Shapes.broadcastStrides(sc == null ? new int[0] : sc, outShape);
        int n = (int) Shapes.numel(outShape);
        int[] idx = new int[r];
        int ia = 0, ib = 0, ic = 0;
        for (int o = 0; o < n; o++) {
            f.at(o, ia, ib, ic);
            for (int d = r - 1; d >= 0; d--) {
                idx[d]++;
                ia += (int) ta[d];
                ib += (int) tb[d];
                ic += (int) tc[d];
                if (idx[d] < outShape[d]) break;
                ia -= (int) (ta[d] * outShape[d]);
                ib -= (int) (tb[d] * outShape[d]);
                ic -= (int) (tc[d] * outShape[d]);
                idx[d] = 0;
            }
        }
    }

    static void binary(Ops.Binary op, Buf a, int[] sa, Buf b, int[] sb, Buf out, int[] so) {
        forEachBroadcast(so, sa, sb, null, (o, i, j, k) ->
                out.a()[out.o() + o] = binary(op, a.a()[a.o() + i], b.a()[b.o() + j]));
    }

    static void where(Buf c, int[] sc, Buf a, int[] sa, Buf b, int[] sb, Buf out, int[] so) {
        forEachBroadcast(so, sa, sb, sc, (o, i, j, k) ->
                out.a()[out.o() + o] = c.a()[c.o() + k] != 0 ? a.a()[a.o() + i] : b.a()[b.o() + j]);
    }

    // ---------------------------------------------------------------- layout
    static void reduce(Ops.Reduce op, Buf x, int outer, int n, int inner, Buf out) {
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++) {
                double acc = switch (op) {
                    case SUM, SUMSQ -> 0.0;
                    case MAX -> Double.NEGATIVE_INFINITY;
                    case MIN -> Double.POSITIVE_INFINITY;
                };
                for (int k = 0; k < n; k++) {
                    double v = x.a()[x.o() + (p * n + k) * inner + q];
                    acc = switch (op) {
                        case SUM -> acc + v;
                        case SUMSQ -> acc + v * v;
                        case MAX -> Math.max(acc, v);
                        case MIN -> Math.min(acc, v);
                    };
                }
                out.a()[out.o() + p * inner + q] = acc;
            }
    }

    static void permute(Buf x, int[] shape, int[] perm, Buf out) {
        int r = shape.length;
        long[] st = Shapes.strides(shape);
        int[] os = new int[r];
        long[] src = new long[r];
        for (int i = 0; i < r; i++) { os[i] = shape[perm[i]]; src[i] = st[perm[i]]; }
        int n = (int) Shapes.numel(os);
        int[] idx = new int[r];
        long at = 0;
        for (int o = 0; o < n; o++) {
            out.a()[out.o() + o] = x.a()[x.o() + (int) at];
            for (int d = r - 1; d >= 0; d--) {
                idx[d]++;
                at += src[d];
                if (idx[d] < os[d]) break;
                at -= src[d] * os[d];
                idx[d] = 0;
            }
        }
    }

    /** Copies between the part [start, start+len) along axis of {@code big} and all of {@code part}. */
    static void slice(Buf part, int[] ps, Buf big, int[] bs, int axis, int start, boolean intoBig) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= bs[i];
        for (int i = axis + 1; i < bs.length; i++) inner *= bs[i];
        int len = ps[axis], full = bs[axis];
        for (int p = 0; p < outer; p++)
            for (int k = 0; k < len; k++)
                for (int q = 0; q < inner; q++) {
                    int pi = part.o() + (p * len + k) * inner + q, bi = big.o() + (p * full + start + k) * inner + q;
                    if (intoBig) big.a()[bi] = part.a()[pi];
                    else part.a()[pi] = big.a()[bi];
                }
    }

    // ---------------------------------------------------------------- dense algebra
    static void matmul(Buf a, int[] sa, Buf b, int[] sb, Buf out, int[] so, boolean ta, boolean tb,
                       double alpha, double beta) {
        int batch = so.length == 3 ? so[0] : 1, m = so[so.length - 2], n = so[so.length - 1];
        int k = ta ? sa[sa.length - 2] : sa[sa.length - 1];
        boolean bcA = sa.length == 2 || sa[0] == 1, bcB = sb.length == 2 || sb[0] == 1;
        for (int z = 0; z < batch; z++) {
            int ao = a.o() + (bcA ? 0 : z * m * k), bo = b.o() + (bcB ? 0 : z * k * n), oo = out.o() + z * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++)
                        acc += a.a()[ao + (ta ? p * m + i : i * k + p)] * b.a()[bo + (tb ? j * k + p : p * n + j)];
                    double prev = beta == 0 ? 0 : beta * out.a()[oo + i * n + j];
                    out.a()[oo + i * n + j] = alpha * acc + prev;
                }
        }
    }

    static void conv2d(Buf x, int[] xs, Buf w, int[] ws, Buf bias, Buf out, int[] os, int stride, int pad) {
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = os[2], wo = os[3];
        for (int b = 0; b < nb; b++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double acc = bias == null ? 0 : bias.a()[bias.o() + oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int u = 0; u < k; u++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int v = 0; v < k; v++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    acc += x.a()[x.o() + ((b * c + ic) * h + y) * wd + xx]
                                            * w.a()[w.o() + ((oc * c + ic) * k + u) * k + v];
                                }
                            }
                        out.a()[out.o() + ((b * o + oc) * ho + i) * wo + j] = acc;
                    }
    }

    static void conv2dBackwardInput(Buf gy, int[] gs, Buf w, int[] ws, Buf gx, int[] xs, int stride, int pad) {
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        java.util.Arrays.fill(gx.a(), gx.o(), gx.o() + nb * c * h * wd, 0.0);
        for (int b = 0; b < nb; b++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double g = gy.a()[gy.o() + ((b * o + oc) * ho + i) * wo + j];
                        for (int ic = 0; ic < c; ic++)
                            for (int u = 0; u < k; u++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int v = 0; v < k; v++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    gx.a()[gx.o() + ((b * c + ic) * h + y) * wd + xx] += g * w.a()[w.o() + ((oc * c + ic) * k + u) * k + v];
                                }
                            }
                    }
    }

    static void conv2dBackwardWeight(Buf x, int[] xs, Buf gy, int[] gs, Buf gw, int[] ws, int stride, int pad) {
        int nb = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], k = ws[2], ho = gs[2], wo = gs[3];
        for (int oc = 0; oc < o; oc++)
            for (int ic = 0; ic < c; ic++)
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        double acc = 0;
                        for (int b = 0; b < nb; b++)
                            for (int i = 0; i < ho; i++) {
                                int y = i * stride - pad + u;
                                if (y < 0 || y >= h) continue;
                                for (int j = 0; j < wo; j++) {
                                    int xx = j * stride - pad + v;
                                    if (xx < 0 || xx >= wd) continue;
                                    acc += x.a()[x.o() + ((b * c + ic) * h + y) * wd + xx] * gy.a()[gy.o() + ((b * o + oc) * ho + i) * wo + j];
                                }
                            }
                        gw.a()[gw.o() + ((oc * c + ic) * k + u) * k + v] = acc;
                    }
    }

    // ---------------------------------------------------------------- normalisation, attention
    static void groupNorm(Buf x, int[] xs, Buf gamma, Buf beta, int groups, double eps, boolean silu,
                          Buf out, Buf mean, Buf rstd) {
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / ((long) nb * c)), cg = c / groups;
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw, cnt = cg * hw;
                double mu = 0;
                for (int e = 0; e < cnt; e++) mu += x.a()[x.o() + base + e];
                mu /= cnt;
                double var = 0;
                for (int e = 0; e < cnt; e++) { double d = x.a()[x.o() + base + e] - mu; var += d * d; }
                var /= cnt;
                double rs = 1.0 / Math.sqrt(var + eps);
                mean.a()[mean.o() + b * groups + g] = mu;
                rstd.a()[rstd.o() + b * groups + g] = rs;
                for (int e = 0; e < cnt; e++) {
                    int ch = g * cg + e / hw;
                    double y = (x.a()[x.o() + base + e] - mu) * rs * gamma.a()[gamma.o() + ch] + beta.a()[beta.o() + ch];
                    out.a()[out.o() + base + e] = silu ? y / (1.0 + Math.exp(-y)) : y;
                }
            }
    }

    static void groupNormBackward(Buf x, int[] xs, Buf gamma, Buf beta, Buf mean, Buf rstd, int groups, boolean silu,
                                  Buf gy, Buf gx, Buf ggamma, Buf gbeta) {
        int nb = xs[0], c = xs[1], hw = (int) (Shapes.numel(xs) / ((long) nb * c)), cg = c / groups;
        java.util.Arrays.fill(ggamma.a(), ggamma.o(), ggamma.o() + c, 0.0);
        java.util.Arrays.fill(gbeta.a(), gbeta.o(), gbeta.o() + c, 0.0);
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw, cnt = cg * hw;
                double mu = mean.a()[mean.o() + b * groups + g], rs = rstd.a()[rstd.o() + b * groups + g];
                double[] dxhat = new double[cnt], xhat = new double[cnt];
                double s1 = 0, s2 = 0;
                for (int e = 0; e < cnt; e++) {
                    int ch = g * cg + e / hw;
                    double gm = gamma.a()[gamma.o() + ch];
                    xhat[e] = (x.a()[x.o() + base + e] - mu) * rs;
                    double d = gy.a()[gy.o() + base + e];
                    if (silu) d *= derivative(Ops.Unary.SILU, xhat[e] * gm + beta.a()[beta.o() + ch], 0);
                    ggamma.a()[ggamma.o() + ch] += d * xhat[e];
                    gbeta.a()[gbeta.o() + ch] += d;
                    dxhat[e] = d * gm;
                    s1 += dxhat[e];
                    s2 += dxhat[e] * xhat[e];
                }
                s1 /= cnt;
                s2 /= cnt;
                for (int e = 0; e < cnt; e++) gx.a()[gx.o() + base + e] = rs * (dxhat[e] - s1 - xhat[e] * s2);
            }
    }

    static void softmax(Buf x, Buf out, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int b = r * n;
            double m = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < n; k++) m = Math.max(m, x.a()[x.o() + b + k]);
            double s = 0;
            for (int k = 0; k < n; k++) s += (out.a()[out.o() + b + k] = Math.exp(x.a()[x.o() + b + k] - m));
            for (int k = 0; k < n; k++) out.a()[out.o() + b + k] /= s;
        }
    }

    static void softmaxBackward(Buf y, Buf gy, Buf gx, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int b = r * n;
            double dot = 0;
            for (int k = 0; k < n; k++) dot += gy.a()[gy.o() + b + k] * y.a()[y.o() + b + k];
            for (int k = 0; k < n; k++) gx.a()[gx.o() + b + k] = y.a()[y.o() + b + k] * (gy.a()[gy.o() + b + k] - dot);
        }
    }

    static void attention(Buf q, Buf k, Buf v, int nb, int l, int s, int d, int dv, double scale, Buf out, Buf lse) {
        double[] p = new double[s];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                double m = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) {
                    double acc = 0;
                    for (int e = 0; e < d; e++) acc += q.a()[q.o() + (b * l + i) * d + e] * k.a()[k.o() + (b * s + j) * d + e];
                    p[j] = acc * scale;
                    m = Math.max(m, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < s; j++) sum += (p[j] = Math.exp(p[j] - m));
                for (int e = 0; e < dv; e++) {
                    double acc = 0;
                    for (int j = 0; j < s; j++) acc += p[j] * v.a()[v.o() + (b * s + j) * dv + e];
                    out.a()[out.o() + (b * l + i) * dv + e] = acc / sum;
                }
                lse.a()[lse.o() + b * l + i] = m + Math.log(sum);
            }
    }

    static void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf lse, Buf go, int nb, int l, int s, int d, int dv,
                                  double scale, Buf gq, Buf gk, Buf gv) {
        java.util.Arrays.fill(gk.a(), gk.o(), gk.o() + nb * s * d, 0.0);
        java.util.Arrays.fill(gv.a(), gv.o(), gv.o() + nb * s * dv, 0.0);
        double[] p = new double[s], dp = new double[s];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < l; i++) {
                int qi = q.o() + (b * l + i) * d, oi = (b * l + i) * dv;
                double rowDot = 0;   // D_i = dO_i · O_i = Σ_j P_ij dP_ij
                for (int e = 0; e < dv; e++) rowDot += go.a()[go.o() + oi + e] * out.a()[out.o() + oi + e];
                for (int j = 0; j < s; j++) {
                    double acc = 0;
                    for (int e = 0; e < d; e++) acc += q.a()[qi + e] * k.a()[k.o() + (b * s + j) * d + e];
                    p[j] = Math.exp(acc * scale - lse.a()[lse.o() + b * l + i]);
                    double g = 0;
                    for (int e = 0; e < dv; e++) g += go.a()[go.o() + oi + e] * v.a()[v.o() + (b * s + j) * dv + e];
                    dp[j] = g;
                    for (int e = 0; e < dv; e++) gv.a()[gv.o() + (b * s + j) * dv + e] += p[j] * go.a()[go.o() + oi + e];
                }
                for (int e = 0; e < d; e++) gq.a()[gq.o() + (b * l + i) * d + e] = 0;
                for (int j = 0; j < s; j++) {
                    double ds = p[j] * (dp[j] - rowDot) * scale;
                    for (int e = 0; e < d; e++) {
                        gq.a()[gq.o() + (b * l + i) * d + e] += ds * k.a()[k.o() + (b * s + j) * d + e];
                        gk.a()[gk.o() + (b * s + j) * d + e] += ds * q.a()[qi + e];
                    }
                }
            }
    }

    // ---------------------------------------------------------------- resampling, indexing
    static void upsample2x(Buf x, int planes, int h, int w, Buf out) {
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < 2 * h; i++)
                for (int j = 0; j < 2 * w; j++)
                    out.a()[out.o() + (p * 2 * h + i) * 2 * w + j] = x.a()[x.o() + (p * h + i / 2) * w + j / 2];
    }

    static void upsample2xBackward(Buf gy, int planes, int h, int w, Buf gx) {
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    int r = (p * 2 * h + 2 * i) * 2 * w + 2 * j;
                    gx.a()[gx.o() + (p * h + i) * w + j] = gy.a()[gy.o() + r] + gy.a()[gy.o() + r + 1]
                            + gy.a()[gy.o() + r + 2 * w] + gy.a()[gy.o() + r + 2 * w + 1];
                }
    }

    private static void checkIndex(int i, int rows, String op) {
        if (i < 0 || i >= rows) throw new IndexOutOfBoundsException(op + ": index " + i + " out of range [0, " + rows + ")");
    }

    static void gather(Buf table, int rows, int row, int[] idx, Buf out) {
        for (int b = 0; b < idx.length; b++) {
            checkIndex(idx[b], rows, "gather");
            System.arraycopy(table.a(), table.o() + idx[b] * row, out.a(), out.o() + b * row, row);
        }
    }

    static void scatterAdd(Buf g, int[] idx, int rows, int row, Buf table) {
        for (int b = 0; b < idx.length; b++) {
            checkIndex(idx[b], rows, "scatterAdd");
            for (int e = 0; e < row; e++) table.a()[table.o() + idx[b] * row + e] += g.a()[g.o() + b * row + e];
        }
    }

    // ---------------------------------------------------------------- diffusion, fused
    private static double coef(Buf table, int[] t, int b, String op) {
        int n = table.a().length - table.o();
        if (t[b] < 0 || t[b] >= n) throw new IndexOutOfBoundsException(op + ": timestep " + t[b] + " of sample " + b + " out of range");
        return table.a()[table.o() + t[b]];
    }

    static void qSample(Buf x0, Buf eps, int[] t, Buf a, Buf s, int per, Buf out) {
        for (int b = 0; b < t.length; b++) {
            double ca = coef(a, t, b, "qSample"), cs = coef(s, t, b, "qSample");
            for (int e = b * per; e < (b + 1) * per; e++)
                out.a()[out.o() + e] = ca * x0.a()[x0.o() + e] + cs * eps.a()[eps.o() + e];
        }
    }

    static void posteriorStep(Buf xt, Buf eps, Buf z, int[] t, Buf c1, Buf c2, Buf sigma, int per, Buf out) {
        for (int b = 0; b < t.length; b++) {
            double k1 = coef(c1, t, b, "posteriorStep"), k2 = coef(c2, t, b, "posteriorStep"), sg = coef(sigma, t, b, "posteriorStep");
            for (int e = b * per; e < (b + 1) * per; e++) {
                double noise = z == null ? 0 : sg * z.a()[z.o() + e];
                out.a()[out.o() + e] = k1 * (xt.a()[xt.o() + e] - k2 * eps.a()[eps.o() + e]) + noise;
            }
        }
    }

    static void ddimStep(Buf xt, Buf eps, Buf z, int[] idx, Buf coefs, double clip, int per, Buf out) {
        int rows = (coefs.a().length - coefs.o()) / 5;
        for (int b = 0; b < idx.length; b++) {
            checkIndex(idx[b], rows, "ddimStep");
            int r = coefs.o() + idx[b] * 5;
            double sa = coefs.a()[r], s1a = coefs.a()[r + 1], sap = coefs.a()[r + 2], dir = coefs.a()[r + 3], sg = coefs.a()[r + 4];
            for (int e = b * per; e < (b + 1) * per; e++) {
                double x = xt.a()[xt.o() + e], ep = eps.a()[eps.o() + e];
                double x0 = (x - s1a * ep) / sa;
                if (clip > 0) {
                    x0 = Math.min(Math.max(x0, -clip), clip);
                    ep = (x - sa * x0) / s1a;   // the ε that the clipped x̂0 implies
                }
                double noise = z == null ? 0 : sg * z.a()[z.o() + e];
                out.a()[out.o() + e] = sap * x0 + dir * ep + noise;
            }
        }
    }

    // ---------------------------------------------------------------- optimisers
    static void adam(Buf p, Buf g, Buf m, Buf v, int n, double lr, double b1, double b2, double eps, double wd,
                     boolean decoupled, long step, double gradScale) {
        double c1 = 1 - Math.pow(b1, step), c2 = 1 - Math.pow(b2, step);
        for (int k = 0; k < n; k++) {
            double pk = p.a()[p.o() + k], gk = g.a()[g.o() + k] * gradScale;
            if (!decoupled && wd != 0) gk += wd * pk;
            double mk = m.a()[m.o() + k] = b1 * m.a()[m.o() + k] + (1 - b1) * gk;
            double vk = v.a()[v.o() + k] = b2 * v.a()[v.o() + k] + (1 - b2) * gk * gk;
            double upd = lr * (mk / c1) / (Math.sqrt(vk / c2) + eps);
            if (decoupled && wd != 0) upd += lr * wd * pk;
            p.a()[p.o() + k] = pk - upd;
        }
    }
}
