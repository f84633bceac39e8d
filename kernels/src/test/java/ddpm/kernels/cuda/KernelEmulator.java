package ddpm.kernels.cuda;

import java.util.List;
import java.util.function.IntConsumer;

/**
 * Executes recorded dry-run calls on the dry run's host memory: a line-by-line Java port of every
 * kernel in src/main/cuda (and of cuBLAS sgemm in column-major terms), run over the grid and block
 * the launcher chose. Block-cooperative kernels (reduce, softmax, group norm, attention) are run
 * thread by thread, phase by phase between __syncthreads, with warp shuffles emulated lane by lane;
 * grid-stride kernels run every thread's loop. KEEP IN SYNC with the .cu files: a port that
 * differs from its kernel hides bugs instead of finding them.
 */
final class KernelEmulator {
    private final DryRun run;

    KernelEmulator(DryRun run) { this.run = run; }

    // ------------------------------------------------------------------ memory
    /** A device pointer into a block's host words. */
    final class P {
        final int[] w;
        final int o;
        P(long address) {
            int[] idx = {0};
            w = run.wordsAt(address, idx);
            o = idx[0];
        }
        float f(long i) { return Float.intBitsToFloat(w[Math.toIntExact(o + i)]); }
        void f(long i, float v) { w[Math.toIntExact(o + i)] = Float.floatToRawIntBits(v); }
        int i(long i) { return w[Math.toIntExact(o + i)]; }
    }

    P p(List<Args.Arg> a, int k) { long v = a.get(k).bits(); return v == 0 ? null : new P(v); }

    static int i(List<Args.Arg> a, int k) { return (int) a.get(k).bits(); }

    static long l(List<Args.Arg> a, int k) { return a.get(k).bits(); }

    static float f(List<Args.Arg> a, int k) { return (float) a.get(k).value(); }

    static double d(List<Args.Arg> a, int k) { return a.get(k).value(); }

    static int[] dims(List<Args.Arg> a, int k) { return a.get(k).dims(); }

    // ------------------------------------------------------------------ launch geometry
    private DryRun.Call c;

    int gx() { return c.grid[0]; }
    int gy() { return c.grid[1]; }
    int bx() { return c.block[0]; }
    int by() { return c.block[1]; }

    /** GRID_STRIDE(i, n): every thread of the 1-D grid runs its loop. */
    void gridStride(int n, IntConsumer body) {
        int threads = gx() * bx();
        for (int tid = 0; tid < threads; tid++)
            for (int i = tid; i < n; i += threads) body.accept(i);
    }

    // ------------------------------------------------------------------ warp / block helpers (common.cuh)
    static float[] warpSum(float[] v) {
        for (int o = 16; o > 0; o >>= 1) {
            float[] n = new float[32];
            for (int l = 0; l < 32; l++) n[l] = v[l] + v[l ^ o];
            v = n;
        }
        return v;
    }

    static float fmaxf(float a, float b) { return Float.isNaN(a) ? b : Float.isNaN(b) ? a : Math.max(a, b); }

    static float fminf(float a, float b) { return Float.isNaN(a) ? b : Float.isNaN(b) ? a : Math.min(a, b); }

    static float[] warpMax(float[] v) {
        for (int o = 16; o > 0; o >>= 1) {
            float[] n = new float[32];
            for (int l = 0; l < 32; l++) n[l] = fmaxf(v[l], v[l ^ o]);
            v = n;
        }
        return v;
    }

    static float[] warpMin(float[] v) {
        for (int o = 16; o > 0; o >>= 1) {
            float[] n = new float[32];
            for (int l = 0; l < 32; l++) n[l] = fminf(v[l], v[l ^ o]);
            v = n;
        }
        return v;
    }

    /** block_sum over per-thread values v[blockDim.x]; returns what every thread gets. */
    static float[] blockSum(float[] v, float[] scratch) {
        int nt = v.length, nw = nt >> 5;
        float[] res = new float[nt];
        for (int w = 0; w < nw; w++) {
            float[] lanes = new float[32];
            System.arraycopy(v, w * 32, lanes, 0, 32);
            scratch[w] = warpSum(lanes)[0];           // lane 0 writes scratch[warp]
        }
        // __syncthreads
        for (int w = 0; w < nw; w++) {
            float[] t = new float[32];
            for (int l = 0; l < 32; l++) t[l] = l < nw ? scratch[l] : 0f;
            float[] s = warpSum(t);
            System.arraycopy(s, 0, res, w * 32, 32);
        }
        return res;
    }

    static float sigmoidAcc(float x) { return 1f / (1f + (float) Math.exp(-x)); }

    static float expf(float x) { return (float) Math.exp(x); }

    // ------------------------------------------------------------------ dispatch
    void execute(DryRun.Call call) {
        c = call;
        switch (call.kind) {
            case LAUNCH -> launch(call);
            case GEMM -> sgemm(call);
            default -> { }   // memset/copy are applied by the dry backend itself
        }
    }

