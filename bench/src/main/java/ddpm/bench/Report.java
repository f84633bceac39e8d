package ddpm.bench;

import ddpm.nn.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns JMH's JSON ({@code -rf json}) into a Markdown report and a PNG chart: per benchmark the
 * backend, shape, time, achieved GB/s or FLOP/s and its share of the measured limit (copy
 * bandwidth for memory-bound kernels, the GEMM rate for compute-bound ones, both from
 * {@link PeakBench} in the same file), fused vs unfused speed-ups, and, given torch_ddpm.py's
 * JSON, this project's speed relative to PyTorch per matching op and for the training and
 * sampling steps.
 *
 * <pre>
 * Report --jmh results.json [--jmh more.json]... [--torch torch_reference.json]... --out bench/results/NAME
 *        [--title TEXT] [--note TEXT]...
 * </pre>
 * writes NAME.md and NAME.png (the PNG only where java.desktop is present: the GPU machine's
 * trimmed runtime lacks it, and then the Markdown is still written).
 */
public final class Report {
    private Report() {}

    // ================================================================ model
    /** One JMH result; {@code seconds} is the time per operation. */
    public record Result(String benchmark, Map<String, String> params, double seconds, double errorSeconds,
                         Map<String, Object> raw) {
        public String simpleName() {
            return benchmark.startsWith("ddpm.bench.") ? benchmark.substring("ddpm.bench.".length()) : benchmark;
        }

        public String backend() { return params.getOrDefault("backend", "cpu"); }
    }

    /** PyTorch's figures from one or more torch_ddpm.py JSON files. */
    public record Torch(String device, String version, Map<String, Double> opMs, List<Map<String, Object>> steps) {
        public static final Torch NONE = new Torch(null, null, Map.of(), List.of());
    }

    /** A report line: a result with what Work says about it and the figures derived from both. */
    public record Row(Result result, Work.Entry entry, String kernel, String variant, String shape, boolean skipped,
                      double gbs, double gflops, double pctOfLimit, String limit, double fusedSpeedup,
                      Double torchMs, double vsTorch, double itemsPerSecond, String torchNote) {
        public String backend() { return result.backend(); }

        public double seconds() { return result.seconds(); }
    }

    /** One fused-vs-other comparison: {@code speedup} = other time / fused time. */
    public record Fusion(String kernel, String backend, String shape, String fusedVariant, double fusedSeconds,
                         String otherVariant, double otherSeconds) {
        public double speedup() { return otherSeconds / fusedSeconds; }
    }

    // ================================================================ parsing
    /** Seconds per operation from a JMH score and unit ("ms/op", "us/op", "ops/s", ...). */
    public static double toSeconds(double score, String unit) {
        String[] p = unit.split("/");
        if (p.length != 2) throw new IllegalArgumentException("unknown JMH unit " + unit);
        if (p[1].equals("op")) return score * unitSeconds(p[0]);
        if (p[0].equals("ops")) return unitSeconds(p[1]) / score;
        throw new IllegalArgumentException("unknown JMH unit " + unit);
    }

    private static double unitSeconds(String u) {
        return switch (u) {
            case "s" -> 1;
            case "ms" -> 1e-3;
            case "us", "µs" -> 1e-6;
            case "ns" -> 1e-9;
            case "min" -> 60;
            default -> throw new IllegalArgumentException("unknown time unit " + u);
        };
    }

    public static List<Result> parseJmh(String json) {
        List<Result> out = new ArrayList<>();
        for (Object o : Json.arr(Json.parse(json))) {
            Map<String, Object> m = Json.obj(o);
            Map<String, String> params = new TreeMap<>();
            Json.obj(m.get("params")).forEach((k, v) -> params.put(k, String.valueOf(v)));
            Map<String, Object> pm = Json.obj(m.get("primaryMetric"));
            String unit = String.valueOf(pm.get("scoreUnit"));
            Double score = Json.num(pm.get("score")), err = Json.num(pm.get("scoreError"));
            if (score == null) continue;
            double s = toSeconds(score, unit);
            double e = err == null || err.isNaN() ? Double.NaN : Math.abs(toSeconds(score + err, unit) - s);
            out.add(new Result(String.valueOf(m.get("benchmark")), params, s, e, m));
        }
        return out;
    }

