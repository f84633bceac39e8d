package ddpm.kernels.cuda;

import ddpm.engine.Broadcast;
import ddpm.engine.DType;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;

import java.util.function.Supplier;

/**
 * Launchers for elementwise.cu. All 1-D grid-stride, 256 threads, ≤ 16 blocks per SM. Every
 * arithmetic kernel reads and writes F32 or BF16 operands in any mix (a dtype mask, {@link
 * CudaBackend#dtypes}), computing in float32.
 * Bytes moved at F32 (BF16 operands move half): unary 8n, unaryBackward 16n, binary 12n (flat;
 * broadcast operands are re-read from cache), affine/pow/clamp 8n, where 12n + cond; flops ≈ n
 * (transcendentals count as one).
 */
public final class ElementwiseKernel {
    private final CudaBackend be;
    private final KernelModule mod;

    ElementwiseKernel(CudaBackend be) {
        this.be = be;
        this.mod = new KernelModule(be, "elementwise");
    }

    void unary(Ops.Unary op, Tensor x, Tensor out) {
        int dt = CudaBackend.dtypes("unary " + op, x, out);
        mod.launch1d("unary_fwd", out.numel(), new Args().i(op.ordinal()).ptr(x).ptr(out).i((int) out.numel()).i(dt),
                () -> "unary " + op + " " + x.describe());
    }

    void unaryBackward(Ops.Unary op, Tensor x, Tensor y, Tensor gy, Tensor gx) {
        int dt = CudaBackend.dtypes("unaryBackward " + op, x, y, gy, gx);
        int n = (int) gx.numel();
        Supplier<String> what = () -> "unaryBackward " + op + " " + x.describe();
        CudaAllocator.Block tmp = null;
        long yAddr;
        if (y != null) {
            yAddr = ((CudaStorage) y.storage()).address(y.offset());
        } else {   // the derivative of some ops is written in y: recompute it, in float32 (bit 1 clear)
            tmp = be.scratch(n);
            yAddr = tmp.address();
            mod.launch1d("unary_fwd", n, new Args().i(op.ordinal()).ptr(x).addr(yAddr).i(n).i(dt & 1), what);
        }
        try {
            mod.launch1d("unary_bwd", n, new Args().i(op.ordinal()).ptr(x).addr(yAddr).ptr(gy).ptr(gx).i(n).i(dt), what);
        } finally {
            if (tmp != null) be.allocator().release(tmp);
        }
    }

    void binary(Ops.Binary op, Tensor a, Tensor b, Tensor out) {
        int dt = CudaBackend.dtypes("binary " + op, a, b, out);
        long n = out.numel();
        int ni = (int) n;
        if (a.numel() == n && b.numel() == n) {
            mod.launch1d("binary_flat", n, new Args().i(op.ordinal()).ptr(a).ptr(b).ptr(out).i(ni).i(dt),
                    () -> "binary " + op + " " + a.describe() + ", " + b.describe());
        } else if (b.numel() == 1 && a.numel() == n) {
            mod.launch1d("binary_scalar", n, new Args().i(op.ordinal()).ptr(a).ptr(b).ptr(out).i(ni).i(0).i(dt),
                    () -> "binary " + op + " " + a.describe() + ", " + b.describe());
        } else if (a.numel() == 1 && b.numel() == n) {
            mod.launch1d("binary_scalar", n, new Args().i(op.ordinal()).ptr(a).ptr(b).ptr(out).i(ni).i(1).i(dt),
                    () -> "binary " + op + " " + a.describe() + ", " + b.describe());
        } else {
            Broadcast p = Bcast.plan(out.shape(), a.shape(), b.shape());
            mod.launch1d("binary_bcast", n, new Args().i(op.ordinal()).ptr(a).ptr(b).ptr(out).i(ni).i(p.rank)
                            .dims(p.dims).dims(p.strides[0]).dims(p.strides[1]).i(dt),
                    () -> "binary " + op + " " + a.describe() + ", " + b.describe() + " -> " + out.describe());
        }
    }

    /** cond is F32 or I32 (a BF16 condition is widened by the backend). */
    void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        int dt = CudaBackend.dtypes("where", a, b, out);
        boolean condInt = cond.dtype() == DType.I32;
        if (!condInt) CudaBackend.f32("where (cond)", cond);
        Broadcast p = Bcast.plan(out.shape(), cond.shape(), a.shape(), b.shape());
        mod.launch1d("where_bcast", out.numel(), new Args().ptr(cond).i(condInt ? 1 : 0).ptr(a).ptr(b).ptr(out)
                        .i((int) out.numel()).i(p.rank).dims(p.dims).dims(p.strides[0]).dims(p.strides[1]).dims(p.strides[2]).i(dt),
                () -> "where " + cond.describe() + ", " + a.describe() + ", " + b.describe());
    }

    void affine(Tensor x, double scale, double shift, Tensor out) {
        int dt = CudaBackend.dtypes("affine", x, out);
        mod.launch1d("affine", out.numel(), new Args().ptr(x).f(scale).f(shift).ptr(out).i((int) out.numel()).i(dt),
                () -> "affine " + x.describe());
    }

    void powScalar(Tensor x, double p, Tensor out) {
        int dt = CudaBackend.dtypes("powScalar", x, out);
        mod.launch1d("pow_scalar", out.numel(), new Args().ptr(x).f(p).ptr(out).i((int) out.numel()).i(dt),
                () -> "powScalar " + x.describe() + " ^ " + p);
    }

    void clamp(Tensor x, double lo, double hi, Tensor out) {
        int dt = CudaBackend.dtypes("clamp", x, out);
        mod.launch1d("clamp_k", out.numel(), new Args().ptr(x).f(lo).f(hi).ptr(out).i((int) out.numel()).i(dt),
                () -> "clamp " + x.describe());
    }

    /** F32 ↔ I32 (Java's cast semantics) and F32 ↔ BF16 (to nearest even, as {@link ddpm.engine.BFloat16}). */
    void cast(Tensor src, Tensor dst) {
        String k = switch (src.dtype().name() + ">" + dst.dtype().name()) {
            case "F32>I32" -> "cast_f32_i32";
            case "I32>F32" -> "cast_i32_f32";
            case "F32>BF16" -> "cast_f32_bf16";
            case "BF16>F32" -> "cast_bf16_f32";
            default -> throw new IllegalArgumentException("CUDA cast: no kernel for " + src.dtype() + " -> " + dst.dtype());
        };
        mod.launch1d(k, dst.numel(), new Args().ptr(src).ptr(dst).i((int) dst.numel()),
                () -> "copy " + src.describe() + " -> " + dst.describe());
    }

    /** Every element of a BF16 tensor set to the bfloat16 bit pattern {@code bits}. */
    void fillBf16(Tensor dst, short bits) {
        mod.launch1d("fill_u16", dst.numel(), new Args().ptr(dst).i(bits & 0xFFFF).i((int) dst.numel()),
                () -> "fill " + dst.describe());
    }
}
