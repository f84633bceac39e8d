package ddpm.diffusion.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * A minimal reader for (gzip-compressed) tar archives: POSIX ustar and GNU headers, GNU long names
 * ('L') and pax 'path' records ('x'); regular files and directories are extracted, links and
 * devices skipped. Entries that would land outside the destination are refused.
 */
public final class TarGz {
    private TarGz() {}

    /** One archive member as read from its header. */
    public record Entry(String name, long size, char type) {
        public boolean isFile() { return type == '0' || type == '\0' || type == '7'; }

        public boolean isDirectory() { return type == '5'; }
    }

    /** Streams the members of an uncompressed tar. */
    public static final class Reader {
        private final InputStream in;
        private final byte[] header = new byte[512];
        private long remaining;      // bytes of the current entry's data not yet read
        private long padding;        // bytes of padding after them
        private boolean done;

        public Reader(InputStream in) { this.in = in; }

        /** The next member, or null at the end of the archive. */
        public Entry next() throws IOException {
            skipRest();
            String longName = null;
            while (!done) {
                if (!readBlock(header)) { done = true; return null; }
                if (allZero(header)) { done = true; return null; }
                verifyChecksum(header);
                String name = string(header, 0, 100);
                String prefix = string(header, 345, 155);
                boolean ustar = string(header, 257, 5).equals("ustar");
                if (ustar && !prefix.isEmpty() && !string(header, 257, 8).equals("ustar  ")) name = prefix + "/" + name;
                long size = number(header, 124, 12);
                char type = (char) header[156];
                remaining = size;
                padding = (512 - size % 512) % 512;
                if (type == 'L') {                     // GNU long name: the data is the next member's name
                    longName = trimNul(new String(readAll(), StandardCharsets.UTF_8));
                    continue;
                }
                if (type == 'x') {                     // pax extended header: "len key=value\n" records
                    String path = paxPath(new String(readAll(), StandardCharsets.UTF_8));
                    if (path != null) longName = path;
                    continue;
                }
                if (type == 'g') { skipRest(); continue; }
                return new Entry(longName != null ? longName : name, size, type);
            }
            return null;
        }

        /** Reads the current member's data. */
        public byte[] readAll() throws IOException {
            if (remaining > Integer.MAX_VALUE - 16) throw new IOException("tar member too large to hold in memory");
            byte[] b = new byte[(int) remaining];
            readFully(b, 0, b.length);
            remaining = 0;
            skipPadding();
            return b;
        }

        /** Copies the current member's data to {@code out}. */
        public void copyTo(OutputStream out) throws IOException {
            byte[] buf = new byte[1 << 16];
            while (remaining > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, remaining));
                if (n < 0) throw new EOFException("tar archive ends inside a member");
                out.write(buf, 0, n);
                remaining -= n;
            }
            skipPadding();
        }

        private void skipRest() throws IOException {
            skipBytes(remaining);
            remaining = 0;
            skipPadding();
        }

        private void skipPadding() throws IOException {
            skipBytes(padding);
            padding = 0;
        }

        private void skipBytes(long n) throws IOException {
            byte[] buf = new byte[8192];
            while (n > 0) {
                int r = in.read(buf, 0, (int) Math.min(buf.length, n));
                if (r < 0) throw new EOFException("tar archive ends inside a member");
                n -= r;
            }
        }

        private boolean readBlock(byte[] b) throws IOException {
            int got = 0;
            while (got < b.length) {
                int r = in.read(b, got, b.length - got);
                if (r < 0) {
                    if (got == 0) return false;
                    throw new EOFException("tar archive ends inside a header");
                }
                got += r;
            }
            return true;
        }

        private void readFully(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                int r = in.read(b, off, len);
                if (r < 0) throw new EOFException("tar archive ends inside a member");
                off += r;
                len -= r;
            }
        }
    }

    /** Extracts a .tar.gz (or plain .tar when not gzip-compressed) into {@code dest}; returns the files written. */
    public static List<Path> extract(Path archive, Path dest) throws IOException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 16)) {
            return extract(raw, dest);
        }
    }

    public static List<Path> extract(InputStream raw, Path dest) throws IOException {
        InputStream in = raw.markSupported() ? raw : new BufferedInputStream(raw);
        InputStream tar = Gzip.isGzip(in) ? new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16) : in;
        Path root = dest.toAbsolutePath().normalize();
        Files.createDirectories(root);
        List<Path> written = new ArrayList<>();
        Reader r = new Reader(tar);
        for (Entry e; (e = r.next()) != null; ) {
            if (!e.isFile() && !e.isDirectory()) continue;          // links, devices, fifos
            Path target = root.resolve(e.name()).normalize();
            if (e.name().startsWith("/") || !target.startsWith(root) || target.equals(root))
                throw new IOException("refusing tar member '" + e.name() + "': it would be written outside " + root);
            if (e.isDirectory()) { Files.createDirectories(target); continue; }
            Files.createDirectories(target.getParent());
            Path tmp = target.resolveSibling(target.getFileName() + ".part");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                r.copyTo(out);
            }
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            written.add(target);
        }
        return written;
    }

    // ---------------------------------------------------------------- header fields
    private static boolean allZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    private static String string(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) end++;
        return new String(h, off, end - off, StandardCharsets.UTF_8);
    }

    private static String trimNul(String s) {
        int z = s.indexOf('\0');
        return z >= 0 ? s.substring(0, z) : s;
    }

    /** An octal field, or GNU base-256 when the top bit of the first byte is set. */
    static long number(byte[] h, int off, int len) throws IOException {
        if ((h[off] & 0x80) != 0) {
            long v = h[off] & 0x7F;
            for (int i = 1; i < len; i++) v = (v << 8) | (h[off + i] & 0xFF);
            return v;
        }
        long v = 0;
        boolean any = false;
        for (int i = off; i < off + len; i++) {
            int c = h[i];
            if (c == 0 || c == ' ') { if (any) break; else continue; }
            if (c < '0' || c > '7') throw new IOException("bad octal number in tar header: '" + string(h, off, len) + "'");
            v = v * 8 + (c - '0');
            any = true;
        }
        return v;
    }

    private static void verifyChecksum(byte[] h) throws IOException {
        long stored = number(h, 148, 8);
        long sum = 0;
        for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xFF);
        if (sum != stored) throw new IOException("not a tar archive, or a damaged one (header checksum " + stored + " != " + sum + ")");
    }

    private static String paxPath(String records) {
        String path = null;
        int i = 0;
        while (i < records.length()) {
            int sp = records.indexOf(' ', i);
            if (sp < 0) break;
            int len;
            try { len = Integer.parseInt(records.substring(i, sp)); } catch (NumberFormatException e) { break; }
            if (len <= 0 || i + len > records.length()) break;
            String rec = records.substring(sp + 1, i + len - 1);   // without the trailing newline
            if (rec.startsWith("path=")) path = rec.substring(5);
            i += len;
        }
        return path;
    }
}
