package ddpm.diffusion.eval;

import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.Images;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.Classification;
import ddpm.nn.Classifier;
import ddpm.nn.InceptionV3;

import java.util.Arrays;
import java.util.Locale;

/**
 * Sample-quality numbers that need no download: the Fréchet distance between a classifier's
 * penultimate-layer features of generated images and of the test set (FD-fashion with the
 * project's Fashion-MNIST classifier), with the test set's own split-half distance as the floor,
 * and for samples of requested classes the fraction the classifier assigns to the class asked for.
 * FD-fashion is not comparable to Inception FID (other network, other features, 28-px images);
 * with the FID InceptionV3 weights the same code computes FID itself ({@link #inceptionFeatures}).
 */
public final class SampleQuality {
    private SampleQuality() {}

    /** n feature vectors of dimension dim (row-major) and, for a classifier, each image's predicted class. */
    public record Features(int n, int dim, double[] values, int[] predicted) {
        public FrechetDistance.Stats stats() { return FrechetDistance.stats(values, n, dim); }

        /** Rows [from, to). */
        public Features rows(int from, int to) {
            return new Features(to - from, dim, Arrays.copyOfRange(values, from * dim, to * dim),
                    predicted == null ? null : Arrays.copyOfRange(predicted, from, to));
        }
    }

    /**
     * The result: the distance of n samples to the reference set of refN images, the split-half floor
     * (two halves of the reference set), and the class accuracy (NaN when no classes were requested).
     */
    public record Report(String metric, int n, int refN, double distance, double floor, double classAccuracy, int[] perClassAsked,
                         int[] perClassHit) {
        public String summary() {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "%s: %.4f (%d samples vs %d test images); floor, the test set's split-half %s: %.4f (%d vs %d)",
                    metric, distance, n, refN, metric, floor, refN / 2, refN - refN / 2));
            if (!Double.isNaN(classAccuracy)) {
                sb.append(String.format(Locale.ROOT, "%nclass accuracy: %.4f (the fraction of samples the classifier assigns to the class asked for)",
                        classAccuracy));
                sb.append("\n  per class asked (hits/samples):");
                for (int k = 0; k < perClassAsked.length; k++)
                    if (perClassAsked[k] > 0) sb.append(' ').append(k).append(": ").append(perClassHit[k]).append('/').append(perClassAsked[k]);
            }
            return sb.toString();
        }
    }

    /** The images of a data set as floats in [−1, 1], [N, C, H, W] row-major. */
    public static float[] images(ImageDataset data) {
        int per = data.imageBytes();
        float[] x = new float[data.size() * per];
        for (int i = 0; i < data.size(); i++) data.imageTo(i, x, i * per, false);
        return x;
    }

    /** Penultimate features and predicted classes of images in [−1, 1] through a classifier of clean images. */
    public static Features classifierFeatures(Classifier net, float[] images, int n, int batch, Device device) {
        var c = net.config;
        int per = c.inChannels * c.resolution * c.resolution, d = c.featureDim();
        if (images.length != (long) n * per)
            throw new IllegalArgumentException(images.length + " values are not " + n + " images of " + c.inChannels + "×" + c.resolution
                    + "×" + c.resolution + " (the classifier's input)");
        double[] f = new double[n * d];
        int[] pred = new int[n];
        try (Grad.Guard g = Grad.noGrad()) {
            for (int s = 0; s < n; s += batch) {
                int b = Math.min(batch, n - s);
                try (Scope sc = Scope.open()) {
                    Tensor x = Tensor.of(Arrays.copyOfRange(images, s * per, (s + b) * per), device, b, c.inChannels, c.resolution, c.resolution);
                    Tensor feats = net.features(x, null);
                    float[] fv = feats.toFloats();
                    for (int i = 0; i < fv.length; i++) f[s * d + i] = fv[i];
                    System.arraycopy(Classification.argmax(net.head.forward(feats)), 0, pred, s, b);
                }
            }
        }
        return new Features(n, d, f, pred);
    }

    /**
     * pool3 features of images in [−1, 1] ([N, C, H, W], C = 1 or 3) through the FID InceptionV3,
     * quantised to 8 bits first (as FID tools read PNGs), then resized to 299 px.
     */
    public static Features inceptionFeatures(InceptionV3 net, float[] images, int n, int c, int h, int w, int batch) {
        int per = c * h * w, d = InceptionV3.DIM;
        double[] f = new double[n * d];
        try (Grad.Guard g = Grad.noGrad()) {
            for (int s = 0; s < n; s += batch) {
                int b = Math.min(batch, n - s);
                float[] x = new float[b * per];
                for (int i = 0; i < x.length; i++) x[i] = Images.toByte(images[s * per + i]) / 255f;
                try (Scope sc = Scope.open()) {
                    float[] fv = net.features(x, b, c, h, w).toFloats();
                    for (int i = 0; i < fv.length; i++) f[s * d + i] = fv[i];
                }
            }
        }
        return new Features(n, d, f, null);
    }

    /**
     * The report for samples against reference (test-set) features: FD of all samples to all
     * reference images, the floor FD of the reference set's first half to its second half, and when
     * {@code asked} (one class per sample) is given, the fraction of samples predicted as asked.
     */
    public static Report report(String metric, Features samples, Features reference, int[] asked) {
        if (reference.n() < 4) throw new IllegalArgumentException("the reference set needs at least 4 images, has " + reference.n());
        double fd = FrechetDistance.distance(samples.stats(), reference.stats());
        int half = reference.n() / 2;
        double floor = FrechetDistance.distance(reference.rows(0, half).stats(), reference.rows(half, reference.n()).stats());
        double acc = Double.NaN;
        int[] perAsked = null, perHit = null;
        if (asked != null) {
            if (samples.predicted() == null) throw new IllegalArgumentException("class accuracy needs a classifier, not " + metric);
            if (asked.length != samples.n()) throw new IllegalArgumentException(asked.length + " labels for " + samples.n() + " samples");
            int k = 0;
            for (int a : asked) k = Math.max(k, a + 1);
            perAsked = new int[k];
            perHit = new int[k];
            int hit = 0;
            for (int i = 0; i < asked.length; i++) {
                perAsked[asked[i]]++;
                if (samples.predicted()[i] == asked[i]) {
                    hit++;
                    perHit[asked[i]]++;
                }
            }
            acc = hit / (double) asked.length;
        }
        return new Report(metric, samples.n(), reference.n(), fd, floor, acc, perAsked, perHit);
    }
}
