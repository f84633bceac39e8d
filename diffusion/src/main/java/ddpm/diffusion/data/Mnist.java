package ddpm.diffusion.data;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * MNIST in the IDX format: {@code train-images-idx3-ubyte} / {@code train-labels-idx1-ubyte} and
 * {@code t10k-*} for the test set, each optionally gzip-compressed ({@code .gz}). Images are
 * 28×28 grey, padded with background to 32×32 unless asked to stay 28×28.
 */
public final class Mnist {
    public static final List<String> CLASSES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    private Mnist() {}

    public static ImageDataset load(Path dir, boolean train, boolean padTo32) {
        String prefix = train ? "train" : "t10k";
        Path images = find(dir, prefix + "-images-idx3-ubyte", prefix + "-images.idx3-ubyte");
        Path labels = find(dir, prefix + "-labels-idx1-ubyte", prefix + "-labels.idx1-ubyte");
        if (images == null || labels == null)
            throw new DataException("MNIST " + (train ? "training" : "test") + " files not found in " + dir.toAbsolutePath()
                    + ".\nPut " + prefix + "-images-idx3-ubyte.gz and " + prefix + "-labels-idx1-ubyte.gz there (gzip or not;"
                    + " the IDX files from the MNIST distribution or any mirror), or pass --data-dir pointing at them.");
        return read(images, labels, padTo32, "mnist-" + (train ? "train" : "test"), CLASSES);
    }

    static Path find(Path dir, String... names) {
        for (String n : names)
            for (String suffix : new String[]{"", ".gz"}) {
                Path p = dir.resolve(n + suffix);
                if (Files.isRegularFile(p)) return p;
            }
        return null;
    }

    public static ImageDataset read(Path imagesFile, Path labelsFile, boolean padTo32, String name) {
        return read(imagesFile, labelsFile, padTo32, name, CLASSES);
    }

    /** An IDX image file and its label file, with labels in [0, classNames.size()). */
    static ImageDataset read(Path imagesFile, Path labelsFile, boolean padTo32, String name, List<String> classNames) {
        int n, rows, cols;
        byte[] raw;
        try (DataInputStream in = new DataInputStream(Gzip.open(imagesFile))) {
            int magic = in.readInt();
            if (magic != 0x00000803)
                throw new DataException(imagesFile + " is not an IDX image file (magic 0x" + Integer.toHexString(magic) + ", expected 0x803)");
            n = in.readInt();
            rows = in.readInt();
            cols = in.readInt();
            if (n <= 0 || rows <= 0 || cols <= 0 || (long) n * rows * cols > Integer.MAX_VALUE - 16)
                throw new DataException(imagesFile + ": bad IDX dimensions " + n + "×" + rows + "×" + cols);
            raw = readExactly(in, n * rows * cols, imagesFile);
        } catch (IOException e) {
            throw new DataException("cannot read " + imagesFile + ": " + e.getMessage(), e);
        }
        int[] labels = new int[n];
        try (DataInputStream in = new DataInputStream(Gzip.open(labelsFile))) {
            int magic = in.readInt();
            if (magic != 0x00000801)
                throw new DataException(labelsFile + " is not an IDX label file (magic 0x" + Integer.toHexString(magic) + ", expected 0x801)");
            int m = in.readInt();
            if (m != n) throw new DataException(labelsFile + " has " + m + " labels for " + n + " images in " + imagesFile);
            byte[] b = readExactly(in, n, labelsFile);
            for (int i = 0; i < n; i++) {
                labels[i] = b[i] & 0xFF;
                if (labels[i] >= classNames.size())
                    throw new DataException(labelsFile + ": label " + labels[i] + " at " + i + " is not in [0, " + classNames.size() + ")");
            }
        } catch (IOException e) {
            throw new DataException("cannot read " + labelsFile + ": " + e.getMessage(), e);
        }
        if (!padTo32 || (rows >= 32 && cols >= 32))
            return new ImageDataset(name, raw, labels, n, 1, rows, cols, classNames);
        int h = 32, w = 32, top = (h - rows) / 2, left = (w - cols) / 2;
        byte[] padded = new byte[n * h * w];
        for (int i = 0; i < n; i++)
            for (int y = 0; y < rows; y++)
                System.arraycopy(raw, (i * rows + y) * cols, padded, (i * h + y + top) * w + left, cols);
        return new ImageDataset(name, padded, labels, n, 1, h, w, classNames);
    }

    private static byte[] readExactly(InputStream in, int n, Path f) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length != n) throw new DataException(f + " is truncated: " + b.length + " of " + n + " bytes");
        return b;
    }
}
