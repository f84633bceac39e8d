package ddpm.diffusion.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class Cifar10Test {
    @TempDir Path tmp;
    final PrintStream quiet = new PrintStream(new ByteArrayOutputStream());

    /** n records: label i % 10, R plane = i, G plane = x coordinate, B plane = 255 − y. */
    static byte[] records(int n, int first) {
        byte[] b = new byte[n * Cifar10.RECORD];
        for (int i = 0; i < n; i++) {
            int o = i * Cifar10.RECORD;
            b[o] = (byte) ((first + i) % 10);
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    b[o + 1 + y * 32 + x] = (byte) (first + i);
                    b[o + 1 + 1024 + y * 32 + x] = (byte) x;
                    b[o + 1 + 2048 + y * 32 + x] = (byte) (255 - y);
                }
        }
        return b;
    }

    static void writeSplitFiles(Path dir, int perFile) throws IOException {
        Files.createDirectories(dir);
        int k = 0;
        for (String f : Cifar10.Split.TRAIN.files()) {
            Files.write(dir.resolve(f), records(perFile, k));
            k += perFile;
        }
        Files.write(dir.resolve("test_batch.bin"), records(perFile, 100));
    }

    static byte[] archive(int perFile) {
        TarWriter w = new TarWriter().dir(Cifar10.FOLDER);
        int k = 0;
        for (String f : Cifar10.Split.TRAIN.files()) {
            w.file(Cifar10.FOLDER + "/" + f, records(perFile, k));
            k += perFile;
        }
        w.file(Cifar10.FOLDER + "/test_batch.bin", records(perFile, 100));
        w.file(Cifar10.FOLDER + "/batches.meta.txt", "airplane\n".getBytes());
        return w.tar();
    }

    @Test void readsRecordsInPlanarLayoutAndScalesToMinusOneOne() throws IOException {
        writeSplitFiles(tmp, 3);
        ImageDataset d = Cifar10.load(tmp, Cifar10.Split.TRAIN, URI.create("file:///nonexistent"), null, false, quiet);
        assertEquals(15, d.size());
        assertEquals(3, d.channels());
        assertEquals(32, d.height());
        assertEquals(10, d.numClasses());
        assertEquals(7, d.label(7));
        float[] img = new float[3072];
        d.imageTo(7, img, 0, false);
        assertEquals(7 / 127.5f - 1, img[5], 1e-6);                 // R plane
        assertEquals(5 / 127.5f - 1, img[1024 + 2 * 32 + 5], 1e-6); // G = x
        assertEquals(1f, img[2048], 1e-6);                           // B = 255 − 0
        d.imageTo(7, img, 0, true);
        assertEquals(26 / 127.5f - 1, img[1024 + 2 * 32 + 5], 1e-6); // flipped: x → 31 − x
        ImageDataset t = Cifar10.load(tmp, Cifar10.Split.TEST, URI.create("file:///nonexistent"), null, false, quiet);
        assertEquals(3, t.size());
        assertEquals(100 % 10, t.label(0));
    }

    @Test void findsTheArchiveFolderAndExtractsALocalArchive() throws IOException {
        byte[] tar = archive(2);
        Path gz = tmp.resolve(Cifar10.ARCHIVE);
        try (var o = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) { o.write(tar); }
        String md5 = Download.md5(gz);
        ImageDataset d = Cifar10.load(tmp, Cifar10.Split.TRAIN, URI.create("file:///nonexistent"), md5, false, quiet);
        assertEquals(10, d.size());
        assertTrue(Files.isRegularFile(tmp.resolve(Cifar10.FOLDER).resolve("data_batch_5.bin")));
        // second time: read straight from the extracted folder
        assertEquals(10, Cifar10.load(tmp, Cifar10.Split.TRAIN, URI.create("file:///nonexistent"), "bad", false, quiet).size());
    }

    @Test void downloadsFromAnInjectedUrlCheckingTheMd5() throws IOException {
        Path src = tmp.resolve("mirror");
        Files.createDirectories(src);
        Path gz = src.resolve("cifar.tgz");
        try (var o = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) { o.write(archive(2)); }
        String md5 = Download.md5(gz);
        Path data = tmp.resolve("data");
        ImageDataset d = Cifar10.load(data, Cifar10.Split.TEST, gz.toUri(), md5, true, quiet);
        assertEquals(2, d.size());
        assertTrue(Files.isRegularFile(data.resolve(Cifar10.ARCHIVE)));
        assertFalse(Files.exists(data.resolve(Cifar10.ARCHIVE + ".part")));
    }

    @Test void wrongMd5OnDownloadIsRefusedAndTheFileRemoved() throws IOException {
        Path gz = tmp.resolve("cifar.tgz");
        try (var o = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) { o.write(archive(1)); }
        Path data = tmp.resolve("data");
        DataException e = assertThrows(DataException.class,
                () -> Cifar10.load(data, Cifar10.Split.TRAIN, gz.toUri(), Cifar10.MD5, true, quiet));
        assertTrue(e.getMessage().contains("MD5"), e.getMessage());
        assertFalse(Files.exists(data.resolve(Cifar10.ARCHIVE)));
        assertFalse(Files.exists(data.resolve(Cifar10.ARCHIVE + ".part")));
    }

    @Test void wrongMd5OfALocalArchiveSaysWhatToDo() throws IOException {
        Files.write(tmp.resolve(Cifar10.ARCHIVE), new byte[]{1, 2, 3});
        DataException e = assertThrows(DataException.class, () -> Cifar10.load(tmp, Cifar10.Split.TRAIN, quiet));
        assertTrue(e.getMessage().contains("c32a1d4ab5d03f1284b67883e8d87530"), e.getMessage());
        assertTrue(e.getMessage().contains("Delete it"), e.getMessage());
    }

    @Test void offlineSaysWhereToPutWhichFiles() {
        DataException e = assertThrows(DataException.class, () -> Cifar10.load(tmp, Cifar10.Split.TRAIN,
                URI.create("http://nonexistent.invalid/cifar-10-binary.tar.gz"), Cifar10.MD5, true, quiet));
        String m = e.getMessage();
        assertTrue(m.contains("could not download"), m);
        assertTrue(m.contains(Cifar10.URL), m);
        assertTrue(m.contains(tmp.toAbsolutePath().resolve(Cifar10.ARCHIVE).toString()), m);
        assertTrue(m.contains("data_batch_1.bin"), m);
        DataException off = assertThrows(DataException.class, () -> Cifar10.load(tmp, Cifar10.Split.TRAIN,
                URI.create(Cifar10.URL), Cifar10.MD5, false, quiet));
        assertTrue(off.getMessage().contains("downloading is off"), off.getMessage());
    }

    @Test void damagedBatchFileIsNamed() throws IOException {
        writeSplitFiles(tmp, 1);
        Files.write(tmp.resolve("data_batch_3.bin"), new byte[100]);
        DataException e = assertThrows(DataException.class, () -> Cifar10.read(tmp, Cifar10.Split.TRAIN));
        assertTrue(e.getMessage().contains("data_batch_3.bin"), e.getMessage());
    }
}
