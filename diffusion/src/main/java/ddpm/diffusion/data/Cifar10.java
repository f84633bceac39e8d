package ddpm.diffusion.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10, binary version: data_batch_1..5.bin (train, 50 000 images) and test_batch.bin (10 000);
 * each record is one label byte then 3 072 bytes, the R, G and B planes of a 32×32 image.
 *
 * <p>Looked for, in order, in {@code dir}, {@code dir/cifar-10-batches-bin}, then the archive
 * {@code dir/cifar-10-binary.tar.gz} (MD5-checked and extracted); else the archive is downloaded
 * from {@link #URL} (unless downloads are off), checked and extracted.
 */
public final class Cifar10 {
    public static final String URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    public static final String MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
    public static final String ARCHIVE = "cifar-10-binary.tar.gz";
    public static final String FOLDER = "cifar-10-batches-bin";
    public static final int SIDE = 32, RECORD = 1 + 3 * SIDE * SIDE;
    public static final List<String> CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");

    public enum Split {
        TRAIN, TEST;

        public List<String> files() {
            return this == TRAIN ? List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                    "data_batch_4.bin", "data_batch_5.bin") : List.of("test_batch.bin");
        }
    }

    private Cifar10() {}

    /** Loads a split, downloading from {@link #URL} when missing. */
    public static ImageDataset load(Path dir, Split split, PrintStream log) {
        return load(dir, split, URI.create(URL), MD5, true, log);
    }

    /**
     * Loads a split from {@code dir}; when absent, extracts {@code dir/cifar-10-binary.tar.gz}, or
     * (when {@code download}) fetches {@code source} there first, checking {@code md5} (null: no check).
     */
    public static ImageDataset load(Path dir, Split split, URI source, String md5, boolean download, PrintStream log) {
        Path folder = locate(dir, split);
        if (folder == null) {
            fetchAndExtract(dir, source, md5, download, log);
            folder = locate(dir, split);
            if (folder == null)
                throw new DataException("the archive in " + dir + " did not contain " + split.files() + " (expected "
                        + FOLDER + "/data_batch_1.bin ... test_batch.bin)\n" + howTo(dir));
        }
        return read(folder, split);
    }

    /** The folder holding all of the split's files, or null. */
    static Path locate(Path dir, Split split) {
        for (Path d : List.of(dir, dir.resolve(FOLDER))) {
            boolean all = true;
            for (String f : split.files()) all &= Files.isRegularFile(d.resolve(f));
            if (all) return d;
        }
        return null;
    }

    private static void fetchAndExtract(Path dir, URI source, String md5, boolean download, PrintStream log) {
        Path archive = dir.resolve(ARCHIVE);
        try {
            if (Files.isRegularFile(archive)) {
                if (md5 != null) {
                    String got = Download.md5(archive);
                    if (!got.equalsIgnoreCase(md5))
                        throw new DataException(archive + " has MD5 " + got + ", expected " + md5
                                + ": it is incomplete or not the CIFAR-10 binary archive. Delete it and run again, or\n"
                                + howTo(dir));
                }
            } else {
                if (!download)
                    throw new DataException("CIFAR-10 not found in " + dir + " and downloading is off.\n" + howTo(dir));
                try {
                    Download.fetch(source, archive, md5, log);
                } catch (IOException e) {
                    throw new DataException("could not download CIFAR-10 from " + source + ": " + describe(e)
                            + ".\nIf this machine is offline:\n" + howTo(dir), e);
                }
            }
            log.println("extracting " + archive + " into " + dir);
            TarGz.extract(archive, dir);
        } catch (IOException e) {
            throw new DataException("could not extract " + archive + ": " + describe(e) + "\n" + howTo(dir), e);
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        if (e instanceof java.net.UnknownHostException) return "unknown host " + m + " (no network?)";
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    /** What the user can do by hand. */
    public static String howTo(Path dir) {
        Path abs = dir.toAbsolutePath();
        return "  1. on a machine with internet, download " + URL + "\n"
                + "     (162 MiB, MD5 " + MD5 + ")\n"
                + "  2. copy it to " + abs.resolve(ARCHIVE) + " (it is checked and extracted on the next run),\n"
                + "     or extract it yourself so that " + abs.resolve(FOLDER) + "/ holds\n"
                + "     data_batch_1.bin ... data_batch_5.bin and test_batch.bin (30 730 000 bytes each)\n"
                + "  or pass --data-dir pointing at a folder that already has them, or try --dataset synthetic (no download).";
    }

    /** Reads the split's files from a folder. */
    public static ImageDataset read(Path folder, Split split) {
        List<Path> files = new ArrayList<>();
        for (String f : split.files()) files.add(folder.resolve(f));
        return readFiles(files, "cifar10-" + split.name().toLowerCase());
    }

    /** Reads and concatenates CIFAR-10 binary batch files. */
    public static ImageDataset readFiles(List<Path> files, String name) {
        long total = 0;
        for (Path f : files) {
            try {
                long size = Files.size(f);
                if (size == 0 || size % RECORD != 0)
                    throw new DataException(f + " is " + size + " bytes, not a whole number of " + RECORD
                            + "-byte CIFAR-10 records: damaged or not a CIFAR-10 binary batch");
                total += size / RECORD;
            } catch (IOException e) {
                throw new DataException("cannot read " + f + ": " + e.getMessage(), e);
            }
        }
        if (total > Integer.MAX_VALUE / (RECORD - 1)) throw new DataException("too many CIFAR records: " + total);
        int n = (int) total, img = RECORD - 1;
        byte[] pixels = new byte[n * img];
        int[] labels = new int[n];
        int i = 0;
        byte[] rec = new byte[RECORD];
        for (Path f : files) {
            try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(f), 1 << 16)) {
                while (true) {
                    int got = in.readNBytes(rec, 0, RECORD);
                    if (got == 0) break;
                    if (got != RECORD) throw new DataException(f + " ends inside a record");
                    int label = rec[0] & 0xFF;
                    if (label >= CLASSES.size())
                        throw new DataException(f + ": record " + i + " has label " + label + ", CIFAR-10 labels are 0..9");
                    labels[i] = label;
                    System.arraycopy(rec, 1, pixels, i * img, img);
                    i++;
                }
            } catch (IOException e) {
                throw new DataException("cannot read " + f + ": " + e.getMessage(), e);
            }
        }
        return new ImageDataset(name, pixels, labels, n, 3, SIDE, SIDE, CLASSES);
    }
}
