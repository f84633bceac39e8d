package ddpm.diffusion.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class MnistTest {
    @TempDir Path tmp;

    static void writeIdx(Path dir, String prefix, int n, boolean gz) throws IOException {
        String sfx = gz ? ".gz" : "";
        try (OutputStream raw = Files.newOutputStream(dir.resolve(prefix + "-images-idx3-ubyte" + sfx));
             DataOutputStream o = new DataOutputStream(gz ? new GZIPOutputStream(raw) : raw)) {
            o.writeInt(0x803); o.writeInt(n); o.writeInt(28); o.writeInt(28);
            for (int i = 0; i < n; i++) for (int p = 0; p < 784; p++) o.write(p == 0 ? 255 : i);
        }
        try (OutputStream raw = Files.newOutputStream(dir.resolve(prefix + "-labels-idx1-ubyte" + sfx));
             DataOutputStream o = new DataOutputStream(gz ? new GZIPOutputStream(raw) : raw)) {
            o.writeInt(0x801); o.writeInt(n);
            for (int i = 0; i < n; i++) o.write(i % 10);
        }
    }

    @Test void readsGzipAndPadsTo32() throws IOException {
        writeIdx(tmp, "train", 4, true);
        ImageDataset d = Mnist.load(tmp, true, true);
        assertEquals(4, d.size());
        assertEquals(1, d.channels());
        assertEquals(32, d.height());
        assertEquals(32, d.width());
        assertEquals(3, d.label(3));
        float[] img = new float[1024];
        d.imageTo(2, img, 0, false);
        assertEquals(-1f, img[0], 1e-6);                     // padding is background
        assertEquals(1f, img[2 * 32 + 2], 1e-6);             // first source pixel lands at (2, 2)
        assertEquals(2 / 127.5f - 1, img[2 * 32 + 3], 1e-6);
    }

    @Test void readsRawAndKeeps28() throws IOException {
        writeIdx(tmp, "t10k", 3, false);
        ImageDataset d = Mnist.load(tmp, false, false);
        assertEquals(28, d.height());
        assertEquals(3, d.size());
    }

    @Test void missingFilesSayWhatToPutWhere() {
        DataException e = assertThrows(DataException.class, () -> Mnist.load(tmp, true, true));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte.gz"), e.getMessage());
    }

    @Test void wrongMagicIsReported() throws IOException {
        writeIdx(tmp, "train", 2, false);
        Files.write(tmp.resolve("train-images-idx3-ubyte"), new byte[]{0, 0, 8, 1, 0, 0, 0, 0});
        DataException e = assertThrows(DataException.class, () -> Mnist.load(tmp, true, true));
        assertTrue(e.getMessage().contains("not an IDX image file"), e.getMessage());
    }
}
