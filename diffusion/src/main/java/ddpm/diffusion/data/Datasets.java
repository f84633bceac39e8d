package ddpm.diffusion.data;

import ddpm.diffusion.cli.UsageException;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * Opens a data set named on the command line:
 * <ul>
 *   <li>{@code cifar10} — CIFAR-10 binary batches in the data folder (downloaded when missing);</li>
 *   <li>{@code mnist} — MNIST IDX files in the data folder, padded to 32×32 ({@code mnist28} keeps 28×28);</li>
 *   <li>{@code folder:<path>} — a folder of PNGs (subfolders = classes), scaled to the image size;</li>
 *   <li>{@code synthetic} — three known patterns (50/30/20 %), generated; needs no files.</li>
 * </ul>
 */
public final class Datasets {
    private Datasets() {}

    public static final String HELP = "cifar10 | mnist | mnist28 | folder:<path> | synthetic";

    /** Options for opening a data set. */
    public record Request(String spec, Path dataDir, boolean train, int imageSize, boolean download, long seed,
                          int syntheticSize) {}

    /** Validates a spec without loading anything (for argument checking). */
    public static String check(String spec, String flag) {
        String s = spec.trim();
        String l = s.toLowerCase();
        if (l.equals("cifar10") || l.equals("cifar-10") || l.equals("mnist") || l.equals("mnist28") || l.equals("synthetic"))
            return l.replace("cifar-10", "cifar10");
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

    /** Whether random horizontal flips suit the set (they would change the synthetic modes). */
    public static boolean flipsSuit(String spec) {
        String l = spec.trim().toLowerCase();
        return !l.equals("synthetic") && !l.startsWith("mnist");
    }
}
