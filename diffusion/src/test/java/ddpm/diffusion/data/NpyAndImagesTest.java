package ddpm.diffusion.data;

import ddpm.engine.Device;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class NpyAndImagesTest {
    @TempDir Path tmp;

    @Test void npyHeaderIsNumpyVersion1AlignedTo64() throws IOException {
        Path f = tmp.resolve("a.npy");
        float[] v = {1.5f, -2f, 0f, 3.25f, 7f, 8f};
        Npy.writeF32(f, v, 2, 3);
        byte[] b = Files.readAllBytes(f);
        assertEquals(0x93, b[0] & 0xFF);
        assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.US_ASCII));
        assertEquals(1, b[6]);
        assertEquals(0, b[7]);
        int hlen = (b[8] & 0xFF) | (b[9] & 0xFF) << 8;
        assertEquals(0, (10 + hlen) % 64);
        String h = new String(b, 10, hlen, StandardCharsets.US_ASCII);
        assertTrue(h.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), h);
        assertEquals('\n', h.charAt(h.length() - 1));
        assertEquals(10 + hlen + 24, b.length);
        Npy.Array a = Npy.read(f);
        assertArrayEquals(new int[]{2, 3}, a.shape());
        assertArrayEquals(v, a.floats());
    }

    @Test void oneDimensionalShapeHasTrailingComma() {
        String h = new String(Npy.header("|u1", new int[]{5}), StandardCharsets.US_ASCII);
        assertTrue(h.contains("'shape': (5,)"), h);
    }

    @Test void imagesAsUint8AreChannelsLast() throws IOException {
        // one 2×2 RGB image: R = −1, G = 0, B = 1
        float[] x = {-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1};
        Path f = tmp.resolve("u8.npy");
        Npy.writeImagesU8(f, x, 1, 3, 2, 2);
        Npy.Array a = Npy.read(f);
        assertEquals("|u1", a.descr());
        assertArrayEquals(new int[]{1, 2, 2, 3}, a.shape());
        assertEquals(0, a.data()[0] & 0xFF);
        assertEquals(128, a.data()[1] & 0xFF);
        assertEquals(255, a.data()[2] & 0xFF);
    }

    @Test void pngGridPlacesImagesAndClamps() throws IOException {
        float[] v = new float[3 * 3 * 2 * 2];
        for (int i = 0; i < 12; i++) v[i] = 1f;            // image 0 white
        for (int i = 12; i < 24; i++) v[i] = -5f;          // image 1 black (clamped)
        for (int i = 24; i < 28; i++) v[i] = 1f;           // image 2 red
        for (int i = 28; i < 36; i++) v[i] = -1f;
        Path f = tmp.resolve("g.png");
        Images.savePng(Tensor.of(v, Device.CPU, 3, 3, 2, 2), f, 2);
        BufferedImage img = ImageIO.read(f.toFile());
        assertEquals(2 * 2 + 3 * 2, img.getWidth());
        assertEquals(2 * 2 + 3 * 2, img.getHeight());
        assertEquals(0xFFFFFF, img.getRGB(2, 2) & 0xFFFFFF);
        assertEquals(0x000000, img.getRGB(6, 2) & 0xFFFFFF);
        assertEquals(0xFF0000, img.getRGB(2, 6) & 0xFFFFFF);
        assertEquals(0, Images.toByte(Float.NaN));
    }
}
