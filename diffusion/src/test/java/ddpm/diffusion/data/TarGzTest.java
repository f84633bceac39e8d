package ddpm.diffusion.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TarGzTest {
    @TempDir Path tmp;

    @Test void extractsFilesDirectoriesAndLongNames() throws IOException {
        byte[] big = new byte[70_000];
        for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31);
        String longName = "deep/" + "x".repeat(120) + ".bin";
        TarWriter w = new TarWriter().dir("top").file("top/a.txt", "hello".getBytes(StandardCharsets.UTF_8))
                .file("top/big.bin", big).file("top/empty", new byte[0]).file(longName, new byte[]{1, 2, 3})
                .entry("top/link", new byte[0], '2');
        Path gz = tmp.resolve("a.tar.gz");
        w.writeTarGz(gz);
        List<Path> files = TarGz.extract(gz, tmp.resolve("out"));
        assertEquals(4, files.size());
        assertEquals("hello", Files.readString(tmp.resolve("out/top/a.txt")));
        assertArrayEquals(big, Files.readAllBytes(tmp.resolve("out/top/big.bin")));
        assertEquals(0, Files.size(tmp.resolve("out/top/empty")));
        assertArrayEquals(new byte[]{1, 2, 3}, Files.readAllBytes(tmp.resolve("out").resolve(longName)));
        assertFalse(Files.exists(tmp.resolve("out/top/link")));
    }

    @Test void readsUncompressedTarToo() throws IOException {
        byte[] tar = new TarWriter().file("f", new byte[]{9}).tar();
        TarGz.extract(new ByteArrayInputStream(tar), tmp);
        assertArrayEquals(new byte[]{9}, Files.readAllBytes(tmp.resolve("f")));
    }

    @Test void refusesPathsOutsideTheDestination() throws IOException {
        Path gz = tmp.resolve("evil.tar.gz");
        new TarWriter().file("../evil.txt", new byte[]{1}).writeTarGz(gz);
        IOException e = assertThrows(IOException.class, () -> TarGz.extract(gz, tmp.resolve("out")));
        assertTrue(e.getMessage().contains("outside"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("evil.txt")));
    }

    @Test void rejectsNonTarWithAClearMessage() {
        byte[] junk = new byte[1024];
        junk[0] = 'x';
        IOException e = assertThrows(IOException.class, () -> TarGz.extract(new ByteArrayInputStream(junk), tmp));
        assertTrue(e.getMessage().contains("not a tar archive"), e.getMessage());
    }

    @Test void truncatedArchiveFails() {
        byte[] tar = new TarWriter().file("f", new byte[5000]).tar();
        byte[] cut = java.util.Arrays.copyOf(tar, 512 + 1000);
        assertThrows(IOException.class, () -> TarGz.extract(new ByteArrayInputStream(cut), tmp));
    }
}
