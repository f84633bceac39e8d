package ddpm.diffusion.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builds small ustar archives for tests (what GNU tar writes, minus the options we do not need). */
final class TarWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    TarWriter dir(String name) { return entry(name.endsWith("/") ? name : name + "/", new byte[0], '5'); }

    TarWriter file(String name, byte[] data) {
        if (name.length() > 100) {   // GNU long name
            byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
            entry("././@LongLink", n, 'L');
            return entry(name.substring(0, 100), data, '0');
        }
        return entry(name, data, '0');
    }

    TarWriter entry(String name, byte[] data, char type) {
        byte[] h = new byte[512];
        put(h, 0, name, 100);
        put(h, 100, octal(0644, 7), 8);
        put(h, 108, octal(0, 7), 8);
        put(h, 116, octal(0, 7), 8);
        put(h, 124, octal(data.length, 11), 12);
        put(h, 136, octal(1_600_000_000L, 11), 12);
        for (int i = 148; i < 156; i++) h[i] = ' ';
        h[156] = (byte) type;
        put(h, 257, "ustar", 6);
        put(h, 263, "00", 2);
        long sum = 0;
        for (byte b : h) sum += b & 0xFF;
        put(h, 148, octal(sum, 6), 7);
        h[155] = ' ';
        out.writeBytes(h);
        out.writeBytes(data);
        out.writeBytes(new byte[(512 - data.length % 512) % 512]);
        return this;
    }

    private static String octal(long v, int width) {
        String s = Long.toOctalString(v);
        return "0".repeat(Math.max(0, width - s.length())) + s;
    }

    private static void put(byte[] h, int off, String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(b, 0, h, off, Math.min(b.length, max));
    }

    byte[] tar() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(out.toByteArray());
        b.writeBytes(new byte[1024]);
        return b.toByteArray();
    }

    void writeTarGz(Path file) throws IOException {
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(file))) {
            o.write(tar());
        }
    }
}