    public static Torch parseTorch(List<String> jsons) {
        Map<String, Double> ops = new LinkedHashMap<>();
        List<Map<String, Object>> steps = new ArrayList<>();
        String device = null, version = null;
        for (String j : jsons) {
            Map<String, Object> root = Json.obj(Json.parse(j));
            if (root.get("device") != null) device = String.valueOf(root.get("device"));
            if (root.get("torch") != null) version = String.valueOf(root.get("torch"));
            for (Object o : Json.arr(root.get("results"))) {
                Map<String, Object> r = Json.obj(o);
                String what = String.valueOf(r.get("what"));
                if (what.equals("op") && Json.num(r.get("ms_median")) != null) ops.put(String.valueOf(r.get("op")), Json.num(r.get("ms_median")));
                else if ((what.equals("train_step") || what.equals("sample_step")) && r.get("error") == null) steps.add(r);
            }
        }
        return new Torch(device, version, ops, steps);
    }

    // ================================================================ derived figures
    /** backend → {copy GB/s, GEMM GFLOP/s} measured by PeakBench (NaN when absent). */
    public static Map<String, double[]> limits(List<Result> results) {
        Map<String, double[]> l = new TreeMap<>();
        for (Result r : results) {
            String n = r.simpleName();
            if (!n.equals("PeakBench.copy") && !n.equals("PeakBench.gemm")) continue;
            if (skipped(r)) continue;
            Work.Entry e = Work.get(n);
            double[] v = l.computeIfAbsent(r.backend(), k -> new double[]{Double.NaN, Double.NaN});
            if (n.endsWith("copy")) v[0] = e.bytes(r.params()) / r.seconds() / 1e9;
            else v[1] = e.flops(r.params()) / r.seconds() / 1e9;
        }
        return l;
    }

    /** A result whose score is a skip marker (see {@link DeviceState}): a cuda one, or one at a CUDA
     *  math precision (tf32, bf16) on another backend; or one whose parameters do not apply to its
     *  backend ({@link Work#applies}). */
    public static boolean skipped(Result r) {
        boolean cudaOnly = r.backend().startsWith("cuda") || !r.params().getOrDefault("precision", "fp32").equals("fp32");
        return cudaOnly && r.seconds() * 1e9 < DeviceState.SKIP_THRESHOLD_NS || !Work.applies(r.benchmark(), r.params());
    }

    private static String key(Work.Entry e, Result r) { return e.group() + "|" + r.simpleName().split("\\.")[0] + "|" + r.params(); }

    public static List<Row> rows(List<Result> results, Torch torch) {
        Map<String, double[]> lim = limits(results);
        Map<String, Double> fusedTime = new LinkedHashMap<>();
        for (Result r : results) {
            Work.Entry e = Work.get(r.simpleName());
            if (e != null && e.group() != null && e.fused() && !skipped(r)) fusedTime.put(key(e, r), r.seconds());
        }
        List<Row> rows = new ArrayList<>();
        for (Result r : results) {
            Work.Entry e = Work.get(r.simpleName());
            boolean skip = skipped(r);
            if (e == null) {
                String[] parts = r.simpleName().split("\\.");
                rows.add(new Row(r, null, r.simpleName(), "", r.params().toString(), skip, Double.NaN, Double.NaN,
                        Double.NaN, "", Double.NaN, null, Double.NaN, Double.NaN, null));
                continue;
            }
            Map<String, String> p = r.params();
            double[] l = lim.getOrDefault(r.backend(), new double[]{Double.NaN, Double.NaN});
            double gbs = Double.NaN, gfl = Double.NaN, pct = Double.NaN, ips = Double.NaN;
            String limit = "";
            switch (e.kind()) {
                case MEMORY -> { gbs = e.bytes(p) / r.seconds() / 1e9; pct = 100 * gbs / l[0]; limit = "copy"; }
                case COMPUTE -> { gfl = e.flops(p) / r.seconds() / 1e9; pct = 100 * gfl / l[1]; limit = "GEMM"; }
                case STEP -> ips = e.items(p) / r.seconds();
            }
            double speed = Double.NaN;
            if (e.group() != null && !e.fused()) {
                Double f = fusedTime.get(key(e, r));
                if (f != null && !skip) speed = r.seconds() / f;
            }
            Double tms = null;
            double vs = Double.NaN;
            String note = null;
            if (!skip && r.backend().startsWith("cuda")) {
                if (e.kind() == Work.Kind.STEP) {
                    Map<String, Object> t = torchStep(torch, r.simpleName().endsWith("train") ? "train_step" : "sample_step",
                            (int) e.items(p), p.getOrDefault("precision", "fp32"));
                    if (t != null) {
                        double tips = Json.num(t.get(r.simpleName().endsWith("train") ? "img_per_s" : "img_steps_per_s"));
                        tms = Json.num(t.get("ms_median"));
                        vs = ips / tips;
                        note = "PyTorch " + t.get("precision") + (Boolean.TRUE.equals(t.get("compile")) ? " compiled" : " eager")
                                + ", B=" + fmtInt(Json.num(t.get("batch")));
                    }
                } else {
                    String op = e.torch(p);
                    if (op != null && torch.opMs().containsKey(op)) {
                        tms = torch.opMs().get(op);
                        vs = tms * 1e-3 / r.seconds();
                        note = op;
                    }
                }
            }
            rows.add(new Row(r, e, e.kernel(), e.variant(), e.shape(p), skip, gbs, gfl, pct, limit, speed, tms, vs, ips, note));
        }
        return rows;
    }

