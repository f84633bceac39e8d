package ddpm.kernels.cuda;

import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.MathPrecision;
import ddpm.engine.Ops;
import ddpm.engine.Scope;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The harness catches bugs: mutated copies of real kernels (a __syncthreads() or __syncwarp()
 * removed, an off-by-one bound, a wrong index, a missing activation; CUDA-core and tensor-core kernels) are built into
 * their own host kernel libraries, driven through a {@link CudaBackend} like the real ones, and each
 * must fail the race check, the bounds check or the comparison with the CPU (float32 kernels within
 * 1e-4, the BF16 tensor-core kernels within 3e-2); the same scenario on the unmutated kernels must
 * pass. A removed barrier must be reported by the race check itself, whatever the results. Needs no GPU.
 */
class KernelMutationTest {
    static Backend original;

    @BeforeAll
    static void open() {
        HostBuilds.assumeHostDriver();
        original = new CudaBackend(Device.cuda(0), HostDriver.open());
    }

    /** A scenario: runs an op on the given backend's tensors and returns the result; the CPU backend
     *  gives the reference, which the result must match within {@code tol} (relative to its largest value). */
    record Scenario(String what, Function<Backend, float[]> run, double tol) {
        Scenario(String what, Function<Backend, float[]> run) { this(what, run, 1e-4); }
    }

    static Tensor upload(Backend be, float[] data, int... shape) {
        Tensor t = Tensor.empty(be, DType.F32, shape);
        be.write(t, data);
        return t;
    }

