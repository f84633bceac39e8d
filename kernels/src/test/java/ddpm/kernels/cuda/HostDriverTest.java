package ddpm.kernels.cuda;

import ddpm.engine.MathPrecision;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host driver itself, on the probe kernels of src/test/cuda/probe.cu: warp collectives with
 * warp-synchronous semantics, barriers, atomics, thread and block coordinates, dynamic shared memory,
 * parameter marshalling, launch limits, the column-major SGEMM, device memory; and that its checks
 * report a shared-memory race (with kernel, file and line), an out-of-bounds access (stopped before
 * it happens), a divergent barrier and a deadlock. Needs no GPU; skips where the host driver cannot
 * be built (no g++).
 */
class HostDriverTest {
    static HostDriver d;
    final List<Long> blocks = new ArrayList<>();

    @BeforeAll
    static void build() throws Exception {
        HostBuilds.assumeHostDriver();
        d = HostDriver.open(HostBuilds.build("probe", HostBuilds.MODULE.resolve("src/test/cuda")));
    }

    @AfterEach
    void free() {
        for (long b : blocks) d.free(b);
    }

    long alloc(long bytes) {
        long a = d.malloc(bytes);
        assertTrue(a != 0, "malloc " + bytes);
        blocks.add(a);
        return a;
    }

    long floats(float... v) {
        long a = alloc(4L * v.length);
        d.copyToDevice(a, v, v.length);
        return a;
    }

    float[] readFloats(long a, int n) {
        float[] v = new float[n];
        d.copyToHost(v, a, n);
        return v;
    }

    int[] readInts(long a, int n) {
        int[] v = new int[n];
        d.copyToHost(v, a, n);
        return v;
    }

    void launch(String kernel, int[] grid, int[] block, int shared, Args args) {
        d.launch(d.kernel("probe", kernel), grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, args,
                () -> "probe " + kernel);
    }

    void launch(String kernel, int grid, int block, Args args) {
        launch(kernel, new int[]{grid, 1, 1}, new int[]{block, 1, 1}, 0, args);
    }

    CudaException fails(String kernel, int grid, int block, Args args) {
        return assertThrows(CudaException.class, () -> launch(kernel, grid, block, args));
    }

    @Test void warpCollectives() {
        long out = alloc(4 * 9 * 32), dout = alloc(8 * 32);
        launch("probe_collectives", 1, 32, new Args().addr(out).addr(dout));
        int[] o = readInts(out, 9 * 32);
        int ballot = 0;
        for (int l = 1; l < 32; l += 2) ballot |= 1 << l;
        for (int l = 0; l < 32; l++) {
            assertEquals(l ^ 1, o[l], "shfl_xor lane " + l);
            assertEquals(l + 3 < 32 ? l + 3 : l, o[32 + l], "shfl_down lane " + l);
            assertEquals(l >= 2 ? l - 2 : l, o[64 + l], "shfl_up lane " + l);
            assertEquals(31 - l, o[96 + l], "shfl lane " + l);
            assertEquals(l ^ 4, o[128 + l], "shfl_xor width 8 lane " + l);
            assertEquals(ballot, o[160 + l], "ballot");
            assertEquals(1, o[192 + l], "any");
            assertEquals(1, o[224 + l], "all");
            assertEquals(496, o[256 + l], "warp_sum");
        }
        double[] dv = new double[32];
        long[] bits = new long[32];
        int[] raw = readInts(dout, 64);
        for (int l = 0; l < 32; l++) {
            bits[l] = (raw[2 * l] & 0xffffffffL) | ((long) raw[2 * l + 1] << 32);
            dv[l] = Double.longBitsToDouble(bits[l]);
            assertEquals(0.5 + ((l + 1) & 31), dv[l], "double through shfl lane " + l);
        }
    }

