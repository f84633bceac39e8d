package ddpm.engine.cpu;

import ddpm.engine.Ops;
import ddpm.engine.Philox;
import ddpm.engine.Shapes;

/**
 * Float32 kernels for the memory-bound primitives (layout, broadcasting, reductions, softmax,
 * resampling, indexing, the fused diffusion steps and the random numbers): multithreaded over
 * {@link Parallel#range}, with plain counted inner loops over float[] so the JIT can vectorise them.
 *
 * <p>Accuracy: the streaming loops run in float (a few roundings per element, well inside the
 * 1e-5 relative tolerance against the reference; exact where one float operation is the correctly
 * rounded double result: +, −, ·, /, min, max, comparisons, copies, clamp, where). Long sums
 * accumulate in double. Scalar double arithmetic is avoided inside streaming loops: on this JIT
 * the float↔double conversions (and double min/max/division) cost several times the memory
 * traffic and keep the loop from vectorising — a float DDIM step runs 30× faster than the same
 * loop in double. Each kernel is tested against {@link CpuReference} (FloatOpsTest).
 */
final class CpuFloatOps {
    private CpuFloatOps() {}

    /** Elements per parallel chunk for streaming kernels. */
    static final int GRAIN = 1 << 15;

    // ================================================================ elementwise
    static void unaryBackward(Ops.Unary op, float[] x, int xo, float[] y, int yo, float[] g, int go, float[] d, int dO, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> unaryBackwardRange(op, x, xo, y, yo, g, go, d, dO, lo, hi));
    }

    private static void unaryBackwardRange(Ops.Unary op, float[] x, int xo, float[] y, int yo, float[] g, int go,
                                           float[] d, int dO, int lo, int hi) {
        switch (op) {
            case NEG -> { for (int k = lo; k < hi; k++) d[dO + k] = -g[go + k]; }
            case EXP -> { for (int k = lo; k < hi; k++) d[dO + k] = g[go + k] * y[yo + k]; }
            case LOG -> { for (int k = lo; k < hi; k++) d[dO + k] = g[go + k] / x[xo + k]; }
            case SQRT -> { for (int k = lo; k < hi; k++) d[dO + k] = (0.5f * g[go + k]) / y[yo + k]; }
            case RSQRT -> { for (int k = lo; k < hi; k++) { float v = y[yo + k]; d[dO + k] = g[go + k] * (-0.5f * v * v * v); } }
            case SQUARE -> { for (int k = lo; k < hi; k++) d[dO + k] = g[go + k] * (2f * x[xo + k]); }
            case ABS -> { for (int k = lo; k < hi; k++) d[dO + k] = g[go + k] * Math.signum(x[xo + k]); }
            case SILU -> {
                for (int k = lo; k < hi; k++) {
                    double v = x[xo + k], s = 1.0 / (1.0 + Math.exp(-v));
                    d[dO + k] = (float) (g[go + k] * (s * (1.0 + v * (1.0 - s))));
                }
            }
            case SIGMOID -> { for (int k = lo; k < hi; k++) { float v = y[yo + k]; d[dO + k] = g[go + k] * (v * (1f - v)); } }
            // (1 − y)(1 + y): no cancellation near |y| = 1, unlike 1 − y²
            case TANH -> { for (int k = lo; k < hi; k++) { float v = y[yo + k]; d[dO + k] = g[go + k] * ((1f - v) * (1f + v)); } }
            case RELU -> { for (int k = lo; k < hi; k++) d[dO + k] = g[go + k] * (x[xo + k] > 0 ? 1f : 0f); }
            case SIN -> { for (int k = lo; k < hi; k++) d[dO + k] = (float) (g[go + k] * Math.cos(x[xo + k])); }
            case COS -> { for (int k = lo; k < hi; k++) d[dO + k] = (float) (g[go + k] * -Math.sin(x[xo + k])); }
        }
    }

    /** out = x^p: exact fast paths for p = 0, 1, 2, −1, ±0.5 (with Math.pow's signed-zero and −∞ cases). */
    static void powScalar(float[] x, int xo, double p, float[] z, int zo, int n) {
        Parallel.range(n, GRAIN, (lo, hi) -> {
            if (p == 2) {
                for (int k = lo; k < hi; k++) { float v = x[xo + k]; z[zo + k] = v * v; }
            } else if (p == 1) {
                if (x != z || xo != zo) System.arraycopy(x, xo + lo, z, zo + lo, hi - lo);
            } else if (p == 0) {
                for (int k = lo; k < hi; k++) z[zo + k] = 1f;
            } else if (p == -1) {
                for (int k = lo; k < hi; k++) z[zo + k] = 1f / x[xo + k];
            } else if (p == 0.5) {
                for (int k = lo; k < hi; k++) {
                    float v = x[xo + k];
                    // pow(−0, ½) = +0 and pow(−∞, ½) = +∞, where sqrt gives −0 and NaN
                    z[zo + k] = v == Float.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : Math.abs((float) Math.sqrt(v));
                }
            } else if (p == -0.5) {
                for (int k = lo; k < hi; k++) {
                    float v = x[xo + k];
                    z[zo + k] = v == Float.NEGATIVE_INFINITY ? 0f : (float) (1.0 / Math.abs(Math.sqrt(v)));
                }
            } else {
                for (int k = lo; k < hi; k++) z[zo + k] = (float) Math.pow(x[xo + k], p);
            }
        });
    }

    /** out = min(max(x, lo), hi); float bounds give the same result as the double ones rounded. */
    static void clamp(float[] x, int xo, double lo, double hi, float[] z, int zo, int n) {
        float l = (float) lo, h = (float) hi;
        if (l != lo || h != hi) {
            // bounds that are not floats: the double comparison, then round (same as the reference)
            Parallel.range(n, GRAIN, (a, b) -> {
                for (int k = a; k < b; k++) z[zo + k] = (float) Math.min(Math.max(x[xo + k], lo), hi);
            });
            return;
        }
        Parallel.range(n, GRAIN, (a, b) -> {
            for (int k = a; k < b; k++) z[zo + k] = Math.min(Math.max(x[xo + k], l), h);
        });
    }

    // ================================================================ broadcasting
    /**
     * The loop structure of an output and its broadcast inputs after dropping size-1 axes and
     * merging adjacent axes that are contiguous in every input: {@code dims} (outermost first, the
     * last is the innermost run) and per input the element strides over them (0 where broadcast;
     * the innermost stride is 0 or 1).
     */
    static final class Plan {
        final int[] dims;
        final int[][] strides;
        final int n;

        Plan(int[] outShape, int[]... inShapes) {
            int r = outShape.length, m = inShapes.length;
            long[][] bs = new long[m][];
            for (int i = 0; i < m; i++) bs[i] = Shapes.broadcastStrides(inShapes[i], outShape);
            int[] d = new int[r];
            int[][] s = new int[m][r];
            int c = 0;
            for (int ax = 0; ax < r; ax++) {
                if (outShape[ax] == 1) continue;
                boolean merge = c > 0;
                for (int i = 0; i < m && merge; i++) merge = s[i][c - 1] == bs[i][ax] * outShape[ax];
                if (merge) {
                    d[c - 1] *= outShape[ax];
                    for (int i = 0; i < m; i++) s[i][c - 1] = (int) bs[i][ax];
                } else {
                    d[c] = outShape[ax];
                    for (int i = 0; i < m; i++) s[i][c] = (int) bs[i][ax];
                    c++;
                }
            }
            if (c == 0) {   // a single element
                d[0] = 1;
                for (int i = 0; i < m; i++) s[i][0] = 1;
                c = 1;
            }
            dims = java.util.Arrays.copyOf(d, c);
            strides = new int[m][];
            for (int i = 0; i < m; i++) strides[i] = java.util.Arrays.copyOf(s[i], c);
            n = (int) Shapes.numel(outShape);
        }

        int inner() { return dims[dims.length - 1]; }

        int innerStride(int input) { return strides[input][dims.length - 1]; }
    }

    /** One innermost run: output elements [zo, zo + len) with input i starting at offs[i]. */
    @FunctionalInterface
    interface Run { void run(int zo, int[] offs, int len); }

    /** Calls {@code body} for every innermost run of the plan, in parallel over the output. */
    static void forEachRun(Plan plan, int[] base, int zBase, Run body) {
        int r = plan.dims.length, m = base.length, inner = plan.inner();
        Parallel.range(plan.n, GRAIN, (lo, hi) -> {
            int row = lo / inner, col = lo - row * inner;
            int[] idx = new int[r], offs = new int[m];
            // decode the row into the outer axes
            int rem = row;
            for (int ax = r - 2; ax >= 0; ax--) {
                idx[ax] = rem % plan.dims[ax];
                rem /= plan.dims[ax];
            }
            for (int i = 0; i < m; i++) {
                int o = base[i] + col * plan.strides[i][r - 1];
                for (int ax = 0; ax < r - 1; ax++) o += idx[ax] * plan.strides[i][ax];
                offs[i] = o;
            }
            int pos = lo;
            while (pos < hi) {
                int len = Math.min(inner - col, hi - pos);
                body.run(zBase + pos, offs, len);
                pos += len;
                if (pos >= hi) break;
                // next row: rewind the inner axis, then odometer over the outer axes
                for (int i = 0; i < m; i++) offs[i] -= col * plan.strides[i][r - 1];
                col = 0;
                for (int ax = r - 2; ax >= 0; ax--) {
                    idx[ax]++;
                    for (int i = 0; i < m; i++) offs[i] += plan.strides[i][ax];
                    if (idx[ax] < plan.dims[ax]) break;
                    for (int i = 0; i < m; i++) offs[i] -= plan.strides[i][ax] * plan.dims[ax];
                    idx[ax] = 0;
                }
            }
        });
    }

    /** out = a op b with general broadcasting (float a, b, out). */
    static void binary(Ops.Binary op, float[] a, int ao, int[] sa, float[] b, int bo, int[] sb, float[] z, int zo, int[] so) {
        Plan plan = new Plan(so, sa, sb);
        int as = plan.innerStride(0), bs = plan.innerStride(1);
        forEachRun(plan, new int[]{ao, bo}, zo, (o, offs, len) -> binaryRun(op, a, offs[0], as, b, offs[1], bs, z, o, len));
    }

    static float binary(Ops.Binary op, float a, float b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> (float) Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case LT -> a < b ? 1f : 0f;
            case LE -> a <= b ? 1f : 0f;
            case GT -> a > b ? 1f : 0f;
            case GE -> a >= b ? 1f : 0f;
            case EQ -> a == b ? 1f : 0f;
        };
    }

    /** z[zo + k] = x[xo + k·xs] op y[yo + k·ys], k < len, strides 0 or 1. */
    static void binaryRun(Ops.Binary op, float[] x, int xo, int xs, float[] y, int yo, int ys, float[] z, int zo, int len) {
        // same-offset fast paths (vectorised; see the note above qSample)
        if (xs == 1 && ys == 0 && xo == zo && op.ordinal() <= Ops.Binary.DIV.ordinal()) {
            float c = y[yo];
            int end = zo + len;
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = x[k] + c; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = x[k] - c; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = x[k] * c; }
                default -> { for (int k = zo; k < end; k++) z[k] = x[k] / c; }
            }
            return;
        }
        if (xs == 0 && ys == 1 && yo == zo && op.ordinal() <= Ops.Binary.DIV.ordinal()) {
            float c = x[xo];
            int end = zo + len;
            switch (op) {
                case ADD -> { for (int k = zo; k < end; k++) z[k] = c + y[k]; }
                case SUB -> { for (int k = zo; k < end; k++) z[k] = c - y[k]; }
                case MUL -> { for (int k = zo; k < end; k++) z[k] = c * y[k]; }
                default -> { for (int k = zo; k < end; k++) z[k] = c / y[k]; }
            }
            return;
        }
        if (xs == 1 && ys == 1) {
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] + y[yo + k]; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] - y[yo + k]; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] * y[yo + k]; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] / y[yo + k]; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(x[xo + k], y[yo + k]); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(x[xo + k], y[yo + k]); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, x[xo + k], y[yo + k]); }
            }
        } else if (xs == 1) {
            float c = y[yo];
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] + c; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] - c; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] * c; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = x[xo + k] / c; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(x[xo + k], c); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(x[xo + k], c); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, x[xo + k], c); }
            }
        } else if (ys == 1) {
            float c = x[xo];
            switch (op) {
                case ADD -> { for (int k = 0; k < len; k++) z[zo + k] = c + y[yo + k]; }
                case SUB -> { for (int k = 0; k < len; k++) z[zo + k] = c - y[yo + k]; }
                case MUL -> { for (int k = 0; k < len; k++) z[zo + k] = c * y[yo + k]; }
                case DIV -> { for (int k = 0; k < len; k++) z[zo + k] = c / y[yo + k]; }
                case MAX -> { for (int k = 0; k < len; k++) z[zo + k] = Math.max(c, y[yo + k]); }
                case MIN -> { for (int k = 0; k < len; k++) z[zo + k] = Math.min(c, y[yo + k]); }
                default -> { for (int k = 0; k < len; k++) z[zo + k] = binary(op, c, y[yo + k]); }
            }
        } else {
            java.util.Arrays.fill(z, zo, zo + len, binary(op, x[xo], y[yo]));
        }
    }

    /**
     * out = cond ≠ 0 ? a : b with general broadcasting; cond is float[] or int[] (the other null).
     */
    static void where(float[] cf, int[] ci, int co, int[] sc, float[] a, int ao, int[] sa, float[] b, int bo, int[] sb,
                      float[] z, int zo, int[] so) {
        Plan plan = new Plan(so, sc, sa, sb);
        int cs = plan.innerStride(0), as = plan.innerStride(1), bs = plan.innerStride(2);
        forEachRun(plan, new int[]{co, ao, bo}, zo, (o, offs, len) -> {
            int c0 = offs[0], a0 = offs[1], b0 = offs[2];
            if (cs == 1 && as == 1 && bs == 1) {
                if (cf != null) for (int k = 0; k < len; k++) z[o + k] = cf[c0 + k] != 0 ? a[a0 + k] : b[b0 + k];
                else for (int k = 0; k < len; k++) z[o + k] = ci[c0 + k] != 0 ? a[a0 + k] : b[b0 + k];
            } else if (cf != null) {
                for (int k = 0; k < len; k++) z[o + k] = cf[c0 + k * cs] != 0 ? a[a0 + k * as] : b[b0 + k * bs];
            } else {
                for (int k = 0; k < len; k++) z[o + k] = ci[c0 + k * cs] != 0 ? a[a0 + k * as] : b[b0 + k * bs];
            }
        });
    }

    // ================================================================ reductions
    /** Elements per partial sum when a few long rows are split across threads. */
    private static final int CHUNK = 1 << 14;

    /** Reduces the middle axis of x viewed as [outer, n, inner] into z [outer, inner]. */
    static void reduce(Ops.Reduce op, float[] x, int xo, int outer, int n, int inner, float[] z, int zo) {
        if (outer == 0 || inner == 0) return;
        if (n == 0) {
            float init = switch (op) {
                case SUM, SUMSQ -> 0f;
                case MAX -> Float.NEGATIVE_INFINITY;
                case MIN -> Float.POSITIVE_INFINITY;
            };
            java.util.Arrays.fill(z, zo, zo + outer * inner, init);
            return;
        }
        if (inner == 1) reduceRows(op, x, xo, outer, n, z, zo);
        else reduceColumns(op, x, xo, outer, n, inner, z, zo);
    }

    private static void reduceRows(Ops.Reduce op, float[] x, int xo, int outer, int n, float[] z, int zo) {
        long total = (long) outer * n;
        if (outer >= 2 * Parallel.threads() || total <= GRAIN || n <= CHUNK) {
            Parallel.range(outer, Math.max(1, GRAIN / n), (lo, hi) -> {
                for (int p = lo; p < hi; p++) z[zo + p] = (float) rowReduce(op, x, xo + p * n, n);
            });
            return;
        }
        // few long rows: partial results over fixed chunks (deterministic whatever the thread count)
        int chunks = (n + CHUNK - 1) / CHUNK;
        double[] part = new double[outer * chunks];
        Parallel.range(outer * chunks, 1, (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int p = t / chunks, c = t - p * chunks, from = c * CHUNK, len = Math.min(CHUNK, n - from);
                part[t] = rowReduce(op, x, xo + p * n + from, len);
            }
        });
        for (int p = 0; p < outer; p++) {
            double acc = part[p * chunks];
            for (int c = 1; c < chunks; c++) acc = combine(op, acc, part[p * chunks + c]);
            z[zo + p] = (float) acc;
        }
    }

    private static double combine(Ops.Reduce op, double a, double b) {
        return switch (op) {
            case SUM, SUMSQ -> a + b;
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
        };
    }

    /** The reduction of x[o, o + n), n ≥ 1: sums in double over four lanes, max/min in float. */
    static double rowReduce(Ops.Reduce op, float[] x, int o, int n) {
        int k = 0;
        switch (op) {
            case SUM -> {
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (; k + 3 < n; k += 4) { s0 += x[o + k]; s1 += x[o + k + 1]; s2 += x[o + k + 2]; s3 += x[o + k + 3]; }
                for (; k < n; k++) s0 += x[o + k];
                return (s0 + s1) + (s2 + s3);
            }
            case SUMSQ -> {
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (; k + 3 < n; k += 4) {
                    double a = x[o + k], b = x[o + k + 1], c = x[o + k + 2], d = x[o + k + 3];
                    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
                }
                for (; k < n; k++) { double a = x[o + k]; s0 += a * a; }
                return (s0 + s1) + (s2 + s3);
            }
            case MAX -> {
                float m0 = Float.NEGATIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;
                for (; k + 3 < n; k += 4) {
                    m0 = Math.max(m0, x[o + k]); m1 = Math.max(m1, x[o + k + 1]);
                    m2 = Math.max(m2, x[o + k + 2]); m3 = Math.max(m3, x[o + k + 3]);
                }
                for (; k < n; k++) m0 = Math.max(m0, x[o + k]);
                return Math.max(Math.max(m0, m1), Math.max(m2, m3));
            }
            case MIN -> {
                float m0 = Float.POSITIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;
                for (; k + 3 < n; k += 4) {
                    m0 = Math.min(m0, x[o + k]); m1 = Math.min(m1, x[o + k + 1]);
                    m2 = Math.min(m2, x[o + k + 2]); m3 = Math.min(m3, x[o + k + 3]);
                }
                for (; k < n; k++) m0 = Math.min(m0, x[o + k]);
                return Math.min(Math.min(m0, m1), Math.min(m2, m3));
            }
        }
        throw new AssertionError(op);
    }

    /** Columns per task of an inner > 1 reduction. */
    private static final int COLS = 1024;

    private static void reduceColumns(Ops.Reduce op, float[] x, int xo, int outer, int n, int inner, float[] z, int zo) {
        int blocks = (inner + COLS - 1) / COLS, tiles = outer * blocks;
        // few output tiles over a long axis: split the axis too, into partials combined in order
        int chunks = 1;
        long work = (long) outer * n * inner;
        if (tiles < 2 * Parallel.threads() && work > GRAIN)
            chunks = (int) Math.max(1, Math.min(Math.min(n, 4L * Parallel.threads()), work / GRAIN));
        int nc = chunks, step = (n + nc - 1) / nc;
        double[] part = nc == 1 ? null : new double[nc * outer * inner];
        Parallel.range(tiles * nc, Math.max(1, (int) (GRAIN / Math.max(1L, (long) Math.min(inner, COLS) * step))), (lo, hi) -> {
            double[] acc = new double[Math.min(inner, COLS)];
            float[] facc = new float[Math.min(inner, COLS)];
            for (int t = lo; t < hi; t++) {
                int c = t % nc, tile = t / nc, p = tile / blocks, q0 = (tile - p * blocks) * COLS;
                int w = Math.min(COLS, inner - q0), k0 = c * step, k1 = Math.min(n, k0 + step);
                double r;
                int base = xo + p * n * inner + q0;
                switch (op) {
                    case SUM -> {
                        java.util.Arrays.fill(acc, 0, w, 0.0);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) acc[q] += x[row + q];
                        }
                    }
                    case SUMSQ -> {
                        java.util.Arrays.fill(acc, 0, w, 0.0);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) { double v = x[row + q]; acc[q] += v * v; }
                        }
                    }
                    case MAX -> {
                        java.util.Arrays.fill(facc, 0, w, Float.NEGATIVE_INFINITY);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) facc[q] = Math.max(facc[q], x[row + q]);
                        }
                        for (int q = 0; q < w; q++) acc[q] = facc[q];
                    }
                    case MIN -> {
                        java.util.Arrays.fill(facc, 0, w, Float.POSITIVE_INFINITY);
                        for (int k = k0; k < k1; k++) {
                            int row = base + k * inner;
                            for (int q = 0; q < w; q++) facc[q] = Math.min(facc[q], x[row + q]);
                        }
                        for (int q = 0; q < w; q++) acc[q] = facc[q];
                    }
                }
                if (part == null) for (int q = 0; q < w; q++) z[zo + p * inner + q0 + q] = (float) acc[q];
                else System.arraycopy(acc, 0, part, (c * outer + p) * inner + q0, w);
            }
        });
        if (part == null) return;
        int m = outer * inner;
        Parallel.range(m, GRAIN, (lo, hi) -> {
            for (int e = lo; e < hi; e++) {
                double acc = part[e];
                for (int c = 1; c < nc; c++) acc = combine(op, acc, part[c * m + e]);
                z[zo + e] = (float) acc;
            }
        });
    }

    // ================================================================ layout
    /** Tile edge of the blocked transpose. */
    private static final int TILE = 32;

    /** out = x with axes permuted (out.shape[i] = shape[perm[i]]). */
    static void permute(float[] x, int xo, int[] shape, int[] perm, float[] z, int zo) {
        int r = shape.length;
        long[] st = Shapes.strides(shape);
        int n = (int) Shapes.numel(shape);
        if (n == 0) return;
        // out axes with their source strides; drop size-1 axes, merge runs contiguous in the source
        int[] d = new int[r], s = new int[r];
        int c = 0;
        for (int i = 0; i < r; i++) {
            int len = shape[perm[i]], str = (int) st[perm[i]];
            if (len == 1) continue;
            if (c > 0 && s[c - 1] == (long) str * len) { d[c - 1] *= len; s[c - 1] = str; }
            else { d[c] = len; s[c] = str; c++; }
        }
        if (c <= 1) {   // the identity up to size-1 axes
            System.arraycopy(x, xo, z, zo, n);
            return;
        }
        int m = c;
        int[] os = new int[m];   // output strides
        os[m - 1] = 1;
        for (int i = m - 2; i >= 0; i--) os[i] = os[i + 1] * d[i + 1];
        if (s[m - 1] == 1) {   // contiguous runs of the innermost axis: copy them
            int run = d[m - 1], rows = n / run;
            Parallel.range(rows, Math.max(1, GRAIN / run), (lo, hi) -> {
                for (int row = lo; row < hi; row++) {
                    int src = xo, rem = row;
                    for (int ax = m - 2; ax >= 0; ax--) { src += (rem % d[ax]) * s[ax]; rem /= d[ax]; }
                    System.arraycopy(x, src, z, zo + row * run, run);
                }
            });
            return;
        }
        // a 2-D transpose between out axis j (source-contiguous) and the last out axis, for every
        // index of the other axes: tiles of TILE × TILE
        int j = -1;
        for (int i = 0; i < m; i++) if (s[i] == 1) j = i;
        if (j < 0) throw new AssertionError("permute: no unit stride in " + java.util.Arrays.toString(s));
        int jl = d[j], il = d[m - 1], is = s[m - 1], jos = os[j];
        int others = n / (jl * il), jTiles = (jl + TILE - 1) / TILE;
        int[] od = new int[m - 2], ods = new int[m - 2], oos = new int[m - 2];
        for (int i = 0, q = 0; i < m - 1; i++) if (i != j) { od[q] = d[i]; ods[q] = s[i]; oos[q] = os[i]; q++; }
        Parallel.range(others * jTiles, Math.max(1, GRAIN / (TILE * il)), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int o = t / jTiles, j0 = (t - o * jTiles) * TILE, j1 = Math.min(jl, j0 + TILE);
                int src = xo, dst = zo, rem = o;
                for (int ax = od.length - 1; ax >= 0; ax--) {
                    int v = rem % od[ax];
                    rem /= od[ax];
                    src += v * ods[ax];
                    dst += v * oos[ax];
                }
                for (int i0 = 0; i0 < il; i0 += TILE) {
                    int i1 = Math.min(il, i0 + TILE);
                    for (int jj = j0; jj < j1; jj++) {
                        int so = src + jj + i0 * is, zz = dst + jj * jos;
                        for (int ii = i0; ii < i1; ii++) z[zz + ii] = x[so + (ii - i0) * is];
                    }
                }
            }
        });
    }

    /** Copies between part (shape ps) and [start, start + ps[axis]) along axis of big (shape bs). */
    static void slice(float[] part, int po, int[] ps, float[] big, int bo, int[] bs, int axis, int start, boolean intoBig) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= bs[i];
        for (int i = axis + 1; i < bs.length; i++) inner *= bs[i];
        int run = ps[axis] * inner, full = bs[axis] * inner, skip = start * inner;
        if (run == 0) return;
        Parallel.range(outer, Math.max(1, GRAIN / run), (lo, hi) -> {
            for (int p = lo; p < hi; p++) {
                if (intoBig) System.arraycopy(part, po + p * run, big, bo + p * full + skip, run);
                else System.arraycopy(big, bo + p * full + skip, part, po + p * run, run);
            }
        });
    }

    // ================================================================ softmax
    /** Softmax of each row of n: float exponentials (vectorised expf, ~2 ulp) summed in double, scaled by 1/Σ. */
    static void softmax(float[] x, int xo, float[] z, int zo, int rows, int n) {
        if (n == 0) return;
        Parallel.range(rows, Math.max(1, GRAIN / (4 * n)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int b = xo + r * n, ob = zo + r * n;
                float m = FastMath.max(x, b, n);
                float inv = (float) (1.0 / FastMath.expShiftSum(x, b, z, ob, n, m));
                for (int k = ob; k < ob + n; k++) z[k] *= inv;
            }
        });
    }

    /** gx = y ⊙ (gy − Σ gy ⊙ y) per row of n; the dot product in double. */
    static void softmaxBackward(float[] y, int yo, float[] g, int go, float[] d, int dO, int rows, int n) {
        if (n == 0) return;
        Parallel.range(rows, Math.max(1, GRAIN / (2 * n)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int yb = yo + r * n, gb = go + r * n, db = dO + r * n;
                double dot = 0;
                for (int k = 0; k < n; k++) dot += (double) g[gb + k] * y[yb + k];
                float dt = (float) dot;
                for (int k = 0; k < n; k++) d[db + k] = y[yb + k] * (g[gb + k] - dt);
            }
        });
    }

    // ================================================================ resampling, indexing
    static void upsample2x(float[] x, int xo, int planes, int h, int w, float[] z, int zo) {
        int w2 = 2 * w;
        Parallel.range(planes * h, Math.max(1, GRAIN / (4 * w)), (lo, hi) -> {
            for (int row = lo; row < hi; row++) {   // row = p·h + i → out rows 2i and 2i + 1 of plane p
                int src = xo + row * w, dst = zo + 2 * row * w2;
                for (int j = 0; j < w; j++) {
                    float v = x[src + j];
                    z[dst + 2 * j] = v;
                    z[dst + 2 * j + 1] = v;
                }
                System.arraycopy(z, dst, z, dst + w2, w2);
            }
        });
    }

    static void upsample2xBackward(float[] g, int go, int planes, int h, int w, float[] d, int dO) {
        int w2 = 2 * w;
        Parallel.range(planes * h, Math.max(1, GRAIN / (4 * w)), (lo, hi) -> {
            for (int row = lo; row < hi; row++) {
                int r0 = go + 2 * row * w2, r1 = r0 + w2, out = dO + row * w;
                for (int j = 0; j < w; j++)
                    d[out + j] = (g[r0 + 2 * j] + g[r0 + 2 * j + 1]) + (g[r1 + 2 * j] + g[r1 + 2 * j + 1]);
            }
        });
    }

    private static void checkIndex(int[] idx, int rows, String op) {
        for (int i : idx)
            if (i < 0 || i >= rows) throw new IndexOutOfBoundsException(op + ": index " + i + " out of range [0, " + rows + ")");
    }

    /** out[b] = table[idx[b]], rows of {@code row} elements. */
    static void gather(float[] t, int to, int rows, int row, int[] idx, float[] z, int zo) {
        checkIndex(idx, rows, "gather");
        if (row == 0) return;
        Parallel.range(idx.length, Math.max(1, GRAIN / row), (lo, hi) -> {
            for (int b = lo; b < hi; b++) System.arraycopy(t, to + idx[b] * row, z, zo + b * row, row);
        });
    }

    /**
     * table[idx[b]] += g[b]: the contributions to each row are summed in double in the order of b,
     * starting from the row's value, and rounded once (as the reference); rows in parallel.
     */
    static void scatterAdd(float[] g, int go, int[] idx, int rows, int row, float[] t, int to) {
        checkIndex(idx, rows, "scatterAdd");
        if (row == 0 || idx.length == 0) return;
        // counting sort of the samples by row, stable in b
        int[] start = new int[rows + 1];
        for (int i : idx) start[i + 1]++;
        for (int r = 0; r < rows; r++) start[r + 1] += start[r];
        int[] order = new int[idx.length], fill = java.util.Arrays.copyOf(start, rows);
        for (int b = 0; b < idx.length; b++) order[fill[idx[b]]++] = b;
        int[] hit = new int[rows];
        int nh = 0;
        for (int r = 0; r < rows; r++) if (start[r + 1] > start[r]) hit[nh++] = r;
        int blocks = (row + COLS - 1) / COLS;
        Parallel.range(nh * blocks, Math.max(1, GRAIN / Math.min(row, COLS) / Math.max(1, idx.length / nh)), (lo, hi) -> {
            double[] acc = new double[Math.min(row, COLS)];
            for (int task = lo; task < hi; task++) {
                int r = hit[task / blocks], e0 = (task % blocks) * COLS, w = Math.min(COLS, row - e0);
                int tb = to + r * row + e0;
                for (int e = 0; e < w; e++) acc[e] = t[tb + e];
                for (int q = start[r]; q < start[r + 1]; q++) {
                    int gb = go + order[q] * row + e0;
                    for (int e = 0; e < w; e++) acc[e] += g[gb + e];
                }
                for (int e = 0; e < w; e++) t[tb + e] = (float) acc[e];
            }
        });
    }

    // ================================================================ diffusion, fused
    // The fused steps run in float: a few roundings per element (the reference's double result is
    // matched to ~1e-7 of the largest term); per-sample coefficients are read once per run.

    // Offsets: C2 (JDK 17) cannot prove that z[zo + e] and x[xo + e] do not overlap when the
    // offsets differ, and then does not vectorise the loop (7× slower here). When all tensors sit
    // at the same offset (the common case: fresh tensors at 0) the loops index every array with the
    // same e, which it does vectorise.

    /** out[b,…] = a[t[b]]·x0[b,…] + s[t[b]]·eps[b,…]; steps already checked. */
    static void qSample(float[] x0, int xo, float[] eps, int eo, int[] t, float[] a, int ao, float[] s, int so,
                        int per, float[] z, int zo) {
        if (per == 0) return;
        boolean same = xo == zo && eo == zo;
        Parallel.range(t.length * per, GRAIN, (lo, hi) -> {
            for (int pos = lo; pos < hi; ) {
                int b = pos / per, end = Math.min(hi, (b + 1) * per);
                float ca = a[ao + t[b]], cs = s[so + t[b]];
                if (same) for (int e = pos + zo; e < end + zo; e++) z[e] = ca * x0[e] + cs * eps[e];
                else for (int e = pos; e < end; e++) z[zo + e] = ca * x0[xo + e] + cs * eps[eo + e];
                pos = end;
            }
        });
    }

    /** out[b,…] = c1[t[b]]·(xt − c2[t[b]]·ε̂) + σ[t[b]]·z; z may be null. */
    static void posteriorStep(float[] xt, int xo, float[] eps, int eo, float[] zn, int zno, int[] t, float[] c1, int c1o,
                              float[] c2, int c2o, float[] sg, int sgo, int per, float[] z, int zo) {
        if (per == 0) return;
        boolean same = xo == zo && eo == zo && (zn == null || zno == zo);
        Parallel.range(t.length * per, GRAIN, (lo, hi) -> {
            for (int pos = lo; pos < hi; ) {
                int b = pos / per, end = Math.min(hi, (b + 1) * per);
                float k1 = c1[c1o + t[b]], k2 = c2[c2o + t[b]], sv = sg[sgo + t[b]];
                if (same) {
                    if (zn == null) for (int e = pos + zo; e < end + zo; e++) z[e] = k1 * (xt[e] - k2 * eps[e]) + 0f;
                    else for (int e = pos + zo; e < end + zo; e++) z[e] = k1 * (xt[e] - k2 * eps[e]) + sv * zn[e];
                } else if (zn == null) {
                    for (int e = pos; e < end; e++) z[zo + e] = k1 * (xt[xo + e] - k2 * eps[eo + e]) + 0f;
                } else {
                    for (int e = pos; e < end; e++) z[zo + e] = k1 * (xt[xo + e] - k2 * eps[eo + e]) + sv * zn[zno + e];
                }
                pos = end;
            }
        });
    }

    /** The DDIM update of {@link ddpm.engine.Backend#ddimStep}; rows already checked. */
    static void ddimStep(float[] xt, int xo, float[] eps, int eo, float[] zn, int zno, int[] idx, float[] cf, int co,
                         double clip, int per, float[] z, int zo) {
        if (per == 0) return;
        // no clip: ±∞ bounds (min/max leave every value, NaN and −0 included, as it is); a bound
        // that is not a float: the float nearest (the clipped x̂0 is rounded anyway)
        float lo = clip > 0 ? (float) -clip : Float.NEGATIVE_INFINITY, hi = clip > 0 ? (float) clip : Float.POSITIVE_INFINITY;
        // with clipping, ε̂ is re-derived from the clipped x̂0 (a loop-invariant test: C2 unswitches it)
        boolean rederive = clip > 0;
        boolean same = xo == zo && eo == zo && (zn == null || zno == zo);
        Parallel.range(idx.length * per, GRAIN, (from, to) -> {
            for (int pos = from; pos < to; ) {
                int b = pos / per, end = Math.min(to, (b + 1) * per), r = co + idx[b] * 5;
                float sa = cf[r], s1a = cf[r + 1], sap = cf[r + 2], dir = cf[r + 3], sv = cf[r + 4];
                if (same && zn != null) {
                    for (int e = pos + zo; e < end + zo; e++) {
                        float x = xt[e], ep = eps[e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[e] = sap * x0 + dir * ep + sv * zn[e];
                    }
                } else if (same) {
                    for (int e = pos + zo; e < end + zo; e++) {
                        float x = xt[e], ep = eps[e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[e] = sap * x0 + dir * ep + 0f;
                    }
                } else if (zn != null) {
                    for (int e = pos; e < end; e++) {
                        float x = xt[xo + e], ep = eps[eo + e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[zo + e] = sap * x0 + dir * ep + sv * zn[zno + e];
                    }
                } else {
                    for (int e = pos; e < end; e++) {
                        float x = xt[xo + e], ep = eps[eo + e], x0 = Math.min(Math.max((x - s1a * ep) / sa, lo), hi);
                        if (rederive) ep = (x - sa * x0) / s1a;
                        z[zo + e] = sap * x0 + dir * ep + 0f;
                    }
                }
                pos = end;
            }
        });
    }

    // ================================================================ randomness
    /** Philox blocks (of 4 elements) per parallel chunk. */
    private static final int BLOCKS = 1 << 11;

    static void randUniform(float[] z, int zo, int n, long seed, long offset) {
        int blocks = (n + 3) / 4;
        Parallel.range(blocks, BLOCKS, (lo, hi) -> Philox.fillUniform(seed, offset, z, zo, n, lo, hi));
    }

    static void randNormal(float[] z, int zo, int n, long seed, long offset) {
        int blocks = (n + 3) / 4;
        Parallel.range(blocks, BLOCKS / 2, (lo, hi) -> Philox.fillNormal(seed, offset, z, zo, n, lo, hi));
    }

    /** out = (u ≥ p) / (1 − p), u the uniforms of (seed, offset). */
    static void dropoutMask(float[] z, int zo, int n, double p, long seed, long offset) {
        int blocks = (n + 3) / 4;
        float keep = (float) (1.0 / (1.0 - p));
        Parallel.range(blocks, BLOCKS, (lo, hi) -> {
            int[] w = new int[4];
            for (int j = lo; j < hi; j++) {
                Philox.block(seed, offset + j, w);
                for (int l = 0; l < 4 && j * 4 + l < n; l++) z[zo + j * 4 + l] = Philox.uniform(w[l]) >= p ? keep : 0f;
            }
        });
    }
}
