package ddpm.diffusion.data;

import ddpm.diffusion.UsageException;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * Opens a data set named on the command line:
 * <ul>
 *   <li>{@code cifar10} — CIFAR-10 binary batches in the data folder (downloaded when missing);</li>
 *   <li>{@code mnist} — MNIST IDX files in the data folder, padded to 32×32 ({@code mnist28} keeps 28×28);</li>
 *   <li>{@code fashion-mnist} — Fashion-MNIST, 28×28, from {@link FashionMnist#DEFAULT_DIR} (Debian's
 *       {@code dataset-fashion-mnist}) unless a data folder is given;</li>
 *   <li>{@code folder:<path>} — a folder of PNGs (subfolders = classes), scaled to the image size;</li>
 *   <li>{@code synthetic} — three known patterns (50/30/20 %), generated; needs no files.</li>
 * </ul>
 */
public final class Datasets {
    private Datasets() {}

    public static final String HELP = "cifar10 | fashion-mnist | mnist | mnist28 | folder:<path> | synthetic";

    /** Help text of the --data-dir option. */
    public static final String DATA_DIR_HELP = "where the data set's files are (default: data, or " + FashionMnist.DEFAULT_DIR
            + " for fashion-mnist)";

    /** Options for opening a data set. */
    public record Request(String spec, Path dataDir, boolean train, int imageSize, boolean download, long seed,
                          int syntheticSize) {}

    /** Validates a spec without loading anything (for argument checking). */
    public static String check(String spec, String flag) {
        String s = spec.trim();
        String l = s.toLowerCase();
        if (l.equals("cifar10") || l.equals("cifar-10") || l.equals("mnist") || l.equals("mnist28") || l.equals("synthetic"))
            return l.replace("cifar-10", "cifar10");
        if (l.equals("fashion-mnist") || l.equals("fashion_mnist") || l.equals("fashionmnist")) return "fashion-mnist";
        if (l.startsWith("folder:") && s.length() > 7) return "folder:" + s.substring(7);
        throw new UsageException(flag + ": expected " + HELP + ", got '" + spec + "'");
    }

    public static ImageDataset open(Request r, PrintStream log) {
        String spec = check(r.spec(), "--dataset");
        switch (spec) {
            case "cifar10" -> {
                return Cifar10.load(r.dataDir(), r.train() ? Cifar10.Split.TRAIN : Cifar10.Split.TEST,
                        java.net.URI.create(Cifar10.URL), Cifar10.MD5, r.download(), log);
            }
            case "fashion-mnist" -> {
                return FashionMnist.load(r.dataDir(), r.train());
            }
            case "mnist", "mnist28" -> {
                return Mnist.load(r.dataDir(), r.train(), spec.equals("mnist"));
            }
            case "synthetic" -> {
                int side = r.imageSize() > 0 ? r.imageSize() : 32;
                return Synthetic.shapes(side).generate(r.syntheticSize(), r.train() ? r.seed() : r.seed() + 1);
            }
            default -> {
                return ImageFolder.load(Path.of(spec.substring(7)), Math.max(0, r.imageSize()), 3);
            }
        }
    }

    /**
     * The spec of a data set from its name as checkpoints record it ("fashion-mnist-train",
     * "cifar10-test@16px", "mnist-train", "synthetic"), or null when it cannot be reopened by name (a folder).
     */
    public static String specOf(String dataName) {
        if (dataName == null) return null;
        String s = dataName.replaceAll("@\\d+px$", "").replaceAll("-(train|test)$", "");
        try {
            String spec = check(s, "--dataset");
            return spec.startsWith("folder:") ? null : spec;
        } catch (UsageException e) {
            return null;
        }
    }

    /** The data folder: the one given (--data-dir), else the data set's default. */
    public static Path dataDir(String spec, String given) {
        if (given != null) return Path.of(given);
        return check(spec, "--dataset").equals("fashion-mnist") ? FashionMnist.DEFAULT_DIR : Path.of("data");
    }

    /**
     * Whether random horizontal flips suit the set: not for the synthetic modes, digits, or
     * Fashion-MNIST (its shoes all point left).
     */
    public static boolean flipsSuit(String spec) {
        String l = spec.trim().toLowerCase();
        return !l.equals("synthetic") && !l.startsWith("mnist") && !l.startsWith("fashion");
    }
}
