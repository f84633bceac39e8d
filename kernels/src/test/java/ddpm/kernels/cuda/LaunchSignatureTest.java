package ddpm.kernels.cuda;

import ddpm.engine.DType;
import ddpm.engine.Ops;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Without a GPU: drives every {@link CudaBackend} method through the dry-run seam and checks each
 * recorded launch against the committed PTX — the kernel exists, the argument count and every
 * argument's size match its .param (u64 pointers, u32/s32, f32, f64, 32-byte Dims8 structs) — and
 * that the launch is legal on an H100 (block ≤ 1024 threads and ≤ .maxntid, grid.y/z ≤ 65535, no
 * zero grid, dynamic + static shared ≤ 227 KB, above 48 KB only after cuFuncSetAttribute).
 * Every pointer argument (kernels, cuBLAS, memset, copy) must point into a tensor passed to the
 * call (at or after its offset: tensors here start 3 elements into their storage) or into a
 * scratch block; cuBLAS calls must have legal leading dimensions and stay inside their operands.
 * Finally every .entry of the PTX must have been launched at least once.
 */
class LaunchSignatureTest {
    static final int SHARED_DEFAULT = 48 * 1024;

    final DryCuda d = new DryCuda(false);
    final CudaBackend be = d.be;
    final Map<String, Map<String, Ptx.Entry>> ptx = Ptx.all();
    final Map<String, Integer> allowed = new HashMap<>();
    final TreeSet<String> launched = new TreeSet<>();
    final List<String> problems = new ArrayList<>();

    Tensor f(int... s) { return d.f32(s); }

    Tensor ints(int... s) { return d.i32(s); }

    interface Op { void run(); }

    /** Runs op, then checks every call it recorded; {@code ts} are the tensors the op may touch. */
    void call(String what, Op op, Tensor... ts) { call(what, false, op, ts); }

    void call(String what, boolean nullAllowed, Op op, Tensor... ts) {
        int from = d.run.calls.size();
        op.run();
        List<DryRun.Call> calls = d.run.calls.subList(from, d.run.calls.size());
        for (DryRun.Call c : calls) check(what, c, nullAllowed, ts);
    }

    void problem(String what, DryRun.Call c, String msg) { problems.add(what + ": " + msg + "\n      in " + c); }

    /** The region [lo, hi) a pointer may address: a passed tensor's elements, or a scratch block. */
    long[] region(long p, Tensor[] ts) {
        for (Tensor t : ts)
            if (t != null && p >= DryCuda.start(t) && p < Math.max(DryCuda.end(t), DryCuda.start(t) + 1))
                return new long[]{DryCuda.start(t), DryCuda.end(t)};
        Map.Entry<Long, Long> b = d.run.blocks.floorEntry(p);
        if (b != null && p < b.getKey() + b.getValue() && !d.tensorBlocks.containsKey(b.getKey()))
            return new long[]{b.getKey(), b.getKey() + b.getValue()};   // scratch
        return null;
    }

    void checkPtr(String what, DryRun.Call c, String name, long p, boolean nullAllowed, Tensor[] ts) {
        if (p == 0) {
            if (!nullAllowed) problem(what, c, name + " is a null pointer");
            return;
        }
        if (region(p, ts) == null) {
            Map.Entry<Long, Long> b = d.run.blocks.floorEntry(p);
            String where = b == null ? "no block" : "block 0x" + Long.toHexString(b.getKey()) + " + " + (p - b.getKey()) + " B";
            Tensor owner = b == null ? null : d.tensorBlocks.get(b.getKey());
            problem(what, c, name + " 0x" + Long.toHexString(p) + " (" + where + ") points into no tensor of the call"
                    + (owner != null && p < DryCuda.start(owner) ? " — before the tensor's offset (offset not added?)" : ""));
        }
    }

    void check(String what, DryRun.Call c, boolean nullAllowed, Tensor[] ts) {
        switch (c.kind) {
            case LAUNCH -> checkLaunch(what, c, nullAllowed, ts);
            case GEMM -> checkGemm(what, c, ts);
            case MEMSET -> {
                checkPtr(what, c, "memset dst", c.ptrs[0], false, ts);
                long[] r = region(c.ptrs[0], ts);
                if (r != null && c.ptrs[0] + 4 * c.longs[0] > r[1]) problem(what, c, "memset runs past its tensor");
            }
            case MEMCPY -> {
                checkPtr(what, c, "copy dst", c.ptrs[0], false, ts);
                checkPtr(what, c, "copy src", c.ptrs[1], false, ts);
            }
            case ALLOW_SHARED -> {
                if (c.shared > DryCuda.MAX_SHARED_OPTIN) problem(what, c, "opt-in above the device maximum");
                allowed.merge(c.family + "." + c.kernel, c.shared, Math::max);
            }
            case MATH_MODE -> { }
        }
    }