    /**
     * The PyTorch step to compare a jddpm step at {@code precision} with: same batch, eager, as PyTorch's
     * users run it — bf16 autocast against bf16, TF32 (PyTorch's default for convolutions) against tf32
     * and against fp32 (a float32 jddpm step is compared with what a PyTorch user gets, never with
     * PyTorch slowed to TF32-off); then the other reduced precision; never fp32 unless nothing else was timed.
     */
    static Map<String, Object> torchStep(Torch torch, String what, int batch, String precision) {
        List<String> order = precision.equals("bf16") ? List.of("bf16", "tf32", "fp32") : List.of("tf32", "bf16", "fp32");
        Map<String, Object> best = null;
        int bestRank = Integer.MAX_VALUE;
        for (Map<String, Object> s : torch.steps()) {
            if (!what.equals(s.get("what")) || s.get("error") != null) continue;
            Double b = Json.num(s.get("batch"));
            if (b == null || b.intValue() != batch) continue;
            if (Boolean.FALSE.equals(s.get("fused_attn"))) continue;
            int p = order.indexOf(String.valueOf(s.get("precision")));
            if (p < 0) continue;
            int rank = (Boolean.TRUE.equals(s.get("compile")) ? 10 : 0) + p;
            if (rank < bestRank) { bestRank = rank; best = s; }
        }
        return best;
    }

    public static List<Fusion> fusions(List<Row> rows) {
        Map<String, Row> fused = new LinkedHashMap<>();
        for (Row r : rows)
            if (r.entry() != null && r.entry().group() != null && r.entry().fused() && !r.skipped())
                fused.put(key(r.entry(), r.result()), r);
        List<Fusion> out = new ArrayList<>();
        for (Row r : rows) {
            if (r.entry() == null || r.entry().group() == null || r.entry().fused() || r.skipped()) continue;
            Row f = fused.get(key(r.entry(), r.result()));
            if (f == null) continue;
            out.add(new Fusion(r.kernel(), r.backend(), r.shape(), f.variant(), f.seconds(), r.variant(), r.seconds()));
        }
        return out;
    }

    // ================================================================ Markdown
    public static String markdown(String title, String source, List<Result> results, List<Row> rows, Torch torch, String chartFile) {
        return markdown(title, source, results, rows, torch, chartFile, List.of());
    }