    private void launch(DryRun.Call call) {
        List<Args.Arg> a = call.args;
        switch (call.kernel) {
            // elementwise.cu
            case "unary_fwd" -> { int op = i(a, 0); P x = p(a, 1), o = p(a, 2); gridStride(i(a, 3), k -> o.f(k, unaryF(op, x.f(k)))); }
            case "unary_bwd" -> {
                int op = i(a, 0); P x = p(a, 1), y = p(a, 2), gy = p(a, 3), gx = p(a, 4);
                gridStride(i(a, 5), k -> gx.f(k, unaryB(op, x.f(k), y.f(k), gy.f(k))));
            }
            case "binary_flat" -> { int op = i(a, 0); P x = p(a, 1), y = p(a, 2), o = p(a, 3); gridStride(i(a, 4), k -> o.f(k, binaryF(op, x.f(k), y.f(k)))); }
            case "binary_scalar" -> {
                int op = i(a, 0); P x = p(a, 1), y = p(a, 2), o = p(a, 3);
                if (i(a, 5) != 0) { float s = x.f(0); gridStride(i(a, 4), k -> o.f(k, binaryF(op, s, y.f(k)))); }
                else { float s = y.f(0); gridStride(i(a, 4), k -> o.f(k, binaryF(op, x.f(k), s))); }
            }
            case "binary_bcast" -> {
                int op = i(a, 0); P x = p(a, 1), y = p(a, 2), o = p(a, 3); int rank = i(a, 5);
                int[] dm = dims(a, 6), sa = dims(a, 7), sb = dims(a, 8);
                gridStride(i(a, 4), k -> {
                    int rem = k, ia = 0, ib = 0;
                    for (int dd = 7; dd >= 0; dd--) {
                        if (dd >= rank) continue;
                        int cc = rem % dm[dd];
                        rem /= dm[dd];
                        ia += cc * sa[dd];
                        ib += cc * sb[dd];
                    }
                    o.f(k, binaryF(op, x.f(ia), y.f(ib)));
                });
            }
            case "where_bcast" -> {
                P cond = p(a, 0); int condInt = i(a, 1); P x = p(a, 2), y = p(a, 3), o = p(a, 4); int rank = i(a, 6);
                int[] dm = dims(a, 7), sc = dims(a, 8), sa = dims(a, 9), sb = dims(a, 10);
                gridStride(i(a, 5), k -> {
                    int rem = k, ic = 0, ia = 0, ib = 0;
                    for (int dd = 7; dd >= 0; dd--) {
                        if (dd >= rank) continue;
                        int cc = rem % dm[dd];
                        rem /= dm[dd];
                        ic += cc * sc[dd];
                        ia += cc * sa[dd];
                        ib += cc * sb[dd];
                    }
                    boolean t = condInt != 0 ? cond.i(ic) != 0 : cond.f(ic) != 0f;
                    o.f(k, t ? x.f(ia) : y.f(ib));
                });
            }
            case "affine" -> { P x = p(a, 0), o = p(a, 3); float s = f(a, 1), sh = f(a, 2); gridStride(i(a, 4), k -> o.f(k, Math.fma(x.f(k), s, sh))); }
            case "pow_scalar" -> {
                P x = p(a, 0), o = p(a, 2); float pw = f(a, 1);
                gridStride(i(a, 3), k -> o.f(k, pw == 2f ? x.f(k) * x.f(k) : pw == 1f ? x.f(k) : pw == 0.5f ? (float) Math.sqrt(x.f(k))
                        : (float) Math.pow(x.f(k), pw)));
            }
            case "clamp_k" -> {
                P x = p(a, 0), o = p(a, 3); float lo = f(a, 1), hi = f(a, 2);
                gridStride(i(a, 4), k -> { float v = x.f(k); o.f(k, v != v ? v : fminf(fmaxf(v, lo), hi)); });
            }
            case "cast_f32_i32" -> { P x = p(a, 0), o = p(a, 1); gridStride(i(a, 2), k -> { float v = x.f(k); o.w[o.o + k] = v != v ? 0 : (int) v; }); }
            case "cast_i32_f32" -> { P x = p(a, 0), o = p(a, 1); gridStride(i(a, 2), k -> o.f(k, (float) x.i(k))); }
            // reduce.cu
            case "reduce_rows" -> reduceRows(a);
            case "reduce_rows_warp" -> reduceRowsWarp(a);
            case "reduce_cols" -> reduceCols(a);
            // softmax.cu
            case "softmax_fwd", "softmax_bwd" -> softmax(call.kernel.equals("softmax_fwd"), a);
            // layout.cu
            case "permute_k" -> {
                P x = p(a, 0), o = p(a, 1); int rank = i(a, 3); int[] od = dims(a, 4), st = dims(a, 5);
                gridStride(i(a, 2), k -> {
                    int rem = k, src = 0;
                    for (int dd = 7; dd >= 0; dd--) {
                        if (dd >= rank) continue;
                        int cc = rem % od[dd];
                        rem /= od[dd];
                        src += cc * st[dd];
                    }
                    o.f(k, x.f(src));
                });
            }
            case "slice_copy" -> {
                P src = p(a, 0), dst = p(a, 1); int sliceLen = i(a, 3), bigLen = i(a, 4), inner = i(a, 5), start = i(a, 6), dir = i(a, 7);
                gridStride(i(a, 2), k -> {
                    int j = k % inner, t = k / inner, aa = t % sliceLen, o = t / sliceLen;
                    long big = ((long) o * bigLen + start + aa) * inner + j;
                    if (dir == 0) dst.f(big, src.f(k)); else dst.f(k, src.f(big));
                });
            }
            // upsample.cu
            case "upsample2x_fwd" -> {
                P x = p(a, 0), out = p(a, 1); int planes = i(a, 2), H = i(a, 3), W = i(a, 4);
                gridStride(planes * H * W, k -> {
                    int w = k % W, t = k / W, h = t % H, pl = t / H;
                    float v = x.f(k);
                    long o = ((long) pl * 2 * H + 2 * h) * (2L * W) + 2L * w;
                    out.f(o, v); out.f(o + 1, v); out.f(o + 2L * W, v); out.f(o + 2L * W + 1, v);
                });
            }
            case "upsample2x_bwd" -> {
                P gy = p(a, 0), gx = p(a, 1); int planes = i(a, 2), H = i(a, 3), W = i(a, 4);
                gridStride(planes * H * W, k -> {
                    int w = k % W, t = k / W, h = t % H, pl = t / H;
                    long g = ((long) pl * 2 * H + 2 * h) * (2L * W) + 2L * w;
                    gx.f(k, (gy.f(g) + gy.f(g + 1)) + (gy.f(g + 2L * W) + gy.f(g + 2L * W + 1)));
                });
            }
            // gather.cu
            case "gather_rows" -> {
                P table = p(a, 0), index = p(a, 1), out = p(a, 2); int B = i(a, 3), inner = i(a, 4), T = i(a, 5);
                gridStride(B * inner, k -> {
                    int b = k / inner, j = k - b * inner, r = index.i(b);
                    out.f(k, r >= 0 && r < T ? table.f((long) r * inner + j) : Float.NaN);
                });
            }
            case "scatter_add_rows" -> {
                P gout = p(a, 0), index = p(a, 1), gt = p(a, 2); int B = i(a, 3), inner = i(a, 4), T = i(a, 5);
                gridStride(B * inner, k -> {
                    int b = k / inner, j = k - b * inner, r = index.i(b);
                    if (r >= 0 && r < T) gt.f((long) r * inner + j, gt.f((long) r * inner + j) + gout.f(k));
                });
            }
            // rng.cu
            case "rand_uniform", "rand_normal" -> {
                P out = p(a, 0); int n = i(a, 1); long seed = l(a, 2), off = l(a, 3);
                boolean normal = call.kernel.equals("rand_normal");
                gridStride((n + 3) >> 2, j -> {
                    int[] w = philox(seed, off + j);
                    float[] z = normal ? boxMuller(w) : null;
                    for (int q = 0; q < 4; q++) if (4 * j + q < n) out.f(4 * j + q, normal ? z[q] : (float) uniformD(w[q]));
                });
            }
            case "dropout_mask" -> {
                P out = p(a, 0); int n = i(a, 1); double pr = d(a, 2); float scale = f(a, 3); long seed = l(a, 4), off = l(a, 5);
                gridStride((n + 3) >> 2, j -> {
                    int[] w = philox(seed, off + j);
                    for (int q = 0; q < 4; q++) if (4 * j + q < n) out.f(4 * j + q, uniformD(w[q]) >= pr ? scale : 0f);
                });
            }
            // adam.cu
            case "adam_step" -> {
                P pp = p(a, 0), g = p(a, 1), m = p(a, 2), v = p(a, 3);
                float lr = f(a, 5), b1 = f(a, 6), b2 = f(a, 7), eps = f(a, 8), wd = f(a, 9), bc1 = f(a, 11), bc2 = f(a, 12), gs = f(a, 13);
                boolean dec = i(a, 10) != 0;
                gridStride(i(a, 4), k -> {
                    float pi = pp.f(k), gi = g.f(k) * gs;
                    if (!dec) gi += wd * pi;
                    float mi = b1 * m.f(k) + (1f - b1) * gi, vi = b2 * v.f(k) + (1f - b2) * gi * gi;
                    m.f(k, mi);
                    v.f(k, vi);
                    float upd = (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps);
                    if (dec) upd += wd * pi;
                    pp.f(k, pi - lr * upd);
                });
            }
            case "ema_update" -> {
                P e = p(a, 0), pp = p(a, 1); float decay = f(a, 3), keep = f(a, 4);
                gridStride(i(a, 2), k -> e.f(k, decay * e.f(k) + keep * pp.f(k)));
            }
            // diffusion_step.cu
            case "q_sample" -> {
                P x0 = p(a, 0), eps = p(a, 1), t = p(a, 2), ca = p(a, 3), cs = p(a, 4), out = p(a, 5); int per = i(a, 7);
                gridStride(i(a, 6) * per, k -> { int ti = t.i(k / per); out.f(k, ca.f(ti) * x0.f(k) + cs.f(ti) * eps.f(k)); });
            }
            case "q_sample_noise" -> {
                P x0 = p(a, 0), t = p(a, 1), ca = p(a, 2), cs = p(a, 3), epsOut = p(a, 4), out = p(a, 5);
                int per = i(a, 7), n = i(a, 6) * per; long seed = l(a, 8), off = l(a, 9);
                gridStride((n + 3) >> 2, j -> {
                    float[] z = boxMuller(philox(seed, off + j));
                    for (int q = 0; q < 4; q++) {
                        int k = 4 * j + q;
                        if (k < n) { int ti = t.i(k / per); epsOut.f(k, z[q]); out.f(k, ca.f(ti) * x0.f(k) + cs.f(ti) * z[q]); }
                    }
                });
            }
            case "posterior_step" -> {
                P xt = p(a, 0), eh = p(a, 1), z = p(a, 2), t = p(a, 4), c1 = p(a, 5), c2 = p(a, 6), sg = p(a, 7), out = p(a, 8);
                int hasZ = i(a, 3), per = i(a, 10);
                gridStride(i(a, 9) * per, k -> {
                    int ti = t.i(k / per);
                    float v = c1.f(ti) * (xt.f(k) - c2.f(ti) * eh.f(k));
                    if (hasZ != 0) v += sg.f(ti) * z.f(k);
                    out.f(k, v);
                });
            }
            case "ddim_step" -> {
                P xt = p(a, 0), eh = p(a, 1), z = p(a, 2), idx = p(a, 4), co = p(a, 5), out = p(a, 7);
                int hasZ = i(a, 3), per = i(a, 9); float clip = f(a, 6);
                gridStride(i(a, 8) * per, k -> {
                    int r = 5 * idx.i(k / per);
                    float x = xt.f(k), e = eh.f(k), x0 = (x - co.f(r + 1) * e) / co.f(r);
                    if (clip > 0f) {
                        x0 = fminf(fmaxf(x0, -clip), clip);
                        e = (x - co.f(r) * x0) / co.f(r + 1);
                    }
                    float v = co.f(r + 2) * x0 + co.f(r + 3) * e;
                    if (hasZ != 0) v += co.f(r + 4) * z.f(k);
                    out.f(k, v);
                });
            }
            // group_norm.cu
            case "group_norm_fwd" -> groupNormFwd(a);
            case "group_norm_bwd" -> groupNormBwd(a);
            case "group_norm_param_grad" -> {
                P p1 = p(a, 0), p2 = p(a, 1), gg = p(a, 2), gb = p(a, 3); int N = i(a, 4), C = i(a, 5);
                gridStride(C, ch -> {
                    float s1 = 0f, s2 = 0f;
                    for (int n = 0; n < N; n++) { s1 += p1.f((long) n * C + ch); s2 += p2.f((long) n * C + ch); }
                    gg.f(ch, s1);
                    gb.f(ch, s2);
                });
            }
            // attention.cu
            case "attn_fwd" -> new Attention().fwd(a);
            case "attn_bwd_pre" -> {
                P out = p(a, 0), go = p(a, 1), dv = p(a, 2); int rows = i(a, 3), Dv = i(a, 4);
                int warps = (gx() * bx()) >> 5;
                for (int w0 = 0; w0 < warps; w0++)
                    for (int r = w0; r < rows; r += warps) {
                        float[] s = new float[32];
                        for (int lane = 0; lane < 32; lane++)
                            for (int cc = lane; cc < Dv; cc += 32) s[lane] += go.f((long) r * Dv + cc) * out.f((long) r * Dv + cc);
                        dv.f(r, warpSum(s)[0]);
                    }
            }
            case "attn_bwd_dq" -> new Attention().dq(a);
            case "attn_bwd_dkv" -> new Attention().dkv(a);
            // conv.cu
            case "im2col" -> {
                P x = p(a, 0), col = p(a, 1);
                int nb = i(a, 2), C = i(a, 3), H = i(a, 4), W = i(a, 5), k = i(a, 6), s = i(a, 7), pad = i(a, 8), Ho = i(a, 9), Wo = i(a, 10);
                long sN = l(a, 11), sK = l(a, 12);
                int P = Ho * Wo;
                gridStride(nb * C * k * k * P, q -> {
                    int pp = q % P, t = q / P, kk = t % (k * k);
                    t /= k * k;
                    int ch = t % C, img = t / C, oh = pp / Wo, ow = pp - oh * Wo, kh = kk / k, kw = kk - kh * k;
                    int h = oh * s - pad + kh, w = ow * s - pad + kw;
                    float v = h >= 0 && h < H && w >= 0 && w < W ? x.f((((long) img * C + ch) * H + h) * W + w) : 0f;
                    col.f(img * sN + (long) (ch * k * k + kk) * sK + pp, v);
                });
            }
            case "col2im" -> {
                P gcol = p(a, 0), gx = p(a, 1);
                int nb = i(a, 2), C = i(a, 3), H = i(a, 4), W = i(a, 5), k = i(a, 6), s = i(a, 7), pad = i(a, 8), Ho = i(a, 9), Wo = i(a, 10);
                int P = Ho * Wo;
                gridStride(nb * C * H * W, q -> {
                    int w = q % W, t = q / W, h = t % H;
                    t /= H;
                    int ch = t % C, img = t / C;
                    long g = ((long) img * C * k * k + (long) ch * k * k) * P;
                    float sum = 0f;
                    for (int kh = 0; kh < k; kh++) {
                        int hn = h + pad - kh;
                        if (hn < 0 || hn % s != 0) continue;
                        int oh = hn / s;
                        if (oh >= Ho) continue;
                        for (int kw = 0; kw < k; kw++) {
                            int wn = w + pad - kw;
                            if (wn < 0 || wn % s != 0) continue;
                            int ow = wn / s;
                            if (ow >= Wo) continue;
                            sum += gcol.f(g + (long) (kh * k + kw) * P + oh * Wo + ow);
                        }
                    }
                    gx.f(q, sum);
                });
            }
            case "bias_fill" -> { P out = p(a, 0), bias = p(a, 1); int O = i(a, 3), P = i(a, 4); gridStride(i(a, 2), q -> out.f(q, bias.f((q / P) % O))); }
            case "nop_to_onp" -> {
                P in = p(a, 0), out = p(a, 1); int nb = i(a, 2), O = i(a, 3), P = i(a, 4);
                gridStride(nb * O * P, q -> {
                    int pp = q % P, t = q / P, o = t % O, img = t / O;
                    out.f(((long) o * nb + img) * P + pp, in.f(q));
                });
            }
            default -> throw new IllegalStateException("no emulation for " + call.family + "." + call.kernel);
        }
    }

