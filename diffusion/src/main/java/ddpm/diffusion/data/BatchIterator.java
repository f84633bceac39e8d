package ddpm.diffusion.data;

import ddpm.engine.Device;
import ddpm.engine.Tensor;

import java.util.SplittableRandom;

/**
 * Endless seeded mini-batches over an {@link ImageDataset}: each epoch visits every image once in
 * an order drawn from (seed, epoch); a batch that runs past the end of an epoch continues into the
 * next, so any batch size works with any set size. Each image is mirrored left–right with
 * probability 1/2 when flips are on. The position (epoch, index) is two numbers, saved in
 * checkpoints and restored with {@link #seek}, after which the same batches follow.
 */
public final class BatchIterator {
    /** One batch: images [B, C, H, W] in [−1, 1] (F32) and labels [B] (I32, null when unlabelled). */
    public record Batch(Tensor images, Tensor labels, int[] hostLabels) {}

    private final ImageDataset data;
    private final int batch;
    private final long seed;
    private final boolean flip;
    private long epoch;
    private int index;
    private int[] order;
    private long orderEpoch = -1;

    public BatchIterator(ImageDataset data, int batch, long seed, boolean flip) {
        if (batch < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batch);
        this.data = data;
        this.batch = batch;
        this.seed = seed;
        this.flip = flip;
    }

    public int batchSize() { return batch; }

    public long epoch() { return epoch; }

    public int index() { return index; }

    /** Moves to image {@code index} of epoch {@code epoch}'s order. */
    public void seek(long epoch, int index) {
        if (epoch < 0 || index < 0 || index >= data.size())
            throw new IllegalArgumentException("bad position epoch " + epoch + ", index " + index + " for " + data.size() + " images");
        this.epoch = epoch;
        this.index = index;
    }

    /** The order of epoch e (a seeded Fisher–Yates shuffle). */
    int[] order(long e) {
        if (orderEpoch != e) {
            int n = data.size();
            int[] o = order != null && order.length == n ? order : new int[n];
            for (int i = 0; i < n; i++) o[i] = i;
            SplittableRandom r = new SplittableRandom(mix(seed, e));
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = o[i]; o[i] = o[j]; o[j] = t;
            }
            order = o;
            orderEpoch = e;
        }
        return order;
    }

    /** The indices of the next batch and whether each is flipped (advances the position). */
    public int[] nextIndices(boolean[] flips) {
        int[] idx = new int[batch];
        SplittableRandom fr = new SplittableRandom(mix(mix(seed ^ 0x5DEECE66DL, epoch), index));
        for (int b = 0; b < batch; b++) {
            idx[b] = order(epoch)[index];
            if (flips != null) flips[b] = flip && fr.nextBoolean();
            if (++index == data.size()) {
                index = 0;
                epoch++;
            }
        }
        return idx;
    }

    /** The next batch, as tensors on {@code device} (owned by the current scope, if any). */
    public Batch next(Device device) {
        float[] x = new float[batch * data.imageBytes()];
        int[] y = nextHost(x);
        Tensor images = Tensor.of(x, device, batch, data.channels(), data.height(), data.width());
        return new Batch(images, y == null ? null : Tensor.ofInts(y, device, batch), y);
    }

    /**
     * The next batch written into {@code images} ([batch, C, H, W], kept by the caller: one upload,
     * no new tensor, as a recorded training step wants); returns the labels, or null without them.
     */
    public int[] nextInto(Tensor images) {
        float[] x = new float[batch * data.imageBytes()];
        int[] y = nextHost(x);
        images.copyFrom(x);
        return y;
    }

    /** The next batch's pixels into x (flipped where drawn); its labels, or null when the data has none. */
    private int[] nextHost(float[] x) {
        boolean[] flips = new boolean[batch];
        int[] idx = nextIndices(flips);
        int img = data.imageBytes();
        for (int b = 0; b < batch; b++) data.imageTo(idx[b], x, b * img, flips[b]);
        if (!data.hasLabels()) return null;
        int[] y = new int[batch];
        for (int b = 0; b < batch; b++) y[b] = data.label(idx[b]);
        return y;
    }

    static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

}
