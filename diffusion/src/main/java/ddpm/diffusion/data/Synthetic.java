package ddpm.diffusion.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small data set with a known distribution, for offline runs and tests: every image is exactly
 * one of a few fixed patterns ("modes"), drawn with known proportions; the mode is the label.
 * Samples of a model trained on it can be scored by assigning each to its nearest mode
 * ({@link #nearestMode}) and comparing the mode frequencies with {@link #weights()}.
 */
public final class Synthetic {
    /** A fixed image pattern: value(c, y, x) in [−1, 1] for an image of side {@code s}. */
    @FunctionalInterface
    public interface Pattern { double value(int c, int y, int x, int s); }

    public record Mode(String name, double weight, Pattern pattern) {}

    private final List<Mode> modes;
    private final int channels, side;
    private volatile float[][] cache;

    public Synthetic(int channels, int side, List<Mode> modes) {
        if (modes.isEmpty()) throw new IllegalArgumentException("no modes");
        double sum = 0;
        for (Mode m : modes) {
            if (!(m.weight > 0)) throw new IllegalArgumentException("mode " + m.name + " has weight " + m.weight);
            sum += m.weight;
        }
        List<Mode> norm = new ArrayList<>();
        for (Mode m : modes) norm.add(new Mode(m.name, m.weight / sum, m.pattern));
        this.modes = List.copyOf(norm);
        this.channels = channels;
        this.side = side;
    }

    /** Flat colours (RGB in [−1, 1]) with the given weights: the easiest known distribution. */
    public static Synthetic flatColors(int side, double[][] rgb, double[] weights, String[] names) {
        List<Mode> ms = new ArrayList<>();
        for (int k = 0; k < rgb.length; k++) {
            double[] col = rgb[k];
            ms.add(new Mode(names[k], weights[k], (c, y, x, s) -> col[c]));
        }
        return new Synthetic(3, side, ms);
    }

    /**
     * The default for {@code --dataset synthetic}: three RGB patterns with proportions 50/30/20 % —
     * a red disc on dark blue, green/yellow halves (left/right, so a flip changes it: flips are off
     * for this set), and a white/black horizontal-stripe pattern.
     */
    public static Synthetic shapes(int side) {
        List<Mode> ms = List.of(
                new Mode("red-disc", 0.5, (c, y, x, s) -> {
                    double cx = (x + 0.5) / s - 0.5, cy = (y + 0.5) / s - 0.5;
                    boolean in = cx * cx + cy * cy < 0.09;
                    return in ? new double[]{0.9, -0.8, -0.8}[c] : new double[]{-0.8, -0.8, -0.2}[c];
                }),
                new Mode("green-yellow", 0.3, (c, y, x, s) ->
                        x < s / 2 ? new double[]{-0.8, 0.6, -0.8}[c] : new double[]{0.9, 0.9, -0.6}[c]),
                new Mode("stripes", 0.2, (c, y, x, s) -> (y / Math.max(1, s / 8)) % 2 == 0 ? 0.8 : -0.8));
        return new Synthetic(3, side, ms);
    }

    public List<Mode> modes() { return modes; }

    public double[] weights() {
        double[] w = new double[modes.size()];
        for (int k = 0; k < w.length; k++) w[k] = modes.get(k).weight;
        return w;
    }

    public int channels() { return channels; }

    public int side() { return side; }

    /** Mode k's image as floats in [−1, 1], C × H × W. */
    public float[] modeImage(int k) {
        float[] img = new float[channels * side * side];
        Pattern p = modes.get(k).pattern;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) img[(c * side + y) * side + x] = (float) p.value(c, y, x, side);
        return img;
    }

    /**
     * {@code n} images: exactly round(n·w_k) of mode k (the remainder to the largest mode), in a
     * seeded random order; labelled by mode.
     */
    public ImageDataset generate(int n, long seed) {
        int k = modes.size();
        int[] counts = new int[k];
        int assigned = 0, largest = 0;
        for (int i = 0; i < k; i++) {
            counts[i] = (int) Math.round(n * modes.get(i).weight);
            assigned += counts[i];
            if (modes.get(i).weight > modes.get(largest).weight) largest = i;
        }
        counts[largest] += n - assigned;
        int[] labels = new int[n];
        for (int i = 0, at = 0; i < k; i++) for (int j = 0; j < counts[i]; j++) labels[at++] = i;
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = labels[i]; labels[i] = labels[j]; labels[j] = t;
        }
        int img = channels * side * side;
        byte[][] modeBytes = new byte[k][img];
        for (int m = 0; m < k; m++) {
            float[] f = modeImage(m);
            for (int i = 0; i < img; i++) modeBytes[m][i] = (byte) Math.round(Math.max(0, Math.min(255, (f[i] + 1) * 127.5)));
        }
        byte[] pixels = new byte[n * img];
        for (int i = 0; i < n; i++) System.arraycopy(modeBytes[labels[i]], 0, pixels, i * img, img);
        List<String> names = new ArrayList<>();
        for (Mode m : modes) names.add(m.name);
        return new ImageDataset("synthetic", pixels, labels, n, channels, side, side, names);
    }

    /** Index of the mode nearest (mean squared error) to image i of {@code x} (floats [B, C, H, W]). */
    public int nearestMode(float[] x, int i) {
        return (int) nearest(x, i)[0];
    }

    /** {mode index, root-mean-square distance to it} for image i of x. */
    public double[] nearest(float[] x, int i) {
        int img = channels * side * side;
        double best = Double.MAX_VALUE;
        int arg = -1;
        if (cache == null) {
            float[][] c = new float[modes.size()][];
            for (int k = 0; k < c.length; k++) c[k] = modeImage(k);
            cache = c;
        }
        for (int k = 0; k < modes.size(); k++) {
            float[] m = cache[k];
            double d = 0;
            for (int j = 0; j < img; j++) {
                double e = x[i * img + j] - m[j];
                d += e * e;
            }
            if (d < best) { best = d; arg = k; }
        }
        return new double[]{arg, Math.sqrt(best / img)};
    }

    /** Counts of samples per nearest mode; the last slot counts samples farther than {@code maxRms} from every mode. */
    public int[] modeCounts(float[] x, int n, double maxRms) {
        int[] counts = new int[modes.size() + 1];
        for (int i = 0; i < n; i++) {
            double[] r = nearest(x, i);
            counts[r[1] <= maxRms ? (int) r[0] : modes.size()]++;
        }
        return counts;
    }
}
