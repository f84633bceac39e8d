package ddpm.diffusion.data;

import java.nio.file.Path;
import java.util.List;

/**
 * Fashion-MNIST (Xiao et al. 2017): 60 000 training and 10 000 test images of garments, 28×28 grey,
 * ten classes, in the MNIST IDX layout ({@code train-images-idx3-ubyte.gz} … {@code t10k-labels-idx1-ubyte.gz}).
 * Debian's {@code dataset-fashion-mnist} package installs the four files under {@link #DEFAULT_DIR}.
 */
public final class FashionMnist {
    /** Where Debian's {@code dataset-fashion-mnist} puts the files. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    /**
     * The class names, in label order (the data set's "T-shirt/top" … "Ankle boot", written so that
     * they can be typed as {@code --label} values).
     */
    public static final List<String> CLASSES = List.of("t-shirt", "trouser", "pullover", "dress", "coat",
            "sandal", "shirt", "sneaker", "bag", "ankle-boot");

    private FashionMnist() {}

    /** The training or test split from {@code dir}, 28×28. */
    public static ImageDataset load(Path dir, boolean train) {
        String prefix = train ? "train" : "t10k";
        Path images = Mnist.find(dir, prefix + "-images-idx3-ubyte");
        Path labels = Mnist.find(dir, prefix + "-labels-idx1-ubyte");
        if (images == null || labels == null)
            throw new DataException("Fashion-MNIST " + (train ? "training" : "test") + " files not found in " + dir.toAbsolutePath()
                    + ".\nInstall them with: apt-get install dataset-fashion-mnist   (Debian/Ubuntu; they go to " + DEFAULT_DIR + ")"
                    + "\nor put " + prefix + "-images-idx3-ubyte.gz and " + prefix + "-labels-idx1-ubyte.gz in a folder and pass --data-dir.");
        return Mnist.read(images, labels, false, "fashion-mnist-" + (train ? "train" : "test"), CLASSES);
    }
}