    @Test void blockBarriersAndBlockSum() {
        int blocksN = 3, per = 1001;
        float[] x = new float[blocksN * per];
        Random r = new Random(5);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        long xa = floats(x), out = alloc(4 * blocksN);
        launch("probe_block_sum", blocksN, 256, new Args().addr(xa).addr(out).i(per));
        float[] s = readFloats(out, blocksN);
        for (int b = 0; b < blocksN; b++) {
            double ref = 0;
            for (int i = 0; i < per; i++) ref += x[b * per + i];
            assertEquals(ref, s[b], 1e-4, "block " + b);
        }
    }

    @Test void atomicsFromEveryThread() {
        long c = floats(0), f = floats(0);
        d.memsetD32(c, 0, 1, () -> "counter");
        launch("probe_atomics", 5, 96, new Args().addr(c).addr(f));
        assertEquals(480, readInts(c, 1)[0]);
        assertEquals(240f, readFloats(f, 1)[0]);
    }

    @Test void coordinatesOfEveryThread() {
        int[] g = {3, 2, 2}, b = {4, 3, 2};
        int blocksN = 12, threads = 24;
        long out = alloc(4L * 4 * blocksN * threads);
        launch("probe_coordinates", g, b, 0, new Args().addr(out));
        int[] o = readInts(out, 4 * blocksN * threads);
        for (int bz = 0; bz < 2; bz++) for (int by = 0; by < 2; by++) for (int bx = 0; bx < 3; bx++)
            for (int tz = 0; tz < 2; tz++) for (int ty = 0; ty < 3; ty++) for (int tx = 0; tx < 4; tx++) {
                int bl = (bz * 2 + by) * 3 + bx, t = (tz * 3 + ty) * 4 + tx, i = 4 * (bl * threads + t);
                assertEquals(bx + 100 * by + 10000 * bz, o[i]);
                assertEquals(tx + 100 * ty + 10000 * tz, o[i + 1]);
                assertEquals(4 + 100 * 3 + 10000 * 2, o[i + 2]);
                assertEquals(3 + 100 * 2 + 10000 * 2, o[i + 3]);
            }
    }

    @Test void parametersOfEveryKind() {
        long out = alloc(8 * 5);
        launch("probe_parameters", 1, 32, new Args().addr(out).i(-7).l(1L << 40).f(2.5).d(-0.125)
                .dims(new int[]{3, 0, 0, 0, 0, 0, 0, 9}));
        int[] raw = readInts(out, 10);
        double[] v = new double[5];
        for (int k = 0; k < 5; k++) v[k] = Double.longBitsToDouble((raw[2 * k] & 0xffffffffL) | ((long) raw[2 * k + 1] << 32));
        assertArrayEquals(new double[]{-7, 1L << 40, 2.5, -0.125, 93}, v);
        CudaException kind = fails("probe_parameters", 1, 32, new Args().addr(out).f(1).l(1).f(1).d(1).dims(new int[8]));
        assertTrue(kind.getMessage().contains("parameter 1 is a 4-byte 'i'"), kind.getMessage());
        CudaException count = fails("probe_parameters", 1, 32, new Args().addr(out).i(1));
        assertTrue(count.getMessage().contains("2 arguments for 6 parameters"), count.getMessage());
    }

    @Test void launchLimitsOfAnSm90Gpu() {
        long out = alloc(4);
        CudaException big = fails("probe_shared_handoff", 1, 2048, new Args().addr(out).i(1));
        assertTrue(big.getMessage().contains("exceeds 1024 threads"), big.getMessage());
        CudaException grid = assertThrows(CudaException.class, () -> launch("probe_shared_handoff",
                new int[]{1, 70000, 1}, new int[]{32, 1, 1}, 0, new Args().addr(out).i(1)));
        assertTrue(grid.getMessage().contains("65535"), grid.getMessage());
        CudaException none = assertThrows(CudaException.class, () -> d.kernel("probe", "no_such_kernel"));
        assertTrue(none.getMessage().contains("no such entry point"), none.getMessage());
    }

