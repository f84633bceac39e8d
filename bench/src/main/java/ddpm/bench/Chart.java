package ddpm.bench;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The report's PNG (Java2D; needs java.desktop, which {@link Report} checks before loading this
 * class): per kernel the achieved share of its limit as a bar against the 100 % line, then the
 * fused-vs-unfused speed-ups against the 1× line.
 */
public final class Chart {
    private Chart() {}

    static final int W = 1500, ROW = 18, LABEL = 640, TOP = 50, GAP = 40;
    static final Color LIMIT = new Color(225, 225, 225), MEM = new Color(52, 120, 190), COMP = new Color(210, 110, 40),
            FUSE = new Color(60, 150, 80), SLOW = new Color(190, 60, 60);

    public static void write(List<Report.Row> rows, List<Report.Fusion> fusions, Path png, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Report.Row> bars = rows.stream().filter(r -> !r.skipped() && !Double.isNaN(r.pctOfLimit())).toList();
        int h1 = Math.max(1, bars.size()) * ROW, h2 = Math.max(1, fusions.size()) * ROW;
        int height = TOP + 30 + h1 + GAP + 30 + h2 + 40;
        BufferedImage img = new BufferedImage(W, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        g.drawString(title, 20, 30);

        // ---- achieved vs limit
        int y = TOP + 20, x0 = LABEL, plotW = W - LABEL - 230;
        double maxPct = Math.max(100, bars.stream().mapToDouble(Report.Row::pctOfLimit).max().orElse(100));
        maxPct = Math.min(maxPct, 400);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString("Achieved vs limit (% of measured copy bandwidth / GEMM rate on the same backend)", 20, y);
        y += 12;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        FontMetrics fm = g.getFontMetrics();
        int x100 = x0 + (int) (plotW * 100 / maxPct);
        for (Report.Row r : bars) {
            String label = r.kernel() + " · " + r.variant() + " [" + r.backend() + " " + r.shape() + "]";
            g.setColor(Color.DARK_GRAY);
            g.drawString(clip(label, fm, LABEL - 30), 20, y + ROW - 5);
            g.setColor(LIMIT);
            g.fillRect(x0, y + 3, x100 - x0, ROW - 6);
            g.setColor(r.limit().equals("GEMM") ? COMP : MEM);
            g.fillRect(x0, y + 3, (int) (plotW * Math.min(r.pctOfLimit(), maxPct) / maxPct), ROW - 6);
            g.setColor(Color.BLACK);
            String v = (!Double.isNaN(r.gbs()) ? Report.fmtRate(r.gbs(), "B") : Report.fmtRate(r.gflops(), "FLOP"))
                    + String.format(Locale.ROOT, "  %.1f%%", r.pctOfLimit());
            g.drawString(v, x0 + plotW + 10, y + ROW - 5);
            y += ROW;
        }
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{4f, 4f}, 0f));
        g.drawLine(x100, TOP + 35, x100, y);
        g.drawString("100%", x100 - 12, y + 12);
        g.setStroke(new BasicStroke(1f));
        g.setColor(MEM);
        g.fillRect(W - 400, TOP + 8, 12, 10);
        g.setColor(Color.BLACK);
        g.drawString("memory-bound (vs copy)", W - 384, TOP + 17);
        g.setColor(COMP);
        g.fillRect(W - 230, TOP + 8, 12, 10);
        g.setColor(Color.BLACK);
        g.drawString("compute-bound (vs GEMM)", W - 214, TOP + 17);

        // ---- fused vs unfused
        y += GAP;
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString("Fused vs unfused: speed-up of the fused kernel (unfused time / fused time)", 20, y);
        y += 12;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        double maxS = Math.max(2, fusions.stream().mapToDouble(Report.Fusion::speedup).max().orElse(2));
        int x1 = x0 + (int) (plotW / maxS);
        int top2 = y;
        for (Report.Fusion f : fusions) {
            String label = f.kernel() + ": fused vs " + f.otherVariant() + " [" + f.backend() + " " + f.shape() + "]";
            g.setColor(Color.DARK_GRAY);
            g.drawString(clip(label, fm, LABEL - 30), 20, y + ROW - 5);
            g.setColor(f.speedup() >= 1 ? FUSE : SLOW);
            g.fillRect(x0, y + 3, (int) (plotW * f.speedup() / maxS), ROW - 6);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.2f×", f.speedup()), x0 + plotW + 10, y + ROW - 5);
            y += ROW;
        }
        if (fusions.isEmpty()) g.drawString("(no fused/unfused pairs in this run)", x0, y + ROW - 5);
        g.setColor(Color.GRAY);
        g.drawLine(x1, top2, x1, y + 2);
        g.drawString("1×", x1 - 6, y + 14);
        g.dispose();
        if (png.getParent() != null) Files.createDirectories(png.getParent());
        if (!ImageIO.write(img, "png", png.toFile())) throw new IOException("no PNG writer in this runtime");
    }

    private static String clip(String s, FontMetrics fm, int width) {
        if (fm.stringWidth(s) <= width) return s;
        while (s.length() > 4 && fm.stringWidth(s + "…") > width) s = s.substring(0, s.length() - 1);
        return s + "…";
    }
}