    static float[] random(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() + 0.1);
        return v;
    }

    static final Scenario GROUP_NORM = new Scenario("groupNorm forward [2, 64, 9, 9], 8 groups", be -> {
        int[] s = {2, 64, 9, 9};
        Tensor x = upload(be, random(1, (int) Shapes.numel(s)), s), g = upload(be, random(2, 64), 64), b = upload(be, random(3, 64), 64);
        Tensor y = Tensor.empty(be, DType.F32, s), mean = Tensor.empty(be, DType.F32, 2, 8), rstd = Tensor.empty(be, DType.F32, 2, 8);
        be.groupNorm(x, g, b, 8, 1e-5, false, y, mean, rstd);
        return y.toFloats();
    });

    static Scenario reduce(int outer, int n, int inner) {
        return new Scenario("reduce SUM [" + outer + ", " + n + ", " + inner + "]", be -> {
            Tensor x = upload(be, random(4, outer * n * inner), outer, n, inner), o = Tensor.empty(be, DType.F32, outer, inner);
            be.reduce(Ops.Reduce.SUM, x, outer, n, inner, o);
            return o.toFloats();
        });
    }

    static final Scenario UPSAMPLE_BACKWARD = new Scenario("upsample backward [2, 3, 5, 7]", be -> {
        Tensor gy = upload(be, random(5, 2 * 3 * 10 * 14), 2, 3, 10, 14), gx = Tensor.empty(be, DType.F32, 2, 3, 5, 7);
        be.upsampleNearest2xBackward(gy, gx);
        return gx.toFloats();
    });

    static final Scenario ATTENTION = new Scenario("attention forward B=2 L=19 S=23 D=80", be -> {
        Tensor q = upload(be, random(6, 2 * 19 * 80), 2, 19, 80), k = upload(be, random(7, 2 * 23 * 80), 2, 23, 80),
                v = upload(be, random(8, 2 * 23 * 80), 2, 23, 80);
        Tensor o = Tensor.empty(be, DType.F32, 2, 19, 80), lse = Tensor.empty(be, DType.F32, 2, 19);
        be.attention(q, k, v, 1 / Math.sqrt(80), o, lse);
        return o.toFloats();
    });

    /** Runs {@code op} on {@code be} at math precision p where be is a CUDA backend (the CPU computes float32). */
    static float[] atPrecision(Backend be, MathPrecision p, Function<Backend, float[]> op) {
        if (!(be instanceof CudaBackend cb)) return op.apply(be);
        cb.setPrecision(p);
        try {
            return op.apply(be);
        } finally {
            cb.setPrecision(MathPrecision.FP32);
        }
    }

    static Tensor[] attentionInputs(Backend be, int b, int l, int s, int d, int dv) {
        return new Tensor[]{upload(be, random(9, b * l * d), b, l, d), upload(be, random(10, b * s * d), b, s, d),
                upload(be, random(11, b * s * dv), b, s, dv)};
    }

    /** The tensor-core forward (BF16: within bf16 rounding of the CPU's float32 result). */
    static final Scenario ATTENTION_TC = new Scenario("attention forward, BF16 tensor cores, B=2 L=37 S=45 D=40 Dv=24",
            be -> atPrecision(be, MathPrecision.BF16, x -> {
                Tensor[] in = attentionInputs(x, 2, 37, 45, 40, 24);
                Tensor o = Tensor.empty(x, DType.F32, 2, 37, 24), lse = Tensor.empty(x, DType.F32, 2, 37);
                x.attention(in[0], in[1], in[2], 1 / Math.sqrt(40), o, lse);
                return o.toFloats();
            }), 3e-2);

    /** The tensor-core forward with BF16 q, k, v and out (read and written as bfloat16 by the kernel). */
    static final Scenario ATTENTION_TC_BF16_IO = new Scenario("attention forward, BF16 tensor cores, BF16 operands, B=2 L=37 S=45 D=40 Dv=24",
            be -> atPrecision(be, MathPrecision.BF16, x -> {
                Tensor[] in = attentionInputs(x, 2, 37, 45, 40, 24);
                Tensor[] h = new Tensor[3];
                for (int i = 0; i < 3; i++) {
                    h[i] = Tensor.empty(x, DType.BF16, in[i].shape());
                    x.copy(in[i], h[i]);
                }
                Tensor o = Tensor.empty(x, DType.BF16, 2, 37, 24), lse = Tensor.empty(x, DType.F32, 2, 37);
                x.attention(h[0], h[1], h[2], 1 / Math.sqrt(40), o, lse);
                return o.toFloats();
            }), 3e-2);

    /** The tensor-core backward (BF16): gq, gk, gv one after the other. */
    static final Scenario ATTENTION_TC_BACKWARD = new Scenario("attention backward, BF16 tensor cores, B=2 L=37 S=45 D=40 Dv=24",
            be -> atPrecision(be, MathPrecision.BF16, x -> {
                Tensor[] in = attentionInputs(x, 2, 37, 45, 40, 24);
                Tensor o = Tensor.empty(x, DType.F32, 2, 37, 24), lse = Tensor.empty(x, DType.F32, 2, 37);
                double scale = 1 / Math.sqrt(40);
                x.attention(in[0], in[1], in[2], scale, o, lse);
                Tensor go = upload(x, random(12, 2 * 37 * 24), 2, 37, 24);
                Tensor gq = Tensor.empty(x, DType.F32, 2, 37, 40), gk = Tensor.empty(x, DType.F32, 2, 45, 40),
                        gv = Tensor.empty(x, DType.F32, 2, 45, 24);
                x.attentionBackward(in[0], in[1], in[2], o, lse, go, scale, gq, gk, gv);
                float[] a = gq.toFloats(), bb = gk.toFloats(), c = gv.toFloats(), all = new float[a.length + bb.length + c.length];
                System.arraycopy(a, 0, all, 0, a.length);
                System.arraycopy(bb, 0, all, a.length, bb.length);
                System.arraycopy(c, 0, all, a.length + bb.length, c.length);
                return all;
            }), 3e-2);

    /** Values on a 1/8 grid in [-2, 2]: exact in bf16, so the tensor-core result equals the CPU's up to summation order. */
    static float[] bf16Exact(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (r.nextInt(33) - 16) / 8f;
        return v;
    }

    static final Scenario CONV_IGEMM = new Scenario("conv2d forward, implicit GEMM bf16, x [2, 19, 9, 11] w [21, 19, 3, 3]", be -> {
        Tensor x = upload(be, bf16Exact(9, 2 * 19 * 9 * 11), 2, 19, 9, 11), w = upload(be, bf16Exact(10, 21 * 19 * 9), 21, 19, 3, 3);
        Tensor y = Tensor.empty(be, DType.F32, 2, 21, 9, 11);
        if (!(be instanceof CudaBackend cb)) {
            be.conv2d(x, w, null, y, 1, 1);
            return y.toFloats();
        }
        cb.setPrecision(MathPrecision.BF16);
        cb.conv().setAlgorithm(ConvKernel.Algorithm.IGEMM);
        try {
            cb.conv2d(x, w, null, y, 1, 1);
            return y.toFloats();
        } finally {
            cb.setPrecision(MathPrecision.FP32);
            cb.conv().setAlgorithm(ConvKernel.Algorithm.AUTO);
        }
    });

    /** The halo kernel (3×3, W = 32: four rows a tile, one 32-channel slice), bf16-exact inputs. */
    static final Scenario CONV_HALO = new Scenario("conv2d forward, halo kernel bf16, x [1, 32, 4, 32] w [40, 32, 3, 3]",
            be -> haloForward(be, DType.F32));

    /** The same with a BF16 input and output (read and written as bfloat16 by the kernel, no staging). */
    static final Scenario CONV_HALO_BF16_IO = new Scenario("conv2d forward, halo kernel bf16, BF16 x [1, 32, 4, 32] and out",
            be -> haloForward(be, DType.BF16), 1e-2);

    /** conv2d of x [1, 32, 4, 32] (of dtype io, as is the output) by w [40, 32, 3, 3] F32; at BF16 precision on CUDA. */
    static float[] haloForward(Backend be, DType io) {
        Tensor x = Tensor.empty(be, io, 1, 32, 4, 32), w = upload(be, bf16Exact(12, 40 * 32 * 9), 40, 32, 3, 3);
        be.write(x, bf16Exact(11, 32 * 4 * 32));
        Tensor y = Tensor.empty(be, io, 1, 40, 4, 32);
        if (!(be instanceof CudaBackend cb)) {
            be.conv2d(x, w, null, y, 1, 1);
            return y.toFloats();
        }
        return atPrecision(cb, MathPrecision.BF16, c -> {
            c.conv2d(x, w, null, y, 1, 1);
            return y.toFloats();
        });
    }

    /** The weight gradient on the halo kernel (W = 32; 18 fragments of (16 channels, tap) in 3 blocks), bf16-exact inputs. */
    static final Scenario CONV_HALO_WGRAD = new Scenario("conv2d weight gradient, halo kernel bf16, x [2, 32, 4, 32] gy [2, 40, 4, 32]", be -> {
        Tensor x = upload(be, bf16Exact(17, 2 * 32 * 4 * 32), 2, 32, 4, 32), gy = upload(be, bf16Exact(18, 2 * 40 * 4 * 32), 2, 40, 4, 32);
        Tensor gw = Tensor.empty(be, DType.F32, 40, 32, 3, 3);
        return atPrecision(be, MathPrecision.BF16, c -> {
            c.conv2dBackwardWeight(x, gy, gw, 1, 1);
            return gw.toFloats();
        });
    });

    /** The halo kernel with the group norm + SiLU applied on load, against the CPU's groupNorm then conv2d (bf16 rounding). */
    static final Scenario CONV_HALO_NORM = new Scenario("groupNormSiluConv2dAdd, halo kernel bf16, x [1, 32, 4, 32] w [40, 32, 3, 3]", be -> {
        Tensor x = upload(be, random(13, 32 * 4 * 32), 1, 32, 4, 32), w = upload(be, random(14, 40 * 32 * 9), 40, 32, 3, 3);
        Tensor ga = upload(be, random(15, 32), 32), bt = upload(be, random(16, 32), 32);
        Tensor mean = Tensor.empty(be, DType.F32, 1, 4), rstd = Tensor.empty(be, DType.F32, 1, 4), y = Tensor.empty(be, DType.F32, 1, 40, 4, 32);
        if (!(be instanceof CudaBackend cb)) {
            Tensor h = Tensor.empty(be, DType.F32, 1, 32, 4, 32);
            be.groupNorm(x, ga, bt, 4, 1e-5, true, h, mean, rstd);
            be.conv2d(h, w, null, y, 1, 1);
            return y.toFloats();
        }
        // the statistics from the CPU (a mutant library holds the conv family only)
        Backend host = ddpm.engine.Backends.cpu();
        Tensor xc = upload(host, random(13, 32 * 4 * 32), 1, 32, 4, 32), mc = Tensor.empty(host, DType.F32, 1, 4),
                rc = Tensor.empty(host, DType.F32, 1, 4);
        host.groupNorm(xc, upload(host, random(15, 32), 32), upload(host, random(16, 32), 32), 4, 1e-5, true,
                Tensor.empty(host, DType.F32, 1, 32, 4, 32), mc, rc);
        be.write(mean, mc.toFloats());
        be.write(rstd, rc.toFloats());
        return atPrecision(cb, MathPrecision.BF16, c -> {
            cb.conv().forwardNormed(x, mean, rstd, ga, bt, 4, w, null, null, null, y, 1, 1);
            return y.toFloats();
        });
    }, 3e-2);

    /** float32 → bfloat16 → float32 of values whose dropped bits are random: the rounding, exactly. */
    static final Scenario BF16_ROUND_TRIP = new Scenario("copy F32 -> BF16 -> F32, 1001 values", be -> {
        Tensor x = upload(be, random(11, 1001), 1001), h = Tensor.empty(be, DType.BF16, 1001), y = Tensor.empty(be, DType.F32, 1001);
        be.copy(x, h);
        be.copy(h, y);
        return y.toFloats();
    }, 0);

    /** float32 + float32 stored as bfloat16 (an exact sum, then the store's rounding), 1001 values. */
    static final Scenario BF16_STORE = new Scenario("binary ADD of F32 operands into BF16, 1001 values", be -> {
        Tensor a = upload(be, random(12, 1001), 1001), b = upload(be, random(13, 1001), 1001), o = Tensor.empty(be, DType.BF16, 1001);
        be.binary(Ops.Binary.ADD, a, b, o);
        return o.toFloats();
    }, 0);

    /** A mutation: in {@code file}, the one occurrence of {@code from} becomes {@code to}. */
    record Mutant(String name, String family, String file, String from, String to, Scenario scenario, boolean barrier) {}

    static final List<Mutant> MUTANTS = List.of(
            new Mutant("cast_f32_bf16 truncating instead of rounding to nearest even", "elementwise", "elementwise.cu",
                    "out[i] = __float2bfloat16_rn(x[i]);", "out[i] = __float2bfloat16_rn(__int_as_float(__float_as_int(x[i]) & 0xffff0000));",
                    BF16_ROUND_TRIP, false),
            new Mutant("bfloat16 stores (st in common.cuh) truncating instead of rounding", "elementwise", "common.cuh",
                    "((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(v);",
                    "((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(__int_as_float(__float_as_int(v) & 0xffff0000));", BF16_STORE, false),
            new Mutant("block_sum without its first __syncthreads", "group_norm", "common.cuh",
                    "    if (lane == 0) scratch[warp] = v;\n    __syncthreads();\n", "    if (lane == 0) scratch[warp] = v;\n",
                    GROUP_NORM, true),
            new Mutant("block_sum without its trailing __syncthreads", "group_norm", "common.cuh",
                    "    t = warp_sum(t);\n    __syncthreads();\n    return t;", "    t = warp_sum(t);\n    return t;",
                    GROUP_NORM, true),
            new Mutant("reduce_cols without its __syncthreads", "reduce", "reduce.cu",
                    "        sh[threadIdx.y][threadIdx.x] = acc;\n        __syncthreads();\n",
                    "        sh[threadIdx.y][threadIdx.x] = acc;\n", reduce(3, 37, 45), true),
            new Mutant("reduce_rows_warp reading one element past its row (k <= n)", "reduce", "reduce.cu",
                    "for (int k = lane; k < n; k += 32)", "for (int k = lane; k <= n; k += 32)", reduce(9, 37, 1), false),
            new Mutant("upsample2x_bwd summing a wrong neighbour (2W - 1 for 2W + 1)", "upsample", "upsample.cu",
                    "ld(gy, dt, 1, g + 2 * W + 1))", "ld(gy, dt, 1, g + 2 * W - 1))", UPSAMPLE_BACKWARD, false),
            new Mutant("attention tensor-core store writing float32 whatever the output's dtype", "attention", "attention.cu",
                    "st(dst, dt, bit, base + (size_t)r * cols + c,", "st(dst, 0, bit, base + (size_t)r * cols + c,", ATTENTION_TC_BF16_IO, false),
            new Mutant("attention tile_dot dropping the feature chunk's offset", "attention", "attention.cu",
                    "acc[i] = fmaf(R[(r0 + 4 * i) * Dr + d0 + dd], kv, acc[i]);",
                    "acc[i] = fmaf(R[(r0 + 4 * i) * Dr + dd], kv, acc[i]);", ATTENTION, false),
            new Mutant("attention tensor-core forward without the __syncwarp between the scores' store and the softmax",
                    "attention", "attention.cu",
                    "        wmma::store_matrix_sync(Sw + 16, s[1], lds, wmma::mem_row_major);\n        __syncwarp();\n",
                    "        wmma::store_matrix_sync(Sw + 16, s[1], lds, wmma::mem_row_major);\n", ATTENTION_TC, true),
            new Mutant("attention tensor-core dK/dV without the __syncthreads handing dPᵀ between warps", "attention", "attention.cu",
                    "            wmma::store_matrix_sync(Xg + 16, t[1], ldx, wmma::mem_row_major);\n        }\n        __syncthreads();\n",
                    "            wmma::store_matrix_sync(Xg + 16, t[1], ldx, wmma::mem_row_major);\n        }\n",
                    ATTENTION_TC_BACKWARD, true),
            new Mutant("conv implicit GEMM without the barrier after staging a tile", "conv", "conv.cu",
                    "        __syncthreads();\n        if (k0 + BK < kEnd) load(k0 + BK);",
                    "        if (k0 + BK < kEnd) load(k0 + BK);", CONV_IGEMM, true),
            new Mutant("conv implicit GEMM gathering column kh for kw", "conv", "conv.cu",
                    "    int ih = ih0 + kh, iw = iw0 + kw;\n    return ok",
                    "    int ih = ih0 + kh, iw = iw0 + kh;\n    return ok", CONV_IGEMM, false),
            new Mutant("conv halo without the barrier after staging a tap's A", "conv", "conv.cu",
                    "            storeA();\n            __syncthreads();", "            storeA();\n", CONV_HALO, true),
            new Mutant("conv halo reading the tap's row offset for its column offset", "conv", "conv.cu",
                    "fc[j] + tw) * LDH + ks", "fc[j] + th) * LDH + ks", CONV_HALO, false),
            new Mutant("conv halo reading its input as float32 whatever its dtype", "conv", "conv.cu",
                    "v = ld(x, dt, 0, xi + (size_t)c * H * W", "v = ld(x, 0, 0, xi + (size_t)c * H * W", CONV_HALO_BF16_IO, false),
            new Mutant("conv halo applying the group norm without its SiLU", "conv", "conv.cu",
                    "                    v = v * sigmoid_acc(v);\n", "", CONV_HALO_NORM, false),
            new Mutant("conv halo weight gradient taking the tap's row for its column", "conv", "conv.cu",
                    "tapOff[j] = th * HWd + tap - th * 3;", "tapOff[j] = th * HWd + th;", CONV_HALO_WGRAD, false),
            // right values on the CPU, wrong on a GPU: only the WMMA alignment check sees it
            new Mutant("conv staging tiles with rows of 18 floats (72 bytes: not a multiple of 16)", "conv", "conv.cu",
                    "BK = 32, LDC = 20;", "BK = 32, LDC = 18;", CONV_IGEMM, false));

    static double relErr(float[] ref, float[] got) {
        double max = 1e-30, err = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Float.isNaN(got[i]) != Float.isNaN(ref[i])) return Double.POSITIVE_INFINITY;
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs((double) ref[i] - got[i]));
        }
        return err / max;
    }

    /** Null when the backend's result matches the CPU, else how it failed. */
    static String verdict(Backend be, Scenario s) {
        try (Scope ignored = Scope.open()) {
            float[] ref = s.run().apply(Backends.cpu());
            float[] got;
            try {
                got = s.run().apply(be);
            } catch (CudaException e) {
                return "check: " + e.getMessage();
            }
            double err = relErr(ref, got);
            return err <= s.tol() ? null : "parity: max rel err " + err + " against the CPU";
        }
    }

    @Test
    void everyMutantIsCaughtAndTheOriginalsPass() throws Exception {
        List<String> report = new ArrayList<>();
        for (Mutant m : MUTANTS) {
            assertEquals(null, verdict(original, m.scenario()), "the unmutated kernels pass " + m.scenario().what());
            Path src = HostBuilds.MODULE.resolve("target/host-test/mutants/" + m.family() + "-" + MUTANTS.indexOf(m) + "/src");
            Files.createDirectories(src);
            List<String> files = new ArrayList<>(List.of(m.family() + ".cu", "common.cuh"));
            if (m.scenario() == CONV_HALO_BF16_IO || m.scenario() == ATTENTION_TC_BF16_IO)
                files.add("elementwise.cu");   // their BF16 operands are cast on the device
            for (String f : files)
                Files.copy(HostBuilds.CUDA.resolve(f), src.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            String text = Files.readString(src.resolve(m.file()));
            int at = text.indexOf(m.from());
            assertTrue(at >= 0 && text.indexOf(m.from(), at + 1) < 0, m.name() + ": the text to mutate must occur exactly once in " + m.file());
            Files.writeString(src.resolve(m.file()), text.replace(m.from(), m.to()));
            Backend mutant = new CudaBackend(Device.cuda(0), HostDriver.open(HostBuilds.build("mutant-" + MUTANTS.indexOf(m), src)));
            String v = verdict(mutant, m.scenario());
            report.add(m.name() + " -> " + (v == null ? "NOT CAUGHT" : v.lines().findFirst().orElse(v)));
            if (v == null) fail(m.name() + " was not caught by " + m.scenario().what());
            if (m.barrier()) assertTrue(v.startsWith("check:") && v.contains("race"), m.name() + " must be reported by the race check: " + v);
        }
        report.forEach(r -> System.out.println("mutant: " + r));
    }
}