    // ------------------------------------------------------------------ elementwise ops
    static float unaryF(int op, float x) {
        return switch (op) {
            case 0 -> -x;
            case 1 -> expf(x);
            case 2 -> (float) Math.log(x);
            case 3 -> (float) Math.sqrt(x);
            case 4 -> 1f / (float) Math.sqrt(x);
            case 5 -> x * x;
            case 6 -> Math.abs(x);
            case 7 -> x * sigmoidAcc(x);
            case 8 -> sigmoidAcc(x);
            case 9 -> (float) Math.tanh(x);
            case 10 -> x > 0f ? x : 0f;
            case 11 -> (float) Math.sin(x);
            case 12 -> (float) Math.cos(x);
            default -> Float.NaN;
        };
    }

    static float unaryB(int op, float x, float y, float gy) {
        return switch (op) {
            case 0 -> -gy;
            case 1 -> gy * y;
            case 2 -> gy / x;
            case 3 -> gy * 0.5f / y;
            case 4 -> gy * -0.5f * y * y * y;
            case 5 -> gy * 2f * x;
            case 6 -> x > 0f ? gy : (x < 0f ? -gy : 0f);
            case 7 -> { float s = sigmoidAcc(x); yield gy * s * (1f + x * (1f - s)); }
            case 8 -> gy * y * (1f - y);
            case 9 -> gy * (1f - y * y);
            case 10 -> x > 0f ? gy : 0f;
            case 11 -> gy * (float) Math.cos(x);
            case 12 -> -gy * (float) Math.sin(x);
            default -> Float.NaN;
        };
    }