    /** The report; {@code notes} become a "Notes" list (what the run's reader must know). */
    public static String markdown(String title, String source, List<Result> results, List<Row> rows, Torch torch, String chartFile,
                                  List<String> notes) {
        StringBuilder md = new StringBuilder();
        md.append("# ").append(title).append("\n\n");
        Map<String, Object> first = results.isEmpty() ? Map.of() : results.get(0).raw();
        md.append("Source: `").append(source).append("`");
        if (first.get("jmhVersion") != null)
            md.append(" — JMH ").append(first.get("jmhVersion")).append(", ").append(first.get("vmName")).append(' ')
                    .append(first.get("vmVersion")).append(", forks ").append(fmtInt(Json.num(first.get("forks"))))
                    .append(", warm-up ").append(fmtInt(Json.num(first.get("warmupIterations")))).append(" × ").append(first.get("warmupTime"))
                    .append(", measurement ").append(fmtInt(Json.num(first.get("measurementIterations")))).append(" × ").append(first.get("measurementTime"));
        md.append(".\n\n");
        md.append("Time is JMH's average per operation (the device synchronised before each operation returns; inputs rotate "
                + "between " + DeviceState.SETS + " sets). Bytes are each computation's essential traffic (inputs read once, outputs "
                + "written once), the same for its fused and unfused variants, so GB/s is effective bandwidth. "
                + "% of limit compares with the copy bandwidth (memory-bound kernels) or the GEMM rate (compute-bound ones) "
                + "measured on the same backend in the same run. CPU shapes use 1/16 of the GPU batch (batch 8 for the "
                + "U-Net's activations).\n\n");

        Map<String, double[]> lim = limits(results);
        if (!lim.isEmpty()) {
            md.append("## Limits\n\n| backend | copy (256 MiB) | GEMM fp32 |\n|---|---:|---:|\n");
            lim.forEach((b, v) -> md.append("| ").append(b).append(" | ").append(fmtRate(v[0], "B")).append(" | ")
                    .append(fmtRate(v[1], "FLOP")).append(" |\n"));
            md.append('\n');
        }

        md.append("## Kernels\n\n| kernel | variant | backend | shape | time | throughput | % of limit | fused speed-up |\n")
                .append("|---|---|---|---|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            if (r.entry() != null && r.entry().kind() == Work.Kind.STEP) continue;
            md.append("| ").append(r.kernel()).append(" | ").append(r.variant()).append(" | ").append(r.backend()).append(" | ")
                    .append(r.shape()).append(" | ");
            if (r.skipped()) { md.append("skipped | | | |\n"); continue; }
            md.append(fmtTime(r.seconds())).append(" | ")
                    .append(!Double.isNaN(r.gbs()) ? fmtRate(r.gbs(), "B") : !Double.isNaN(r.gflops()) ? fmtRate(r.gflops(), "FLOP") : "")
                    .append(" | ").append(Double.isNaN(r.pctOfLimit()) ? "" : String.format(Locale.ROOT, "%.1f%% of %s", r.pctOfLimit(), r.limit()))
                    .append(" | ").append(Double.isNaN(r.fusedSpeedup()) ? "" : String.format(Locale.ROOT, "%.2f×", r.fusedSpeedup()))
                    .append(" |\n");
        }
        md.append('\n');

        List<Fusion> fu = fusions(rows);
        if (!fu.isEmpty()) {
            md.append("## Fused vs unfused\n\nSpeed-up = unfused time / fused time (> 1: the fusion pays).\n\n")
                    .append("| computation | backend | shape | fused | unfused variant | unfused | speed-up |\n|---|---|---|---:|---|---:|---:|\n");
            for (Fusion f : fu)
                md.append("| ").append(f.kernel()).append(" | ").append(f.backend()).append(" | ").append(f.shape()).append(" | ")
                        .append(fmtTime(f.fusedSeconds())).append(" | ").append(f.otherVariant()).append(" | ")
                        .append(fmtTime(f.otherSeconds())).append(" | ").append(String.format(Locale.ROOT, "%.2f×", f.speedup())).append(" |\n");
            md.append('\n');
        }

        List<Row> steps = rows.stream().filter(r -> r.entry() != null && r.entry().kind() == Work.Kind.STEP).toList();
        if (!steps.isEmpty()) {
            md.append("## End to end\n\n| step | backend | config | time/step | images/s | PyTorch | vs PyTorch |\n|---|---|---|---:|---:|---|---:|\n");
            for (Row r : steps) {
                md.append("| ").append(r.kernel()).append(" (").append(r.variant()).append(") | ").append(r.backend()).append(" | ")
                        .append(r.shape()).append(" | ");
                if (r.skipped()) { md.append("skipped | | | |\n"); continue; }
                md.append(fmtTime(r.seconds())).append(" | ").append(String.format(Locale.ROOT, "%.2f", r.itemsPerSecond())).append(" | ")
                        .append(r.torchNote() == null ? "" : r.torchNote() + ", " + fmtTime(r.torchMs() * 1e-3)).append(" | ")
                        .append(Double.isNaN(r.vsTorch()) ? "" : String.format(Locale.ROOT, "%.2f×", r.vsTorch())).append(" |\n");
            }
            md.append('\n');
        }

        List<Row> vs = rows.stream().filter(r -> !Double.isNaN(r.vsTorch()) && r.entry().kind() != Work.Kind.STEP).toList();
        if (torch.device() != null || !vs.isEmpty()) {
            md.append("## This project vs PyTorch\n\n");
            if (torch.device() != null) md.append("PyTorch ").append(torch.version()).append(" on ").append(torch.device())
                    .append(" (torch_ddpm.py; ops in TF32 mode, median of CUDA-event timings). ");
            md.append("Ratio = PyTorch time / jddpm time = jddpm's speed relative to PyTorch (> 1: jddpm is faster).\n\n");
            if (vs.isEmpty()) md.append("No jddpm CUDA result matches a PyTorch op in this run.\n\n");
            else {
                md.append("| PyTorch op | jddpm | PyTorch | ratio |\n|---|---:|---:|---:|\n");
                for (Row r : vs)
                    md.append("| ").append(r.torchNote()).append(" (").append(r.variant()).append(") | ").append(fmtTime(r.seconds()))
                            .append(" | ").append(fmtTime(r.torchMs() * 1e-3)).append(" | ")
                            .append(String.format(Locale.ROOT, "%.2f×", r.vsTorch())).append(" |\n");
                md.append('\n');
            }
        }

        if (!notes.isEmpty()) {
            md.append("## Notes\n\n");
            for (String n : notes) md.append("- ").append(n).append('\n');
            md.append('\n');
        }
        List<Row> sk = rows.stream().filter(Row::skipped).toList();
        if (!sk.isEmpty()) md.append("Skipped (no CUDA device in that run, or a CUDA math precision on another backend): ")
                .append(sk.size()).append(" results.\n\n");
        if (chartFile != null) md.append("![achieved vs limit; fused vs unfused](").append(chartFile).append(")\n");
        return md.toString();
    }

