package ddpm.bench;

import ddpm.nn.io.Json;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The GPU report's summary as JSON (bench/gpu-report.sh writes it beside the Markdown): the
 * training and sampling throughput of jddpm (StepBench at bf16 and tf32) and of PyTorch as its
 * users run it (eager bf16 autocast, eager TF32, torch.compile bf16; torch_ddpm.py), the ratios,
 * and every CUDA kernel timed with its achieved bandwidth or throughput against the limits
 * measured in the same run. A figure that was not measured is null, never a guess.
 */
public final class Summary {
    private Summary() {}

    static final String[] KEYS = {"jddpm_bf16", "jddpm_tf32", "torch_eager_bf16", "torch_eager_tf32", "torch_compile_bf16"};

    /** The summary of a report's rows (see {@link Report#rows}) and PyTorch's figures. */
    public static Map<String, Object> of(List<Report.Row> rows, Report.Torch torch, String gpu, String driver, String date) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("gpu", gpu != null ? gpu : torch.device());
        out.put("driver", driver);
        out.put("date", date);
        out.put("torch", torch.version());
        Map<String, Object> train = throughput(rows, torch, true), sample = throughput(rows, torch, false);
        out.put("train_img_per_s", train);
        out.put("sample_img_per_s", sample);
        Map<String, Object> ratios = new LinkedHashMap<>();
        for (String what : new String[]{"train", "sample"}) {
            Map<String, Object> m = what.equals("train") ? train : sample;
            ratios.put(what + "_jddpm_bf16_vs_torch_eager_bf16", ratio(m.get("jddpm_bf16"), m.get("torch_eager_bf16")));
            ratios.put(what + "_jddpm_bf16_vs_torch_compile_bf16", ratio(m.get("jddpm_bf16"), m.get("torch_compile_bf16")));
            ratios.put(what + "_jddpm_tf32_vs_torch_eager_tf32", ratio(m.get("jddpm_tf32"), m.get("torch_eager_tf32")));
        }
        out.put("ratios", ratios);
        List<Object> kernels = new ArrayList<>();
        for (Report.Row r : rows) {
            if (r.skipped() || !r.backend().startsWith("cuda") || r.entry() == null) continue;
            if (r.entry().kind() == Work.Kind.STEP) continue;
            Map<String, Object> k = new LinkedHashMap<>();
            String prec = r.result().params().get("precision");
            k.put("name", r.kernel() + (r.variant() == null || r.variant().equals("-") ? "" : " (" + r.variant() + ")")
                    + (prec == null ? "" : " " + prec));
            k.put("shape", r.shape());
            k.put("ms", r.seconds() * 1e3);
            if (!Double.isNaN(r.gbs())) k.put("gb_per_s", r.gbs());
            if (!Double.isNaN(r.gflops())) k.put("tflop_per_s", r.gflops() / 1e3);
            k.put("pct_of_limit", Double.isNaN(r.pctOfLimit()) ? null : r.pctOfLimit());
            k.put("limit", r.limit());
            kernels.add(k);
        }
        out.put("kernels", kernels);
        return out;
    }

    private static Double ratio(Object a, Object b) {
        return a instanceof Double x && b instanceof Double y && y > 0 ? x / y : null;
    }

    /** Images per second of the paper model's step: jddpm's StepBench at each precision, PyTorch's steps. */
    private static Map<String, Object> throughput(List<Report.Row> rows, Report.Torch torch, boolean train) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : KEYS) m.put(k, null);
        String bench = train ? "StepBench.train" : "StepBench.sample";
        for (Report.Row r : rows) {
            Map<String, String> p = r.result().params();
            if (r.skipped() || !r.result().simpleName().equals(bench) || !r.backend().startsWith("cuda")
                    || !"cifar10".equals(p.getOrDefault("config", "cifar10")) || !"on".equals(p.getOrDefault("fusion", "on"))
                    || !"auto".equals(p.getOrDefault("activations", "auto"))) continue;   // the commands' defaults only
            String prec = p.getOrDefault("precision", "fp32");
            // the faster of step by step and graph replay (the samplers replay where they can)
            if ((prec.equals("bf16") || prec.equals("tf32"))
                    && (!(m.get("jddpm_" + prec) instanceof Double d) || r.itemsPerSecond() > d))
                m.put("jddpm_" + prec, r.itemsPerSecond());
        }
        int batch = train ? 128 : 256;
        for (Map<String, Object> s : torch.steps()) {
            if (!(train ? "train_step" : "sample_step").equals(s.get("what")) || s.get("error") != null) continue;
            Double b = Json.num(s.get("batch"));
            if (b == null || b.intValue() != batch || Boolean.FALSE.equals(s.get("fused_attn"))) continue;
            String key = "torch_" + (Boolean.TRUE.equals(s.get("compile")) ? "compile_" : "eager_") + s.get("precision");
            if (!m.containsKey(key)) continue;
            Double v = Json.num(s.get(train ? "img_per_s" : "img_steps_per_s"));
            if (v != null) m.put(key, v);
        }
        return m;
    }

    public static String json(Map<String, Object> summary) { return Json.write(summary); }
}