    void checkLaunch(String what, DryRun.Call c, boolean nullAllowed, Tensor[] ts) {
        Map<String, Ptx.Entry> fam = ptx.get(c.family);
        if (fam == null) { problem(what, c, "no PTX family " + c.family); return; }
        Ptx.Entry e = fam.get(c.kernel);
        if (e == null) { problem(what, c, "no .entry " + c.kernel + " in " + c.family + ".ptx (has " + fam.keySet() + ")"); return; }
        launched.add(c.family + "." + c.kernel);
        if (e.params().size() != c.args.size()) {
            problem(what, c, "passes " + c.args.size() + " args, PTX declares " + e.params().size() + " " + e.params());
        } else {
            for (int i = 0; i < c.args.size(); i++) {
                Args.Arg a = c.args.get(i);
                Ptx.Param p = e.params().get(i);
                boolean ok = switch (a.kind()) {
                    case PTR, I64 -> p.bytes() == 8 && (p.type().equals("u64") || p.type().equals("s64") || p.type().equals("b64"));
                    case I32 -> p.bytes() == 4 && (p.type().equals("u32") || p.type().equals("s32") || p.type().equals("b32"));
                    case F32 -> p.type().equals("f32");
                    case F64 -> p.type().equals("f64");
                    case DIMS8 -> p.type().equals("b8") && p.bytes() == 32 && p.align() <= 4;
                };
                if (!ok) problem(what, c, "arg " + i + " is " + a.kind() + " (" + a.kind().bytes + " B) but PTX param " + i + " is " + p);
                if (a.kind() == Args.Kind.PTR) checkPtr(what, c, "arg " + i, a.bits(), nullAllowed, ts);
                if (a.kind() == Args.Kind.DIMS8) for (int v : a.dims()) if (v < 0) problem(what, c, "negative Dims8 entry");
            }
        }
        int[] g = c.grid, b = c.block;
        long threads = (long) b[0] * b[1] * b[2];
        if (g[0] < 1 || g[1] < 1 || g[2] < 1) problem(what, c, "empty grid");
        if (g[1] > 65535 || g[2] > 65535) problem(what, c, "grid.y/z above 65535");
        if (b[0] < 1 || b[1] < 1 || b[2] < 1 || threads > 1024 || b[2] > 64) problem(what, c, "illegal block");
        if (e.maxThreads() > 0 && threads > e.maxThreads())
            problem(what, c, threads + " threads but __launch_bounds__ (.maxntid) is " + e.maxThreads());
        long shared = (long) c.shared + e.staticShared();
        if (shared > DryCuda.MAX_SHARED_OPTIN) problem(what, c, "shared memory " + shared + " B above 227 KB");
        if (shared > SHARED_DEFAULT && allowed.getOrDefault(c.family + "." + c.kernel, 0) < c.shared)
            problem(what, c, "dynamic shared " + c.shared + " B (+ static " + e.staticShared()
                    + ") above 48 KB without cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) first");
    }

    /** cuBLAS column-major sgemm: C (m×n) = op(A)·op(B); ld ≥ rows; every batch inside its operand. */
    void checkGemm(String what, DryRun.Call c, Tensor[] ts) {
        int opA = c.ints[0], opB = c.ints[1], m = c.ints[2], n = c.ints[3], k = c.ints[4];
        int lda = c.ints[5], ldb = c.ints[6], ldc = c.ints[7], batch = c.ints[8];
        int rowsA = opA == 0 ? m : k, colsA = opA == 0 ? k : m;
        int rowsB = opB == 0 ? k : n, colsB = opB == 0 ? n : k;
        if (m < 1 || n < 1 || k < 1 || batch < 1) problem(what, c, "empty GEMM issued");
        if (lda < Math.max(1, rowsA)) problem(what, c, "lda " + lda + " < rows of A " + rowsA);
        if (ldb < Math.max(1, rowsB)) problem(what, c, "ldb " + ldb + " < rows of B " + rowsB);
        if (ldc < Math.max(1, m)) problem(what, c, "ldc " + ldc + " < m " + m);
        if (batch > 1 && c.longs[2] < (long) (n - 1) * ldc + m) problem(what, c, "output batches overlap (strideC " + c.longs[2] + ")");
        String[] names = {"A", "B", "C"};
        long[] extent = {
                ((long) (colsA - 1) * lda + rowsA) + (long) (batch - 1) * c.longs[0],
                ((long) (colsB - 1) * ldb + rowsB) + (long) (batch - 1) * c.longs[1],
                ((long) (n - 1) * ldc + m) + (long) (batch - 1) * c.longs[2]};
        for (int i = 0; i < 3; i++) {
            checkPtr(what, c, "cuBLAS " + names[i], c.ptrs[i], false, ts);
            long[] r = region(c.ptrs[i], ts);
            if (r != null && c.ptrs[i] + 4 * extent[i] > r[1])
                problem(what, c, "cuBLAS " + names[i] + " reads/writes " + extent[i] + " floats from 0x" + Long.toHexString(c.ptrs[i])
                        + ", past the end of its tensor/block by " + ((c.ptrs[i] + 4 * extent[i] - r[1]) / 4) + " floats");
        }
    }

