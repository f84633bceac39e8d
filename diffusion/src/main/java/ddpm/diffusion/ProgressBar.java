package ddpm.diffusion;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A text progress bar: {@code label [#######.........]  42%  420/1000 img  35.2 img/s  ETA 16s  extra}.
 * On a terminal it redraws one line with '\r'; in a log (no console) it prints a line every 10 %
 * so logs stay short.
 */
public final class ProgressBar {
    private final PrintStream out;
    private final String label;
    private final long total;
    private final String unit;
    private final boolean interactive;
    private final long start = System.nanoTime();
    private long done;
    private int lastDecile = -1;
    private long lastDraw;
    private String extra = "";

    public ProgressBar(PrintStream out, String label, long total, String unit) {
        this(out, label, total, unit, System.console() != null);
    }

    public ProgressBar(PrintStream out, String label, long total, String unit, boolean interactive) {
        this.out = out;
        this.label = label;
        this.total = Math.max(1, total);
        this.unit = unit;
        this.interactive = interactive;
    }

    /** Adds {@code n} finished units; {@code extra} (may be null) is shown after the ETA. */
    public void step(long n, String extra) {
        done = Math.min(total, done + n);
        if (extra != null) this.extra = extra;
        long now = System.nanoTime();
        if (interactive) {
            if (done == total || now - lastDraw > 200_000_000L) {
                lastDraw = now;
                out.print("\r" + line());
                if (done == total) out.println();
                out.flush();
            }
        } else {
            int decile = (int) (done * 10 / total);
            if (decile != lastDecile) {
                lastDecile = decile;
                out.println(line());
            }
        }
    }

    public String line() {
        int width = 24;
        int filled = (int) (done * width / total);
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = secs > 0 ? done / secs : 0;
        double eta = rate > 0 ? (total - done) / rate : Double.NaN;
        return String.format(Locale.ROOT, "%s [%s%s] %3d%% %d/%d %s  %.1f %s/s  ETA %s%s", label,
                "#".repeat(filled), ".".repeat(width - filled), done * 100 / total, done, total, unit, rate, unit,
                done == total ? "0s" : duration(eta), extra.isEmpty() ? "" : "  " + extra);
    }

    public long done() { return done; }

    /** "1h02m", "3m04s", "12s", "2d03h". */
    public static String duration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        if (s < 60) return s + "s";
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        if (s < 86400) return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
        return String.format(Locale.ROOT, "%dd%02dh", s / 86400, (s % 86400) / 3600);
    }
}
