package ddpm.bench;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Runs the CPU kernel benchmarks ({@link SgemmBench}, {@link Conv2dBench}) through JMH and prints a
 * GFLOP/s summary: JMH measures ops/s (throughput mode), GFLOP/s = flops per op × ops/s / 1e9.
 * System properties: bench.threads (comma list, default "1,2"), bench.warmup / bench.measure
 * (iterations, default 3 / 5), bench.time (seconds per iteration, default 1), bench.filter (a
 * substring the "shape" parameter must contain), bench.json (a file for JMH's JSON results).
 */
final class CpuBenchSupport {
    private CpuBenchSupport() {}

    static Collection<RunResult> run(Class<?> bench, String[] shapes) throws RunnerException {
        String filter = System.getProperty("bench.filter", "");
        List<String> chosen = new ArrayList<>();
        for (String s : shapes) if (s.contains(filter)) chosen.add(s);
        int time = Integer.getInteger("bench.time", 1);
        ChainedOptionsBuilder o = new OptionsBuilder()
                .include(bench.getName() + "\\.")
                .param("shape", chosen.toArray(new String[0]))
                .param("threads", System.getProperty("bench.threads", "1,2").split(","))
                .warmupIterations(Integer.getInteger("bench.warmup", 3))
                .measurementIterations(Integer.getInteger("bench.measure", 5))
                .warmupTime(TimeValue.seconds(time))
                .measurementTime(TimeValue.seconds(time))
                .forks(1)
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "-Xmx4g");
        String json = System.getProperty("bench.json");
        if (json != null) o.resultFormat(org.openjdk.jmh.results.format.ResultFormatType.JSON).result(json);
        for (String p : new String[]{"ddpm.sgemm.kernel", "ddpm.sgemm.kc", "ddpm.sgemm.mc", "ddpm.sgemm.nc", "ddpm.sgemm.bits"})
            if (System.getProperty(p) != null) o.jvmArgsAppend("-D" + p + "=" + System.getProperty(p));
        return new Runner(o.build()).run();
    }

    /** One Markdown row per result: benchmark, shape, threads, ops/s, GFLOP/s (median and best iteration). */
    static void summary(String title, Collection<RunResult> results, ToDoubleFunction<RunResult> flopsPerOp) {
        System.out.println();
        System.out.println("### " + title);
        System.out.println();
        System.out.println("| benchmark | shape | threads | ops/s (mean) | GFLOP/s (mean) | GFLOP/s (best iteration) |");
        System.out.println("|---|---|---|---|---|---|");
        for (RunResult r : results) {
            Map<String, String> p = r.getParams().getParamsKeys().stream()
                    .collect(java.util.stream.Collectors.toMap(k -> k, k -> r.getParams().getParam(k)));
            double ops = r.getPrimaryResult().getScore(), best = r.getPrimaryResult().getStatistics().getMax();
            double f = flopsPerOp.applyAsDouble(r);
            String name = r.getParams().getBenchmark();
            name = name.substring(name.lastIndexOf('.') + 1);
            System.out.printf("| %s | %s | %s | %.2f | %.1f | %.1f |%n", name, p.get("shape"), p.get("threads"), ops,
                    f * ops / 1e9, f * best / 1e9);
        }
        System.out.println();
    }
}