    // ------------------------------------------------------------------ the drive
    void elementwise() {
        Tensor x = f(3, 5, 7), y = f(3, 5, 7), g = f(3, 5, 7), o = f(3, 5, 7);
        call("unary", () -> be.unary(Ops.Unary.SILU, x, o), x, o);
        call("unaryBackward", () -> be.unaryBackward(Ops.Unary.TANH, x, y, g, o), x, y, g, o);
        call("unaryBackward (y null)", () -> be.unaryBackward(Ops.Unary.SQRT, x, null, g, o), x, g, o);
        Tensor s = f(1), row = f(7), col = f(3, 1, 1);
        call("binary flat", () -> be.binary(Ops.Binary.ADD, x, y, o), x, y, o);
        call("binary scalar b", () -> be.binary(Ops.Binary.MUL, x, s, o), x, s, o);
        call("binary scalar a", () -> be.binary(Ops.Binary.SUB, s, x, o), x, s, o);
        call("binary bcast", () -> be.binary(Ops.Binary.DIV, row, col, o), row, col, o);
        Tensor cf = f(5, 1), ci = ints(3, 1, 7);
        call("where f32", () -> be.where(cf, x, row, o), cf, x, row, o);
        call("where i32", () -> be.where(ci, s, x, o), ci, s, x, o);
        call("affine", () -> be.affine(x, 2, 1, o), x, o);
        call("powScalar", () -> be.powScalar(x, 3, o), x, o);
        call("clamp", () -> be.clamp(x, -1, 1, o), x, o);
        Tensor oi = ints(3, 5, 7);
        call("copy f32->i32", () -> be.copy(x, oi), x, oi);
        call("copy i32->f32", () -> be.copy(oi, o), oi, o);
        call("copy f32", () -> be.copy(x, o), x, o);
        call("fill", () -> be.fill(o, 1.5), o);
        call("write/read", () -> { be.write(o, new float[(int) o.numel()]); be.readFloats(o); be.readInts(oi); }, o, oi);
    }

    void reduce() {
        for (Ops.Reduce op : Ops.Reduce.values()) {
            Tensor x = f(7, 33, 1), o = f(7);
            call("reduce rows warp", () -> be.reduce(op, x, 7, 33, 1, o), x, o);
        }
        Tensor x2 = f(5, 3000), o2 = f(5);
        call("reduce rows block", () -> be.reduce(Ops.Reduce.SUM, x2, 5, 3000, 1, o2), x2, o2);
        Tensor x3 = f(4, 9, 37), o3 = f(4, 37);
        call("reduce cols", () -> be.reduce(Ops.Reduce.MAX, x3, 4, 9, 37, o3), x3, o3);
        Tensor x4 = f(70000, 3, 2), o4 = f(70000, 2);
        call("reduce cols, outer > 65535", () -> be.reduce(Ops.Reduce.SUM, x4, 70000, 3, 2, o4), x4, o4);
        Tensor x5 = f(200000, 3), o5 = f(200000);
        call("reduce rows warp, many rows", () -> be.reduce(Ops.Reduce.SUM, x5, 200000, 3, 1, o5), x5, o5);
    }

    void softmaxAndLayout() {
        Tensor x = f(5, 7, 33), o = f(5, 7, 33), g = f(5, 7, 33);
        call("softmax", () -> be.softmax(x, o), x, o);
        Tensor gx = f(5, 7, 33);
        call("softmaxBackward", () -> be.softmaxBackward(o, g, gx), o, g, gx);
        Tensor p = f(2, 3, 4, 5), po = f(5, 3, 2, 4);
        call("permute", () -> be.permute(p, new int[]{3, 1, 0, 2}, po), p, po);
        Tensor big = f(2, 9, 4), part = f(2, 3, 4);
        call("writeSlice", () -> be.writeSlice(part, big, 1, 5), part, big);
        call("readSlice", () -> be.readSlice(big, part, 1, 2), part, big);
        Tensor up = f(2, 3, 5, 7), upo = f(2, 3, 10, 14);
        call("upsample", () -> be.upsampleNearest2x(up, upo), up, upo);
        call("upsample backward", () -> be.upsampleNearest2xBackward(upo, up), up, upo);
        Tensor table = f(11, 6), idx = ints(5), go = f(5, 6);
        call("gather", () -> be.gather(table, idx, go), table, idx, go);
        call("scatterAdd", () -> be.scatterAdd(go, idx, table), table, idx, go);
    }