    // ================================================================ formatting
    public static String fmtTime(double s) {
        if (Double.isNaN(s)) return "";
        if (s >= 1) return String.format(Locale.ROOT, "%.3g s", s);
        if (s >= 1e-3) return String.format(Locale.ROOT, "%.3g ms", s * 1e3);
        if (s >= 1e-6) return String.format(Locale.ROOT, "%.3g µs", s * 1e6);
        return String.format(Locale.ROOT, "%.3g ns", s * 1e9);
    }

    /** giga is the rate in units of 1e9 per second. */
    public static String fmtRate(double giga, String what) {
        if (Double.isNaN(giga)) return "n/a";
        if (giga >= 1000) return String.format(Locale.ROOT, "%.3g T%s/s", giga / 1000, what);
        if (giga >= 1) return String.format(Locale.ROOT, "%.3g G%s/s", giga, what);
        return String.format(Locale.ROOT, "%.3g M%s/s", giga * 1000, what);
    }

    static String fmtInt(Double d) { return d == null ? "?" : String.valueOf(d.longValue()); }

    // ================================================================ command line
    /** True when java.desktop (Java2D, ImageIO) can be used here. */
    public static boolean desktopAvailable() {
        if (Boolean.getBoolean("ddpm.bench.noChart")) return false;
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) return false;
        try {
            Class.forName("java.awt.image.BufferedImage", false, Report.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Writes PREFIX.md (and PREFIX.png when it can); returns the paths written. */
    public static List<Path> write(List<Path> jmhFiles, List<Path> torchFiles, Path outPrefix, String title) throws IOException {
        return write(jmhFiles, torchFiles, outPrefix, title, List.of());
    }

    public static List<Path> write(List<Path> jmhFiles, List<Path> torchFiles, Path outPrefix, String title, List<String> notes)
            throws IOException {
        List<Result> results = new ArrayList<>();
        for (Path p : jmhFiles) results.addAll(parseJmh(Files.readString(p, StandardCharsets.UTF_8)));
        List<String> tj = new ArrayList<>();
        for (Path p : torchFiles) tj.add(Files.readString(p, StandardCharsets.UTF_8));
        Torch torch = tj.isEmpty() ? Torch.NONE : parseTorch(tj);
        List<Row> rows = rows(results, torch);
        Path md = Path.of(outPrefix + ".md"), png = Path.of(outPrefix + ".png");
        if (md.getParent() != null) Files.createDirectories(md.getParent());
        List<Path> written = new ArrayList<>();
        String chart = null;
        if (desktopAvailable()) {
            try {
                Class.forName("ddpm.bench.Chart").getMethod("write", List.class, List.class, Path.class, String.class)
                        .invoke(null, rows, fusions(rows), png, title);
                chart = png.getFileName().toString();
                written.add(png);
            } catch (ReflectiveOperationException e) {
                System.err.println("chart not written: " + (e.getCause() != null ? e.getCause() : e));
            }
        } else {
            System.out.println("chart skipped: java.desktop is not in this runtime (the Markdown is complete without it)");
        }
        Files.writeString(md, markdown(title, String.join("`, `", jmhFiles.stream().map(p -> p.getFileName().toString()).toList()), results, rows, torch, chart, notes), StandardCharsets.UTF_8);
        written.add(0, md);
        return written;
    }

    /** Writes the summary JSON (see {@link Summary}) of these results to {@code path}. */
    public static void writeSummary(List<Path> jmhFiles, List<Path> torchFiles, Path path, String gpu, String driver)
            throws IOException {
        List<Result> results = new ArrayList<>();
        for (Path p : jmhFiles) results.addAll(parseJmh(Files.readString(p, StandardCharsets.UTF_8)));
        List<String> tj = new ArrayList<>();
        for (Path p : torchFiles) tj.add(Files.readString(p, StandardCharsets.UTF_8));
        Torch torch = tj.isEmpty() ? Torch.NONE : parseTorch(tj);
        Map<String, Object> sum = Summary.of(rows(results, torch), torch, gpu, driver, java.time.LocalDate.now().toString());
        Files.writeString(path, Summary.json(sum) + "\n", StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws IOException {
        Path out = null, summary = null;
        List<Path> jmh = new ArrayList<>(), torch = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        String title = null, gpu = null, driver = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) { usage(); return; }
            if (i + 1 >= args.length) { System.err.println("missing value after " + a); usage(); System.exit(2); }
            switch (a) {
                case "--jmh" -> jmh.add(Path.of(args[++i]));
                case "--torch" -> torch.add(Path.of(args[++i]));
                case "--out" -> out = Path.of(args[++i]);
                case "--title" -> title = args[++i];
                case "--note" -> notes.add(args[++i]);
                case "--summary" -> summary = Path.of(args[++i]);
                case "--gpu" -> gpu = args[++i];
                case "--driver" -> driver = args[++i];
                default -> { System.err.println("unknown option " + a); usage(); System.exit(2); }
            }
        }
        if (jmh.isEmpty() || out == null) { usage(); System.exit(2); }
        for (Path t : jmh) if (!Files.isReadable(t)) { System.err.println("cannot read " + t); System.exit(2); }
        for (Path t : torch) if (!Files.isReadable(t)) { System.err.println("cannot read " + t); System.exit(2); }
        if (title == null) title = "jddpm benchmarks: " + out.getFileName();
        for (Path p : write(jmh, torch, out, title, notes)) System.out.println("wrote " + p);
        if (summary != null) {
            writeSummary(jmh, torch, summary, gpu, driver);
            System.out.println("wrote " + summary);
        }
    }

    private static void usage() {
        System.err.println("usage: Report --jmh results.json [--jmh more.json]... [--torch torch_reference.json]... --out DIR/NAME [--title TEXT] [--note TEXT]...\n"
                + "              [--summary FILE.json --gpu NAME --driver VERSION]\n"
                + "  writes DIR/NAME.md and DIR/NAME.png (the PNG needs java.desktop), and the summary JSON when asked");
    }
}
