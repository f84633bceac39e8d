package ddpm.diffusion.data;

import ddpm.diffusion.UsageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class FashionMnistTest {
    @TempDir Path tmp;

    @Test void readsTheIdxFilesWithGarmentNamesAt28Pixels() throws IOException {
        MnistTest.writeIdx(tmp, "t10k", 5, true);
        ImageDataset d = FashionMnist.load(tmp, false);
        assertEquals("fashion-mnist-test", d.name());
        assertEquals(28, d.height());
        assertEquals(10, d.numClasses());
        assertEquals("ankle-boot", d.classNames().get(9));
        assertEquals("coat", d.classNames().get(d.label(4)));   // the writer labels image i with i % 10
    }

    @Test void missingFilesNameTheDebianPackage() {
        DataException e = assertThrows(DataException.class, () -> FashionMnist.load(tmp, true));
        assertTrue(e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
    }

    @Test void theDataSetIsNamedOnTheCommandLineAndFoundInItsDebianFolder() {
        assertEquals("fashion-mnist", Datasets.check("Fashion-MNIST", "--dataset"));
        assertEquals(FashionMnist.DEFAULT_DIR, Datasets.dataDir("fashion-mnist", null));
        assertEquals(Path.of("x"), Datasets.dataDir("fashion-mnist", "x"));
        assertEquals(Path.of("data"), Datasets.dataDir("cifar10", null));
        assertFalse(Datasets.flipsSuit("fashion-mnist"), "its shoes all point left");
        assertEquals("fashion-mnist", Datasets.specOf("fashion-mnist-train"));
        assertEquals("cifar10", Datasets.specOf("cifar10-test@16px"));
        assertNull(Datasets.specOf("folder:/x"));
        assertThrows(UsageException.class, () -> Datasets.check("fashion", "--dataset"));
    }
}
