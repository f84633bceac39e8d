package ddpm.diffusion.data;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A folder of images (PNG, also JPEG/BMP/GIF where javax.imageio reads them), searched
 * recursively in name order. When every image sits in a first-level subfolder, the subfolders are
 * the classes. Images are centre-cropped to a square and scaled to {@code size}×{@code size}.
 */
public final class ImageFolder {
    private ImageFolder() {}

    /**
     * @param size side of the images produced; 0 keeps the size of the first image (all must match)
     * @param channels 3 (RGB) or 1 (grey)
     */
    public static ImageDataset load(Path dir, int size, int channels) {
        if (!Files.isDirectory(dir)) throw new DataException("image folder " + dir.toAbsolutePath() + " does not exist");
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3");
        List<Path> files;
        try (Stream<Path> s = Files.walk(dir)) {
            files = s.filter(Files::isRegularFile).filter(ImageFolder::isImage).sorted().toList();
        } catch (IOException e) {
            throw new DataException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (files.isEmpty()) throw new DataException("no .png (or .jpg/.bmp/.gif) images under " + dir.toAbsolutePath());
        Path root = dir.toAbsolutePath().normalize();
        boolean classed = true;
        TreeSet<String> classSet = new TreeSet<>();
        for (Path f : files) {
            Path rel = root.relativize(f.toAbsolutePath().normalize());
            if (rel.getNameCount() < 2) classed = false;
            else classSet.add(rel.getName(0).toString());
        }
        List<String> classes = classed ? new ArrayList<>(classSet) : List.of();
        int n = files.size();
        int side = size;
        byte[] pixels = null;
        int[] labels = classed ? new int[n] : null;
        for (int i = 0; i < n; i++) {
            Path f = files.get(i);
            BufferedImage img;
            try {
                img = ImageIO.read(f.toFile());
            } catch (IOException e) {
                throw new DataException("cannot read image " + f + ": " + e.getMessage(), e);
            }
            if (img == null) throw new DataException(f + " is not an image javax.imageio can read");
            if (side == 0) {
                if (img.getWidth() != img.getHeight())
                    throw new DataException(f + " is " + img.getWidth() + "×" + img.getHeight()
                            + "; give a size (folder:<path> with --image-size N) to crop and scale");
                side = img.getWidth();
            }
            if (pixels == null) {
                if ((long) n * channels * side * side > Integer.MAX_VALUE - 16)
                    throw new DataException(n + " images of " + side + "px do not fit in memory; use a smaller --image-size");
                pixels = new byte[n * channels * side * side];
            }
            if (size == 0 && (img.getWidth() != side || img.getHeight() != side))
                throw new DataException(f + " is " + img.getWidth() + "×" + img.getHeight() + ", the first image was "
                        + side + "×" + side + "; give --image-size to scale them all");
            BufferedImage sq = squareScaled(img, side);
            writePlanes(sq, pixels, i * channels * side * side, channels, side);
            if (classed) labels[i] = classes.indexOf(root.relativize(f.toAbsolutePath().normalize()).getName(0).toString());
        }
        return new ImageDataset("folder:" + dir, pixels, labels, n, channels, side, side, classes);
    }

    /**
     * One image file, centre-cropped and scaled to side×side, as {@code channels} planes of floats in
     * [−1, 1] (grey = 0.299 R + 0.587 G + 0.114 B).
     */
    public static float[] readImage(Path file, int side, int channels) {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3");
        BufferedImage img;
        try {
            img = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new DataException("cannot read image " + file + ": " + e.getMessage(), e);
        }
        if (img == null) throw new DataException(file + " is not an image javax.imageio can read");
        byte[] px = new byte[channels * side * side];
        writePlanes(squareScaled(img, side), px, 0, channels, side);
        float[] out = new float[px.length];
        for (int i = 0; i < px.length; i++) out[i] = (px[i] & 0xFF) / 127.5f - 1f;
        return out;
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".bmp") || n.endsWith(".gif");
    }

    static BufferedImage squareScaled(BufferedImage img, int side) {
        int w = img.getWidth(), h = img.getHeight(), s = Math.min(w, h);
        if (w == side && h == side) return img;
        BufferedImage out = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        int x0 = (w - s) / 2, y0 = (h - s) / 2;
        g.drawImage(img, 0, 0, side, side, x0, y0, x0 + s, y0 + s, null);
        g.dispose();
        return out;
    }

    private static void writePlanes(BufferedImage img, byte[] dst, int off, int channels, int side) {
        int plane = side * side;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                int rgb = img.getRGB(x, y);
                int r = (rgb >> 16) & 0xFF, g = (rgb >> 8) & 0xFF, b = rgb & 0xFF;
                int p = y * side + x;
                if (channels == 3) {
                    dst[off + p] = (byte) r;
                    dst[off + plane + p] = (byte) g;
                    dst[off + 2 * plane + p] = (byte) b;
                } else {
                    dst[off + p] = (byte) Math.round(0.299 * r + 0.587 * g + 0.114 * b);
                }
            }
    }
}