    @Test void sharedMemoryHandOffNeedsABarrier() {
        long out = floats(0);
        launch("probe_shared_handoff", 1, 64, new Args().addr(out).i(1));
        assertEquals(42f, readFloats(out, 1)[0]);
        CudaException e = fails("probe_shared_handoff", 1, 64, new Args().addr(out).i(0));
        String m = e.getMessage();
        assertTrue(m.contains("probe.probe_shared_handoff") && m.contains("read-after-write race"), m);
        assertTrue(m.contains("probe.cu:"), "the report names the source line: " + m);
        assertTrue(m.contains("thread (1,0,0)") && m.contains("thread (0,0,0)"), m);
    }

    @Test void lanesOfAWarpNeedSyncwarp() {
        long out = floats(0);
        launch("probe_warp_handoff", 1, 32, new Args().addr(out).i(1));
        assertEquals(7f, readFloats(out, 1)[0]);
        CudaException e = fails("probe_warp_handoff", 1, 32, new Args().addr(out).i(0));
        assertTrue(e.getMessage().contains("read-after-write race"), e.getMessage());
    }

    @Test void outOfBoundsWriteIsStoppedAndNamed() {
        int n = 10;
        long out = alloc(4L * n);
        CudaException e = fails("probe_out_of_bounds", 1, 32, new Args().addr(out).i(n));
        String m = e.getMessage();
        assertTrue(m.contains("invalid global write") && m.contains("4 bytes past the end of the 40-byte allocation"), m);
        assertTrue(m.contains("probe.cu:"), m);
        float[] v = readFloats(out, n);
        for (float x : v) assertEquals(1f, x, "the writes before the bad one happened");
    }

    @Test void divergentBarrierAndDeadlockAreReported() {
        long out = alloc(4 * 64);
        CudaException div = fails("probe_divergent_barrier", 1, 64, new Args().addr(out));
        assertTrue(div.getMessage().contains("divergent __syncthreads"), div.getMessage());
        CudaException dead = fails("probe_deadlock", 1, 32, new Args().addr(out));
        assertTrue(dead.getMessage().contains("deadlock"), dead.getMessage());
    }

    @Test void dynamicSharedMemory() {
        int n = 300;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i;
        long xa = floats(x), out = alloc(4L * n);
        launch("probe_dynamic_shared", new int[]{1, 1, 1}, new int[]{128, 1, 1}, 4 * n, new Args().addr(xa).addr(out).i(n).i(0));
        float[] o = readFloats(out, n);
        for (int i = 0; i < n; i++) assertEquals(n - 1 - i, o[i]);
        CudaException past = assertThrows(CudaException.class, () -> launch("probe_dynamic_shared", new int[]{1, 1, 1},
                new int[]{128, 1, 1}, 4 * n, new Args().addr(xa).addr(out).i(n).i(1)));
        assertTrue(past.getMessage().contains("invalid dynamic shared memory read"), past.getMessage());
        // above 48 KB only after the opt-in, as on the GPU
        int big = 13_000;
        long xb = alloc(4L * big), ob = alloc(4L * big);
        CudaException optIn = assertThrows(CudaException.class, () -> launch("probe_dynamic_shared", new int[]{1, 1, 1},
                new int[]{128, 1, 1}, 4 * big, new Args().addr(xb).addr(ob).i(big).i(0)));
        assertTrue(optIn.getMessage().contains("cuFuncSetAttribute"), optIn.getMessage());
        d.allowSharedMemory(d.kernel("probe", "probe_dynamic_shared"), 4 * big);
        launch("probe_dynamic_shared", new int[]{1, 1, 1}, new int[]{128, 1, 1}, 4 * big, new Args().addr(xb).addr(ob).i(big).i(0));
    }

    @Test void sharedMemoryStartsAsGarbage() {
        long out = alloc(4 * 3);
        launch("probe_uninitialised_shared", 3, 32, new Args().addr(out));
        for (float v : readFloats(out, 3)) assertTrue(Float.isNaN(v), "a never-written shared word reads NaN, got " + v);
    }

