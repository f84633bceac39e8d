package ddpm.nn.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The project's one JSON reader/writer: safetensors headers, config metadata, and the benchmark
 * result files (JMH's, torch_ddpm.py's). Values map to {@code LinkedHashMap<String, Object>},
 * {@code List<Object>}, {@code String}, {@code Long} (integers), {@code Double}, {@code Boolean}
 * and {@code null}. Reading also takes the bare {@code NaN}/{@code Infinity} that some writers
 * emit; {@link #num} reads numbers held as strings ("NaN", as JMH writes non-finite scores).
 */
public final class Json {
    private Json() {}

    // ---------------------------------------------------------------- writing
    public static String write(Object v) {
        StringBuilder sb = new StringBuilder();
        write(v, sb);
        return sb.toString();
    }

    @SuppressWarnings("unchecked")
    private static void write(Object v, StringBuilder sb) {
        if (v == null) sb.append("null");
        else if (v instanceof String s) quote(s, sb);
        else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) sb.append(v);
        else if (v instanceof Number n) {
            double d = n.doubleValue();
            if (!Double.isFinite(d)) throw new IllegalArgumentException("JSON cannot hold " + d);
            if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append((long) d).append(".0");
            else sb.append(d);
        } else if (v instanceof Map<?, ?> m) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) sb.append(',');
                first = false;
                quote(String.valueOf(e.getKey()), sb);
                sb.append(':');
                write(e.getValue(), sb);
            }
            sb.append('}');
        } else if (v instanceof Iterable<?> it) {
            sb.append('[');
            boolean first = true;
            for (Object o : it) {
                if (!first) sb.append(',');
                first = false;
                write(o, sb);
            }
            sb.append(']');
        } else if (v instanceof int[] a) {
            List<Object> l = new ArrayList<>();
            for (int x : a) l.add(x);
            write(l, sb);
        } else if (v instanceof long[] a) {
            List<Object> l = new ArrayList<>();
            for (long x : a) l.add(x);
            write(l, sb);
        } else throw new IllegalArgumentException("cannot write " + v.getClass() + " as JSON");
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    // ---------------------------------------------------------------- reading
    public static Object parse(String s) {
        Parser p = new Parser(s);
        p.ws();
        Object v = p.value();
        p.ws();
        if (p.i != s.length()) throw p.err("trailing characters");
        return v;
    }

    /** A number from a parsed value: a Number, or a string such as "NaN"; null when absent or not a number. */
    public static Double num(Object v) {
        if (v instanceof Number n) return n.doubleValue();
        if (v instanceof String str) {
            try { return Double.parseDouble(str); } catch (NumberFormatException e) { return null; }
        }
        return null;
    }

    /** {@code m.get(key)}, or an IllegalArgumentException saying that {@code what} lacks the key. */
    public static Object required(Map<String, Object> m, String key, String what) {
        if (!m.containsKey(key)) throw new IllegalArgumentException(what + " lacks '" + key + "'");
        return m.get(key);
    }

    /** A required whole number (ClassCastException when it is not a number). */
    public static int requiredInt(Map<String, Object> m, String key, String what) {
        return ((Number) required(m, key, what)).intValue();
    }

    /** A required array of whole numbers (ClassCastException when it is not one). */
    public static int[] requiredInts(Map<String, Object> m, String key, String what) {
        List<?> l = (List<?>) required(m, key, what);
        int[] a = new int[l.size()];
        for (int j = 0; j < a.length; j++) a[j] = ((Number) l.get(j)).intValue();
        return a;
    }

    /** The value as an object, or an empty one when it is not. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> obj(Object v) { return v instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of(); }

    /** The value as an array, or an empty one when it is not. */
    @SuppressWarnings("unchecked")
    public static List<Object> arr(Object v) { return v instanceof List<?> l ? (List<Object>) l : List.of(); }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String s) {
        Object v = parse(s);
        if (!(v instanceof Map)) throw new IllegalArgumentException("JSON: expected an object, got " + s.substring(0, Math.min(40, s.length())));
        return (Map<String, Object>) v;
    }

    private static final class Parser {
        final String s;
        int i;

        Parser(String s) { this.s = s; }

        IllegalArgumentException err(String what) {
            int from = Math.max(0, i - 20), to = Math.min(s.length(), i + 20);
            return new IllegalArgumentException("JSON: " + what + " at character " + i + " near '" + s.substring(from, to) + "'");
        }

        void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }

        char peek() {
            if (i >= s.length()) throw err("unexpected end");
            return s.charAt(i);
        }

        void expect(char c) {
            if (peek() != c) throw err("expected '" + c + "' but found '" + peek() + "'");
            i++;
        }

        Object value() {
            char c = peek();
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (peek() == '}') { i++; return m; }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(':');
                        ws();
                        if (m.put(k, value()) != null) throw err("duplicate key '" + k + "'");
                        ws();
                        if (peek() == ',') { i++; continue; }
                        expect('}');
                        return m;
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (peek() == ']') { i++; return l; }
                    while (true) {
                        ws();
                        l.add(value());
                        ws();
                        if (peek() == ',') { i++; continue; }
                        expect(']');
                        return l;
                    }
                }
                case '"':
                    return string();
                case 't': lit("true"); return Boolean.TRUE;
                case 'f': lit("false"); return Boolean.FALSE;
                case 'n': lit("null"); return null;
                case 'N': lit("NaN"); return Double.NaN;
                case 'I': lit("Infinity"); return Double.POSITIVE_INFINITY;
                default:
                    return number();
            }
        }

        void lit(String w) {
            if (!s.startsWith(w, i)) throw err("bad literal");
            i += w.length();
        }

        String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = peek();
                i++;
                if (c == '"') return sb.toString();
                if (c != '\\') { sb.append(c); continue; }
                char e = peek();
                i++;
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'u' -> {
                        if (i + 4 > s.length()) throw err("bad \\u escape");
                        sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> throw err("bad escape \\" + e);
                }
            }
        }

        Object number() {
            int start = i;
            if (s.startsWith("-Infinity", i)) { i += 9; return Double.NEGATIVE_INFINITY; }
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String t = s.substring(start, i);
            if (t.isEmpty()) throw err("unexpected character '" + peek() + "'");
            try {
                if (t.indexOf('.') < 0 && t.indexOf('e') < 0 && t.indexOf('E') < 0) return Long.parseLong(t);
                return Double.parseDouble(t);
            } catch (NumberFormatException ex) {
                throw err("bad number '" + t + "'");
            }
        }
    }
}
