package ddpm.diffusion.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ImageFolderTest {
    @TempDir Path tmp;

    static void png(Path f, int w, int h, int rgb) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, rgb);
        Files.createDirectories(f.getParent());
        ImageIO.write(img, "png", f.toFile());
    }

    @Test void subfoldersBecomeClassesAndImagesAreScaled() throws IOException {
        png(tmp.resolve("cats/a.png"), 16, 16, 0xFF0000);
        png(tmp.resolve("cats/b.png"), 20, 10, 0xFF0000);
        png(tmp.resolve("dogs/c.png"), 8, 8, 0x0000FF);
        ImageDataset d = ImageFolder.load(tmp, 8, 3);
        assertEquals(3, d.size());
        assertEquals(2, d.numClasses());
        assertEquals("cats", d.classNames().get(0));
        assertEquals(1, d.label(2));
        float[] img = new float[3 * 64];
        d.imageTo(1, img, 0, false);
        assertEquals(1f, img[10], 1e-6);
        assertEquals(-1f, img[64 + 10], 1e-6);
        d.imageTo(2, img, 0, false);
        assertEquals(1f, img[128 + 5], 1e-6);
    }

    @Test void flatFolderIsUnlabelledAndSizesMustMatchWithoutImageSize() throws IOException {
        png(tmp.resolve("a.png"), 8, 8, 0x808080);
        png(tmp.resolve("b.png"), 8, 8, 0x808080);
        ImageDataset d = ImageFolder.load(tmp, 0, 3);
        assertFalse(d.hasLabels());
        assertEquals(8, d.height());
        png(tmp.resolve("c.png"), 9, 9, 0);
        DataException e = assertThrows(DataException.class, () -> ImageFolder.load(tmp, 0, 3));
        assertTrue(e.getMessage().contains("--image-size"), e.getMessage());
    }

    @Test void emptyOrMissingFolderIsAClearError() {
        assertThrows(DataException.class, () -> ImageFolder.load(tmp, 8, 3));
        assertThrows(DataException.class, () -> ImageFolder.load(tmp.resolve("nope"), 8, 3));
    }
}