    @Test void freshDeviceMemoryIsNaNAndBoundsAreChecked() {
        long a = alloc(4 * 5);
        for (float v : readFloats(a, 5)) assertTrue(Float.isNaN(v));
        CudaException over = assertThrows(CudaException.class, () -> d.copyToHost(new float[6], a, 6));
        assertTrue(over.getMessage().contains("past the end of the 20-byte allocation"), over.getMessage());
        assertThrows(CudaException.class, () -> d.free(a + 4));
        HostDriver.setMemoryLimit(1L << 20);
        try {
            assertEquals(0, d.malloc(2L << 20), "over the limit: out of memory");
        } finally {
            HostDriver.setMemoryLimit(8L << 30);
        }
    }

    /** cuBLAS's column-major SGEMM, against loops: transposes, padded leading dimensions, a
     *  broadcast operand (stride 0), beta ≠ 0, TF32 rounding. */
    @Test void sgemmFollowsCublas() {
        Random r = new Random(9);
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                int m = 5, n = 7, k = 3, batch = 2;
                int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
                int aCols = ta ? m : k, bCols = tb ? k : n;
                float[] a = rnd(r, lda * aCols), b = rnd(r, batch * ldb * bCols), c = rnd(r, batch * ldc * n);
                long da = floats(a), db = floats(b), dc = floats(c);
                float alpha = 1.5f, beta = -0.5f;
                d.sgemm(ta, tb, m, n, k, alpha, da, lda, 0, db, ldb, (long) ldb * bCols, beta, dc, ldc, (long) ldc * n,
                        batch, MathPrecision.FP32, () -> "test");
                float[] got = readFloats(dc, c.length);
                for (int bi = 0; bi < batch; bi++)
                    for (int i = 0; i < ldc; i++)
                        for (int j = 0; j < n; j++) {
                            int ci = bi * ldc * n + j * ldc + i;
                            if (i >= m) { assertEquals(c[ci], got[ci], "padding rows of C stay"); continue; }
                            double s = 0;
                            for (int p = 0; p < k; p++) {
                                double av = ta ? a[i * lda + p] : a[p * lda + i];
                                int bb = bi * ldb * bCols;
                                double bv = tb ? b[bb + p * ldb + j] : b[bb + j * ldb + p];
                                s += av * bv;
                            }
                            assertEquals(alpha * s + beta * c[ci], got[ci], 1e-5, "ta " + ta + " tb " + tb);
                        }
            }
        CudaException bad = assertThrows(CudaException.class, () -> d.sgemm(false, false, 4, 4, 4, 1, 0, 3, 0, 0, 4, 0,
                0, 0, 4, 0, 1, MathPrecision.FP32, () -> "lda < m"));
        assertTrue(bad.getMessage().contains("CUBLAS_STATUS_INVALID_VALUE"), bad.getMessage());
        assertEquals(1.0f + 0x1p-10f, MathPrecision.TF32.round(1.0f + 0x1p-10f + 0x1p-20f));
        assertEquals(1.0f, MathPrecision.TF32.round(1.0f + 0x1p-12f));
        assertEquals(1.0f + 0x1p-7f, MathPrecision.BF16.round(1.0f + 0x1p-7f + 0x1p-12f));
        assertEquals(1.0f, MathPrecision.BF16.round(1.0f + 0x1p-9f));
        assertEquals(1.0f + 0x1p-6f, MathPrecision.BF16.round(1.0f + 0x1p-7f + 0x1p-8f), "a tie rounds to even");
    }

    static float bf16(float v) {
        int b = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((b + 0x7fff + ((b >> 16) & 1)) & 0xffff0000);
    }

    static float tf32RoundAway(float v) { return Float.intBitsToFloat((Float.floatToRawIntBits(v) + 0x1000) & 0xffffe000); }

    /** WMMA on the host: a bf16 16x16x16 tile (A row-major, B column-major) and a TF32 16x16x8 one. */
    @Test void tensorCoreFragments() {
        Random r = new Random(13);
        float[] a = rnd(r, 256), b = rnd(r, 256), c = rnd(r, 256);
        long da = floats(a), db = floats(b), dc = floats(c);
        launch("probe_wmma_bf16", 1, 32, new Args().addr(da).addr(db).addr(dc));
        float[] got = readFloats(dc, 256);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                double s = c[m * 16 + n];
                for (int k = 0; k < 16; k++) s += (double) bf16(a[m * 16 + k]) * bf16(b[n * 16 + k]);
                assertEquals(2 * s, got[m * 16 + n], 1e-5 * (1 + Math.abs(s)), "bf16 tile (" + m + ", " + n + ")");
            }
        float[] a8 = rnd(r, 128), b8 = rnd(r, 128);
        long ta = floats(a8), tb = floats(b8), tc = alloc(4 * 256);
        launch("probe_wmma_tf32", 1, 32, new Args().addr(ta).addr(tb).addr(tc));
        float[] got8 = readFloats(tc, 256);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                double s = 0;
                for (int k = 0; k < 8; k++) s += (double) tf32RoundAway(a8[m * 8 + k]) * tf32RoundAway(b8[k * 16 + n]);
                assertEquals(s, got8[n * 16 + m], 1e-5 * (1 + Math.abs(s)), "tf32 tile (" + m + ", " + n + ")");
            }
    }

    /** A WMMA tile load or store from a pointer that is not 256-bit aligned, or with a leading
     *  dimension that is not a multiple of 16 bytes, is reported (the GPU would fault or misread). */
    @Test void misalignedTensorCoreTilesAreReported() {
        long c = alloc(4 * 16 * 24 + 64);
        launch("probe_wmma_alignment", 1, 32, new Args().addr(c).i(8).i(24));   // 32 bytes in, 96-byte rows: fine
        CudaException p = fails("probe_wmma_alignment", 1, 32, new Args().addr(c).i(1).i(24));
        assertTrue(p.getMessage().contains("wmma::load_matrix_sync: pointer not 256-bit aligned") && p.getMessage().contains("probe.cu:"),
                p.getMessage());
        CudaException l = fails("probe_wmma_alignment", 1, 32, new Args().addr(c).i(0).i(18));
        assertTrue(l.getMessage().contains("wmma::load_matrix_sync: ldm not a multiple of 16 bytes"), l.getMessage());
    }

    /**
     * g++ puts a function-local static of a template (or inline) function in a COMDAT section of its
     * own, whatever its section attribute: a {@code __shared__} variable declared inside a template
     * would then live outside jddpm_shared, unchecked for races and never refilled with NaN. The
     * kernel objects of the build must have no writable function-local statics outside that section.
     */
    @Test void everySharedVariableIsInTheCheckedSection() throws Exception {
        java.nio.file.Path objs = HostBuilds.MODULE.resolve("target/host-obj/checked");
        List<java.nio.file.Path> files = new ArrayList<>();
        for (java.io.File f : java.util.Objects.requireNonNull(objs.toFile().listFiles(), "no " + objs)) {
            String n = f.getName();
            if (n.endsWith(".o") && !n.equals("host_runtime.o") && !n.equals("kernel_library.o")) files.add(f.toPath());
        }
        assertTrue(files.size() > 5, "kernel objects under " + objs + ": " + files);
        List<String> wrong = new ArrayList<>();
        for (java.nio.file.Path f : files) {
            Process p;
            try {
                p = new ProcessBuilder("objdump", "-t", f.toString()).redirectErrorStream(true).start();
            } catch (java.io.IOException e) {
                org.junit.jupiter.api.Assumptions.abort("no objdump on PATH: " + e.getMessage());
                return;
            }
            for (String line : new String(p.getInputStream().readAllBytes()).split("\n"))
                if (line.matches(".*\\s\\.(bss|data)\\._ZZ\\S*\\s.*")) wrong.add(f.getFileName() + ": " + line.trim());
            assertEquals(0, p.waitFor(), "objdump -t " + f);
        }
        assertTrue(wrong.isEmpty(), "function-local statics outside jddpm_shared (declare __shared__ variables in the "
                + "extern \"C\" entry or another non-template function): " + wrong);
    }

    static float[] rnd(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }
}
