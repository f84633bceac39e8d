package ddpm.bench;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GPU report's summary JSON: throughput of both sides at each precision, ratios, kernels. */
class SummaryTest {
    static Report.Result step(String which, String precision, double ms) {
        return step(which, precision, ms, "on", "off");
    }

    static Report.Result step(String which, String precision, double ms, String fusion, String graph) {
        return new Report.Result("ddpm.bench.StepBench." + which,
                Map.of("backend", "cuda", "config", "cifar10", "precision", precision, "fusion", fusion, "graph", graph), ms * 1e-3, 0, Map.of());
    }

    @Test void throughputRatiosAndKernels() throws Exception {
        List<Report.Result> rs = new ArrayList<>(ReportTest.results());
        rs.removeIf(r -> r.simpleName().startsWith("StepBench"));
        rs.add(step("train", "bf16", 64));      // 128 images: 2000 img/s
        rs.add(step("train", "tf32", 128));     // 1000 img/s
        rs.add(step("sample", "bf16", 100));    // 256 images: 2560 img/s
        rs.add(step("sample", "bf16", 80, "off", "off"));   // unfused: shown in the report, not the summary's figure
        rs.add(step("sample", "tf32", 200, "on", "off"));   // 1280 img/s step by step
        rs.add(step("sample", "tf32", 160, "on", "on"));    // 1600 img/s replayed: the faster is the figure
        rs.add(new Report.Result("ddpm.bench.StepBench.train", Map.of("backend", "cuda", "config", "cifar10", "precision", "bf16",
                "fusion", "on", "graph", "off", "activations", "f32"), 32e-3, 0, Map.of()));   // f32 activations: not the default
        Report.Torch torch = Report.parseTorch(List.of("""
                {"torch": "2.11", "device": "NVIDIA H200", "results": [
                 {"what": "train_step", "batch": 128, "precision": "bf16", "compile": false, "fused_attn": true, "img_per_s": 1600.0},
                 {"what": "train_step", "batch": 128, "precision": "tf32", "compile": false, "fused_attn": true, "img_per_s": 1250.0},
                 {"what": "train_step", "batch": 128, "precision": "bf16", "compile": true, "fused_attn": true, "img_per_s": 2500.0},
                 {"what": "sample_step", "batch": 256, "precision": "bf16", "compile": false, "fused_attn": true, "img_steps_per_s": 3200.0},
                 {"what": "sample_step", "batch": 256, "precision": "bf16", "compile": true, "error": "compile failed"}]}
                """));
        Map<String, Object> s = Summary.of(Report.rows(rs, torch), torch, null, "580.65", "2026-12-02");
        assertEquals("NVIDIA H200", s.get("gpu"));
        assertEquals("580.65", s.get("driver"));
        @SuppressWarnings("unchecked") Map<String, Object> train = (Map<String, Object>) s.get("train_img_per_s");
        assertEquals(2000.0, (Double) train.get("jddpm_bf16"), 1e-9);
        assertEquals(1000.0, (Double) train.get("jddpm_tf32"), 1e-9);
        assertEquals(1600.0, train.get("torch_eager_bf16"));
        assertEquals(2500.0, train.get("torch_compile_bf16"));
        @SuppressWarnings("unchecked") Map<String, Object> sample = (Map<String, Object>) s.get("sample_img_per_s");
        assertEquals(2560.0, (Double) sample.get("jddpm_bf16"), 1e-9);
        assertEquals(1600.0, (Double) sample.get("jddpm_tf32"), 1e-9);
        assertNull(sample.get("torch_compile_bf16"), "a failed compile is no figure");
        @SuppressWarnings("unchecked") Map<String, Object> ratios = (Map<String, Object>) s.get("ratios");
        assertEquals(1.25, (Double) ratios.get("train_jddpm_bf16_vs_torch_eager_bf16"), 1e-12);
        assertEquals(0.8, (Double) ratios.get("train_jddpm_bf16_vs_torch_compile_bf16"), 1e-12);
        assertEquals(0.8, (Double) ratios.get("sample_jddpm_bf16_vs_torch_eager_bf16"), 1e-12);
        @SuppressWarnings("unchecked") List<Map<String, Object>> kernels = (List<Map<String, Object>>) s.get("kernels");
        Map<String, Object> gn = kernels.stream().filter(k -> String.valueOf(k.get("name")).startsWith("group norm + SiLU (fused)"))
                .findFirst().orElseThrow();
        assertEquals(0.05, (Double) gn.get("ms"), 1e-12);
        assertTrue(gn.containsKey("gb_per_s") && gn.containsKey("pct_of_limit"));
        assertTrue(kernels.stream().noneMatch(k -> String.valueOf(k.get("name")).contains("RNG")), "skipped results are left out");
        String json = Summary.json(s);
        assertTrue(json.startsWith("{\"gpu\":\"NVIDIA H200\""), json);
    }
}