    void matmul() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true})
                for (int[] bb : new int[][]{{3, 3}, {1, 3}, {3, 1}, {1, 1}}) {
                    int m = 5, k = 7, n = 4, batch = Math.max(bb[0], bb[1]);
                    Tensor a = ta ? f(bb[0], k, m) : f(bb[0], m, k), b = tb ? f(bb[1], n, k) : f(bb[1], k, n), o = f(batch, m, n);
                    call("matmul ta=" + ta + " tb=" + tb + " Ba=" + bb[0] + " Bb=" + bb[1],
                            () -> be.matmul(a, b, o, ta, tb, 1, 0.5), a, b, o);
                }
        Tensor a = f(6, 10), b = f(10, 3), o = f(6, 3);
        call("matmul rank 2", () -> be.matmul(a, b, o, false, false, 1, 0), a, b, o);
        Tensor a0 = f(6, 0), b0 = f(0, 3);
        call("matmul K = 0", () -> be.matmul(a0, b0, o, false, false, 1, 0.5), a0, b0, o);
        call("tf32 on/off", () -> { be.setTf32(true); be.setTf32(false); });
    }

    void conv() {
        int[][] cases = {{2, 3, 7, 9, 5, 3, 1, 1}, {2, 3, 7, 9, 5, 3, 2, 1}, {3, 4, 6, 5, 2, 1, 1, 0}, {3, 4, 6, 5, 2, 1, 2, 0},
                {2, 3, 5, 5, 4, 3, 1, 0}};
        long saved = ConvKernel.workspaceBytes;
        try {
            for (long ws : new long[]{saved, 3 * 4 * 27 * 63}) {
                ConvKernel.workspaceBytes = ws;
                for (int[] cs : cases) {
                    int n = cs[0], c = cs[1], h = cs[2], w = cs[3], o = cs[4], k = cs[5], st = cs[6], pad = cs[7];
                    int ho = (h + 2 * pad - k) / st + 1, wo = (w + 2 * pad - k) / st + 1;
                    Tensor x = f(n, c, h, w), wt = f(o, c, k, k), bias = f(o), y = f(n, o, ho, wo), gx = f(n, c, h, w), gw = f(o, c, k, k);
                    String what = "conv " + java.util.Arrays.toString(cs) + " ws " + ws;
                    call(what + " forward", () -> be.conv2d(x, wt, bias, y, st, pad), x, wt, bias, y);
                    call(what + " forward, no bias", () -> be.conv2d(x, wt, null, y, st, pad), x, wt, y);
                    call(what + " backward input", () -> be.conv2dBackwardInput(y, wt, gx, st, pad), y, wt, gx);
                    call(what + " backward weight", () -> be.conv2dBackwardWeight(x, y, gw, st, pad), x, y, gw);
                }
            }
        } finally {
            ConvKernel.workspaceBytes = saved;
        }
    }

    void normAndAttention() {
        for (boolean silu : new boolean[]{false, true}) {
            Tensor x = f(3, 12, 5, 7), gm = f(12), bt = f(12), o = f(3, 12, 5, 7), mean = f(3, 4), rstd = f(3, 4);
            call("groupNorm", () -> be.groupNorm(x, gm, bt, 4, 1e-5, silu, o, mean, rstd), x, gm, bt, o, mean, rstd);
            Tensor gy = f(3, 12, 5, 7), gx = f(3, 12, 5, 7), gg = f(12), gb = f(12);
            call("groupNormBackward", () -> be.groupNormBackward(x, gm, bt, mean, rstd, 4, silu, gy, gx, gg, gb),
                    x, gm, bt, mean, rstd, gy, gx, gg, gb);
        }
        for (int[] s : new int[][]{{3, 37, 45, 19, 23}, {2, 5, 3, 70, 129}, {2, 64, 64, 256, 256}, {1, 20, 1, 512, 512}}) {
            int b = s[0], l = s[1], sl = s[2], dd = s[3], dv = s[4];
            Tensor q = f(b, l, dd), k = f(b, sl, dd), v = f(b, sl, dv), o = f(b, l, dv), lse = f(b, l);
            String what = "attention " + java.util.Arrays.toString(s);
            call(what, () -> be.attention(q, k, v, 0.125, o, lse), q, k, v, o, lse);
            Tensor go = f(b, l, dv), gq = f(b, l, dd), gk = f(b, sl, dd), gv = f(b, sl, dv);
            call(what + " backward", () -> be.attentionBackward(q, k, v, o, lse, go, 0.125, gq, gk, gv),
                    q, k, v, o, lse, go, gq, gk, gv);
        }
    }

    void diffusionRngAdam() {
        Tensor x0 = f(4, 3, 5, 5), eps = f(4, 3, 5, 5), t = ints(4), a = f(10), s = f(10), o = f(4, 3, 5, 5), c = f(10, 5);
        call("qSample", () -> be.qSample(x0, eps, t, a, s, o), x0, eps, t, a, s, o);
        call("qSampleWithNoise", () -> be.diffusion().qSampleWithNoise(x0, t, a, s, 42, 7, eps, o), x0, eps, t, a, s, o);
        call("posteriorStep", () -> be.posteriorStep(x0, eps, o, t, a, s, c, o), x0, eps, o, t, a, s, c);
        call("posteriorStep (z null)", true, () -> be.posteriorStep(x0, eps, null, t, a, s, c, o), x0, eps, o, t, a, s, c);
        call("ddimStep", () -> be.ddimStep(x0, eps, o, t, c, 1, o), x0, eps, o, t, c);
        call("ddimStep (z null)", true, () -> be.ddimStep(x0, eps, null, t, c, 0, o), x0, eps, o, t, c);
        Tensor r = f(1001);
        call("randUniform", () -> be.randUniform(r, -1, 1L << 40), r);
        call("randNormal", () -> be.randNormal(r, 5, 3), r);
        call("dropoutMask", () -> be.dropoutMask(r, 0.1, 5, 3), r);
        Tensor p = f(1001), g = f(1001), m = f(1001), v = f(1001), e = f(1001);
        call("adam", () -> be.adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, 3, 0.5), p, g, m, v);
        call("adam coupled", () -> be.adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, false, 3, 1), p, g, m, v);
        call("ema", () -> be.ema(e, p, 0.999), e, p);
    }

    @Test
    void everyLaunchMatchesItsPtxSignatureAndIsLegal() {
        for (Map<String, Ptx.Entry> fam : ptx.values()) assertTrue(!fam.isEmpty(), "a PTX family without entries");
        elementwise();
        reduce();
        softmaxAndLayout();
        matmul();
        conv();
        normAndAttention();
        diffusionRngAdam();
        if (!problems.isEmpty()) fail(problems.size() + " problems:\n  " + String.join("\n  ", problems));
        TreeSet<String> all = new TreeSet<>();
        ptx.forEach((f, es) -> es.keySet().forEach(k -> all.add(f + "." + k)));
        all.removeAll(launched);
        assertEquals(new TreeSet<String>(), all, "PTX entries no CudaBackend method launched");
    }

    @Test
    void attentionBatchAboveGridLimitIsRefusedClearly() {
        Tensor q = f(65536, 1, 4), o = f(65536, 1, 4), lse = f(65536, 1);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> be.attention(q, q, q, 1, o, lse));
        assertTrue(e.getMessage().contains("65535"), e.getMessage());
    }

    @Test
    void ptxParsesAsExpected() {
        Ptx.Entry e = ptx.get("rng").get("dropout_mask");
        assertEquals(List.of("u64", "u32", "f64", "f32", "u64", "u64"), e.params().stream().map(Ptx.Param::type).toList());
        assertEquals(32, ptx.get("elementwise").get("binary_bcast").params().get(6).bytes());
        assertEquals(128, ptx.get("attention").get("attn_fwd").maxThreads());
        assertEquals(128 + 128 + 4 + 4, ptx.get("group_norm").get("group_norm_bwd").staticShared());   // accA, accB, scratch[0..1]
        assertTrue(ptx.get("reduce").get("reduce_cols").staticShared() >= 8 * 33 * 4);
    }

    @Test
    void devPtrViewsCarryTheirOffset() {
        DevPtr base = DevPtr.fake(0x1000);
        assertEquals(0x1000, base.address());
        assertEquals(0x1000 + 12, base.at(12).address());
        assertEquals(0x1000 + 20, base.at(12).at(8).address());
        Tensor t = f(4);
        assertEquals(DryCuda.start(t), ((CudaStorage) t.storage()).pointer(t.offset()).address());
        assertEquals(DType.F32, t.dtype());
    }
}