    static float binaryF(int op, float a, float b) {
        return switch (op) {
            case 0 -> a + b;
            case 1 -> a - b;
            case 2 -> a * b;
            case 3 -> a / b;
            case 4 -> (float) Math.pow(a, b);
            case 5 -> (a != a || b != b) ? Float.NaN : fmaxf(a, b);
            case 6 -> (a != a || b != b) ? Float.NaN : fminf(a, b);
            case 7 -> a < b ? 1f : 0f;
            case 8 -> a <= b ? 1f : 0f;
            case 9 -> a > b ? 1f : 0f;
            case 10 -> a >= b ? 1f : 0f;
            case 11 -> a == b ? 1f : 0f;
            default -> Float.NaN;
        };
    }

    // ------------------------------------------------------------------ Philox (common.cuh)
    static int[] philox(long seed, long counter) {
        int c0 = (int) counter, c1 = (int) (counter >>> 32), c2 = 0, c3 = 0, k0 = (int) seed, k1 = (int) (seed >>> 32);
        for (int r = 0; r < 10; r++) {
            if (r > 0) { k0 += 0x9E3779B9; k1 += 0xBB67AE85; }
            long p0 = (0xD2511F53L) * (c0 & 0xFFFFFFFFL), p1 = (0xCD9E8D57L) * (c2 & 0xFFFFFFFFL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0, hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        }
        return new int[]{c0, c1, c2, c3};
    }

    static double uniformD(int u) { return ((double) (u >>> 8) + 0.5) * 0x1p-24; }

    static float[] boxMuller(int[] w) {
        float[] z = new float[4];
        for (int pair = 0; pair < 2; pair++) {
            double r = Math.sqrt(-2.0 * Math.log(uniformD(w[2 * pair])));
            double ang = Math.PI * (2.0 * uniformD(w[2 * pair + 1]));   // sincospi(2u)
            z[2 * pair] = (float) (r * Math.cos(ang));
            z[2 * pair + 1] = (float) (r * Math.sin(ang));
        }
        return z;
    }

    // ------------------------------------------------------------------ reduce.cu
    static float rInit(int op) { return op == 1 ? Float.NEGATIVE_INFINITY : op == 2 ? Float.POSITIVE_INFINITY : 0f; }
    static float rLoad(int op, float v) { return op == 3 ? v * v : v; }
    static float rComb(int op, float a, float b) {
        if (op == 1) return (a != a || b != b) ? Float.NaN : fmaxf(a, b);
        if (op == 2) return (a != a || b != b) ? Float.NaN : fminf(a, b);
        return a + b;
    }

    static float[] rWarp(int op, float[] v) {
        if (op != 1 && op != 2) return warpSum(v);
        for (int o = 16; o > 0; o >>= 1) {
            float[] n = new float[32];
            for (int l = 0; l < 32; l++) n[l] = rComb(op, v[l], v[l ^ o]);
            v = n;
        }
        return v;
    }

    void reduceRows(List<Args.Arg> a) {
        int op = i(a, 0); P x = p(a, 1), out = p(a, 2); int outer = i(a, 3), n = i(a, 4), nt = bx();
        float[] sh = new float[32];
        for (int blk = 0; blk < gx(); blk++)
            for (int row = blk; row < outer; row += gx()) {
                long base = (long) row * n;
                float[] acc = new float[nt];
                for (int t = 0; t < nt; t++) {
                    acc[t] = rInit(op);
                    for (int k = t; k < n; k += nt) acc[t] = rComb(op, acc[t], rLoad(op, x.f(base + k)));
                }
                for (int w = 0; w < nt / 32; w++) {
                    float[] lanes = new float[32];
                    System.arraycopy(acc, 32 * w, lanes, 0, 32);
                    sh[w] = rWarp(op, lanes)[0];
                }
                // __syncthreads; warp 0
                float[] v = new float[32];
                for (int lane = 0; lane < 32; lane++) v[lane] = lane < (nt >> 5) ? sh[lane] : rInit(op);
                out.f(row, rWarp(op, v)[0]);
            }
    }

    void reduceRowsWarp(List<Args.Arg> a) {
        int op = i(a, 0); P x = p(a, 1), out = p(a, 2); int outer = i(a, 3), n = i(a, 4);
        int warps = (gx() * bx()) >> 5;
        for (int w0 = 0; w0 < warps; w0++)
            for (int row = w0; row < outer; row += warps) {
                float[] acc = new float[32];
                for (int lane = 0; lane < 32; lane++) {
                    acc[lane] = rInit(op);
                    for (int k = lane; k < n; k += 32) acc[lane] = rComb(op, acc[lane], rLoad(op, x.f((long) row * n + k)));
                }
                out.f(row, rWarp(op, acc)[0]);
            }
    }

    void reduceCols(List<Args.Arg> a) {
        int op = i(a, 0); P x = p(a, 1), out = p(a, 2); int outer = i(a, 3), n = i(a, 4), inner = i(a, 5);
        if (bx() != 32 || by() != 8) throw new IllegalStateException("reduce_cols assumes block (32, 8)");
        for (int bxi = 0; bxi < gx(); bxi++)
            for (int byi = 0; byi < gy(); byi++)
                for (int o = byi; o < outer; o += gy()) {
                    float[][] sh = new float[8][33];
                    for (int ty = 0; ty < 8; ty++)
                        for (int tx = 0; tx < 32; tx++) {
                            int i = bxi * 32 + tx;
                            float acc = rInit(op);
                            if (i < inner)
                                for (int k = ty; k < n; k += 8) acc = rComb(op, acc, rLoad(op, x.f((long) o * n * inner + i + (long) k * inner)));
                            sh[ty][tx] = acc;
                        }
                    for (int tx = 0; tx < 32; tx++) {
                        int i = bxi * 32 + tx;
                        if (i < inner) {
                            float v = sh[0][tx];
                            for (int y = 1; y < 8; y++) v = rComb(op, v, sh[y][tx]);
                            out.f((long) o * inner + i, v);
                        }
                    }
                }
    }

    // ------------------------------------------------------------------ softmax.cu
    void softmax(boolean fwd, List<Args.Arg> a) {
        P x = p(a, 0), g = fwd ? null : p(a, 1), out = p(a, fwd ? 1 : 2);
        int rows = i(a, fwd ? 2 : 3), n = i(a, fwd ? 3 : 4);
        int warps = (gx() * bx()) >> 5;
        for (int w0 = 0; w0 < warps; w0++)
            for (int r = w0; r < rows; r += warps) {
                long b = (long) r * n;
                if (fwd) {
                    float[] m = new float[32], s = new float[32];
                    for (int lane = 0; lane < 32; lane++) {
                        m[lane] = Float.NEGATIVE_INFINITY;
                        for (int k = lane; k < n; k += 32) m[lane] = fmaxf(m[lane], x.f(b + k));
                    }
                    float mm = warpMax(m)[0];
                    for (int lane = 0; lane < 32; lane++) for (int k = lane; k < n; k += 32) s[lane] += expf(x.f(b + k) - mm);
                    float inv = 1f / warpSum(s)[0];
                    for (int k = 0; k < n; k++) out.f(b + k, expf(x.f(b + k) - mm) * inv);
                } else {
                    float[] dd = new float[32];
                    for (int lane = 0; lane < 32; lane++) for (int k = lane; k < n; k += 32) dd[lane] += g.f(b + k) * x.f(b + k);
                    float dot = warpSum(dd)[0];
                    for (int k = 0; k < n; k++) out.f(b + k, x.f(b + k) * (g.f(b + k) - dot));
                }
            }
    }

    // ------------------------------------------------------------------ group_norm.cu
    static float siluGrad(float y) { float s = sigmoidAcc(y); return s * (1f + y * (1f - s)); }

    void groupNormFwd(List<Args.Arg> a) {
        P x = p(a, 0), gamma = p(a, 1), beta = p(a, 2), out = p(a, 3), meanOut = p(a, 4), rstdOut = p(a, 5);
        int C = i(a, 6), HW = i(a, 7), G = i(a, 8), silu = i(a, 10); float eps = f(a, 9);
        int nt = bx();
        float[] scratch = new float[32];
        for (int ng = 0; ng < gx(); ng++) {
            int g = ng % G, Cg = C / G, M = Cg * HW;
            long base = (long) ng * M;
            float[] s = new float[nt];
            for (int t = 0; t < nt; t++) for (int k = t; k < M; k += nt) s[t] += x.f(base + k);
            float mean = blockSum(s, scratch)[0] / M;
            float[] q = new float[nt];
            for (int t = 0; t < nt; t++) for (int k = t; k < M; k += nt) { float dd = x.f(base + k) - mean; q[t] += dd * dd; }
            float var = blockSum(q, scratch)[0] / M;
            float rstd = 1f / (float) Math.sqrt(var + eps);
            meanOut.f(ng, mean);
            rstdOut.f(ng, rstd);
            for (int k = 0; k < M; k++) {
                int ch = g * Cg + k / HW;
                float y = (x.f(base + k) - mean) * rstd * gamma.f(ch) + beta.f(ch);
                if (silu != 0) y = y * sigmoidAcc(y);
                out.f(base + k, y);
            }
        }
    }

    void groupNormBwd(List<Args.Arg> a) {
        P x = p(a, 0), gamma = p(a, 1), beta = p(a, 2), meanIn = p(a, 3), rstdIn = p(a, 4), gy = p(a, 5), gx = p(a, 6),
                p1 = p(a, 7), p2 = p(a, 8);
        int C = i(a, 9), HW = i(a, 10), G = i(a, 11), silu = i(a, 12);
        int nt = bx(), nw = nt >> 5;
        for (int ng = 0; ng < gx(); ng++) {
            int g = ng % G, n = ng / G, Cg = C / G, M = Cg * HW;
            long base = (long) ng * M;
            float mean = meanIn.f(ng), rstd = rstdIn.f(ng);
            float[] accA = new float[32], accB = new float[32];
            for (int warp = 0; warp < nw; warp++) {
                float aa = 0f, bb = 0f;
                for (int cl = warp; cl < Cg; cl += nw) {
                    int ch = g * Cg + cl;
                    float gm = gamma.f(ch), bt = beta.f(ch);
                    float[] s1 = new float[32], s2 = new float[32];
                    for (int lane = 0; lane < 32; lane++)
                        for (int h = lane; h < HW; h += 32) {
                            int k = cl * HW + h;
                            float xh = (x.f(base + k) - mean) * rstd, gv = gy.f(base + k);
                            if (silu != 0) gv *= siluGrad(xh * gm + bt);
                            s1[lane] += gv * xh;
                            s2[lane] += gv;
                        }
                    float t1 = warpSum(s1)[0], t2 = warpSum(s2)[0];
                    p1.f((long) n * C + ch, t1);
                    p2.f((long) n * C + ch, t2);
                    aa += gm * t1;
                    bb += gm * t2;
                }
                accA[warp] = aa;
                accB[warp] = bb;
            }
            float ta = 0f, tb = 0f;
            for (int w = 0; w < nw; w++) { ta += accA[w]; tb += accB[w]; }
            float A = ta / M, Bs = tb / M;
            for (int k = 0; k < M; k++) {
                int ch = g * Cg + k / HW;
                float gm = gamma.f(ch), xh = (x.f(base + k) - mean) * rstd, gv = gy.f(base + k);
                if (silu != 0) gv *= siluGrad(xh * gm + beta.f(ch));
                gx.f(base + k, rstd * (gv * gm - Bs - xh * A));
            }
        }
    }

    // ------------------------------------------------------------------ attention.cu
    static final int BR = 16, BC = 32, CH = 64, NT = 128;

    /** One block's emulation; shared memory is a float[] of the launch's dynamic size. */
    final class Attention {
        float[] sm;

        void shared() {
            if (bx() != NT) throw new IllegalStateException("attention kernels assume " + NT + " threads");
            sm = new float[c.shared / 4];
            java.util.Arrays.fill(sm, Float.NaN);   // uninitialised shared memory
        }

        /** tile_dot: S[r][j] = scale·Σ_d R[r][d]·G[j][d]; R at sm offset r, G global rows of length Dr. */
        void tileDot(int R, int Dr, P G, long g0, int nc, int buf, int S, float scale) {
            float[][] acc = new float[NT][4];
            for (int d0 = 0; d0 < Dr; d0 += CH) {
                int dc = Math.min(CH, Dr - d0);
                for (int t = 0; t < NT; t++)
                    for (int e = t; e < BC * CH; e += NT) {
                        int jj = e / CH, dd = e % CH;
                        sm[buf + jj * (CH + 1) + dd] = jj < nc && dd < dc ? G.f(g0 + (long) jj * Dr + d0 + dd) : 0f;
                    }
                // __syncthreads
                for (int t = 0; t < NT; t++) {
                    int j = t & 31, r0 = t >> 5;
                    for (int dd = 0; dd < dc; dd++) {
                        float kv = sm[buf + j * (CH + 1) + dd];
                        for (int i = 0; i < 4; i++) acc[t][i] = Math.fma(sm[R + (r0 + 4 * i) * Dr + d0 + dd], kv, acc[t][i]);
                    }
                }
                // __syncthreads
            }
            for (int t = 0; t < NT; t++) {
                int j = t & 31, r0 = t >> 5;
                for (int i = 0; i < 4; i++) sm[S + (r0 + 4 * i) * BC + j] = acc[t][i] * scale;
            }
        }

        /** tile_accum: Acc[r][c] = Acc[r][c]·rowScale[r] + Σ_{j<nc} P[r][j]·G[j][c]. rowScale < 0: none. */
        void tileAccum(int Acc, int Dx, int Pm, P G, long g0, int nc, int buf, int rowScale) {
            for (int d0 = 0; d0 < Dx; d0 += CH) {
                int dc = Math.min(CH, Dx - d0);
                for (int t = 0; t < NT; t++)
                    for (int e = t; e < BC * CH; e += NT) {
                        int jj = e / CH, dd = e % CH;
                        sm[buf + jj * (CH + 1) + dd] = jj < nc && dd < dc ? G.f(g0 + (long) jj * Dx + d0 + dd) : 0f;
                    }
                // __syncthreads
                for (int t = 0; t < NT; t++)
                    for (int e = t; e < BR * CH; e += NT) {
                        int r = e / CH, cc = e % CH;
                        if (cc < dc) {
                            float v = sm[Acc + r * Dx + d0 + cc];
                            if (rowScale >= 0) v *= sm[rowScale + r];
                            for (int j = 0; j < nc; j++) v = Math.fma(sm[Pm + r * BC + j], sm[buf + j * (CH + 1) + cc], v);
                            sm[Acc + r * Dx + d0 + cc] = v;
                        }
                    }
                // __syncthreads
            }
        }

        void loadRows(int dst, P src, long s0, int row0, int rows, int D) {
            for (int e = 0; e < BR * D; e++) {
                int r = e / D;
                sm[dst + e] = row0 + r < rows ? src.f(s0 + (long) row0 * D + e) : 0f;
            }
        }

        void zeroRows(int dst, int D) { for (int e = 0; e < BR * D; e++) sm[dst + e] = 0f; }

        void fwd(List<Args.Arg> a) {
            P q = p(a, 0), k = p(a, 1), v = p(a, 2), out = p(a, 3), lse = p(a, 4);
            int L = i(a, 5), S = i(a, 6), D = i(a, 7), Dv = i(a, 8); float scale = f(a, 9);
            for (int b = 0; b < gy(); b++)
                for (int bxi = 0; bxi < gx(); bxi++) {
                    shared();
                    int Qs = 0, Os = Qs + BR * D, buf = Os + BR * Dv, Sm = buf + BC * (CH + 1), mrow = Sm + BR * BC, lrow = mrow + BR,
                            alpha = lrow + BR;
                    if (alpha + BR > sm.length) throw new IllegalStateException("attn_fwd: shared memory too small");
                    int i0 = bxi * BR;
                    long qb = (long) b * L * D, kb = (long) b * S * D, vb = (long) b * S * Dv;
                    loadRows(Qs, q, qb, i0, L, D);
                    zeroRows(Os, Dv);
                    for (int t = 0; t < BR; t++) { sm[mrow + t] = Float.NEGATIVE_INFINITY; sm[lrow + t] = 0f; }
                    for (int j0 = 0; j0 < S; j0 += BC) {
                        int nc = Math.min(BC, S - j0);
                        tileDot(Qs, D, k, kb + (long) j0 * D, nc, buf, Sm, scale);
                        for (int warp = 0; warp < NT / 32; warp++)
                            for (int r = warp; r < BR; r += NT / 32) {
                                float[] s = new float[32];
                                for (int lane = 0; lane < 32; lane++) s[lane] = lane < nc ? sm[Sm + r * BC + lane] : Float.NEGATIVE_INFINITY;
                                float mOld = sm[mrow + r], mNew = fmaxf(mOld, warpMax(s)[0]);
                                float[] pr = new float[32];
                                for (int lane = 0; lane < 32; lane++) pr[lane] = lane < nc ? expf(s[lane] - mNew) : 0f;
                                float sum = warpSum(pr)[0];
                                for (int lane = 0; lane < 32; lane++) sm[Sm + r * BC + lane] = pr[lane];
                                float al = expf(mOld - mNew);
                                sm[alpha + r] = al;
                                sm[lrow + r] = sm[lrow + r] * al + sum;
                                sm[mrow + r] = mNew;
                            }
                        tileAccum(Os, Dv, Sm, v, vb + (long) j0 * Dv, nc, buf, alpha);
                    }
                    long ob = (long) b * L * Dv;
                    for (int e = 0; e < BR * Dv; e++) {
                        int r = e / Dv;
                        if (i0 + r < L) out.f(ob + (long) i0 * Dv + e, sm[Os + e] / sm[lrow + r]);
                    }
                    for (int t = 0; t < BR; t++)
                        if (i0 + t < L) lse.f((long) b * L + i0 + t, sm[mrow + t] + (float) Math.log(sm[lrow + t]));
                }
        }

        void dq(List<Args.Arg> a) {
            P q = p(a, 0), k = p(a, 1), v = p(a, 2), gout = p(a, 3), lse = p(a, 4), dvec = p(a, 5), gq = p(a, 6);
            int L = i(a, 7), S = i(a, 8), D = i(a, 9), Dv = i(a, 10); float scale = f(a, 11);
            for (int b = 0; b < gy(); b++)
                for (int bxi = 0; bxi < gx(); bxi++) {
                    shared();
                    int Qs = 0, dOs = Qs + BR * D, dQs = dOs + BR * Dv, buf = dQs + BR * D, Sm = buf + BC * (CH + 1), dP = Sm + BR * BC;
                    if (dP + BR * BC > sm.length) throw new IllegalStateException("attn_bwd_dq: shared memory too small");
                    int i0 = bxi * BR;
                    long kb = (long) b * S * D, vb = (long) b * S * Dv;
                    loadRows(Qs, q, (long) b * L * D, i0, L, D);
                    loadRows(dOs, gout, (long) b * L * Dv, i0, L, Dv);
                    zeroRows(dQs, D);
                    for (int j0 = 0; j0 < S; j0 += BC) {
                        int nc = Math.min(BC, S - j0);
                        tileDot(Qs, D, k, kb + (long) j0 * D, nc, buf, Sm, scale);
                        tileDot(dOs, Dv, v, vb + (long) j0 * Dv, nc, buf, dP, 1f);
                        for (int e = 0; e < BR * BC; e++) {
                            int r = e / BC, j = e % BC, i = Math.min(i0 + r, L - 1);
                            float ds = 0f;
                            if (j < nc) {
                                float pr = expf(sm[Sm + e] - lse.f((long) b * L + i));
                                ds = pr * (sm[dP + e] - dvec.f((long) b * L + i)) * scale;
                            }
                            sm[Sm + e] = ds;
                        }
                        tileAccum(dQs, D, Sm, k, kb + (long) j0 * D, nc, buf, -1);
                    }
                    long gb = (long) b * L * D;
                    for (int e = 0; e < BR * D; e++) {
                        int r = e / D;
                        if (i0 + r < L) gq.f(gb + (long) i0 * D + e, sm[dQs + e]);
                    }
                }
        }

        void dkv(List<Args.Arg> a) {
            P q = p(a, 0), k = p(a, 1), v = p(a, 2), gout = p(a, 3), lse = p(a, 4), dvec = p(a, 5), gk = p(a, 6), gv = p(a, 7);
            int L = i(a, 8), S = i(a, 9), D = i(a, 10), Dv = i(a, 11); float scale = f(a, 12);
            for (int b = 0; b < gy(); b++)
                for (int bxi = 0; bxi < gx(); bxi++) {
                    shared();
                    int Ks = 0, Vs = Ks + BR * D, dKs = Vs + BR * Dv, dVs = dKs + BR * D, buf = dVs + BR * Dv, St = buf + BC * (CH + 1),
                            dPt = St + BR * BC;
                    if (dPt + BR * BC > sm.length) throw new IllegalStateException("attn_bwd_dkv: shared memory too small");
                    int j0 = bxi * BR;
                    long qb = (long) b * L * D, gb = (long) b * L * Dv;
                    loadRows(Ks, k, (long) b * S * D, j0, S, D);
                    loadRows(Vs, v, (long) b * S * Dv, j0, S, Dv);
                    zeroRows(dKs, D);
                    zeroRows(dVs, Dv);
                    for (int i0 = 0; i0 < L; i0 += BC) {
                        int nq = Math.min(BC, L - i0);
                        tileDot(Ks, D, q, qb + (long) i0 * D, nq, buf, St, scale);
                        tileDot(Vs, Dv, gout, gb + (long) i0 * Dv, nq, buf, dPt, 1f);
                        for (int e = 0; e < BR * BC; e++) {
                            int i = e % BC;
                            float pr = 0f, ds = 0f;
                            if (i < nq) {
                                long qi = (long) b * L + i0 + i;
                                pr = expf(sm[St + e] - lse.f(qi));
                                ds = pr * (sm[dPt + e] - dvec.f(qi)) * scale;
                            }
                            sm[St + e] = pr;
                            sm[dPt + e] = ds;
                        }
                        tileAccum(dVs, Dv, St, gout, gb + (long) i0 * Dv, nq, buf, -1);
                        tileAccum(dKs, D, dPt, q, qb + (long) i0 * D, nq, buf, -1);
                    }
                    long gkb = (long) b * S * D, gvb = (long) b * S * Dv;
                    for (int e = 0; e < BR * D; e++) if (j0 + e / D < S) gk.f(gkb + (long) j0 * D + e, sm[dKs + e]);
                    for (int e = 0; e < BR * Dv; e++) if (j0 + e / Dv < S) gv.f(gvb + (long) j0 * Dv + e, sm[dVs + e]);
                }
        }
    }

    // ------------------------------------------------------------------ cuBLAS sgemm (column-major reference)
    void sgemm(DryRun.Call g) {
        int opA = g.ints[0], opB = g.ints[1], m = g.ints[2], n = g.ints[3], k = g.ints[4], lda = g.ints[5], ldb = g.ints[6],
                ldc = g.ints[7], batch = g.ints[8];
        float alpha = g.floats[0], beta = g.floats[1];
        P A = new P(g.ptrs[0]), B = new P(g.ptrs[1]), C = new P(g.ptrs[2]);
        for (int z = 0; z < batch; z++) {
            long ao = z * g.longs[0], bo = z * g.longs[1], co = z * g.longs[2];
            for (int col = 0; col < n; col++)
                for (int row = 0; row < m; row++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        float av = opA == 0 ? A.f(ao + row + (long) p * lda) : A.f(ao + p + (long) row * lda);
                        float bv = opB == 0 ? B.f(bo + p + (long) col * ldb) : B.f(bo + col + (long) p * ldb);
                        acc += (double) av * bv;
                    }
                    long ci = co + row + (long) col * ldc;
                    float prev = beta == 0f ? 0f : beta * C.f(ci);   // cuBLAS: beta = 0 ignores C (NaN-safe)
                    C.f(ci, (float) (alpha * acc) + prev);
                }
        }
    }
}
