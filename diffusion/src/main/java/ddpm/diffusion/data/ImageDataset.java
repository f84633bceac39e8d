package ddpm.diffusion.data;

import java.util.Arrays;
import java.util.List;

/**
 * Images held in memory as 8-bit samples, channel-planar (N × C × H × W, the CIFAR layout), with
 * optional integer class labels. Pixel value v maps to v/127.5 − 1 in [−1, 1] when batched.
 */
public final class ImageDataset {
    private final String name;
    private final byte[] pixels;
    private final int[] labels;
    private final int n, channels, height, width;
    private final List<String> classNames;

    /**
     * @param labels one per image in [0, classNames.size()), or null for an unlabelled set
     * @param classNames the class names (empty for an unlabelled set)
     */
    public ImageDataset(String name, byte[] pixels, int[] labels, int n, int channels, int height, int width,
                        List<String> classNames) {
        long need = (long) n * channels * height * width;
        if (n < 1 || channels < 1 || height < 1 || width < 1)
            throw new IllegalArgumentException(name + ": empty data set (" + n + " images of " + channels + "×" + height + "×" + width + ")");
        if (pixels.length != need)
            throw new IllegalArgumentException(name + ": " + pixels.length + " bytes for " + n + " images of " + channels + "×" + height + "×" + width);
        if (labels != null) {
            if (labels.length != n) throw new IllegalArgumentException(name + ": " + labels.length + " labels for " + n + " images");
            for (int l : labels)
                if (l < 0 || l >= classNames.size())
                    throw new IllegalArgumentException(name + ": label " + l + " outside [0, " + classNames.size() + ")");
        }
        this.name = name;
        this.pixels = pixels;
        this.labels = labels;
        this.n = n;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classNames = List.copyOf(classNames);
    }

    public String name() { return name; }

    public int size() { return n; }

    public int channels() { return channels; }

    public int height() { return height; }

    public int width() { return width; }

    public int imageBytes() { return channels * height * width; }

    public boolean hasLabels() { return labels != null; }

    /** Number of classes (0 when unlabelled). */
    public int numClasses() { return labels == null ? 0 : classNames.size(); }

    public List<String> classNames() { return classNames; }

    public int label(int i) {
        if (labels == null) throw new IllegalStateException(name + " has no labels");
        return labels[i];
    }

    /** The raw 8-bit samples, N × C × H × W (shared, do not modify). */
    public byte[] pixels() { return pixels; }

    /** Image i as floats in [−1, 1], written at dst[off ..], optionally mirrored left–right. */
    public void imageTo(int i, float[] dst, int off, boolean flip) {
        int base = i * imageBytes();
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++) {
                int row = base + (c * height + y) * width;
                int o = off + (c * height + y) * width;
                if (!flip) for (int x = 0; x < width; x++) dst[o + x] = (pixels[row + x] & 0xFF) / 127.5f - 1f;
                else for (int x = 0; x < width; x++) dst[o + x] = (pixels[row + width - 1 - x] & 0xFF) / 127.5f - 1f;
            }
    }

    /** The first {@code count} images (or all when fewer). */
    public ImageDataset head(int count) {
        int m = Math.min(count, n);
        if (m == n) return this;
        return new ImageDataset(name, Arrays.copyOf(pixels, m * imageBytes()), labels == null ? null : Arrays.copyOf(labels, m),
                m, channels, height, width, classNames);
    }

    /**
     * The images resampled to {@code side}×{@code side}: averaging f×f blocks when shrinking by an
     * integer factor f, repeating pixels when growing by one; other ratios are refused.
     */
    public ImageDataset resized(int side) {
        if (side == height && side == width) return this;
        if (height != width) throw new DataException(name + " is " + height + "×" + width + "; only square images can be resized");
        int img = channels * side * side;
        if ((long) n * img > Integer.MAX_VALUE - 16) throw new DataException(n + " images of " + side + "px do not fit in memory");
        byte[] out = new byte[n * img];
        if (height % side == 0) {
            int f = height / side, area = f * f;
            for (int i = 0; i < n; i++)
                for (int c = 0; c < channels; c++)
                    for (int y = 0; y < side; y++)
                        for (int x = 0; x < side; x++) {
                            int sum = 0;
                            for (int dy = 0; dy < f; dy++) {
                                int row = ((i * channels + c) * height + y * f + dy) * width + x * f;
                                for (int dx = 0; dx < f; dx++) sum += pixels[row + dx] & 0xFF;
                            }
                            out[((i * channels + c) * side + y) * side + x] = (byte) ((sum + area / 2) / area);
                        }
        } else if (side % height == 0) {
            int f = side / height;
            for (int i = 0; i < n; i++)
                for (int c = 0; c < channels; c++)
                    for (int y = 0; y < side; y++)
                        for (int x = 0; x < side; x++)
                            out[((i * channels + c) * side + y) * side + x] = pixels[((i * channels + c) * height + y / f) * width + x / f];
        } else {
            throw new DataException("cannot resize " + name + " from " + height + "px to " + side
                    + "px: the sizes must divide one another (e.g. 32 -> 16 or 8)");
        }
        return new ImageDataset(name + "@" + side + "px", out, labels, n, channels, side, side, classNames);
    }

    @Override public String toString() {
        return name + ": " + n + " images " + channels + "×" + height + "×" + width
                + (labels == null ? ", unlabelled" : ", " + classNames.size() + " classes");
    }
}
