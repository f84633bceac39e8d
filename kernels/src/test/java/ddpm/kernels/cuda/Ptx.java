package ddpm.kernels.cuda;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The kernel entries of the committed PTX: parameter types and sizes, .maxntid, static shared bytes. */
final class Ptx {
    static final String[] FAMILIES = {"adam", "attention", "conv", "diffusion_step", "elementwise", "gather",
            "group_norm", "layout", "reduce", "rng", "softmax", "upsample"};

    /** One .param: its PTX type (u64, u32, s32, f32, f64, b8), byte size and alignment. */
    record Param(String type, int bytes, int align) {
        @Override public String toString() { return "." + type + (type.equals("b8") ? "[" + bytes + "]" : ""); }
    }

    /** One .entry; maxThreads 0 when there is no .maxntid. */
    record Entry(String family, String name, List<Param> params, int maxThreads, int staticShared) {}

    private static final Pattern ENTRY = Pattern.compile("\\.visible\\s+\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)([^{]*)\\{");
    private static final Pattern PARAM = Pattern.compile(
            "\\.param\\s+(?:\\.align\\s+(\\d+)\\s+)?\\.(u64|s64|u32|s32|f32|f64|b8|b16|b32|b64|u16|s16|u8|s8)\\s+\\w+(?:\\[(\\d+)\\])?");
    private static final Pattern MAXNTID = Pattern.compile("\\.(?:maxntid|reqntid)\\s+(\\d+)\\s*(?:,\\s*(\\d+))?\\s*(?:,\\s*(\\d+))?");
    private static final Pattern SHARED = Pattern.compile(
            "(?<!extern )\\.shared\\s+(?:\\.align\\s+\\d+\\s+)?\\.(\\w+)\\s+[\\w$]+(?:\\[(\\d+)\\])?\\s*;");

    static int size(String type) {
        return switch (type) {
            case "u64", "s64", "f64", "b64" -> 8;
            case "u32", "s32", "f32", "b32" -> 4;
            case "u16", "s16", "b16" -> 2;
            default -> 1;
        };
    }

    static Map<String, Entry> parse(String family) {
        byte[] z = GpuDriver.ptx(family);
        String text = new String(z, 0, z.length - 1, StandardCharsets.US_ASCII);
        Map<String, Entry> out = new LinkedHashMap<>();
        Matcher m = ENTRY.matcher(text);
        List<int[]> spans = new ArrayList<>();
        List<String[]> heads = new ArrayList<>();
        while (m.find()) {
            spans.add(new int[]{m.start(), m.end()});
            heads.add(new String[]{m.group(1), m.group(2), m.group(3)});
        }
        for (int e = 0; e < spans.size(); e++) {
            String name = heads.get(e)[0];
            List<Param> params = new ArrayList<>();
            Matcher p = PARAM.matcher(heads.get(e)[1]);
            while (p.find()) {
                int elem = size(p.group(2));
                int count = p.group(3) == null ? 1 : Integer.parseInt(p.group(3));
                int align = p.group(1) == null ? elem : Integer.parseInt(p.group(1));
                params.add(new Param(p.group(2), elem * count, align));
            }
            int maxThreads = 0;
            Matcher t = MAXNTID.matcher(heads.get(e)[2]);
            if (t.find()) {
                maxThreads = Integer.parseInt(t.group(1));
                if (t.group(2) != null) maxThreads *= Integer.parseInt(t.group(2));
                if (t.group(3) != null) maxThreads *= Integer.parseInt(t.group(3));
            }
            int bodyEnd = e + 1 < spans.size() ? spans.get(e + 1)[0] : text.length();
            String body = text.substring(spans.get(e)[1], bodyEnd);
            int shared = 0;
            Matcher s = SHARED.matcher(body);
            while (s.find()) shared += size(s.group(1)) * (s.group(2) == null ? 1 : Integer.parseInt(s.group(2)));
            out.put(name, new Entry(family, name, params, maxThreads, shared));
        }
        return out;
    }

    static Map<String, Map<String, Entry>> all() {
        Map<String, Map<String, Entry>> all = new LinkedHashMap<>();
        for (String f : FAMILIES) all.put(f, parse(f));
        return all;
    }
}
