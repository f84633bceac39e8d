package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * A small GNU-style command-line parser shared by the mains: options are declared with a help
 * line and an optional default, then {@link #parse} accepts {@code --name value},
 * {@code --name=value} and boolean {@code --flag}; anything else is a {@link UsageException} that
 * names the flag and what was expected. Typed getters validate values the same way.
 *
 * <p>Under Maven the arguments travel in one property:
 * {@code mvn exec:java -Dmain=TrainCifar -Dexec.args="--steps 1000 --batch 32"}.
 */
public final class Args {
    private record Spec(String name, String metavar, String def, String help, boolean flag) {}

    private final String program;
    private final String summary;
    private final Map<String, Spec> specs = new LinkedHashMap<>();
    private final Map<String, String> values = new LinkedHashMap<>();
    private final List<String> examples = new ArrayList<>();
    private boolean helpAsked;

    public Args(String program, String summary) {
        this.program = program;
        this.summary = summary;
    }

    /** An option taking a value; {@code def} null means no default (absent unless given). */
    public Args option(String name, String metavar, String def, String help) {
        specs.put(name, new Spec(name, metavar, def, help, false));
        return this;
    }

    /** A boolean switch, false unless given. */
    public Args flag(String name, String help) {
        specs.put(name, new Spec(name, null, null, help, true));
        return this;
    }

    public Args example(String line) {
        examples.add(line);
        return this;
    }

    /** Parses; returns false when --help/-h was given (the caller prints {@link #usage} and exits 0). */
    public boolean parse(String... argv) {
        values.clear();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.isEmpty()) continue;
            if (a.equals("--help") || a.equals("-h") || a.equals("-help")) {
                helpAsked = true;
                return false;
            }
            if (!a.startsWith("--"))
                throw new UsageException("unexpected argument '" + a + "': options start with --"
                        + (a.startsWith("-") ? " (two dashes)" : ""));
            String name = a.substring(2), value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            Spec s = specs.get(name);
            if (s == null) throw new UsageException("unknown option --" + name + suggestion(name));
            if (s.flag) {
                if (value != null) {
                    String v = value.toLowerCase(Locale.ROOT);
                    if (!v.equals("true") && !v.equals("false"))
                        throw new UsageException("--" + name + " is a switch: give it alone, or as --" + name + "=true/false; got '" + value + "'");
                    value = v;
                } else value = "true";
            } else if (value == null) {
                if (i + 1 >= argv.length || (argv[i + 1].startsWith("--") && argv[i + 1].length() > 2))
                    throw new UsageException("--" + name + " needs a value: --" + name + " " + s.metavar);
                value = argv[++i];
            }
            values.put(name, value);   // the last one wins, as in most command lines
        }
        return true;
    }

    public boolean helpAsked() { return helpAsked; }

    private String suggestion(String name) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String k : specs.keySet()) {
            int d = distance(name, k);
            if (d < bestD) { bestD = d; best = k; }
        }
        return best != null && bestD <= Math.max(2, name.length() / 3) ? " (did you mean --" + best + "?)" : "";
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++)
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }

    // ---------------------------------------------------------------- getters
    private Spec spec(String name) {
        Spec s = specs.get(name);
        if (s == null) throw new IllegalArgumentException("option --" + name + " was not declared");
        return s;
    }

    /** True when the user gave the option (defaults do not count). */
    public boolean given(String name) {
        spec(name);
        return values.containsKey(name);
    }

    /** The raw value, the default when absent, or null. */
    public String get(String name) {
        Spec s = spec(name);
        return values.getOrDefault(name, s.def);
    }

    public String require(String name) {
        String v = get(name);
        if (v == null) throw new UsageException("--" + name + " is required: --" + name + " " + spec(name).metavar);
        return v;
    }

    public boolean flag(String name) {
        Spec s = spec(name);
        if (!s.flag) throw new IllegalArgumentException("--" + name + " is not a switch");
        return "true".equals(values.get(name));
    }

    private <T> T convert(String name, String what, Function<String, T> f) {
        String v = get(name);
        if (v == null) return null;
        try {
            return f.apply(v.trim());
        } catch (RuntimeException e) {
            throw new UsageException("--" + name + ": expected " + what + ", got '" + v + "'");
        }
    }

    /** An integer in [min, max] (null when absent without default). Accepts 1000, 1_000, 1k, 2M. */
    public Integer getInt(String name, long min, long max) {
        String what = "an integer" + range(min, max);
        Long v = convert(name, what, Args::parseCount);
        if (v == null) return null;
        if (v < min || v > max) throw new UsageException("--" + name + ": expected " + what + ", got " + get(name));
        return (int) (long) v;
    }

    public int getInt(String name, long min, long max, int def) {
        Integer v = getInt(name, min, max);
        return v == null ? def : v;
    }

    public Long getLong(String name, long min, long max) {
        String what = "an integer" + range(min, max);
        Long v = convert(name, what, Args::parseCount);
        if (v == null) return null;
        if (v < min || v > max) throw new UsageException("--" + name + ": expected " + what + ", got " + get(name));
        return v;
    }

    public Double getDouble(String name, double min, double max) {
        String what = "a number" + range(min, max);
        Double v = convert(name, what, s -> {
            double d = Double.parseDouble(s);
            if (Double.isNaN(d)) throw new NumberFormatException();
            return d;
        });
        if (v == null) return null;
        if (v < min || v > max) throw new UsageException("--" + name + ": expected " + what + ", got " + get(name));
        return v;
    }

    public double getDouble(String name, double min, double max, double def) {
        Double v = getDouble(name, min, max);
        return v == null ? def : v;
    }

    /** One of the listed words (case-insensitive); returns it lower-cased. */
    public String getChoice(String name, String... choices) {
        String v = get(name);
        if (v == null) return null;
        for (String c : choices) if (c.equalsIgnoreCase(v.trim())) return c;
        throw new UsageException("--" + name + ": expected one of " + String.join(", ", choices) + ", got '" + v + "'");
    }

    private static String range(double min, double max) {
        boolean lo = min > -1e300 && min != Long.MIN_VALUE, hi = max < 1e300 && max != Long.MAX_VALUE && max != Integer.MAX_VALUE;
        if (lo && hi) return " in [" + fmt(min) + ", " + fmt(max) + "]";
        if (lo) return " >= " + fmt(min);
        if (hi) return " <= " + fmt(max);
        return "";
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }

    static long parseCount(String s) {
        String t = s.replace("_", "").toLowerCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("k")) { mult = 1_000; t = t.substring(0, t.length() - 1); }
        else if (t.endsWith("m")) { mult = 1_000_000; t = t.substring(0, t.length() - 1); }
        return Math.multiplyExact(Long.parseLong(t), mult);
    }

    // ---------------------------------------------------------------- usage
    public String usage() {
        StringBuilder sb = new StringBuilder();
        sb.append("usage: mvn exec:java -Dmain=").append(program).append(" -Dexec.args=\"[options]\"\n");
        sb.append("   or: java ... ddpm.diffusion.").append(program).append(" [options]\n\n");
        sb.append(summary).append("\n\noptions:\n");
        int width = 0;
        for (Spec s : specs.values()) width = Math.max(width, left(s).length());
        width = Math.min(width, 30);
        for (Spec s : specs.values()) {
            String l = left(s);
            sb.append("  ").append(l);
            if (l.length() > width) sb.append('\n').append(" ".repeat(width + 2));
            else sb.append(" ".repeat(width - l.length()));
            sb.append("  ").append(s.help.replace("\n", "\n" + " ".repeat(width + 4)));
            if (s.def != null && !s.def.isEmpty()) sb.append(" (default ").append(s.def).append(')');
            sb.append('\n');
        }
        sb.append("  ").append(String.format("%-" + width + "s", "--help")).append("  this text\n");
        if (!examples.isEmpty()) {
            sb.append("\nexamples:\n");
            for (String e : examples) sb.append("  ").append(e).append('\n');
        }
        return sb.toString();
    }

    private static String left(Spec s) {
        return "--" + s.name + (s.flag ? "" : " " + s.metavar);
    }

    public void printUsage(PrintStream out) { out.print(usage()); }

    public String program() { return program; }
}
