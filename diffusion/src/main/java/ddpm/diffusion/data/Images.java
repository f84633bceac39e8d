package ddpm.diffusion.data;

import ddpm.engine.Tensor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes batches of images in [−1, 1] as PNG grids. */
public final class Images {
    private Images() {}

    /** [−1, 1] → 0..255, rounding, clamped (NaN → 0). */
    public static int toByte(float v) {
        if (!(v > -1f)) return 0;
        if (v >= 1f) return 255;
        return Math.round((v + 1f) * 127.5f);
    }

    /** A grid of the images of x [B, C, H, W] (C = 1 or 3), {@code cols} per row, {@code pad} pixels apart. */
    public static BufferedImage grid(Tensor x, int cols, int pad) {
        int[] s = x.shape();
        if (s.length != 4) throw new IllegalArgumentException("grid needs images [B, C, H, W], got " + x.describe());
        return grid(x.toFloats(), s[0], s[1], s[2], s[3], cols, pad);
    }

    public static BufferedImage grid(float[] v, int n, int c, int h, int w, int cols, int pad) {
        if (c != 1 && c != 3) throw new IllegalArgumentException("images must have 1 or 3 channels, got " + c);
        if (cols <= 0) cols = (int) Math.ceil(Math.sqrt(n));
        cols = Math.min(cols, n);
        int rows = (n + cols - 1) / cols;
        int W = cols * w + (cols + 1) * pad, H = rows * h + (rows + 1) * pad;
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        int plane = h * w;
        for (int i = 0; i < n; i++) {
            int ox = pad + (i % cols) * (w + pad), oy = pad + (i / cols) * (h + pad);
            int base = i * c * plane;
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    int p = base + y * w + xx;
                    int r = toByte(v[p]);
                    int g = c == 3 ? toByte(v[p + plane]) : r, b = c == 3 ? toByte(v[p + 2 * plane]) : r;
                    img.setRGB(ox + xx, oy + y, (r << 16) | (g << 8) | b);
                }
        }
        return img;
    }

    /** Saves a grid of x as PNG (written to a temporary file, then renamed into place). */
    public static void savePng(Tensor x, Path file, int cols) throws IOException {
        write(grid(x, cols, 2), file);
    }

    public static void write(BufferedImage img, Path file) throws IOException {
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer in javax.imageio");
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
    }
}
