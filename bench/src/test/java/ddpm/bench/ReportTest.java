package ddpm.bench;

import ddpm.nn.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.annotations.Benchmark;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Report over a small committed sample (src/test/resources/sample-*.json, synthetic figures). */
class ReportTest {
    static String resource(String name) throws IOException {
        try (InputStream in = ReportTest.class.getResourceAsStream("/" + name)) {
            assertNotNull(in, name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static List<Report.Result> results() throws IOException { return Report.parseJmh(resource("sample-jmh.json")); }

    static Report.Torch torch() throws IOException { return Report.parseTorch(List.of(resource("sample-torch.json"))); }

    static Report.Row row(List<Report.Row> rows, String bench, String backend) {
        return rows.stream().filter(r -> r.result().simpleName().equals(bench) && r.backend().equals(backend))
                .findFirst().orElseThrow(() -> new AssertionError("no row " + bench + " " + backend));
    }

    @Test void parsesJmhJson() throws IOException {
        List<Report.Result> rs = results();
        assertEquals(9, rs.size());
        Report.Result copy = rs.get(0);
        assertEquals("ddpm.bench.PeakBench.copy", copy.benchmark());
        assertEquals("PeakBench.copy", copy.simpleName());
        assertEquals(Map.of("backend", "cpu"), copy.params());
        assertEquals(67.7e-3, copy.seconds(), 1e-12);
        assertTrue(Double.isNaN(copy.errorSeconds()), "\"NaN\" score error reads as NaN");
        assertEquals(2e-6, rs.get(1).errorSeconds(), 1e-12);
        assertEquals(Map.of("backend", "cuda", "shape", "256x16"), rs.get(3).params());
    }

    @Test void convertsUnits() {
        assertEquals(2.5e-3, Report.toSeconds(2.5, "ms/op"), 1e-15);
        assertEquals(7e-6, Report.toSeconds(7, "us/op"), 1e-15);
        assertEquals(3e-9, Report.toSeconds(3, "ns/op"), 1e-18);
        assertEquals(0.05, Report.toSeconds(20, "ops/s"), 1e-15);
        assertEquals(1e-3 / 4, Report.toSeconds(4, "ops/ms"), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> Report.toSeconds(1, "furlongs"));
    }

    @Test void limitsComeFromPeakBench() throws IOException {
        Map<String, double[]> l = Report.limits(results());
        assertEquals(2.0 * (64 << 20) * 4 / 200e-6 / 1e9, l.get("cuda")[0], 1e-6);   // 2684.35 GB/s
        assertEquals(2.0 * Math.pow(4096, 3) / 4e-3 / 1e9, l.get("cuda")[1], 1e-6);  // 34.4 TFLOP/s
        assertTrue(Double.isNaN(l.get("cpu")[1]), "no CPU GEMM in the sample");
    }

    @Test void bandwidthFlopsPercentagesAndFusionSpeedup() throws IOException {
        List<Report.Row> rows = Report.rows(results(), torch());
        Report.Row fused = row(rows, "GroupNormBench.siluFused", "cuda");
        assertEquals("128x256x16x16", fused.shape());
        double bytes = 2.0 * 128 * 256 * 16 * 16 * 4;
        assertEquals(bytes / 50e-6 / 1e9, fused.gbs(), 1e-6);
        assertEquals(50.0, fused.pctOfLimit(), 1e-9);   // exactly half the copy rate
        assertEquals("copy", fused.limit());
        Report.Row two = row(rows, "GroupNormBench.siluTwoKernels", "cuda");
        assertEquals(2.0, two.fusedSpeedup(), 1e-12);
        assertTrue(Double.isNaN(fused.fusedSpeedup()));

        Report.Row attn = row(rows, "AttentionBench.fwdFused", "cuda");
        assertEquals(4.0 * 128 * 256 * 256 * 256 / 1e-3 / 1e9, attn.gflops(), 1e-6);
        assertEquals(25.0, attn.pctOfLimit(), 1e-9);
        assertEquals("GEMM", attn.limit());

        List<Report.Fusion> fu = Report.fusions(rows);
        assertEquals(1, fu.size());
        assertEquals(2.0, fu.get(0).speedup(), 1e-12);
        assertEquals("GN, then SiLU (2 kernels)", fu.get(0).otherVariant());
    }

    @Test void ratiosAgainstPyTorch() throws IOException {
        Report.Torch t = torch();
        assertEquals("NVIDIA H100 80GB HBM3", t.device());
        assertEquals(3, t.opMs().size());
        assertEquals(3, t.steps().size(), "the failed compile entry is dropped");
        List<Report.Row> rows = Report.rows(results(), t);
        assertEquals(2.0, row(rows, "GroupNormBench.siluFused", "cuda").vsTorch(), 1e-12);  // 0.1 ms vs 0.05 ms
        assertEquals(0.5, row(rows, "AttentionBench.fwdFused", "cuda").vsTorch(), 1e-12);   // 0.5 ms vs 1 ms
        assertEquals(1.25, row(rows, "PeakBench.copy", "cuda").vsTorch(), 1e-12);
        assertTrue(Double.isNaN(row(rows, "PeakBench.copy", "cpu").vsTorch()), "CPU rows are not compared with GPU PyTorch");
        Report.Row train = row(rows, "StepBench.train", "cuda");
        assertEquals(500.0, train.itemsPerSecond(), 1e-9);   // 128 images in 256 ms
        // a float32 jddpm step against PyTorch as its users run it: TF32 eager (1500 img/s), never TF32 off
        assertEquals(500.0 / 1500.0, train.vsTorch(), 1e-12);
        assertTrue(train.torchNote().contains("tf32 eager"), train.torchNote());
    }

    /** A bf16 jddpm step is compared with PyTorch's bf16 autocast when that was timed, else TF32; fp32 last. */
    @Test void baselinesFollowThePrecision() throws IOException {
        Report.Torch t = torch();
        Map<String, Object> steps = Report.torchStep(t, "train_step", 128, "bf16");
        assertEquals("tf32", steps.get("precision"), "no eager bf16 in the fixture (its compiled one failed): TF32");
        assertEquals(Boolean.TRUE, steps.get("fused_attn"));
        assertEquals("tf32", Report.torchStep(t, "train_step", 128, "fp32").get("precision"));
        assertEquals(null, Report.torchStep(t, "train_step", 64, "fp32"), "same batch only");
    }

    @Test void skippedAndUnknownResults() throws IOException {
        List<Report.Row> rows = Report.rows(results(), Report.Torch.NONE);
        assertTrue(row(rows, "RngBench.randNormal", "cuda").skipped());
        assertFalse(row(rows, "PeakBench.copy", "cpu").skipped());
        Report.Row other = rows.stream().filter(r -> r.entry() == null).findFirst().orElseThrow();
        assertEquals("SgemmBench.sgemm", other.kernel());
        assertEquals(0.05, other.seconds(), 1e-12);
    }

    /** AttentionBench's precision: named in the CUDA shape; a tf32/bf16 CPU result is a skip marker. */
    @Test void attentionPrecision() {
        Map<String, String> bf16 = Map.of("backend", "cuda", "shape", "256x256", "precision", "bf16");
        List<Report.Result> rs = List.of(
                new Report.Result("ddpm.bench.AttentionBench.fwdBwdFused", bf16, 250e-6, Double.NaN, Map.of()),
                new Report.Result("ddpm.bench.AttentionBench.fwdFused", Map.of("backend", "cpu", "shape", "64x256", "precision", "tf32"),
                        1e-12, Double.NaN, Map.of()),
                new Report.Result("ddpm.bench.AttentionBench.fwdFused", Map.of("backend", "cpu", "shape", "64x256", "precision", "fp32"),
                        0.1, Double.NaN, Map.of()));
        List<Report.Row> rows = Report.rows(rs, Report.Torch.NONE);
        assertEquals("128x256x256 bf16", rows.get(0).shape());
        assertEquals(3.5 * 4.0 * 128 * 256 * 256 * 256 / 250e-6 / 1e9, rows.get(0).gflops(), 1e-6);
        assertEquals((12.0 * 128 * 256 * 256 + 2 * 128 * 256) * 4, Work.get("AttentionBench.fwdBwdFused").bytes(bf16), 1e-6);
        assertTrue(rows.get(1).skipped());
        assertFalse(rows.get(2).skipped());
        assertEquals("8x64x256", rows.get(2).shape());
    }

    @Test void markdownTableRows() throws IOException {
        List<Report.Result> rs = results();
        List<Report.Row> rows = Report.rows(rs, torch());
        String md = Report.markdown("T", "sample-jmh.json", rs, rows, torch(), "x.png");
        assertTrue(md.contains("| cuda | 2.68 TB/s | 34.4 TFLOP/s |"), md);
        assertTrue(md.contains("| group norm + SiLU | fused | cuda | 128x256x16x16 | 50.0 µs | 1.34 TB/s | 50.0% of copy |  |"), md);
        assertTrue(md.contains("| group norm + SiLU | GN, then SiLU (2 kernels) | cuda | 128x256x16x16 | 100 µs | 671 GB/s | 25.0% of copy | 2.00× |"), md);
        assertTrue(md.contains("| attention fwd | fused | cuda | 128x256x256 | 1.00 ms | 8.59 TFLOP/s | 25.0% of GEMM |  |"), md);
        assertTrue(md.contains("| RNG (Philox normal) | - | cuda | 393,216 | skipped |"), md);
        assertTrue(md.contains("| group_norm_silu_fwd[128x256x16x16] (fused) | 50.0 µs | 100 µs | 2.00× |"), md);
        assertTrue(md.contains("| 256 ms | 500.00 | PyTorch tf32 eager, B=128, 85.3 ms | 0.33× |"), md);
        assertTrue(md.contains("![achieved vs limit; fused vs unfused](x.png)"));
    }

    @Test void writesMarkdownAndDecodablePng(@TempDir Path dir) throws Exception {
        Path jmh = dir.resolve("in.json"), tj = dir.resolve("torch.json");
        Files.writeString(jmh, resource("sample-jmh.json"));
        Files.writeString(tj, resource("sample-torch.json"));
        List<Path> w = Report.write(List.of(jmh), List.of(tj), dir.resolve("out/r"), "sample");
        assertEquals(List.of(dir.resolve("out/r.md"), dir.resolve("out/r.png")), w);
        assertTrue(Files.readString(w.get(0)).startsWith("# sample"));
        BufferedImage img = ImageIO.read(w.get(1).toFile());
        assertNotNull(img, "the PNG decodes");
        assertEquals(Chart.W, img.getWidth());
        assertTrue(img.getHeight() > 100);
    }

    @Test void markdownWithoutJavaDesktop(@TempDir Path dir) throws Exception {
        Path jmh = dir.resolve("in.json");
        Files.writeString(jmh, resource("sample-jmh.json"));
        System.setProperty("ddpm.bench.noChart", "true");
        try {
            List<Path> w = Report.write(List.of(jmh), List.of(), dir.resolve("r"), "no chart");
            assertEquals(List.of(dir.resolve("r.md")), w);
            assertFalse(Files.exists(dir.resolve("r.png")));
            assertFalse(Files.readString(w.get(0)).contains(".png"));
        } finally {
            System.clearProperty("ddpm.bench.noChart");
        }
    }

    @Test void everyBenchmarkMethodHasWork() {
        for (Class<?> c : List.of(PeakBench.class, DiffusionBench.class, GroupNormBench.class, AttentionBench.class,
                SoftmaxBench.class, UpsampleBench.class, Conv1x1Bench.class, ConvBench.class, OptimBench.class, RngBench.class,
                StepBench.class))
            for (Method m : c.getDeclaredMethods())
                if (m.isAnnotationPresent(Benchmark.class))
                    assertNotNull(Work.get(c.getSimpleName() + "." + m.getName()), c.getSimpleName() + "." + m.getName());
        // the shape functions the report uses agree with the benchmarks' batch rule
        assertEquals(8, GroupNormBench.shape("cpu", "128x32")[0]);
        assertEquals(128, GroupNormBench.shape("cuda", "128x32")[0]);
        assertEquals(35_746_307, OptimBench.params("cuda"));
    }

    /** The convolutions' bytes and flops, and which of their results measured nothing (the CPU at
     *  another precision or algorithm, the CUDA-only conv2dAdd on the CPU). */
    @Test void convolutionWorkAndSkips() {
        Map<String, String> p = Map.of("backend", "cuda", "shape", "128x32x128x3x1", "precision", "bf16", "algo", "igemm");
        Work.Entry fwd = Work.get("ConvBench.forward");
        assertEquals(2.0 * 128 * 128 * 128 * 9 * 32 * 32, fwd.flops(p), 1);
        assertEquals(4.0 * (2.0 * 128 * 128 * 32 * 32 + 128 * 128 * 9), fwd.bytes(p), 1);
        assertEquals("128x128x32x32 k3 s1->128 bf16 igemm", fwd.shape(p));
        Map<String, String> down = Map.of("backend", "cuda", "shape", "128x32x128x3x2", "precision", "tf32", "algo", "gemm");
        assertEquals(2.0 * 128 * 128 * 128 * 9 * 16 * 16, Work.get("ConvBench.backwardWeight").flops(down), 1);
        assertEquals(4.0 * (128.0 * 128 * 32 * 32 + 128 * 128 * 9 + 2.0 * 128 * 128 * 16 * 16 + 128 + 128 * 128),
                Work.get("ConvBench.addFused").bytes(down), 1);
        assertTrue(Work.applies("ddpm.bench.ConvBench.forward", p));
        assertTrue(Work.applies("ConvBench.forward", Map.of("backend", "cpu", "precision", "fp32", "algo", "auto")));
        assertFalse(Work.applies("ConvBench.forward", Map.of("backend", "cpu", "precision", "bf16", "algo", "auto")));
        assertFalse(Work.applies("Conv1x1Bench.conv", Map.of("backend", "cpu", "precision", "fp32", "algo", "igemm")));
        assertFalse(Work.applies("ConvBench.addFused", Map.of("backend", "cpu", "precision", "fp32", "algo", "auto")));
        assertTrue(Work.applies("PeakBench.copy", Map.of("backend", "cpu")));
    }

    @Test void jsonReader() {
        Object v = Json.parse("{\"a\": [1, -2.5e3, \"NaN\", true, null], \"b\": \"x\\\"y\\u00b5\", \"c\": {}}");
        Map<String, Object> m = Json.obj(v);
        List<Object> a = Json.arr(m.get("a"));
        assertEquals(-2500.0, Json.num(a.get(1)));
        assertTrue(Json.num(a.get(2)).isNaN());
        assertEquals(Boolean.TRUE, a.get(3));
        assertNull(a.get(4));
        assertEquals("x\"yµ", m.get("b"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": }"));
        // bare non-finite numbers, as some writers emit them; integers stay exact
        List<Object> b = Json.arr(Json.parse("[NaN, Infinity, -Infinity, 9007199254740993]"));
        assertTrue(Json.num(b.get(0)).isNaN());
        assertEquals(Double.POSITIVE_INFINITY, Json.num(b.get(1)));
        assertEquals(Double.NEGATIVE_INFINITY, Json.num(b.get(2)));
        assertEquals(9007199254740993L, b.get(3));
    }
}
